//! The segment file: Parquet with one row per prediction (or outcome), zstd pages, the inputs
//! typed from the dataset spec. Writing is deterministic, so a segment rebuilt for a retry is
//! the same object. Reading trusts nothing: sizes, row counts, the schema against the spec,
//! every value against its rule and every row against the key it came under.

use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical, ZstdLevel};
use parquet::column::reader::ColumnReader;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde_json::{Map, Value};

use super::{valid_name, KeyParts, MAX_SEGMENT_ROWS, SCHEMA_VERSION};
use crate::data::spec::{ColumnSpec, ValueType};
use crate::data::{DatasetSpec, Role};
use crate::tracking::captures::OutcomeRow;
use crate::tracking::PredictionRow;

/// The longest text a segment's cell may hold (a row's data-quality findings).
const MAX_TEXT: usize = 64 * 1024;
/// The longest input text: what the server takes in a request.
const MAX_INPUT_TEXT: usize = 1024;
/// The most bytes a segment may unpack to, whatever its size in the bucket: checked against the
/// footer, and again against the text actually decoded, since a dictionary page of one long
/// value repeated a million times is small on disk and in the footer.
const MAX_UNPACKED: i64 = 256 * 1024 * 1024;
/// The most row groups one segment may hold (staytrack writes one).
const MAX_ROW_GROUPS: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("not a readable Parquet file ({0})")]
    Format(String),
    #[error("its schema does not match the dataset spec: {0}")]
    Schema(String),
    #[error("{0}")]
    Size(String),
    #[error("row {row}, column '{column}': {why}")]
    Value {
        row: usize,
        column: String,
        why: String,
    },
}

impl From<parquet::errors::ParquetError> for SegmentError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        SegmentError::Format(e.to_string())
    }
}

/// A column's name, type and whether it may be empty, as segments carry it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int64,
    Int32,
    Double,
    Text,
    Timestamp,
}

impl Kind {
    fn physical(self) -> Physical {
        match self {
            Kind::Int64 | Kind::Timestamp => Physical::INT64,
            Kind::Int32 => Physical::INT32,
            Kind::Double => Physical::DOUBLE,
            Kind::Text => Physical::BYTE_ARRAY,
        }
    }

    fn of(v: ValueType) -> Kind {
        match v {
            ValueType::Int => Kind::Int64,
            ValueType::Float => Kind::Double,
            ValueType::Text => Kind::Text,
        }
    }
}

/// The fixed columns of a predictions segment, in file order; the inputs follow.
const PREDICTION_COLUMNS: [(&str, Kind, bool); 14] = [
    ("prediction_id", Kind::Text, false),
    ("client_request_id", Kind::Text, true),
    ("ts", Kind::Timestamp, false),
    ("model_name", Kind::Text, false),
    ("model_alias", Kind::Text, true),
    ("model_version", Kind::Int64, true),
    ("run_id", Kind::Text, true),
    ("probability", Kind::Double, false),
    ("class", Kind::Int64, false),
    ("threshold", Kind::Double, false),
    ("replica", Kind::Text, false),
    ("schema_version", Kind::Int32, false),
    ("source", Kind::Text, false),
    ("quality", Kind::Text, true),
];

/// The columns of an outcomes segment.
const OUTCOME_COLUMNS: [(&str, Kind, bool); 8] = [
    ("case_id", Kind::Text, true),
    ("prediction_id", Kind::Text, true),
    ("label", Kind::Int64, false),
    ("label_raw", Kind::Text, false),
    ("ts", Kind::Timestamp, false),
    ("source", Kind::Text, false),
    ("replica", Kind::Text, false),
    ("schema_version", Kind::Int32, false),
];

/// An input column's name in a segment: lower case, every run of characters other than a
/// letter, a digit or `_` made one `_` (the names Athena and Glue can read: `Bed Grade` is `bed_grade`), with `input_`
/// before a name a fixed column has. Two spec columns that would share a name are refused when
/// the layout is made (`check_names`).
pub fn input_name(name: &str) -> String {
    let mut clean = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            clean.push(c.to_ascii_lowercase());
        } else if !clean.ends_with('_') {
            clean.push('_');
        }
    }
    if clean.is_empty() || PREDICTION_COLUMNS.iter().any(|(n, _, _)| *n == clean) {
        format!("input_{clean}")
    } else {
        clean
    }
}

/// Refuses inputs whose segment names would be the same column twice, naming both.
pub fn check_names(inputs: &[&ColumnSpec]) -> Result<(), SegmentError> {
    let mut seen: std::collections::HashMap<String, &str> = Default::default();
    for c in inputs {
        if let Some(other) = seen.insert(input_name(&c.name), &c.name) {
            return Err(SegmentError::Schema(format!(
                "columns '{other}' and '{}' would both be '{}' in a segment; leave one out with [capture] exclude",
                c.name,
                input_name(&c.name)
            )));
        }
    }
    Ok(())
}

