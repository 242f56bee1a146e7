//! The segment file: Parquet with one row per prediction (or outcome), zstd pages, the inputs
//! typed from the dataset spec. Writing is deterministic, so a segment rebuilt for a retry is
//! the same object. Reading trusts nothing: sizes, row counts, the schema against the spec,
//! every value against its rule and every row against the key it came under.

use std::sync::Arc;

use bytes::Bytes;
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use super::SCHEMA_VERSION;
use crate::data::spec::{ColumnSpec, ValueType};
use crate::tracking::captures::OutcomeRow;
use crate::tracking::PredictionRow;

mod read;
pub use read::{decode_outcomes, decode_predictions};

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

#[cfg(test)]
mod tests;
