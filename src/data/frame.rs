//! `Frame`: a validated, typed, column-major table that follows a `DatasetSpec`.
//!
//! Frames come from a CSV file or from JSON records, and both go through `parse_cell`, so a value
//! means the same thing whichever way it arrives.

use std::collections::HashMap;

use super::spec::{ColumnSpec, DatasetSpec, Role, ValueType};

/// Marks a missing value in a categorical column's codes.
pub const MISSING_CODE: u32 = u32::MAX;

/// A dictionary-encoded categorical column: `levels[codes[i]]` is row i's label.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CatColumn {
    pub codes: Vec<u32>,
    pub levels: Vec<String>,
}

impl CatColumn {
    pub fn get(&self, row: usize) -> Option<&str> {
        match self.codes[row] {
            MISSING_CODE => None,
            code => Some(self.levels[code as usize].as_str()),
        }
    }

    /// Appends a value, adding it to the dictionary when new. A short dictionary is searched
    /// directly; the hash index is built once it grows past `SCAN_LEVELS`, so a one-row frame
    /// (a served request) never hashes.
    fn push(&mut self, value: Option<&str>, index: &mut HashMap<String, u32>) {
        const SCAN_LEVELS: usize = 8;
        let code = match value {
            None => MISSING_CODE,
            Some(v) if self.levels.len() <= SCAN_LEVELS => {
                match self.levels.iter().position(|l| l == v) {
                    Some(c) => c as u32,
                    None => {
                        self.levels.push(v.to_string());
                        if self.levels.len() > SCAN_LEVELS {
                            index.extend(
                                self.levels
                                    .iter()
                                    .enumerate()
                                    .map(|(i, l)| (l.clone(), i as u32)),
                            );
                        }
                        (self.levels.len() - 1) as u32
                    }
                }
            }
            Some(v) => match index.get(v) {
                Some(&c) => c,
                None => {
                    let c = self.levels.len() as u32;
                    self.levels.push(v.to_string());
                    index.insert(v.to_string(), c);
                    c
                }
            },
        };
        self.codes.push(code);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// Quantities; `NaN` marks a missing value.
    Numeric(Vec<f64>),
    Categorical(CatColumn),
    Id(Vec<i64>),
}

impl ColumnData {
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Numeric(v) => v.len(),
            ColumnData::Categorical(c) => c.codes.len(),
            ColumnData::Id(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn kind(&self) -> &'static str {
        match self {
            ColumnData::Numeric(_) => "numeric",
            ColumnData::Categorical(_) => "categorical",
            ColumnData::Id(_) => "an id",
        }
    }

    pub fn missing(&self) -> usize {
        match self {
            ColumnData::Numeric(v) => v.iter().filter(|x| x.is_nan()).count(),
            ColumnData::Categorical(c) => c.codes.iter().filter(|&&c| c == MISSING_CODE).count(),
            ColumnData::Id(_) => 0,
        }
    }

    fn take(&self, rows: &[usize]) -> ColumnData {
        match self {
            ColumnData::Numeric(v) => ColumnData::Numeric(rows.iter().map(|&r| v[r]).collect()),
            ColumnData::Id(v) => ColumnData::Id(rows.iter().map(|&r| v[r]).collect()),
            ColumnData::Categorical(c) => ColumnData::Categorical(CatColumn {
                codes: rows.iter().map(|&r| c.codes[r]).collect(),
                levels: c.levels.clone(),
            }),
        }
    }
}

/// One parsed cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Missing,
    Number(f64),
    Id(i64),
    /// A categorical label in canonical form (`7.0` and `7` are both `"7"`).
    Label(String),
}

