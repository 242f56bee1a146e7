//! Reading a CSV file into a validated `Frame`.
//!
//! `csv` splits a chunk's text into tiles of field offsets; each tile is typed against the spec a
//! column at a time, a chunk per core, so an error can name the row, the column and the value.

use std::path::{Path, PathBuf};

use std::collections::HashMap;

use super::csv::{Misfits, Tile};
use super::frame::{parse_cell, plain_decimal, CellError, ColumnBuilder, Frame};
use super::header::check_header;
use super::spec::{ColumnSpec, DatasetSpec, Role, ValueType};

/// Whether the file must carry the target column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// Training data: the target column is required.
    Required,
    /// Data to score: the target column may be present or not.
    Optional,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The cause is in the message, not chained as a source, so `{:#}` says it once.
    #[error("{}: cannot read the file: {cause}", .path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{}: the file is empty", .path.display())]
    Empty { path: PathBuf },
    #[error("{}: the file has a header but no data rows", .path.display())]
    HeaderOnly { path: PathBuf },
    #[error("{}: {}", .path.display(), describe_columns(.missing, .unexpected, .hints))]
    Columns {
        path: PathBuf,
        missing: Vec<String>,
        unexpected: Vec<String>,
        hints: Vec<String>,
    },
    #[error("{}: column '{}' appears more than once in the header (positions {first} and {second})", .path.display(), crate::util::shown(.column))]
    DuplicateColumn {
        path: PathBuf,
        column: String,
        first: usize,
        second: usize,
    },
    #[error("{}: row {row} (line {line}), column '{column}': expected {expected}, found '{}'", .path.display(), crate::util::shown(.value))]
    WrongType {
        path: PathBuf,
        row: usize,
        line: usize,
        column: String,
        expected: &'static str,
        value: String,
    },
    #[error("{}: row {row} (line {line}), column '{column}': the value is missing and this column has no gaps in the dataset", .path.display())]
    MissingValue {
        path: PathBuf,
        row: usize,
        line: usize,
        column: String,
    },
    #[error("{}: row {row} (line {line}), column '{column}': unknown label '{}' (known: {})", .path.display(), crate::util::shown(.value), .known.join(", "))]
    UnknownLabel {
        path: PathBuf,
        row: usize,
        line: usize,
        column: String,
        value: String,
        known: Vec<String>,
    },
    #[error("{}: row {row} (line {line}) has {found} field(s) but the header has {expected}", .path.display())]
    FieldCount {
        path: PathBuf,
        row: usize,
        line: usize,
        found: usize,
        expected: usize,
    },
    #[error("{}: not a valid CSV file: {message}", .path.display())]
    Parse { path: PathBuf, message: String },
    /// A Parquet file's own errors, which name row groups rather than lines.
    #[error(transparent)]
    Parquet(#[from] super::parquet::ParquetError),
}

fn describe_columns(missing: &[String], unexpected: &[String], hints: &[String]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing column(s): {}", quote_list(missing)));
    }
    if !unexpected.is_empty() {
        parts.push(format!("unexpected column(s): {}", quote_list(unexpected)));
    }
    let mut s = parts.join("; ");
    for h in hints {
        s.push_str("\n  hint: ");
        s.push_str(h);
    }
    s
}

/// The names quoted, each cut and the list too, so a header of 10,000 columns or of a
/// megabyte-long name makes an error of a few lines.
pub(crate) fn quote_list(names: &[String]) -> String {
    let (first, more) = crate::util::first_few(names.iter().map(String::as_str));
    let quoted: Vec<String> = first
        .iter()
        .map(|n| format!("'{}'", crate::util::shown(n)))
        .collect();
    crate::util::listing(&quoted, more, "columns")
}

