//! Parquet input: a `.parquet` file (or any file that starts with `PAR1`) goes wherever a CSV
//! goes, through the same spec and the same checks. A file is read a row group at a time, and
//! within one in parts of rows, each column's values decoded for those rows only (`Chunks`), so
//! memory holds a part per core, never the file.
//!
//! Each value becomes the cell the CSV of the same table gives (`typed`): numbers are read as
//! `frame::parse_cell` reads their text, so a table loads, trains and scores the same from
//! either format. Errors name the file, the row in it, its row group and the column.
//!
//! Nothing in the file is trusted: the magic at both ends, the footer's length, every column
//! chunk's place in the file, a row group's unpacked size (`MAX_ROW_GROUP_BYTES`) and each page's
//! (`PageGuard`) are checked before anything is read or unpacked, and every call into the
//! `parquet` crate is `guarded`, so a damaged file is an error, never a panic.

mod pages;
mod typed;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::parquet::basic::{Compression, ConvertedType, LogicalType, Repetition, Type as Physical};
use ::parquet::column::reader::{get_column_reader, ColumnReader, ColumnReaderImpl};
use ::parquet::data_type::{ByteArray, DataType};
use ::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use ::parquet::file::serialized_reader::SerializedPageReader;

use super::load::LoadError;

use pages::{guarded, read_at, PageGuard};
pub use typed::read_text_columns;

/// The most bytes a row group may unpack to, by its footer. Memory holds a part of one row
/// group's pages per core at a time, so this bounds it whatever the file's size; writers cut
/// row groups far smaller (pyarrow: 1 Mi rows; Spark: 128 MiB).
pub const MAX_ROW_GROUP_BYTES: i64 = 256 << 20;

/// The most bytes the footer (the file's metadata) may take: a footer lists every column of
/// every row group, so a real one is kilobytes to a few megabytes.
const MAX_FOOTER_BYTES: u64 = 64 << 20;

const MAGIC: &[u8; 4] = b"PAR1";

/// A problem only a Parquet file has. Rows count from 1 in the file, as for a CSV; row groups
/// count from 1 too, with their number, so `row group 2 of 5` is unambiguous.
#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    /// The magic, the footer or the schema: nothing of the file can be read.
    #[error("{}: not a Parquet file staytrack can read: {why}", .path.display())]
    File { path: PathBuf, why: String },
    /// A column staytrack cannot take, whatever the spec says of it.
    #[error("{}: column '{}': {why}", .path.display(), crate::util::shown(.column))]
    Column {
        path: PathBuf,
        column: String,
        why: String,
    },
    /// A row group that is too large, or damaged.
    #[error("{}: row group {} of {groups}: {why}", .path.display(), .group + 1)]
    Group {
        path: PathBuf,
        group: usize,
        groups: usize,
        why: String,
    },
    /// A value its column cannot take: the same reasons a CSV's cell gives.
    #[error("{}: row {row} (row group {} of {groups}), column '{}': {why}", .path.display(), .group + 1, crate::util::shown(.column))]
    Value {
        path: PathBuf,
        row: usize,
        group: usize,
        groups: usize,
        column: String,
        why: String,
    },
}

/// Whether `path` is read as Parquet: by its extension, or by its first bytes, so a Parquet file
/// named otherwise is not taken for a CSV of binary garbage. Only a regular file is looked
/// into: a pipe's first bytes would be gone for the CSV reader.
pub fn is_parquet(path: &Path) -> bool {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    {
        return true;
    }
    let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    let mut head = [0u8; 4];
    regular
        && File::open(path)
            .and_then(|f| read_at(&f, &mut head, 0))
            .is_ok_and(|n| n == 4 && &head == MAGIC)
}

/// How a column's values are stored, as far as reading them goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float,
    Double,
    Text,
}

/// One column of the file.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    kind: Kind,
    /// Whether a row may have no value (definition level 0).
    optional: bool,
}

/// The columns of a file and its row group count, shared by its parts.
#[derive(Debug)]
struct Shared {
    fields: Vec<Field>,
    groups: usize,
}