/// Why a cell was rejected; the caller adds the file, row and column.
#[derive(Debug, Clone, PartialEq)]
pub enum CellError {
    Missing,
    WrongType { expected: &'static str },
}

/// The cells read as a missing value: pandas' default `na_values`, so a file or a request that
/// pandas (and so an MLflow client) reads as missing is missing here too, in every column.
pub const MISSING_TOKENS: [&str; 19] = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// Whether a (trimmed) cell is one of `MISSING_TOKENS`.
pub fn is_missing_token(raw: &str) -> bool {
    // Every token but the empty one starts with one of these bytes; most cells do not, so the
    // list is searched only for the few that might match.
    match raw.as_bytes().first() {
        None => true,
        Some(b'#' | b'-' | b'1' | b'<' | b'N' | b'n') => MISSING_TOKENS.contains(&raw),
        Some(_) => false,
    }
}

/// Parses one raw cell for a column: the one coercion rule of every input path (CSV files,
/// request bodies, tensors). `None`, blank cells and `MISSING_TOKENS` are missing values.
pub fn parse_cell(col: &ColumnSpec, raw: Option<&str>) -> Result<Cell, CellError> {
    let raw = match raw.map(str::trim) {
        None => None,
        Some(s) if is_missing_token(s) => None,
        s => s,
    };
    let raw = match raw {
        None => {
            return if col.nullable {
                Ok(Cell::Missing)
            } else {
                Err(CellError::Missing)
            }
        }
        Some(s) => s,
    };
    let wrong = || CellError::WrongType {
        expected: col.value.describe(),
    };
    match (col.role, col.value) {
        (_, ValueType::Text) => Ok(Cell::Label(raw.to_string())),
        (Role::Id, _) => parse_int(raw).map(Cell::Id).ok_or_else(wrong),
        (_, ValueType::Int) => {
            let v = parse_int(raw).ok_or_else(wrong)?;
            Ok(match col.role {
                Role::Categorical => Cell::Label(v.to_string()),
                _ => Cell::Number(v as f64),
            })
        }
        (_, ValueType::Float) => {
            let v: f64 = plain_decimal(raw)
                .or_else(|| raw.parse().ok())
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(wrong)?;
            Ok(match col.role {
                Role::Categorical => Cell::Label(canonical_number(v)),
                _ => Cell::Number(v),
            })
        }
    }
}

/// A number written plainly (`-12`, `4142.0`, `0.25`: digits, at most one point, no exponent)
/// with at most 15 digits, or `None` for anything else. Such a number is an integer below 2^53
/// over a power of ten that is exact in `f64`, so one division rounds it exactly as the full
/// decimal reader does, at a fraction of its cost; files are mostly such numbers.
pub fn plain_decimal(raw: &str) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, digits) = match raw.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        b => (false, b),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let (mut m, mut count, mut point) = (0u64, 0usize, None);
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                m = m * 10 + u64::from(b - b'0');
                count += 1;
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    // "." alone, "5." and ".5" are left to the full reader, as are long numbers.
    let fraction = match point {
        Some(p) if p == 0 || p + 1 == digits.len() => return None,
        Some(p) => digits.len() - p - 1,
        None => 0,
    };
    if count > 15 {
        return None;
    }
    let v = m as f64 / POW10[fraction];
    Some(if negative { -v } else { v })
}

/// Integers, also when written with a zero fraction (`3.0`), as some exporters do.
fn parse_int(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().or_else(|| {
        let f: f64 = raw.parse().ok()?;
        (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
    })
}

/// A number used as a label: integers lose their `.0`, so `7`, `7.0` and `7.00` are one label.
pub fn canonical_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Builds one column cell by cell.
pub(crate) enum ColumnBuilder {
    Numeric(Vec<f64>),
    Categorical(CatColumn, HashMap<String, u32>),
    Id(Vec<i64>),
}

impl ColumnBuilder {
    pub(crate) fn new(col: &ColumnSpec, capacity: usize) -> Self {
        match col.role {
            Role::Id => ColumnBuilder::Id(Vec::with_capacity(capacity)),
            Role::Numeric => ColumnBuilder::Numeric(Vec::with_capacity(capacity)),
            _ => ColumnBuilder::Categorical(
                CatColumn {
                    codes: Vec::with_capacity(capacity),
                    levels: Vec::new(),
                },
                HashMap::new(),
            ),
        }
    }

    /// Appends a cell; for a categorical column, returns the code it was given.
    pub(crate) fn push(&mut self, cell: Cell) -> Option<u32> {
        match (self, cell) {
            (ColumnBuilder::Numeric(v), Cell::Number(x)) => v.push(x),
            (ColumnBuilder::Numeric(v), _) => v.push(f64::NAN),
            (ColumnBuilder::Id(v), Cell::Id(x)) => v.push(x),
            (ColumnBuilder::Id(v), _) => v.push(0),
            (ColumnBuilder::Categorical(c, idx), Cell::Label(s)) => {
                c.push(Some(&s), idx);
                return c.codes.last().copied();
            }
            (ColumnBuilder::Categorical(c, idx), _) => c.push(None, idx),
        }
        None
    }

    pub(crate) fn finish(self) -> ColumnData {
        match self {
            ColumnBuilder::Numeric(v) => ColumnData::Numeric(v),
            ColumnBuilder::Categorical(c, _) => ColumnData::Categorical(c),
            ColumnBuilder::Id(v) => ColumnData::Id(v),
        }
    }
}

/// A validated table. Holds every non-target column of its spec, in spec order, plus the target
/// when the source had one.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Shared: a served request's frame points at its model's spec rather than copying it.
    pub spec: std::sync::Arc<DatasetSpec>,
    /// Where the rows came from (a file path, or "request"), for messages.
    pub source: String,
    pub(crate) columns: Vec<(String, ColumnData)>,
    /// Index into `spec.target.labels` per row, when labelled.
    pub labels: Option<Vec<u16>>,
    /// The binary target per row (1 = positive), when labelled.
    pub target: Option<Vec<u8>>,
}