/// One column's cells while a segment is built.
enum Cells {
    I64(Vec<i64>),
    I32(Vec<i32>),
    F64(Vec<f64>),
    /// Every value's bytes in one buffer and where each ends: one allocation per column, not
    /// per cell.
    Text {
        bytes: Vec<u8>,
        ends: Vec<usize>,
    },
}

struct Column {
    name: String,
    kind: Kind,
    optional: bool,
    cells: Cells,
    /// 1 where the row has a value, 0 where it is empty (optional columns only).
    def: Vec<i16>,
}

impl Column {
    fn new(name: &str, kind: Kind, optional: bool, rows: usize) -> Column {
        let cells = match kind {
            Kind::Int64 | Kind::Timestamp => Cells::I64(Vec::with_capacity(rows)),
            Kind::Int32 => Cells::I32(Vec::with_capacity(rows)),
            Kind::Double => Cells::F64(Vec::with_capacity(rows)),
            Kind::Text => Cells::Text {
                bytes: Vec::new(),
                ends: Vec::with_capacity(rows),
            },
        };
        Column {
            name: name.to_string(),
            kind,
            optional,
            cells,
            def: Vec::with_capacity(if optional { rows } else { 0 }),
        }
    }

    fn mark(&mut self, present: bool) {
        if self.optional {
            self.def.push(i16::from(present));
        }
    }

    fn i64(&mut self, v: Option<i64>) {
        self.mark(v.is_some());
        if let (Cells::I64(c), Some(v)) = (&mut self.cells, v) {
            c.push(v);
        }
    }

    fn f64(&mut self, v: Option<f64>) {
        self.mark(v.is_some());
        if let (Cells::F64(c), Some(v)) = (&mut self.cells, v) {
            c.push(v);
        }
    }

    fn text(&mut self, v: Option<&str>) {
        self.mark(v.is_some());
        if let (Cells::Text { bytes, ends }, Some(v)) = (&mut self.cells, v) {
            bytes.extend_from_slice(v.as_bytes());
            ends.push(bytes.len());
        }
    }

    fn schema(&self) -> Result<Arc<Type>, SegmentError> {
        let logical = match self.kind {
            Kind::Text => Some(LogicalType::String),
            Kind::Timestamp => Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
            _ => None,
        };
        Ok(Arc::new(
            Type::primitive_type_builder(&self.name, self.kind.physical())
                .with_repetition(if self.optional {
                    Repetition::OPTIONAL
                } else {
                    Repetition::REQUIRED
                })
                .with_logical_type(logical)
                .build()?,
        ))
    }
}

/// A text column's cells as slices of its one buffer.
fn text_cells(bytes: Vec<u8>, ends: &[usize]) -> Vec<ByteArray> {
    let all = Bytes::from(bytes);
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let cell = ByteArray::from(all.slice(start..end));
            start = end;
            cell
        })
        .collect()
}

/// Writes columns as one Parquet file in memory.
fn write(columns: Vec<Column>, kind: &str) -> Result<Vec<u8>, SegmentError> {
    let fields = columns
        .iter()
        .map(Column::schema)
        .collect::<Result<Vec<_>, _>>()?;
    let schema = Arc::new(
        Type::group_type_builder("capture")
            .with_fields(fields)
            .build()?,
    );
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        // Every prediction's id is new: a dictionary of them only costs time to build.
        .set_column_dictionary_enabled(
            parquet::schema::types::ColumnPath::from("prediction_id"),
            false,
        )
        .set_created_by(format!("staytrack {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![
            KeyValue::new("staytrack.kind".into(), kind.to_string()),
            KeyValue::new(
                "staytrack.schema_version".into(),
                SCHEMA_VERSION.to_string(),
            ),
        ]))
        .build();
    let mut w = SerializedFileWriter::new(Vec::new(), schema, Arc::new(props))?;
    let mut rg = w.next_row_group()?;
    for mut col in columns {
        let Some(mut cw) = rg.next_column()? else {
            return Err(SegmentError::Format("fewer columns than the schema".into()));
        };
        let def = col.optional.then_some(col.def.as_slice());
        match &mut col.cells {
            Cells::I64(v) => cw.typed::<Int64Type>().write_batch(v, def, None)?,
            Cells::I32(v) => cw.typed::<Int32Type>().write_batch(v, def, None)?,
            Cells::F64(v) => cw.typed::<DoubleType>().write_batch(v, def, None)?,
            Cells::Text { bytes, ends } => {
                let v = text_cells(std::mem::take(bytes), ends);
                cw.typed::<ByteArrayType>().write_batch(&v, def, None)?
            }
        };
        cw.close()?;
    }
    rg.close()?;
    Ok(w.into_inner()?)
}

/// One logged input value as read from the row's JSON, before its column types it.
/// Text borrows from the row's JSON where it has no escapes, so most rows allocate nothing.
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Text(std::borrow::Cow<'a, str>),
}

