//! Reading a segment: every column against its expected type, every value against its rule and
//! every row against the key it came under, with the Parquet reader's panics turned into refusals.

use bytes::Bytes;
use parquet::basic::{LogicalType, TimeUnit};
use parquet::column::reader::ColumnReader;
use parquet::data_type::ByteArray;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::{Map, Value};

use super::{
    input_name, Kind, SegmentError, MAX_INPUT_TEXT, MAX_ROW_GROUPS, MAX_TEXT, MAX_UNPACKED,
    OUTCOME_COLUMNS, PREDICTION_COLUMNS,
};
use crate::capture::{valid_name, KeyParts, MAX_SEGMENT_ROWS, SCHEMA_VERSION};
use crate::data::spec::ColumnSpec;
use crate::data::{DatasetSpec, Role};
use crate::tracking::captures::OutcomeRow;
use crate::tracking::PredictionRow;

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
                case_id = v.as_ref().and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
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