/// A record field that could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// `fields` names at most `util::MAX_LISTED`; `more` counts the rest.
    #[error("record {record}: missing field(s) {}", crate::util::listing(.fields, *.more, "missing fields"))]
    MissingFields {
        record: usize,
        fields: Vec<String>,
        more: usize,
    },
    #[error("record {record}: unknown field(s) {}", crate::util::listing(.fields, *.more, "unknown fields"))]
    UnknownFields {
        record: usize,
        fields: Vec<String>,
        more: usize,
    },
    #[error("record {record}, field '{field}': expected {expected}, found {found}")]
    WrongType {
        record: usize,
        field: String,
        expected: &'static str,
        found: String,
    },
    #[error("record {record}, field '{field}': a value is required")]
    Missing { record: usize, field: String },
}

impl RecordError {
    /// The fields the error is about, for clients that highlight them.
    pub fn fields(&self) -> Vec<String> {
        match self {
            RecordError::MissingFields { fields, .. }
            | RecordError::UnknownFields { fields, .. } => fields.clone(),
            RecordError::WrongType { field, .. } | RecordError::Missing { field, .. } => {
                vec![field.clone()]
            }
        }
    }

    /// How many more fields the error is about than `fields` names.
    pub fn more(&self) -> usize {
        match self {
            RecordError::MissingFields { more, .. } | RecordError::UnknownFields { more, .. } => {
                *more
            }
            _ => 0,
        }
    }
}

impl Frame {
    pub fn n_rows(&self) -> usize {
        self.columns.first().map(|(_, c)| c.len()).unwrap_or(0)
    }

    pub fn column(&self, name: &str) -> Option<&ColumnData> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    pub fn columns(&self) -> impl Iterator<Item = (&str, &ColumnData)> {
        self.columns.iter().map(|(n, c)| (n.as_str(), c))
    }