impl Scalar<'_> {
    fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::I64(v) => Some(*v as f64),
            Scalar::U64(v) => Some(*v as f64),
            Scalar::F64(v) => Some(*v),
            _ => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::I64(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(i64::try_from(v).map_or(Scalar::U64(v), Scalar::I64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::F64(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(v.to_string().into()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(v.into()))
            }
            // Nested values are not inputs a spec types: read past them as empty.
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Scalar<'de>, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Null)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Scalar<'de>, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar::Null)
            }
        }
        d.deserialize_any(V)
    }
}

/// The captured inputs' names, in order and by name, and the column each key of the last record
/// read was: records are logged with their keys in one order, so that guess is nearly always
/// right and spares hashing every key.
struct InputNames<'a> {
    order: Vec<&'a str>,
    index: std::collections::HashMap<&'a str, usize>,
    last: Vec<Option<usize>>,
}

impl<'a> InputNames<'a> {
    fn new(order: Vec<&'a str>) -> Self {
        let index = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        InputNames {
            order,
            index,
            last: Vec::new(),
        }
    }
}

/// Reads a logged record's inputs straight into `cells` (one per input name), without
/// building a JSON map: the shipper types every captured row, so this is its hot path. A key
/// given twice keeps its last value, as a JSON map would; a record that does not parse leaves
/// every cell empty.
fn read_record<'t>(text: &'t str, names: &mut InputNames, cells: &mut [Scalar<'t>]) {
    struct Seed<'a, 'b, 't> {
        index: &'a std::collections::HashMap<&'a str, usize>,
        names: &'a [&'a str],
        last: &'b mut Vec<Option<usize>>,
        cells: &'b mut [Scalar<'t>],
    }
    struct Key<'a> {
        index: &'a std::collections::HashMap<&'a str, usize>,
        names: &'a [&'a str],
        guess: Option<usize>,
    }
    impl<'de> serde::de::DeserializeSeed<'de> for Key<'_> {
        type Value = Option<usize>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
            d.deserialize_str(self)
        }
    }
    impl<'de> serde::de::Visitor<'de> for Key<'_> {
        type Value = Option<usize>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a column name")
        }
        fn visit_str<E>(self, v: &str) -> Result<Option<usize>, E> {
            if let Some(i) = self.guess.filter(|&i| self.names[i] == v) {
                return Ok(Some(i));
            }
            Ok(self.index.get(v).copied())
        }
    }
    impl<'t> serde::de::DeserializeSeed<'t> for Seed<'_, '_, 't> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'t>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'t> serde::de::Visitor<'t> for Seed<'_, '_, 't> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a record")
        }
        fn visit_map<A: serde::de::MapAccess<'t>>(self, mut a: A) -> Result<(), A::Error> {
            let mut at = 0;
            while let Some(k) = a.next_key_seed(Key {
                index: self.index,
                names: self.names,
                guess: self.last.get(at).copied().flatten(),
            })? {
                match self.last.get_mut(at) {
                    Some(seen) => *seen = k,
                    // Guesses for a few keys past the inputs (a record's extra fields), no more.
                    None if at < 2 * self.names.len() + 8 => self.last.push(k),
                    None => {}
                }
                at += 1;
                match k {
                    Some(i) => self.cells[i] = a.next_value()?,
                    None => {
                        a.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
            }
            Ok(())
        }
    }
    cells.iter_mut().for_each(|c| *c = Scalar::Null);
    let mut de = serde_json::Deserializer::from_str(text);
    let ok = serde::de::DeserializeSeed::deserialize(
        Seed {
            index: &names.index,
            names: &names.order,
            last: &mut names.last,
            cells: &mut *cells,
        },
        &mut de,
    )
    .and_then(|()| de.end())
    .is_ok();
    if !ok {
        cells.iter_mut().for_each(|c| *c = Scalar::Null);
    }
}