/// An open Parquet file whose footer, schema and row group sizes were checked.
struct ParquetFile {
    path: PathBuf,
    file: Arc<File>,
    meta: Arc<ParquetMetaData>,
    shared: Arc<Shared>,
}

impl ParquetFile {
    fn open(path: &Path) -> Result<ParquetFile, LoadError> {
        let io = |cause| LoadError::Io {
            path: path.to_path_buf(),
            cause,
        };
        let bad = |why: String| ParquetError::File {
            path: path.to_path_buf(),
            why,
        };
        let meta = crate::util::readable_file(path).map_err(io)?;
        if !meta.is_file() {
            return Err(bad("Parquet is read from the end of the file, so it must be a regular file, not a pipe".into()).into());
        }
        let file = File::open(path).map_err(io)?;
        let len = meta.len();
        if len == 0 {
            return Err(LoadError::Empty {
                path: path.to_path_buf(),
            });
        }
        let mut head = [0u8; 4];
        let mut tail = [0u8; 8];
        let n = read_at(&file, &mut head, 0).map_err(io)?;
        if n < 4 || &head != MAGIC {
            return Err(bad(if &head == b"PARE" {
                "it is encrypted, which staytrack does not read".into()
            } else {
                "it does not start with the Parquet magic bytes PAR1".into()
            })
            .into());
        }
        if len < 12 || read_at(&file, &mut tail, len - 8).map_err(io)? < 8 || &tail[4..] != MAGIC {
            return Err(bad(format!(
                "it does not end with the Parquet magic bytes PAR1 ({len} bytes); is it cut short?"
            ))
            .into());
        }
        let footer = u64::from(u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")));
        if footer > len - 12 {
            return Err(bad(format!(
                "its footer claims {footer} bytes, more than the file's {len}; is it cut short?"
            ))
            .into());
        }
        if footer > MAX_FOOTER_BYTES {
            return Err(bad(format!(
                "its footer takes {footer} bytes (at most {} MiB)",
                MAX_FOOTER_BYTES >> 20
            ))
            .into());
        }
        let metadata = guarded(|| {
            ParquetMetaDataReader::new()
                .parse_and_finish(&file)
                .map_err(|e| e.to_string())
        })
        .map_err(|e| bad(format!("its footer cannot be read ({e})")))?;
        let fields = Self::fields(path, &metadata)?;
        let groups = metadata.num_row_groups();
        let shared = Arc::new(Shared { fields, groups });
        let f = ParquetFile {
            path: path.to_path_buf(),
            file: Arc::new(file),
            meta: Arc::new(metadata),
            shared,
        };
        for g in 0..groups {
            f.check_group(g, len, MAX_ROW_GROUP_BYTES)?;
        }
        Ok(f)
    }

    /// The file's columns: flat, of a type staytrack reads, each name once.
    fn fields(path: &Path, meta: &ParquetMetaData) -> Result<Vec<Field>, LoadError> {
        let schema = meta.file_metadata().schema_descr();
        let refuse = |column: &str, why: String| ParquetError::Column {
            path: path.to_path_buf(),
            column: column.to_string(),
            why,
        };
        let mut fields = Vec::new();
        for t in schema.root_schema().get_fields() {
            let info = t.get_basic_info();
            let repeated = info.has_repetition() && info.repetition() == Repetition::REPEATED;
            if !t.is_primitive() || repeated {
                return Err(refuse(
                    t.name(),
                    "it is nested (a list, map or struct); staytrack reads flat columns, one \
                     value per row"
                        .into(),
                )
                .into());
            }
        }
        // Every top-level field is a leaf now, so leaves and fields are one list.
        for c in schema.columns() {
            let name = c.name();
            let logical = c.logical_type_ref();
            let converted = c.converted_type();
            let decimal = converted == ConvertedType::DECIMAL
                || matches!(logical, Some(LogicalType::Decimal { .. }));
            let unsigned = matches!(converted, ConvertedType::UINT_32 | ConvertedType::UINT_64)
                || matches!(logical, Some(LogicalType::Integer(i)) if !i.is_signed);
            let kind = match c.physical_type() {
                _ if decimal => None,
                Physical::BOOLEAN => Some(Kind::Bool),
                Physical::INT32 if unsigned => Some(Kind::UInt32),
                Physical::INT32 => Some(Kind::Int32),
                Physical::INT64 if unsigned => Some(Kind::UInt64),
                Physical::INT64 => Some(Kind::Int64),
                Physical::FLOAT => Some(Kind::Float),
                Physical::DOUBLE => Some(Kind::Double),
                Physical::BYTE_ARRAY
                    if matches!(
                        logical,
                        None | Some(LogicalType::String | LogicalType::Enum | LogicalType::Json)
                    ) =>
                {
                    Some(Kind::Text)
                }
                _ => None,
            };
            let Some(kind) = kind else {
                let what = match (logical, c.physical_type()) {
                    _ if decimal => "DECIMAL".to_string(),
                    (Some(l), p) => format!("{p} ({l:?})"),
                    (None, p) => p.to_string(),
                };
                return Err(refuse(
                    name,
                    format!(
                        "its values are {what}; staytrack reads integers, floating-point \
                         numbers, booleans and UTF-8 text (write it as one of those)"
                    ),
                )
                .into());
            };
            fields.push(Field {
                name: name.to_string(),
                kind,
                optional: c.max_def_level() > 0,
            });
        }
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        if let Err(super::csv::CsvError::DuplicateColumn {
            column,
            first,
            second,
        }) = super::csv::unique(&names)
        {
            return Err(LoadError::DuplicateColumn {
                path: path.to_path_buf(),
                column,
                first,
                second,
            });
        }
        Ok(fields)
    }

    /// Refuses row group `g` when its footer entry could make a reader go past the file or
    /// unpack more than `most` bytes, or when a codec is one this build lacks.
    fn check_group(&self, g: usize, len: u64, most: i64) -> Result<(), ParquetError> {
        let rg = self.meta.row_group(g);
        let fields = &self.shared.fields;
        let refuse = |why: String| ParquetError::Group {
            path: self.path.clone(),
            group: g,
            groups: self.shared.groups,
            why,
        };
        if rg.num_columns() != fields.len() {
            return Err(refuse(format!(
                "it has {} columns where the schema has {}",
                rg.num_columns(),
                fields.len()
            )));
        }
        if rg.num_rows() < 0 {
            return Err(refuse(format!("it claims {} rows", rg.num_rows())));
        }
        let mut unpacked = rg.total_byte_size().max(0);
        let mut summed = 0i64;
        for (c, f) in rg.columns().iter().zip(fields) {
            let col =
                |why: String| refuse(format!("column '{}': {why}", crate::util::shown(&f.name)));
            match c.compression() {
                Compression::UNCOMPRESSED
                | Compression::SNAPPY
                | Compression::GZIP(_)
                | Compression::ZSTD(_) => {}
                other => {
                    return Err(col(format!(
                        "it is compressed with {other:?}, which staytrack does not read \
                         (write the file uncompressed or with Snappy, gzip or zstd)"
                    )))
                }
            }
            let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
            let (packed, size) = (c.compressed_size(), c.uncompressed_size());
            if start < 0 || c.data_page_offset() < 0 || packed < 0 || size < 0 {
                return Err(col(
                    "its footer entry holds negative offsets or sizes".into()
                ));
            }
            if (start as u64).saturating_add(packed as u64) > len {
                return Err(col(format!(
                    "its {packed} bytes at byte {start} run past the end of the file \
                     ({len} bytes); is it cut short?"
                )));
            }
            if size > most {
                return Err(col(format!(
                    "it unpacks to {size} bytes, more than a row group may ({} MiB); write \
                     smaller row groups",
                    most >> 20
                )));
            }
            summed = summed.saturating_add(size);
        }
        unpacked = unpacked.max(summed);
        if unpacked > most {
            return Err(refuse(format!(
                "it unpacks to {unpacked} bytes (at most {} MiB); write smaller row groups",
                most >> 20
            )));
        }
        Ok(())
    }

    /// A reader of each column of row group `g`, its pages read as they are needed.
    fn readers(&self, g: usize) -> Result<Vec<ColumnReader>, String> {
        let rg = self.meta.row_group(g);
        let schema = self.meta.file_metadata().schema_descr();
        let rows = rg.num_rows() as usize;
        (0..self.shared.fields.len())
            .map(|i| {
                let chunk = rg.column(i);
                let guard = Arc::new(PageGuard {
                    file: self.file.clone(),
                    most: chunk.uncompressed_size(),
                });
                let pages = SerializedPageReader::new(guard, chunk, rows, None).map_err(|e| {
                    let name = crate::util::shown(&self.shared.fields[i].name);
                    format!("column '{name}': its pages cannot be read ({e})")
                })?;
                Ok(get_column_reader(schema.column(i), Box::new(pages)))
            })
            .collect()
    }
}

/// One column's values for a part's rows, as decoded.
enum Values {
    Bool(Vec<bool>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Text(Vec<ByteArray>),
}

/// A column of a part: its values, and for an optional column each row's definition level
/// (1: the next value is the row's; 0: the row has none).
struct Piece {
    values: Values,
    levels: Option<Vec<i16>>,
}

/// Rows of one row group, decoded and not yet typed: what a chunk of a Parquet file is.
pub struct Part {
    shared: Arc<Shared>,
    group: usize,
    /// Data rows of the file before this part.
    pub first_row: usize,
    rows: usize,
    pieces: Vec<Piece>,
    /// Bytes of the file read so far (an estimate within a row group), for progress.
    pub read: u64,
    /// The part's share of its row group's bytes in the file.
    bytes: usize,
}

impl Part {
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of the file the part stands for.
    pub fn size(&self) -> usize {
        self.bytes
    }
}

/// A Parquet file in parts of at most `rows` rows, in file order. A part never spans two row
/// groups. A file with no rows still gives one part, so its header is checked and the
/// header-only error said as for a CSV.
pub struct Chunks {
    file: ParquetFile,
    rows: usize,
    /// The row group being read; `readers` are its columns'.
    group: usize,
    readers: Vec<ColumnReader>,
    /// Rows of the group still to read.
    left: usize,
    rows_before: usize,
    /// Compressed bytes of the row groups read whole.
    read_before: u64,
    handed: bool,
    done: bool,
}

impl Chunks {
    pub fn open(path: &Path, rows: usize) -> Result<Chunks, LoadError> {
        Ok(Chunks {
            file: ParquetFile::open(path)?,
            rows: rows.max(1),
            group: 0,
            readers: Vec::new(),
            left: 0,
            rows_before: 0,
            read_before: 0,
            handed: false,
            done: false,
        })
    }