/// Every column of a CSV (or Parquet) file as text, with no spec: for reading a file whose
/// columns are not known yet (`data init`) or only a few of which matter (outcomes). Cells are
/// owned, so the table outlives the file's bytes.
pub fn read_text_columns(path: &Path) -> anyhow::Result<super::csv::Table<'static>> {
    if super::parquet::is_parquet(path) {
        return super::parquet::read_text_columns(path);
    }
    let p = path.display();
    crate::util::readable_file(path).map_err(|e| anyhow::anyhow!("{p}: cannot read: {e}"))?;
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{p}: cannot read: {e}"))?;
    let bad = |e: super::csv::CsvError| match e {
        super::csv::CsvError::DuplicateColumn { .. } => anyhow::anyhow!("{p}: {e}"),
        e => anyhow::anyhow!("{p}: not a CSV file: {e}"),
    };
    let text = super::csv::text(&bytes).map_err(bad)?;
    let t = super::csv::parse(text).map_err(bad)?;
    Ok(super::csv::Table {
        header: t.header,
        columns: t
            .columns
            .into_iter()
            .map(|c| {
                c.into_iter()
                    .map(|v| v.map(|v| std::borrow::Cow::Owned(v.into_owned())))
                    .collect()
            })
            .collect(),
        lines: t.lines,
        wide: t.wide,
    })
}

/// Rows typed a column at a time: a tile's fields and offsets stay in a core's cache.
const TILE_ROWS: usize = 4096;

/// Rows per part when a file is read in parts (public so tests can put a row on a cut).
pub const LOAD_CHUNK_ROWS: usize = 32_768;

/// Reads and validates `path` against `spec`: in parts of `LOAD_CHUNK_ROWS` records, a part per
/// core at a time, each appended to the frame as it is done. Memory holds the frame and a
/// batch of parts, never the file's text or a cell per field of it; the result and the errors
/// are those of `parse_csv` on the whole file. A Parquet file is read the same way (`chunks`).
pub fn load_csv(path: &Path, spec: &DatasetSpec, labels: Labels) -> Result<Frame, LoadError> {
    let chunks = super::chunks::CsvChunks::open(path, LOAD_CHUNK_ROWS)?;
    let size = chunks.len();
    let mut frame: Option<Frame> = None;
    chunks.in_batches(
        |chunk| {
            let bytes = chunk.size();
            Ok::<_, LoadError>((chunk.parse(path, spec, labels)?, bytes))
        },
        |(part, bytes), _| {
            match &mut frame {
                Some(f) => f.append(part),
                None => {
                    let mut f = part;
                    // Room for the file at this part's bytes per row, so the columns are not
                    // grown by doubling (which holds a column twice while it moves).
                    let per_row = bytes as f64 / f.n_rows().max(1) as f64;
                    f.reserve((size as f64 / per_row * 1.02) as usize);
                    frame = Some(f);
                }
            }
            Ok(())
        },
    )?;
    frame.ok_or_else(|| LoadError::Empty {
        path: path.to_path_buf(),
    })
}

