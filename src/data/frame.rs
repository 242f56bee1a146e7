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

/// The longest id kept, in characters: longer ones are refused, naming the row and column.
pub const MAX_ID_CHARS: usize = 256;

/// An id column: each row's id as the table wrote it (trimmed), in one buffer, so a million
/// ids are two allocations, not a million. An empty id is a row without one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IdColumn {
    text: String,
    ends: Vec<usize>,
}

impl IdColumn {
    pub fn with_capacity(rows: usize) -> Self {
        IdColumn {
            text: String::new(),
            ends: Vec::with_capacity(rows),
        }
    }

    pub fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Row `i`'s id; `""` when the row has none.
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// Row `i`'s id, or `None` when the row has none.
    pub fn id(&self, i: usize) -> Option<&str> {
        Some(self.get(i)).filter(|s| !s.is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    fn extend(&mut self, other: &IdColumn) {
        let base = self.text.len();
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|e| e + base));
    }

    fn try_reserve(&mut self, rows: usize) -> Result<(), std::collections::TryReserveError> {
        self.ends.try_reserve(rows)
    }
}

impl<'a> FromIterator<&'a str> for IdColumn {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut c = IdColumn::default();
        for id in iter {
            c.push(id);
        }
        c
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// Quantities; `NaN` marks a missing value.
    Numeric(Vec<f64>),
    Categorical(CatColumn),
    Id(IdColumn),
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
            ColumnData::Id(v) => ColumnData::Id(rows.iter().map(|&r| v.get(r)).collect()),
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
    /// An id as written (trimmed); `""` for a record that gave none.
    Id(String),
    /// A categorical label in canonical form (`7.0` and `7` are both `"7"`).
    Label(String),
}

/// Why a cell was rejected; the caller adds the file, row and column.
#[derive(Debug, Clone, PartialEq)]
pub enum CellError {
    Missing,
    WrongType { expected: &'static str },
}

/// What an id must be: ids go into files, logs and headers unchanged, so a bound and no control
/// characters. (Kept in step with `MAX_ID_CHARS`.)
const ID_RULE: &str = "an id of at most 256 characters, without control characters";

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
        // An id is kept as written; one the spec declares whole must read as one, so captures
        // can type it.
        (Role::Id, v) => parse_id(raw, v == ValueType::Int)
            .map(|id| Cell::Id(id.to_string()))
            .map_err(|expected| CellError::WrongType { expected }),
        (_, ValueType::Text) => Ok(Cell::Label(raw.to_string())),
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

/// An id (already trimmed) as kept: any text within `MAX_ID_CHARS` and without control
/// characters; where the spec declares whole numbers, a whole number (`42`, or `42.0` as some
/// exporters write it, never `4.2e1`) kept as its digits, so `42.0` in one file joins `42` in
/// another. Else what an id must be.
pub fn parse_id(raw: &str, whole: bool) -> Result<std::borrow::Cow<'_, str>, &'static str> {
    if whole {
        let (int, frac) = raw.split_once('.').unwrap_or((raw, "0"));
        let digits = int.strip_prefix('-').unwrap_or(int);
        let plain = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !frac.is_empty()
            && frac.bytes().all(|b| b == b'0');
        match int.parse::<i64>() {
            Ok(_) if plain && frac == "0" && int.len() == raw.len() => Ok(raw.into()),
            Ok(v) if plain => Ok(v.to_string().into()),
            _ => Err(ValueType::Int.describe()),
        }
    } else if raw.chars().count() > MAX_ID_CHARS || raw.chars().any(char::is_control) {
        Err(ID_RULE)
    } else {
        Ok(raw.into())
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
    Id(IdColumn),
}

impl ColumnBuilder {
    pub(crate) fn new(col: &ColumnSpec, capacity: usize) -> Self {
        match col.role {
            Role::Id => ColumnBuilder::Id(IdColumn::with_capacity(capacity)),
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
            (ColumnBuilder::Id(v), Cell::Id(x)) => v.push(&x),
            (ColumnBuilder::Id(v), _) => v.push(""),
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
    /// A file's frame from its finished columns and, when labelled, each row's label index:
    /// the binary target follows from the spec's positive labels. Every file reader ends here.
    pub(crate) fn assemble(
        spec: &DatasetSpec,
        source: String,
        columns: Vec<(String, ColumnData)>,
        labels: Option<Vec<u16>>,
    ) -> Frame {
        let target = labels.as_ref().map(|l| {
            let positive: Vec<bool> = spec
                .target
                .labels
                .iter()
                .map(|lab| spec.is_positive(lab))
                .collect();
            l.iter().map(|&i| positive[i as usize] as u8).collect()
        });
        Frame {
            spec: std::sync::Arc::new(spec.clone()),
            source,
            columns,
            labels,
            target,
        }
    }

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
                ColumnData::Id(v) => match self.spec.column(name).map(|s| s.value) {
                    Some(ValueType::Int) => v
                        .get(row)
                        .parse::<i64>()
                        .map_or_else(|_| Value::from(v.get(row)), Value::from),
                    _ => Value::from(v.get(row)),
                },
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
                (ColumnData::Id(a), ColumnData::Id(b)) => a.extend(&b),
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
                    // An id may be sent as a number whatever its declared type.
                    serde_json::Value::Number(n)
                        if col.value != ValueType::Text || col.role == Role::Id =>
                    {
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
                // Ids are optional in records: an absent id is none rather than an error.
                let cell = if col.role == Role::Id && raw.is_none() {
                    Ok(Cell::Id(String::new()))
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
mod tests;