    /// Row `row` as a JSON record, as a request would send it: numbers as numbers (also for
    /// categorical columns of numbers), labels as text, missing values as null.
    pub fn record(&self, row: usize) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        let mut m = serde_json::Map::new();
        for (name, col) in self.columns() {
            let v = match col {
                ColumnData::Numeric(v) if v[row].is_nan() => Value::Null,
                ColumnData::Numeric(v) => {
                    serde_json::Number::from_f64(v[row]).map_or(Value::Null, Value::Number)
                }
                ColumnData::Id(v) => Value::from(v[row]),
                ColumnData::Categorical(c) => match c.get(row) {
                    None => Value::Null,
                    Some(l) => match self.spec.column(name).map(|s| s.value) {
                        Some(ValueType::Int) => {
                            l.parse::<i64>().map_or(Value::from(l), Value::from)
                        }
                        Some(ValueType::Float) => l
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                            .map_or(Value::from(l), Value::Number),
                        _ => Value::from(l),
                    },
                },
            };
            m.insert(name.to_string(), v);
        }
        m
    }

    /// Appends the rows of `other` (a later part of the same file, read against the same spec):
    /// its categorical codes are moved onto this frame's dictionary, new levels added in the
    /// order they appear, so the result is the frame the whole file would have parsed to.
    pub fn append(&mut self, other: Frame) {
        for ((name, mine), (_, theirs)) in self.columns.iter_mut().zip(other.columns) {
            match (mine, theirs) {
                (ColumnData::Numeric(a), ColumnData::Numeric(b)) => a.extend(b),
                (ColumnData::Id(a), ColumnData::Id(b)) => a.extend(b),
                (ColumnData::Categorical(a), ColumnData::Categorical(b)) => {
                    let mut index: HashMap<&str, u32> = HashMap::with_capacity(a.levels.len());
                    for (i, l) in a.levels.iter().enumerate() {
                        index.insert(l, i as u32);
                    }
                    let mut added = Vec::new();
                    let next = a.levels.len() as u32;
                    let remap: Vec<u32> = b
                        .levels
                        .iter()
                        .map(|l| match index.get(l.as_str()) {
                            Some(&c) => c,
                            None => {
                                added.push(l.clone());
                                next + added.len() as u32 - 1
                            }
                        })
                        .collect();
                    a.codes.extend(b.codes.iter().map(|&c| match c {
                        MISSING_CODE => MISSING_CODE,
                        c => remap[c as usize],
                    }));
                    a.levels.extend(added);
                }
                (mine, _) => unreachable!(
                    "column '{name}' is {} in one part of a file and not the other",
                    mine.kind()
                ),
            }
        }
        if let (Some(a), Some(b)) = (&mut self.labels, other.labels) {
            a.extend(b);
        }
        if let (Some(a), Some(b)) = (&mut self.target, other.target) {
            a.extend(b);
        }
    }

    /// Room for `rows` more rows, so appending parts does not double every column's memory.
    /// Only a hint, from an estimate a file's first rows can mislead: room that cannot be had
    /// is left to the columns' own growth instead of stopping the program.
    pub fn reserve(&mut self, rows: usize) {
        for (_, c) in &mut self.columns {
            let _ = match c {
                ColumnData::Numeric(v) => v.try_reserve(rows),
                ColumnData::Id(v) => v.try_reserve(rows),
                ColumnData::Categorical(c) => c.codes.try_reserve(rows),
            };
        }
        if let Some(l) = &mut self.labels {
            let _ = l.try_reserve(rows);
        }
        if let Some(t) = &mut self.target {
            let _ = t.try_reserve(rows);
        }
    }

    /// The rows at `rows`, in that order (used for splits).
    pub fn take(&self, rows: &[usize]) -> Frame {
        Frame {
            spec: self.spec.clone(),
            source: self.source.clone(),
            columns: self
                .columns
                .iter()
                .map(|(n, c)| (n.clone(), c.take(rows)))
                .collect(),
            labels: self
                .labels
                .as_ref()
                .map(|l| rows.iter().map(|&r| l[r]).collect()),
            target: self
                .target
                .as_ref()
                .map(|t| rows.iter().map(|&r| t[r]).collect()),
        }
    }

    /// Builds a frame from JSON records keyed by column name, as a server receives them.
    /// Id columns are optional; the target column is ignored; any other unknown field is an error.
    pub fn from_records(
        spec: &DatasetSpec,
        records: &[serde_json::Map<String, serde_json::Value>],
    ) -> Result<Frame, RecordError> {
        Frame::from_records_shared(&std::sync::Arc::new(spec.clone()), records)
    }

    /// `from_records` for a spec already shared (a served model's), which the frame points at.
    pub fn from_records_shared(
        spec: &std::sync::Arc<DatasetSpec>,
        records: &[serde_json::Map<String, serde_json::Value>],
    ) -> Result<Frame, RecordError> {
        let cols: Vec<&ColumnSpec> = spec
            .columns
            .iter()
            .filter(|c| c.role != Role::Target)
            .collect();
        let mut builders: Vec<ColumnBuilder> = cols
            .iter()
            .map(|c| ColumnBuilder::new(c, records.len()))
            .collect();
        let mut text = String::new();
        for (i, rec) in records.iter().enumerate() {
            // A record may hold any number of names: the error copies a few and counts the
            // rest, so its size does not grow with the request's.
            let (fields, more) = crate::util::first_few(
                rec.keys()
                    .filter(|k| spec.column(k).is_none())
                    .map(String::as_str),
            );
            if !fields.is_empty() {
                return Err(RecordError::UnknownFields {
                    record: i,
                    fields,
                    more,
                });
            }
            let (fields, more) = crate::util::first_few(
                cols.iter()
                    .filter(|c| c.role != Role::Id && !c.nullable && !rec.contains_key(&c.name))
                    .map(|c| c.name.as_str()),
            );
            if !fields.is_empty() {
                return Err(RecordError::MissingFields {
                    record: i,
                    fields,
                    more,
                });
            }
            for (col, b) in cols.iter().zip(builders.iter_mut()) {
                let value = rec.get(&col.name).unwrap_or(&serde_json::Value::Null);
                let raw = match value {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.as_str()),
                    // A number for a text column is a mistake (a shifted column, a code
                    // sent for a label), not a label: it is refused, never coerced.
                    serde_json::Value::Number(n) if col.value != ValueType::Text => {
                        // Read as a file's cell is, through one buffer for the whole call.
                        use std::fmt::Write;
                        text.clear();
                        let _ = write!(text, "{n}");
                        Some(text.as_str())
                    }
                    other => {
                        return Err(RecordError::WrongType {
                            record: i,
                            field: col.name.clone(),
                            expected: col.value.describe(),
                            found: match other {
                                serde_json::Value::Number(n) => format!("the number {n}"),
                                _ => json_kind(other).to_string(),
                            },
                        })
                    }
                };
                // Ids are optional in records: an absent id is 0 rather than an error.
                let cell = if col.role == Role::Id && raw.is_none() {
                    Ok(Cell::Id(0))
                } else {
                    parse_cell(col, raw)
                };
                match cell {
                    Ok(cell) => {
                        b.push(cell);
                    }
                    Err(CellError::Missing) => {
                        return Err(RecordError::Missing {
                            record: i,
                            field: col.name.clone(),
                        })
                    }
                    Err(CellError::WrongType { expected }) => {
                        return Err(RecordError::WrongType {
                            record: i,
                            field: col.name.clone(),
                            expected,
                            found: value.to_string(),
                        })
                    }
                }
            }
        }
        Ok(Frame {
            spec: spec.clone(),
            source: "request".into(),
            columns: cols
                .iter()
                .zip(builders)
                .map(|(c, b)| (c.name.clone(), b.finish()))
                .collect(),
            labels: None,
            target: None,
        })
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
        serde_json::Value::Null => "null",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "text",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_col(name: &str) -> ColumnSpec {
        DatasetSpec::hospital().column(name).unwrap().clone()
    }

    #[test]
    fn plain_decimals_read_as_the_full_reader_reads_them() {
        let mut rng = crate::data::rng::Rng::new(11);
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "-0.0",
            "4142.0",
            "0.1",
            "0.3",
            "123456789012345",
            "1234567890123456",
            "9007199254740993",
            "1.000000000000001",
            "99999999999999.9",
            "5.",
            ".5",
            "-",
            ".",
            "1e5",
            "1.2.3",
            "+1",
            " 1",
            "0x10",
            "00012.50",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..20_000 {
            let digits = 1 + rng.below(17) as usize;
            let mut t: String = (0..digits)
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect();
            if rng.below(3) > 0 {
                let p = rng.below(digits as u64 + 1) as usize;
                t.insert(p, '.');
            }
            if rng.below(4) == 0 {
                t.insert(0, '-');
            }
            texts.push(t);
        }
        for t in &texts {
            match plain_decimal(t) {
                Some(v) => assert_eq!(
                    Some(v.to_bits()),
                    t.parse::<f64>().ok().map(f64::to_bits),
                    "{t}"
                ),
                // What is not plain is left to the full reader: long, or not of the plain form.
                None => assert!(
                    t.bytes().filter(u8::is_ascii_digit).count() > 15
                        || !t
                            .trim_start_matches('-')
                            .bytes()
                            .all(|b| b.is_ascii_digit() || b == b'.')
                        || t.starts_with('.')
                        || t.ends_with('.')
                        || t.starts_with("-.")
                        || t.matches('.').count() > 1
                        || t.trim_start_matches('-').is_empty(),
                    "{t}"
                ),
            }
        }
    }

    #[test]
    fn room_that_cannot_be_had_is_skipped_and_parts_still_append() {
        let csv = "case_id,Hospital_code,Hospital_type_code,City_Code_Hospital,Hospital_region_code,Available Extra Rooms in Hospital,Department,Ward_Type,Ward_Facility_Code,Bed Grade,patientid,City_Code_Patient,Type of Admission,Severity of Illness,Visitors with Patient,Age,Admission_Deposit,Stay
1,8,c,3,Z,3,radiotherapy,R,F,2.0,31397,7.0,Emergency,Extreme,2,51-60,4911.0,0-10
2,2,a,5,Z,2,surgery,S,F,,31397,,Trauma,Minor,2,41-50,5954.0,41-50
";
        let part = crate::data::load::parse_csv(
            csv.as_bytes().to_vec(),
            std::path::Path::new("t.csv"),
            &DatasetSpec::hospital(),
            crate::data::Labels::Required,
        )
        .unwrap();
        let mut whole = part.take(&[1]);
        // More rows than an address space holds, then more bytes than any machine has.
        whole.reserve(usize::MAX / 2);
        whole.reserve(1 << 45);
        whole.append(part.clone());
        assert_eq!(whole.n_rows(), 3);
        for (row, of) in [(0, 1), (1, 0), (2, 1)] {
            assert_eq!(whole.record(row), part.record(of), "row {row}");
        }
        assert_eq!(whole.target, Some(vec![1, 0, 1]));
    }

    #[test]
    fn numeric_labels_are_canonical() {
        let c = spec_col("City_Code_Patient");
        assert_eq!(parse_cell(&c, Some("7.0")), Ok(Cell::Label("7".into())));
        assert_eq!(parse_cell(&c, Some("7")), Ok(Cell::Label("7".into())));
        assert_eq!(parse_cell(&c, Some("")), Ok(Cell::Missing));
        assert!(parse_cell(&c, Some("seven")).is_err());
    }

    #[test]
    fn required_cells_must_be_present() {
        let c = spec_col("Age");
        assert_eq!(parse_cell(&c, None), Err(CellError::Missing));
        assert_eq!(parse_cell(&c, Some("  ")), Err(CellError::Missing));
        let n = spec_col("Visitors with Patient");
        assert_eq!(parse_cell(&n, Some("3")), Ok(Cell::Number(3.0)));
        assert_eq!(parse_cell(&n, Some("3.0")), Ok(Cell::Number(3.0)));
        assert!(matches!(
            parse_cell(&n, Some("3.5")),
            Err(CellError::WrongType { .. })
        ));
        let d = spec_col("Admission_Deposit");
        assert!(parse_cell(&d, Some("NaN")).is_err());
        assert!(parse_cell(&d, Some("inf")).is_err());
    }

    #[test]
    fn one_missing_rule_for_every_column() {
        let nullable = [spec_col("Bed Grade"), spec_col("City_Code_Patient")];
        let required = [
            spec_col("Age"),
            spec_col("Admission_Deposit"),
            spec_col("Hospital_code"),
        ];
        for token in MISSING_TOKENS {
            for c in &nullable {
                assert_eq!(parse_cell(c, Some(token)), Ok(Cell::Missing), "{token}");
            }
            for c in &required {
                assert_eq!(
                    parse_cell(c, Some(token)),
                    Err(CellError::Missing),
                    "{token}"
                );
            }
        }
        // A number for a text column is refused; numbers and numeric text for numeric columns
        // are one value.
        let spec = DatasetSpec::hospital();
        let rec = |k: &str, v: serde_json::Value| {
            let mut m = serde_json::Map::new();
            for c in spec.features() {
                let fill = match c.value {
                    ValueType::Text => serde_json::json!("x"),
                    _ => serde_json::json!(1),
                };
                m.insert(c.name.clone(), fill);
            }
            m.insert(k.into(), v);
            Frame::from_records(&spec, &[m])
        };
        let e = rec("Department", serde_json::json!(7)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "record 0, field 'Department': expected text, found the number 7"
        );
        assert!(rec("Department", serde_json::json!("7")).is_ok());
        assert!(rec("Visitors with Patient", serde_json::json!("3")).is_ok());
        assert!(rec("Bed Grade", serde_json::json!("NaN")).is_ok());
        let e = rec("Age", serde_json::json!("NaN")).unwrap_err();
        assert!(matches!(e, RecordError::Missing { .. }), "{e}");
    }
}