    /// The column names, in file order.
    pub fn header(&self) -> Vec<String> {
        self.file
            .shared
            .fields
            .iter()
            .map(|f| f.name.clone())
            .collect()
    }

    fn group_error(&self, why: String) -> LoadError {
        ParquetError::Group {
            path: self.file.path.clone(),
            group: self.group,
            groups: self.file.shared.groups,
            why,
        }
        .into()
    }

    /// An error of a column of the current row group: the reader's own words are kept, since
    /// they say what is damaged.
    fn column_error(&self, f: &Field, why: String) -> LoadError {
        self.group_error(format!("column '{}': {why}", crate::util::shown(&f.name)))
    }

    /// The next part, or `None` at the end of the file.
    fn step(&mut self) -> Result<Option<Part>, LoadError> {
        let shared = self.file.shared.clone();
        while self.left == 0 {
            if !self.readers.is_empty() {
                // A column with rows past the count its footer gives is refused, not cut.
                let mut readers = std::mem::take(&mut self.readers);
                for (r, f) in readers.iter_mut().zip(&shared.fields) {
                    let (more, _) = guarded(|| read_piece(r, 1, f.optional))
                        .map_err(|e| self.column_error(f, e))?;
                    if more > 0 {
                        return Err(self.column_error(
                            f,
                            format!(
                                "it holds more rows than the {} its footer gives",
                                self.file.meta.row_group(self.group).num_rows()
                            ),
                        ));
                    }
                }
                self.read_before += self
                    .file
                    .meta
                    .row_group(self.group)
                    .compressed_size()
                    .max(0) as u64;
                self.group += 1;
            }
            if self.group >= shared.groups {
                if self.handed {
                    return Ok(None);
                }
                self.handed = true;
                return Ok(Some(Part {
                    shared,
                    group: 0,
                    first_row: 0,
                    rows: 0,
                    pieces: Vec::new(),
                    read: self.read_before,
                    bytes: 0,
                }));
            }
            let rows = self.file.meta.row_group(self.group).num_rows() as usize;
            if rows == 0 {
                self.group += 1;
                continue;
            }
            let file = &self.file;
            let g = self.group;
            self.readers = guarded(|| file.readers(g)).map_err(|e| self.group_error(e))?;
            self.left = rows;
        }
        let n = self.left.min(self.rows);
        let group_rows = self.file.meta.row_group(self.group).num_rows() as usize;
        let mut pieces = Vec::with_capacity(self.readers.len());
        let mut readers = std::mem::take(&mut self.readers);
        // The columns are decoded side by side: each reads its own pages (`FileAt`).
        let read: Vec<_> = {
            use rayon::prelude::*;
            readers
                .par_iter_mut()
                .zip(&shared.fields)
                .map(|(r, f)| guarded(|| read_piece(r, n, f.optional)))
                .collect()
        };
        for (r, f) in read.into_iter().zip(&shared.fields) {
            let (got, piece) = r.map_err(|e| self.column_error(f, e))?;
            if got != n {
                return Err(self.column_error(
                    f,
                    format!(
                        "it ends after {} of the {group_rows} rows its footer gives",
                        group_rows - self.left + got
                    ),
                ));
            }
            pieces.push(piece);
        }
        self.readers = readers;
        self.left -= n;
        let packed = self
            .file
            .meta
            .row_group(self.group)
            .compressed_size()
            .max(0) as f64;
        let done = (group_rows - self.left) as f64 / group_rows as f64;
        let part = Part {
            shared,
            group: self.group,
            first_row: self.rows_before,
            rows: n,
            pieces,
            read: self.read_before + (packed * done) as u64,
            bytes: (packed * n as f64 / group_rows as f64) as usize,
        };
        self.rows_before += n;
        self.handed = true;
        Ok(Some(part))
    }
}

impl Iterator for Chunks {
    type Item = Result<Part, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.step().transpose();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

/// Up to `n` rows of a column, and how many it had.
fn read_piece(r: &mut ColumnReader, n: usize, optional: bool) -> Result<(usize, Piece), String> {
    fn take<T: DataType>(
        r: &mut ColumnReaderImpl<T>,
        n: usize,
        levels: Option<&mut Vec<i16>>,
    ) -> Result<(usize, Vec<T::T>), String> {
        let mut v = Vec::with_capacity(n);
        let (got, _, _) = r
            .read_records(n, levels, None, &mut v)
            .map_err(|e| format!("its pages cannot be read ({e})"))?;
        Ok((got, v))
    }
    let mut levels = Vec::with_capacity(if optional { n } else { 0 });
    let l = optional.then_some(&mut levels);
    let (got, count, values) = match r {
        ColumnReader::BoolColumnReader(r) => {
            take(r, n, l).map(|(g, v)| (g, v.len(), Values::Bool(v)))
        }
        ColumnReader::Int32ColumnReader(r) => {
            take(r, n, l).map(|(g, v)| (g, v.len(), Values::I32(v)))
        }
        ColumnReader::Int64ColumnReader(r) => {
            take(r, n, l).map(|(g, v)| (g, v.len(), Values::I64(v)))
        }
        ColumnReader::FloatColumnReader(r) => {
            take(r, n, l).map(|(g, v)| (g, v.len(), Values::F32(v)))
        }
        ColumnReader::DoubleColumnReader(r) => {
            take(r, n, l).map(|(g, v)| (g, v.len(), Values::F64(v)))
        }
        ColumnReader::ByteArrayColumnReader(r) => {
            take(r, n, l).map(|(g, v)| (g, v.len(), Values::Text(v)))
        }
        _ => Err("a column of a type the schema check refused".into()),
    }?;
    if let Values::Text(v) = &values {
        // Each value is looked at once here, under `guarded`: an unset one would panic later.
        let _: usize = v.iter().map(ByteArray::len).sum();
    }
    let levels = if optional {
        // One level a row, a value for each level of 1.
        let present = levels.iter().filter(|&&d| d == 1).count();
        if levels.len() != got || present != count || levels.iter().any(|&d| d > 1) {
            return Err("its definition levels and values disagree".into());
        }
        Some(levels)
    } else {
        if count != got {
            return Err(format!("{count} values for {got} rows"));
        }
        None
    };
    Ok((got, Piece { values, levels }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of one required INT64 column `x` holding `0..rows`, uncompressed and without a
    /// dictionary, so its first page starts at the column chunk's start.
    fn plain_file(path: &Path, rows: i64) {
        use ::parquet::basic::Compression;
        use ::parquet::data_type::Int64Type;
        use ::parquet::file::properties::WriterProperties;
        use ::parquet::file::writer::SerializedFileWriter;
        use ::parquet::schema::types::Type;
        let x = Type::primitive_type_builder("x", Physical::INT64)
            .with_repetition(Repetition::REQUIRED)
            .build()
            .unwrap();
        let schema = Type::group_type_builder("t")
            .with_fields(vec![Arc::new(x)])
            .build()
            .unwrap();
        let props = WriterProperties::builder()
            .set_compression(Compression::UNCOMPRESSED)
            .set_dictionary_enabled(false)
            .build();
        let out = File::create(path).unwrap();
        let mut w = SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props)).unwrap();
        let mut rg = w.next_row_group().unwrap();
        let mut c = rg.next_column().unwrap().unwrap();
        let values: Vec<i64> = (0..rows).collect();
        c.typed::<Int64Type>()
            .write_batch(&values, None, None)
            .unwrap();
        c.close().unwrap();
        rg.close().unwrap();
        w.close().unwrap();
    }

    #[test]
    fn a_row_group_or_a_page_past_its_bound_is_refused_before_it_is_unpacked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        plain_file(&path, 2000);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = ParquetFile::open(&path).unwrap();
        assert_eq!(f.shared.fields[0].kind, Kind::Int64);
        // 16,000 bytes of values: past a bound of 10,000.
        let e = f.check_group(0, len, 10_000).unwrap_err().to_string();
        assert!(
            e.contains("row group 1 of 1: column 'x': it unpacks to"),
            "{e}"
        );
        let rows: usize = Chunks::open(&path, 300)
            .unwrap()
            .map(|p| p.unwrap().rows())
            .sum();
        assert_eq!(rows, 2000);
        // The first page's header claims far more than the chunk: its size, field 2, is a
        // 3-byte varint after field 1's two bytes, given the largest 3-byte value.
        let start = f.meta.row_group(0).column(0).data_page_offset() as usize;
        let mut bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[start + 2], 0x15, "field 2 follows field 1");
        assert!(bytes[start + 3] & 0x80 != 0 && bytes[start + 5] & 0x80 == 0);
        bytes[start + 3..start + 6].copy_from_slice(&[0xfe, 0xff, 0x7f]);
        std::fs::write(&path, &bytes).unwrap();
        let e = Chunks::open(&path, 300)
            .unwrap()
            .find_map(Result::err)
            .unwrap()
            .to_string();
        assert!(
            e.contains("column 'x'") && e.contains("claims to unpack to 1048575 bytes"),
            "{e}"
        );
    }
}