/// A logged input as its column's type, or empty when the value does not read as one.
fn typed_cell(col: &mut Column, spec: &ColumnSpec, v: &Scalar) {
    match spec.value {
        ValueType::Int => col.i64(match v {
            Scalar::I64(i) => Some(*i),
            Scalar::U64(u) => i64::try_from(*u).ok(),
            Scalar::F64(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Scalar::Text(s) => s.trim().parse().ok(),
            _ => None,
        }),
        ValueType::Float => col.f64(
            match v {
                Scalar::Text(s) => s.trim().parse().ok(),
                other => other.as_f64(),
            }
            .filter(|f: &f64| f.is_finite()),
        ),
        ValueType::Text => match v {
            Scalar::Text(s) => col.text(Some(s)),
            Scalar::I64(i) => col.text(Some(&i.to_string())),
            Scalar::U64(u) => col.text(Some(&u.to_string())),
            Scalar::F64(f) => col.text(Some(
                &serde_json::Number::from_f64(*f).map_or_else(String::new, |n| n.to_string()),
            )),
            Scalar::Bool(b) => col.text(Some(if *b { "true" } else { "false" })),
            Scalar::Null => col.text(None),
        },
    }
}

/// A predictions segment: the fixed columns, then `inputs` typed from the spec. Rows without a
/// model name take `model`.
pub fn encode_predictions(
    rows: &[PredictionRow],
    inputs: &[&ColumnSpec],
    model: &str,
) -> Result<Vec<u8>, SegmentError> {
    let n = rows.len();
    let mut cols: Vec<Column> = PREDICTION_COLUMNS
        .iter()
        .map(|(name, kind, opt)| Column::new(name, *kind, *opt, n))
        .collect();
    let mut input_cols: Vec<Column> = inputs
        .iter()
        .map(|c| Column::new(&input_name(&c.name), Kind::of(c.value), true, n))
        .collect();
    let mut names = InputNames::new(inputs.iter().map(|c| c.name.as_str()).collect());
    let mut cells = vec![Scalar::Null; inputs.len()];
    for r in rows {
        cols[0].text(r.prediction_id.as_deref().or(Some("")));
        cols[1].text(r.request_id.as_deref());
        cols[2].i64(Some(r.at));
        cols[3].text(Some(r.model_name.as_deref().unwrap_or(model)));
        cols[4].text(r.alias.as_deref());
        cols[5].i64(r.model_version);
        cols[6].text(r.run_id.as_deref());
        cols[7].f64(Some(r.probability));
        cols[8].i64(Some(r.class));
        cols[9].f64(Some(r.threshold.unwrap_or(crate::score::THRESHOLD)));
        cols[10].text(Some(r.replica.as_deref().unwrap_or("")));
        if let Cells::I32(v) = &mut cols[11].cells {
            v.push(SCHEMA_VERSION);
        }
        cols[12].text(Some(&r.source));
        cols[13].text(r.quality.as_deref());
        read_record(&r.inputs, &mut names, &mut cells);
        for ((col, spec), v) in input_cols.iter_mut().zip(inputs).zip(&cells) {
            typed_cell(col, spec, v);
        }
    }
    cols.append(&mut input_cols);
    write(cols, "predictions")
}

/// An outcomes segment.
pub fn encode_outcomes(rows: &[OutcomeRow]) -> Result<Vec<u8>, SegmentError> {
    let n = rows.len();
    let mut cols: Vec<Column> = OUTCOME_COLUMNS
        .iter()
        .map(|(name, kind, opt)| Column::new(name, *kind, *opt, n))
        .collect();
    for r in rows {
        cols[0].text(r.case_id.as_deref());
        cols[1].text(r.prediction_id.as_deref());
        cols[2].i64(Some(i64::from(r.label)));
        cols[3].text(Some(&r.raw));
        cols[4].i64(Some(r.at));
        cols[5].text(Some(&r.source));
        cols[6].text(Some(&r.replica));
        if let Cells::I32(v) = &mut cols[7].cells {
            v.push(SCHEMA_VERSION);
        }
    }
    write(cols, "outcomes")
}

/// One column as read: a cell per row, `None` where empty.
enum Read {
    I64(Vec<Option<i64>>),
    I32(Vec<Option<i32>>),
    F64(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
}

/// Spreads the values read over the rows their definition levels mark as present.
fn spread<T>(
    vals: Vec<T>,
    def: &[i16],
    optional: bool,
    n: usize,
) -> Result<Vec<Option<T>>, String> {
    if !optional {
        if vals.len() != n {
            return Err(format!("{} values for {n} rows", vals.len()));
        }
        return Ok(vals.into_iter().map(Some).collect());
    }
    if def.len() != n || def.iter().filter(|d| **d == 1).count() != vals.len() {
        return Err("its levels and values disagree".into());
    }
    let mut it = vals.into_iter();
    Ok(def
        .iter()
        .map(|d| if *d == 1 { it.next() } else { None })
        .collect())
}

/// Every value of a column chunk and its definition levels: exactly `n` rows, no more.
fn read_all<T: parquet::data_type::DataType>(
    mut r: parquet::column::reader::ColumnReaderImpl<T>,
    n: usize,
) -> Result<(Vec<T::T>, Vec<i16>), String> {
    let (mut vals, mut def) = (Vec::new(), Vec::new());
    let (recs, _, _) = r
        .read_records(n, Some(&mut def), None, &mut vals)
        .map_err(|e| e.to_string())?;
    if recs != n {
        return Err(format!("{recs} rows where the metadata says {n}"));
    }
    let (mut more, mut more_def) = (Vec::new(), Vec::new());
    let (extra, _, _) = r
        .read_records(1, Some(&mut more_def), None, &mut more)
        .map_err(|e| e.to_string())?;
    if extra != 0 {
        return Err(format!("more rows than the {n} the metadata says"));
    }
    Ok((vals, def))
}

fn read_column(
    rg: &dyn parquet::file::reader::RowGroupReader,
    i: usize,
    kind: Kind,
    optional: bool,
    n: usize,
    max_text: usize,
    budget: &mut i64,
) -> Result<Read, String> {
    let reader = rg.get_column_reader(i).map_err(|e| e.to_string())?;
    Ok(match (reader, kind) {
        (ColumnReader::Int64ColumnReader(r), Kind::Int64 | Kind::Timestamp) => {
            let (v, def) = read_all(r, n)?;
            Read::I64(spread(v, &def, optional, n)?)
        }
        (ColumnReader::Int32ColumnReader(r), Kind::Int32) => {
            let (v, def) = read_all(r, n)?;
            Read::I32(spread(v, &def, optional, n)?)
        }
        (ColumnReader::DoubleColumnReader(r), Kind::Double) => {
            let (v, def) = read_all(r, n)?;
            Read::F64(spread(v, &def, optional, n)?)
        }
        (ColumnReader::ByteArrayColumnReader(r), Kind::Text) => {
            let (vals, def): (Vec<ByteArray>, _) = read_all(r, n)?;
            // Counted before anything is copied: the values still point into the pages.
            for v in &vals {
                if v.len() > max_text {
                    return Err(format!("a text of {} bytes (at most {max_text})", v.len()));
                }
                *budget -= v.len() as i64;
            }
            if *budget < 0 {
                return Err(format!(
                    "its texts unpack to more than {MAX_UNPACKED} bytes"
                ));
            }
            let mut texts = Vec::with_capacity(vals.len());
            for v in vals {
                texts.push(
                    v.as_utf8()
                        .map_err(|_| "a text that is not UTF-8".to_string())?
                        .to_string(),
                );
            }
            Read::Text(spread(texts, &def, optional, n)?)
        }
        _ => return Err("its physical type changed".into()),
    })
}

/// What a segment may carry under a name: its kind, whether it may be empty, its longest text.
type Expected = (Kind, bool, usize);

/// A file's columns by name, each read whole after its schema was checked against `expect`.
struct Table {
    rows: usize,
    columns: Vec<(String, Read)>,
}

impl Table {
    fn take(&mut self, name: &str) -> Option<Read> {
        let i = self.columns.iter().position(|(n, _)| n == name)?;
        Some(self.columns.swap_remove(i).1)
    }
}

/// Opens a segment and reads every column `expect` allows (name → kind, optional, longest text);
/// a column it does not know, a type that differs, a column it needs that is missing, too many
/// rows or row groups, or too many unpacked bytes refuse the whole segment.
fn read_table(
    bytes: Bytes,
    kind: &str,
    expect: &dyn Fn(&str) -> Option<Expected>,
    required: &[&str],
) -> Result<Table, SegmentError> {
    let reader = SerializedFileReader::new(bytes)?;
    let meta = reader.metadata();
    if meta.num_row_groups() > MAX_ROW_GROUPS {
        return Err(SegmentError::Size(format!(
            "it has {} row groups (at most {MAX_ROW_GROUPS})",
            meta.num_row_groups()
        )));
    }
    let file = meta.file_metadata();
    let declared = file.num_rows();
    if declared < 0 || declared as usize > MAX_SEGMENT_ROWS {
        return Err(SegmentError::Size(format!(
            "it declares {declared} rows (at most {MAX_SEGMENT_ROWS})"
        )));
    }
    let said = |k: &str| {
        file.key_value_metadata()
            .and_then(|kv| kv.iter().find(|e| e.key == k))
            .and_then(|e| e.value.clone())
    };
    if said("staytrack.kind").as_deref() != Some(kind) {
        return Err(SegmentError::Schema(format!("it is not a {kind} segment")));
    }
    if said("staytrack.schema_version") != Some(SCHEMA_VERSION.to_string()) {
        return Err(SegmentError::Schema(format!(
            "schema version {} (this staytrack reads {SCHEMA_VERSION})",
            said("staytrack.schema_version").unwrap_or_else(|| "none".into())
        )));
    }
    let schema = file.schema_descr();
    let mut plan = Vec::with_capacity(schema.num_columns());
    for (i, c) in schema.columns().iter().enumerate() {
        let name = c.name();
        if c.max_rep_level() != 0 || c.path().parts().len() != 1 {
            return Err(SegmentError::Schema(format!(
                "column '{}' is nested",
                name.escape_debug()
            )));
        }
        let Some((k, optional, max_text)) = expect(name) else {
            return Err(SegmentError::Schema(format!(
                "column '{}' is not one a segment carries",
                name.escape_debug()
            )));
        };
        let is_optional = c.max_def_level() == 1;
        if c.physical_type() != k.physical() || (is_optional && !optional) {
            return Err(SegmentError::Schema(format!(
                "column '{}' is {:?}{}, where the spec says {:?}{}",
                name.escape_debug(),
                c.physical_type(),
                if is_optional { " (optional)" } else { "" },
                k.physical(),
                if optional { " (optional)" } else { "" }
            )));
        }
        if k == Kind::Timestamp
            && c.logical_type_ref().is_some_and(
                |l| !matches!(l, LogicalType::Timestamp(t) if t.unit == TimeUnit::MILLIS),
            )
        {
            return Err(SegmentError::Schema(format!(
                "column '{name}' is not a timestamp in milliseconds"
            )));
        }
        if plan.iter().any(|(_, n, _, _, _)| n == name) {
            return Err(SegmentError::Schema(format!(
                "column '{name}' appears twice"
            )));
        }
        plan.push((i, name.to_string(), k, is_optional, max_text));
    }
    for r in required {
        if !plan.iter().any(|(_, n, _, _, _)| n == r) {
            return Err(SegmentError::Schema(format!("column '{r}' is missing")));
        }
    }
    let mut unpacked = 0i64;
    let mut total = 0i64;
    for rg in meta.row_groups() {
        total += rg.num_rows();
        for c in rg.columns() {
            unpacked = unpacked.saturating_add(c.uncompressed_size().max(0));
        }
    }
    if total != declared {
        return Err(SegmentError::Size(format!(
            "its row groups hold {total} rows, its footer says {declared}"
        )));
    }
    if unpacked > MAX_UNPACKED {
        return Err(SegmentError::Size(format!(
            "it unpacks to {unpacked} bytes (at most {MAX_UNPACKED})"
        )));
    }
    let mut columns: Vec<(String, Read)> = plan
        .iter()
        .map(|(_, n, k, _, _)| {
            (
                n.clone(),
                match k {
                    Kind::Int64 | Kind::Timestamp => Read::I64(Vec::new()),
                    Kind::Int32 => Read::I32(Vec::new()),
                    Kind::Double => Read::F64(Vec::new()),
                    Kind::Text => Read::Text(Vec::new()),
                },
            )
        })
        .collect();
    let mut budget = MAX_UNPACKED;
    for g in 0..reader.num_row_groups() {
        let rg = reader.get_row_group(g)?;
        let n = rg.metadata().num_rows().max(0) as usize;
        for ((i, name, k, optional, max_text), (_, all)) in plan.iter().zip(columns.iter_mut()) {
            let part = read_column(rg.as_ref(), *i, *k, *optional, n, *max_text, &mut budget)
                .map_err(|why| {
                    SegmentError::Format(format!(
                        "column '{}' of row group {g}: {why}",
                        name.escape_debug()
                    ))
                })?;
            match (all, part) {
                (Read::I64(a), Read::I64(b)) => a.extend(b),
                (Read::I32(a), Read::I32(b)) => a.extend(b),
                (Read::F64(a), Read::F64(b)) => a.extend(b),
                (Read::Text(a), Read::Text(b)) => a.extend(b),
                _ => unreachable!("a column is read as the kind it was planned as"),
            }
        }
    }
    Ok(Table {
        rows: declared as usize,
        columns,
    })
}

macro_rules! column {
    ($t:expr, $name:expr, $variant:ident) => {
        match $t.take($name) {
            Some(Read::$variant(v)) => v,
            _ => vec![None; $t.rows],
        }
    };
}

/// Reads a predictions segment found under `key`, for a workspace whose dataset is `spec`:
/// inputs must be the spec's columns with the spec's types, every row must fall in the key's
/// hour and carry the key's model and replica. Returns the rows as the log stores them.
pub fn decode_predictions(
    bytes: Bytes,
    spec: &DatasetSpec,
    key: &KeyParts,
) -> Result<Vec<PredictionRow>, SegmentError> {
    let inputs: Vec<(String, &ColumnSpec)> = spec
        .columns
        .iter()
        .filter(|c| c.role != Role::Target)
        .map(|c| (input_name(&c.name), c))
        .collect();
    let expect = |name: &str| {
        PREDICTION_COLUMNS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, k, o)| (*k, *o, MAX_TEXT))
            .or_else(|| {
                inputs
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, c)| (Kind::of(c.value), true, MAX_INPUT_TEXT))
            })
    };
    let required: Vec<&str> = PREDICTION_COLUMNS.iter().map(|(n, _, _)| *n).collect();
    let mut t = guarded(|| read_table(bytes, "predictions", &expect, &required))?;
    let n = t.rows;
    let ids = column!(t, "prediction_id", Text);
    let req = column!(t, "client_request_id", Text);
    let ts = column!(t, "ts", I64);
    let model = column!(t, "model_name", Text);
    let alias = column!(t, "model_alias", Text);
    let version = column!(t, "model_version", I64);
    let run = column!(t, "run_id", Text);
    let prob = column!(t, "probability", F64);
    let class = column!(t, "class", I64);
    let threshold = column!(t, "threshold", F64);
    let replica = column!(t, "replica", Text);
    let sv = column!(t, "schema_version", I32);
    let source = column!(t, "source", Text);
    let quality = column!(t, "quality", Text);
    let id_col = spec
        .columns
        .iter()
        .find(|c| c.role == Role::Id)
        .map(|c| input_name(&c.name));
    let mut input_cols: Vec<(&ColumnSpec, Read)> = Vec::new();
    for (name, c) in &inputs {
        if let Some(r) = t.take(name) {
            input_cols.push((c, r));
        }
    }
    let case_col = id_col.as_ref().and_then(|idn| {
        input_cols
            .iter()
            .position(|(c, _)| input_name(&c.name) == *idn)
    });
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let bad = |column: &str, why: String| SegmentError::Value {
            row: i + 1,
            column: column.to_string(),
            why,
        };
        let text = |v: &Option<String>,
                    column: &str,
                    max: usize|
         -> Result<Option<String>, SegmentError> {
            match v {
                Some(s) if s.len() > max => Err(bad(column, format!("longer than {max} bytes"))),
                Some(s) if s.chars().any(char::is_control) => {
                    Err(bad(column, "holds control characters".into()))
                }
                other => Ok(other.clone()),
            }
        };
        let pid = match &ids[i] {
            Some(s) if valid_name(s) => s.clone(),
            _ => {
                return Err(bad(
                    "prediction_id",
                    "not 1 to 64 letters, digits, '.', '_' or '-'".into(),
                ))
            }
        };
        let at = ts[i].ok_or_else(|| bad("ts", "empty".into()))?;
        if at < key.period_ms || at >= key.period_ms + key.period_len_ms {
            return Err(bad(
                "ts",
                format!("{} is outside the key's hour", crate::util::format_ms(at)),
            ));
        }
        let m = model[i].clone().unwrap_or_default();
        if key.model.as_deref() != Some(m.as_str()) {
            return Err(bad(
                "model_name",
                format!("'{}' is not the key's model", m.escape_debug()),
            ));
        }
        if replica[i].as_deref() != Some(key.replica.as_str()) {
            return Err(bad("replica", "not the key's replica".into()));
        }
        if sv[i] != Some(SCHEMA_VERSION) {
            return Err(bad("schema_version", format!("{:?}", sv[i])));
        }
        let p = prob[i]
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| bad("probability", "not a number from 0 to 1".into()))?;
        let c = class[i]
            .filter(|c| (0..=1).contains(c))
            .ok_or_else(|| bad("class", "not 0 or 1".into()))?;
        let th = threshold[i]
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| bad("threshold", "not a number from 0 to 1".into()))?;
        let mut record = Map::new();
        let mut case_id = None;
        for (j, (spec_col, cells)) in input_cols.iter().enumerate() {
            let v = match cells {
                Read::I64(v) => v[i].map(Value::from),
                Read::F64(v) => match v[i] {
                    Some(f) if !f.is_finite() => {
                        return Err(bad(&spec_col.name, "not a finite number".into()))
                    }
                    f => f.and_then(serde_json::Number::from_f64).map(Value::Number),
                },
                Read::Text(v) => v[i].clone().map(Value::String),
                Read::I32(_) => None,
            };
            if Some(j) == case_col {
                case_id = v
                    .as_ref()
                    .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()));
            }
            record.insert(spec_col.name.clone(), v.unwrap_or(Value::Null));
        }
        out.push(PredictionRow {
            at,
            model_version: version[i],
            case_id,
            inputs: Value::Object(record).to_string(),
            probability: p,
            class: c,
            source: text(&source[i], "source", 64)?.unwrap_or_default(),
            quality: text(&quality[i], "quality", MAX_TEXT)?,
            prediction_id: Some(pid),
            request_id: text(&req[i], "client_request_id", 128)?,
            replica: Some(key.replica.clone()),
            model_name: Some(m),
            alias: text(&alias[i], "model_alias", 64)?,
            run_id: text(&run[i], "run_id", 64)?,
            threshold: Some(th),
        });
    }
    Ok(out)
}