/// Validates CSV bytes; `path` is only used in messages.
///
/// One pass: header, then typed columns, then the checks that name the row and column.
pub fn parse_csv(
    bytes: Vec<u8>,
    path: &Path,
    spec: &DatasetSpec,
    labels: Labels,
) -> Result<Frame, LoadError> {
    let p = || path.to_path_buf();
    let bad = |e: super::csv::CsvError| match e {
        super::csv::CsvError::DuplicateColumn {
            column,
            first,
            second,
        } => LoadError::DuplicateColumn {
            path: p(),
            column,
            first,
            second,
        },
        e => LoadError::Parse {
            path: p(),
            message: e.to_string(),
        },
    };
    let text = super::csv::text(&bytes).map_err(bad)?;
    // The header as the reader of the rows reads it, blank lines before it skipped.
    let super::csv::Header {
        names: header,
        rest: header_end,
        ..
    } = super::csv::header(text).map_err(bad)?;
    if header.is_empty() {
        return Err(LoadError::Empty { path: p() });
    }
    check_header(&header, spec, labels, path)?;
    let bytes = text.as_bytes();
    // Fields are typed a tile of rows and a column at a time, so a column's reader stays in
    // the cache and its branches predictable, and no cell per field is ever held. The error
    // is the first bad row's, and in it the first bad column in spec order.
    let capacity = memchr::memchr_iter(b'\n', &bytes[header_end..]).count() + 1;
    let mut readers: Vec<FieldReader> = spec
        .columns
        .iter()
        // By position in the header the checks read, so names match as they were checked.
        .filter_map(|col| {
            let at = header.iter().position(|h| h == &col.name)?;
            Some(FieldReader::new(col, at, capacity))
        })
        .collect();
    let mut rows = 0;
    let mut failed: Option<LoadError> = None;
    let (_, misfit) = super::csv::for_each_tile(text, TILE_ROWS, Misfits::Stop, |tile| {
        let mut first: Option<(usize, FieldError, &str)> = None;
        for r in readers.iter_mut() {
            // Rows after a bad one already found need no look.
            let upto = first.as_ref().map_or(tile.rows(), |(row, ..)| *row);
            if let Err((row, e)) = r.read_tile(&tile, upto, spec) {
                first = Some((row, e, &r.col.name));
            }
        }
        if let Some((row, e, column)) = first {
            failed = Some(e.locate(path, spec, column, rows + row + 1, tile.line(row)));
            return false;
        }
        rows += tile.rows();
        true
    })
    .map_err(bad)?;
    if let Some(e) = failed {
        return Err(e);
    }
    if let Some(m) = misfit {
        return Err(LoadError::FieldCount {
            path: p(),
            row: rows + 1,
            line: m.line,
            found: m.found,
            expected: header.len(),
        });
    }
    if rows == 0 {
        return Err(LoadError::HeaderOnly { path: p() });
    }
    let mut columns = Vec::new();
    let mut label_idx = None;
    for r in readers {
        match r.values {
            Values::Column(b) => columns.push((r.col.name.clone(), b.finish())),
            Values::Labels(l) => label_idx = Some(l),
        }
    }
    Ok(Frame::assemble(
        spec,
        path.display().to_string(),
        columns,
        label_idx,
    ))
}

/// An id the general reader would keep exactly as written: printable ASCII without spaces,
/// within the bound, not a missing-value token, and all digits where the spec declares whole
/// numbers. Anything else goes to `parse_cell`, which decides.
#[inline]
fn plain_id(raw: &str, whole: bool) -> bool {
    !raw.is_empty()
        && raw.len() <= super::frame::MAX_ID_CHARS
        && if whole {
            raw.len() <= 18 && raw.bytes().all(|c| c.is_ascii_digit())
        } else {
            raw.bytes().all(|b| b > b' ' && b < 0x7f) && !super::frame::is_missing_token(raw)
        }
}

/// A whole number written plainly (`12`, `-3`, `4.0`), as the general reader would give it.
#[inline]
fn plain_int(raw: &str) -> Option<f64> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if !digits.is_empty() && digits.len() <= 15 && digits.bytes().all(|c| c.is_ascii_digit()) {
        // `+ 0.0` makes `-0` the integer 0, as the integer reader does.
        let v = digits
            .bytes()
            .fold(0u64, |n, c| n * 10 + u64::from(c - b'0')) as f64;
        return Some(if digits.len() < raw.len() {
            -v + 0.0
        } else {
            v
        });
    }
    plain_decimal(raw)
        .filter(|x| x.fract() == 0.0)
        .map(|x| x + 0.0)
}

/// Types one column's fields as rows come: a value per field, or why it is not one.
struct FieldReader<'s> {
    col: &'s ColumnSpec,
    /// The column's position in the header.
    at: usize,
    values: Values,
    /// Fields seen before and what they became: a categorical code or a target label's index.
    /// Labels repeat, so each distinct text is parsed once.
    seen: Seen,
}

/// Texts already typed, and what they became. Most are short: those are read as two numbers
/// and their length, and found in a direct-mapped table without hashing or comparing text;
/// the rest, and short ones the table evicted, in a hash map.
struct Seen {
    short: Box<[(ShortKey, u32)]>,
    long: HashMap<String, u32, foldhash::fast::RandomState>,
}