/// Reads an outcomes segment found under `key`: every row in the key's day and replica, a 0/1
/// label, and a case id or a prediction id.
pub fn decode_outcomes(bytes: Bytes, key: &KeyParts) -> Result<Vec<OutcomeRow>, SegmentError> {
    let expect = |name: &str| {
        OUTCOME_COLUMNS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, k, o)| (*k, *o, 1024))
    };
    let required: Vec<&str> = OUTCOME_COLUMNS.iter().map(|(n, _, _)| *n).collect();
    let mut t = guarded(|| read_table(bytes, "outcomes", &expect, &required))?;
    let n = t.rows;
    let case = column!(t, "case_id", Text);
    let pid = column!(t, "prediction_id", Text);
    let label = column!(t, "label", I64);
    let raw = column!(t, "label_raw", Text);
    let ts = column!(t, "ts", I64);
    let source = column!(t, "source", Text);
    let replica = column!(t, "replica", Text);
    let sv = column!(t, "schema_version", I32);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let bad = |column: &str, why: &str| SegmentError::Value {
            row: i + 1,
            column: column.to_string(),
            why: why.to_string(),
        };
        let short = |v: &Option<String>, c: &str, max: usize| match v {
            Some(s) if s.len() > max || s.chars().any(char::is_control) => {
                Err(bad(c, "too long or holds control characters"))
            }
            o => Ok(o.clone()),
        };
        let at = ts[i].ok_or_else(|| bad("ts", "empty"))?;
        if at < key.period_ms || at >= key.period_ms + key.period_len_ms {
            return Err(bad("ts", "outside the key's day"));
        }
        if replica[i].as_deref() != Some(key.replica.as_str()) {
            return Err(bad("replica", "not the key's replica"));
        }
        if sv[i] != Some(SCHEMA_VERSION) {
            return Err(bad("schema_version", "not this staytrack's"));
        }
        let l = label[i]
            .filter(|l| (0..=1).contains(l))
            .ok_or_else(|| bad("label", "not 0 or 1"))?;
        let case_id = short(&case[i], "case_id", 256)?;
        let prediction_id = match &pid[i] {
            Some(p) if !valid_name(p) => return Err(bad("prediction_id", "not a prediction id")),
            p => p.clone(),
        };
        if case_id.is_none() && prediction_id.is_none() {
            return Err(bad("case_id", "neither a case id nor a prediction id"));
        }
        out.push(OutcomeRow {
            case_id,
            prediction_id,
            label: l as u8,
            raw: short(&raw[i], "label_raw", 256)?.unwrap_or_default(),
            source: short(&source[i], "source", 256)?.unwrap_or_default(),
            at,
            replica: key.replica.clone(),
        });
    }
    Ok(out)
}

/// Runs a reader over untrusted bytes; a panic inside the Parquet library is a refusal, never
/// the end of the process.
fn guarded<T>(f: impl FnOnce() -> Result<T, SegmentError>) -> Result<T, SegmentError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(SegmentError::Format(
            "the Parquet reader gave up on it".into(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader's answer for one record against serde_json's own map of it.
    fn both<'t>(
        reader: &mut InputNames,
        text: &'t str,
        names: &[&str],
    ) -> (Vec<Scalar<'t>>, Vec<Scalar<'static>>) {
        let mut cells = vec![Scalar::I64(7); names.len()];
        read_record(text, reader, &mut cells);
        let map: Map<String, Value> = serde_json::from_str(text).unwrap_or_default();
        let want = names
            .iter()
            .map(|n| match map.get(*n) {
                None | Some(Value::Null) | Some(Value::Array(_)) | Some(Value::Object(_)) => {
                    Scalar::Null
                }
                Some(Value::Bool(b)) => Scalar::Bool(*b),
                Some(Value::String(s)) => Scalar::Text(s.clone().into()),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Scalar::I64)
                    .or(n.as_u64().map(Scalar::U64))
                    .unwrap_or_else(|| Scalar::F64(n.as_f64().unwrap_or(f64::NAN))),
            })
            .collect();
        (cells, want)
    }

    #[test]
    fn a_record_reads_as_serde_json_reads_it() {
        let names = ["Age", "a\"b", "n", "big", "x y"];
        // One reader for every record, as a segment's: its guesses from one record must not
        // mislead it on the next.
        let mut reader = InputNames::new(names.to_vec());
        for text in [
            r#"{"Age":"41-50","a\"b":1,"n":2.5,"big":1,"x y":null,"Age":"again"}"#,
            r#"{"n":1,"Age":"out of order","x y":3,"a\"b":"b"}"#,
            r#"{"Age":"41-50","a\"b":1,"n":2.5,"big":18446744073709551615,"x y":true}"#,
            r#"{"Age":1,"Age":"last","n":[1,2],"big":{"k":1},"other":{"deep":[[1]]}}"#,
            r#"{"A\u0067e":"escaped key","n":-0.0,"big":-9223372036854775808}"#,
            r#"{"n":null}"#,
            r#"{}"#,
            r#"not json"#,
            r#"{"Age":"cut"#,
            r#"{"Age":"x"} trailing"#,
            r#"[1,2]"#,
        ] {
            let (got, want) = both(&mut reader, text, &names);
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn cells_are_typed_by_their_column() {
        let spec = |value| ColumnSpec {
            name: "c".into(),
            role: Role::Numeric,
            value,
            nullable: true,
        };
        let one = |value, v: Scalar| {
            let mut col = Column::new("c", Kind::of(value), true, 1);
            typed_cell(&mut col, &spec(value), &v);
            match col.cells {
                Cells::I64(c) => c.first().map(|v| v.to_string()),
                Cells::F64(c) => c.first().map(|v| v.to_string()),
                Cells::Text { bytes, ends } => ends
                    .first()
                    .map(|&end| String::from_utf8_lossy(&bytes[..end]).into()),
                Cells::I32(c) => c.first().map(|v| v.to_string()),
            }
        };
        assert_eq!(one(ValueType::Int, Scalar::F64(3.0)), Some("3".into()));
        assert_eq!(one(ValueType::Int, Scalar::F64(3.5)), None);
        assert_eq!(one(ValueType::Int, Scalar::U64(u64::MAX)), None);
        assert_eq!(
            one(ValueType::Int, Scalar::Text(" 12 ".into())),
            Some("12".into())
        );
        assert_eq!(one(ValueType::Float, Scalar::Text("inf".into())), None);
        assert_eq!(one(ValueType::Float, Scalar::I64(-4)), Some("-4".into()));
        assert_eq!(one(ValueType::Text, Scalar::F64(1.0)), Some("1.0".into()));
        assert_eq!(
            one(ValueType::Text, Scalar::Bool(false)),
            Some("false".into())
        );
        assert_eq!(one(ValueType::Text, Scalar::Null), None);
    }
}