/// A text of 1 to 16 bytes: with its length, its first and last bytes (overlapping when
/// short) determine it.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct ShortKey {
    lo: u64,
    hi: u64,
    len: u32,
}

impl ShortKey {
    fn of(text: &str) -> Option<ShortKey> {
        let b = text.as_bytes();
        let n = b.len();
        let word = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
        let half = |s: &[u8]| u64::from(u32::from_le_bytes(s.try_into().expect("4 bytes")));
        let (lo, hi) = match n {
            1..=3 => (
                u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
                0,
            ),
            4..=8 => (half(&b[..4]) | half(&b[n - 4..]) << 32, 0),
            9..=16 => (word(&b[..8]), word(&b[n - 8..])),
            _ => return None,
        };
        Some(ShortKey {
            lo,
            hi,
            len: n as u32,
        })
    }

    fn slot(self) -> usize {
        let mixed = (self.lo ^ self.hi.rotate_left(29) ^ u64::from(self.len))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> 55) as usize % Seen::SLOTS
    }
}

impl Seen {
    const SLOTS: usize = 512;

    fn new() -> Self {
        Seen {
            // An empty slot's length, 0, is no key's.
            short: vec![(ShortKey::default(), 0); Self::SLOTS].into_boxed_slice(),
            long: HashMap::default(),
        }
    }

    #[inline]
    fn get(&mut self, text: &str) -> Option<u32> {
        match ShortKey::of(text) {
            Some(key) => {
                let (k, v) = self.short[key.slot()];
                if k == key {
                    return Some(v);
                }
                let v = *self.long.get(text)?;
                self.short[key.slot()] = (key, v);
                Some(v)
            }
            None => self.long.get(text).copied(),
        }
    }

    fn insert(&mut self, text: &str, value: u32) {
        if let Some(key) = ShortKey::of(text) {
            self.short[key.slot()] = (key, value);
        }
        self.long.insert(text.to_string(), value);
    }
}

enum Values {
    Column(ColumnBuilder),
    Labels(Vec<u16>),
}

/// Why a field was refused, before the file, row and column are added.
enum FieldError {
    Cell(CellError, String),
    Missing,
    UnknownLabel(String),
}

impl<'s> FieldReader<'s> {
    fn new(col: &'s ColumnSpec, at: usize, capacity: usize) -> Self {
        let values = if col.role == Role::Target {
            Values::Labels(Vec::with_capacity(capacity))
        } else {
            Values::Column(ColumnBuilder::new(col, capacity))
        };
        FieldReader {
            col,
            at,
            values,
            seen: Seen::new(),
        }
    }

    /// Reads the column's field of rows `..upto` of `tile`; the error names the row.
    fn read_tile(
        &mut self,
        tile: &Tile,
        upto: usize,
        spec: &DatasetSpec,
    ) -> Result<(), (usize, FieldError)> {
        let mut row = 0;
        while row < upto {
            row = self.read_run(tile, row, upto);
            if row < upto {
                self.read(tile.field(row, self.at), spec)
                    .map_err(|e| (row, e))?;
                row += 1;
            }
        }
        Ok(())
    }

    /// Reads fields from row `from` on while they are the common case of their column (a
    /// plain number, a text seen before), with the column's kind decided once; returns the
    /// first row left to `read`.
    #[inline(never)]
    fn read_run(&mut self, tile: &Tile, from: usize, upto: usize) -> usize {
        let FieldReader {
            col,
            at,
            values,
            seen,
        } = self;
        let at = *at;
        // Pushes while `read` takes the field, monomorphised per kind so each loop is tight.
        fn run<T>(
            tile: &Tile,
            at: usize,
            (from, upto): (usize, usize),
            out: &mut Vec<T>,
            mut read: impl FnMut(&str) -> Option<T>,
        ) -> usize {
            let mut row = from;
            while row < upto {
                match tile.field(row, at).and_then(&mut read) {
                    Some(v) => out.push(v),
                    None => break,
                }
                row += 1;
            }
            row
        }
        let rows = (from, upto);
        match values {
            Values::Column(ColumnBuilder::Id(v)) => {
                let whole = col.value == ValueType::Int;
                let mut row = from;
                while row < upto {
                    match tile.field(row, at).filter(|r| plain_id(r, whole)) {
                        Some(raw) => v.push(raw),
                        None => break,
                    }
                    row += 1;
                }
                row
            }
            Values::Column(ColumnBuilder::Numeric(v)) if col.value == ValueType::Int => {
                run(tile, at, rows, v, plain_int)
            }
            Values::Column(ColumnBuilder::Numeric(v)) if col.value == ValueType::Float => {
                run(tile, at, rows, v, plain_decimal)
            }
            Values::Column(ColumnBuilder::Categorical(c, _)) if col.role == Role::Categorical => {
                run(tile, at, rows, &mut c.codes, |r| seen.get(r))
            }
            Values::Labels(out) => run(tile, at, rows, out, |r| {
                seen.get(r.trim()).map(|i| i as u16)
            }),
            _ => from,
        }
    }

    /// The general reader of one field, for what `read_run` did not take: a new label, a
    /// number not written plainly, a missing or bad value.
    fn read(&mut self, raw: Option<&str>, spec: &DatasetSpec) -> Result<(), FieldError> {
        match &mut self.values {
            Values::Labels(out) => {
                let v = raw.map(str::trim).unwrap_or("");
                if v.is_empty() {
                    return Err(FieldError::Missing);
                }
                let i = spec
                    .label_index(v)
                    .ok_or_else(|| FieldError::UnknownLabel(v.to_string()))?;
                self.seen.insert(v, i as u32);
                out.push(i as u16);
            }
            Values::Column(b) => {
                let cell = parse_cell(self.col, raw)
                    .map_err(|e| FieldError::Cell(e, raw.unwrap_or_default().to_string()))?;
                let code = b.push(cell);
                if let (Role::Categorical, Some(r), Some(code)) = (self.col.role, raw, code) {
                    self.seen.insert(r, code);
                }
            }
        }
        Ok(())
    }
}

impl FieldError {
    fn locate(
        self,
        path: &Path,
        spec: &DatasetSpec,
        column: &str,
        row: usize,
        line: usize,
    ) -> LoadError {
        let (path, column) = (path.to_path_buf(), column.to_string());
        match self {
            FieldError::Missing | FieldError::Cell(CellError::Missing, _) => {
                LoadError::MissingValue {
                    path,
                    row,
                    line,
                    column,
                }
            }
            FieldError::Cell(CellError::WrongType { expected }, value) => LoadError::WrongType {
                path,
                row,
                line,
                column,
                expected,
                value,
            },
            FieldError::UnknownLabel(value) => LoadError::UnknownLabel {
                path,
                row,
                line,
                column,
                value,
                known: spec.target.labels.clone(),
            },
        }
    }
}

impl LoadError {
    /// The same error for a part of a file that starts `rows` data rows and `lines` lines into
    /// it, so the message names the row and line of the whole file.
    pub fn shifted(self, rows: usize, lines: usize) -> LoadError {
        use LoadError::*;
        match self {
            WrongType {
                path,
                row,
                line,
                column,
                expected,
                value,
            } => WrongType {
                path,
                row: row + rows,
                line: line + lines,
                column,
                expected,
                value,
            },
            MissingValue {
                path,
                row,
                line,
                column,
            } => MissingValue {
                path,
                row: row + rows,
                line: line + lines,
                column,
            },
            UnknownLabel {
                path,
                row,
                line,
                column,
                value,
                known,
            } => UnknownLabel {
                path,
                row: row + rows,
                line: line + lines,
                column,
                value,
                known,
            },
            FieldCount {
                path,
                row,
                line,
                found,
                expected,
            } => FieldCount {
                path,
                row: row + rows,
                line: line + lines,
                found,
                expected,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests;
