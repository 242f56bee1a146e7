//! Request bodies in every format the server speaks, turned into plain records (one JSON object
//! per row, keyed by the raw CSV column names), and the JSON error every route answers with.
//! Every parser takes the `Expect` of `limits`, so what a request can allocate is bounded by its
//! size and the row limit.

use serde_json::{Map, Value};

pub use super::error::ApiError;
use super::limits::scan_json;
pub use super::limits::{precheck_json, Expect, MAX_NAME, MAX_TEXT};
use crate::data::csv::{self, CsvError, Misfits};

pub type Record = Map<String, Value>;

/// Parses a JSON body. Python's `json` module writes `NaN` for a missing value (pandas'
/// `to_dict` rows carry them), which strict JSON forbids; outside strings it is read as null.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    parse_json_checked(body).map(|(v, _)| v)
}

/// `parse_json`, and whether the body was strict JSON as sent (no `NaN` had to be read).
/// An object that names a key twice is refused: which of its values a reader took would be a
/// guess (a CSV header that names a column twice is refused alike).
pub fn parse_json_checked(body: &[u8]) -> Result<(Value, bool), ApiError> {
    match serde_json::from_slice::<Unique>(body) {
        Ok(v) => Ok((v.0, true)),
        Err(e) => {
            if let Some(clean) = nan_to_null(body) {
                if let Ok(v) = serde_json::from_slice::<Unique>(&clean) {
                    return Ok((v.0, false));
                }
            }
            Err(ApiError::bad_request(format!("malformed JSON: {e}")))
        }
    }
}

/// A JSON value whose objects hold each key once.
struct Unique(Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Unique(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(serde::de::Error::custom(format!(
                    "the key '{}' appears twice in one object",
                    crate::util::clip(&k, crate::util::MAX_CELL).escape_debug()
                )));
            }
            let Unique(v) = map.next_value()?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// The body with every bare `NaN` token replaced by `null`, or None when it has none.
fn nan_to_null(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() + 8);
    let mut changed = false;
    let mut skip = 0;
    let mut i = 0;
    scan_json(body, |b, in_string| {
        if skip > 0 {
            skip -= 1;
        } else if !in_string && body[i..].starts_with(b"NaN") {
            out.extend_from_slice(b"null");
            changed = true;
            skip = 2;
        } else {
            out.push(b);
        }
        i += 1;
    });
    changed.then_some(out)
}

/// `/predict` and `/predict_outcome`: one object, or a list of objects. The flag says which.
pub fn plain_records(v: Value, expect: &Expect) -> Result<(Vec<Record>, bool), ApiError> {
    let out = match v {
        Value::Object(m) => Ok((vec![m], true)),
        Value::Array(items) => Ok((objects(items, "the body")?, false)),
        other => Err(ApiError::unprocessable(format!(
            "expected a JSON object (one record) or an array of objects, found {}",
            kind(&other)
        ))),
    }?;
    expect.records(&out.0)?;
    Ok(out)
}

fn objects(items: Vec<Value>, what: &str) -> Result<Vec<Record>, ApiError> {
    if items.is_empty() {
        return Err(ApiError::unprocessable(format!("{what} holds no records")));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(m) => Ok(m),
            other => Err(ApiError::unprocessable(format!(
                "record {i} in {what}: expected an object, found {}",
                kind(&other)
            ))),
        })
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What an MLflow scoring request asked for.
#[derive(Debug)]
pub struct MlflowRequest {
    pub records: Vec<Record>,
    /// `params.predict_method`: `predict` (classes, the default) or `predict_proba`.
    pub proba: bool,
    /// `params.explain`: each row's top K columns, when asked.
    pub explain: Option<usize>,
}

const MLFLOW_KEYS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

/// MLflow's `/invocations` JSON: exactly one of `dataframe_split`, `dataframe_records`,
/// `instances`, `inputs`, and optional `params`.
pub fn mlflow_json(v: Value, expect: &Expect) -> Result<MlflowRequest, ApiError> {
    let Value::Object(mut top) = v else {
        return Err(ApiError::bad_request(format!(
            "expected a JSON object with one of {}",
            MLFLOW_KEYS.join(", ")
        )));
    };
    let present: Vec<&str> = MLFLOW_KEYS
        .iter()
        .copied()
        .filter(|k| top.contains_key(*k))
        .collect();
    if present.len() != 1 {
        return Err(ApiError::bad_request(format!(
            "the body must hold exactly one of {}; it holds {}",
            MLFLOW_KEYS.join(", "),
            if present.is_empty() {
                "none".to_string()
            } else {
                present.join(" and ")
            }
        )));
    }
    let proba = match top.get("params").and_then(|p| p.get("predict_method")) {
        None => false,
        Some(Value::String(m)) if m == "predict" => false,
        Some(Value::String(m)) if m == "predict_proba" => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "params.predict_method must be \"predict\" or \"predict_proba\", not {other}"
            )))
        }
    };
    let explain = match top.get("params").and_then(|p| p.get("explain")) {
        None => None,
        Some(v) => crate::explain::top_from_json("params.explain", v)
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
    };
    let key = present[0];
    let value = top.remove(key).unwrap_or(Value::Null);
    let records = match key {
        "dataframe_split" => dataframe_split(value, expect)?,
        "dataframe_records" => match value {
            Value::Array(items) => objects(items, "dataframe_records")?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "dataframe_records must be an array of objects, found {}",
                    kind(&other)
                )))
            }
        },
        _ => tensor_input(value, key)?,
    };
    expect.records(&records)?;
    Ok(MlflowRequest {
        records,
        proba,
        explain,
    })
}

/// pandas' `to_json(orient="split")`: `{"columns": [...], "data": [[...], ...]}`.
fn dataframe_split(v: Value, expect: &Expect) -> Result<Vec<Record>, ApiError> {
    let Value::Object(mut m) = v else {
        return Err(ApiError::bad_request(
            "dataframe_split must be an object with columns and data",
        ));
    };
    let columns: Vec<String> = match m.remove("columns") {
        Some(Value::Array(c)) => c
            .into_iter()
            .map(|c| match c {
                Value::String(s) => Ok(s),
                other => Err(ApiError::bad_request(format!(
                    "dataframe_split.columns must hold strings, found {}",
                    kind(&other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::bad_request(
                "dataframe_split needs a columns array naming the columns",
            ))
        }
    };
    // Names are copied into every row: check them once, first; a name twice is refused as a
    // CSV header with it is, rather than a row keeping one of its values.
    for c in &columns {
        expect.column(c)?;
    }
    csv::unique(&columns).map_err(|e| {
        let mut a = ApiError::unprocessable(format!("dataframe_split.columns: {e}"));
        if let CsvError::DuplicateColumn { column, .. } = e {
            a.fields = vec![column];
        }
        a
    })?;
    let rows = match m.remove("data") {
        Some(Value::Array(rows)) => rows,
        _ => {
            return Err(ApiError::bad_request(
                "dataframe_split needs a data array of rows",
            ))
        }
    };
    if rows.is_empty() {
        return Err(ApiError::unprocessable(
            "dataframe_split.data holds no rows",
        ));
    }
    expect.rows(rows.len())?;
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| match row {
            Value::Array(cells) if cells.len() == columns.len() => {
                Ok(columns.iter().cloned().zip(cells).collect())
            }
            Value::Array(cells) => Err(ApiError::unprocessable(format!(
                "dataframe_split.data row {i} has {} values for {} columns",
                cells.len(),
                columns.len()
            ))),
            other => Err(ApiError::unprocessable(format!(
                "dataframe_split.data row {i}: expected an array, found {}",
                kind(&other)
            ))),
        })
        .collect()
}

/// `instances` / `inputs`: a list of records, or one object of equally long columns.
fn tensor_input(v: Value, key: &str) -> Result<Vec<Record>, ApiError> {
    match v {
        Value::Array(items) => {
            if items.iter().any(|i| i.is_array()) {
                return Err(ApiError::bad_request(format!(
                    "{key} as arrays of values has no column names; send records (objects) or \
                     use dataframe_split"
                )));
            }
            objects(items, key)
        }
        Value::Object(cols) => columns_to_records(cols.into_iter().collect(), key),
        other => Err(ApiError::bad_request(format!(
            "{key} must be a list of records or an object of columns, found {}",
            kind(&other)
        ))),
    }
}

/// Columns (name, values) of one length into records.
pub(crate) fn columns_to_records(
    cols: Vec<(String, Value)>,
    what: &str,
) -> Result<Vec<Record>, ApiError> {
    let mut lists = Vec::with_capacity(cols.len());
    let mut len: Option<(usize, String)> = None;
    for (name, v) in cols {
        let values = match v {
            Value::Array(a) => a,
            scalar => vec![scalar],
        };
        match &len {
            None => len = Some((values.len(), name.clone())),
            Some((n, first)) if *n != values.len() => {
                return Err(ApiError::unprocessable(format!(
                    "{what}: column '{name}' has {} values but '{first}' has {n}",
                    values.len()
                )))
            }
            _ => {}
        }
        lists.push((name, values));
    }
    let n = len.map(|(n, _)| n).unwrap_or(0);
    if n == 0 {
        return Err(ApiError::unprocessable(format!("{what} holds no records")));
    }
    let mut records: Vec<Record> = (0..n).map(|_| Record::new()).collect();
    for (name, values) in lists {
        for (r, v) in records.iter_mut().zip(values) {
            r.insert(name.clone(), v);
        }
    }
    Ok(records)
}

/// MLflow's `text/csv`: a header row and data rows, cells as text (empty cells are missing).
/// Read by `data::csv`, the reader of `staytrack score` and `data check`, so a body is read as
/// the same text in a file would be.
pub fn csv_records(body: &[u8], expect: &Expect) -> Result<Vec<Record>, ApiError> {
    let text = csv::text(body).map_err(csv_error)?;
    let header = csv::header(text).map_err(csv_error)?;
    if header.names.is_empty() {
        return Err(ApiError::unprocessable("the CSV body is empty"));
    }
    // Names are copied into every row: check them once, first.
    for h in &header.names {
        expect.column(h)?;
    }
    // Rows are counted from the bytes before any record is built, a tile of offsets at a time,
    // so a body of many short lines is refused in the memory of one tile.
    let width = header.names.len();
    let mut rows = 0;
    let (_, misfit) = csv::for_each_tile(text, BODY_TILE_ROWS, Misfits::Stop, |t| {
        rows += t.rows();
        rows <= expect.max_rows
    })
    .map_err(csv_error)?;
    expect.rows(rows)?;
    if let Some(m) = misfit {
        return Err(ApiError::unprocessable(format!(
            "CSV row {} has {} fields but the header has {width} (line {})",
            rows + 1,
            m.found,
            m.line
        )));
    }
    if rows == 0 {
        return Err(ApiError::unprocessable("the CSV body has no data rows"));
    }
    let mut records = Vec::with_capacity(rows);
    csv::for_each_tile(text, BODY_TILE_ROWS, Misfits::Stop, |t| {
        for r in 0..t.rows() {
            let cells = (0..width).map(|c| t.field(r, c).map_or(Value::Null, Value::from));
            records.push(header.names.iter().cloned().zip(cells).collect());
        }
        true
    })
    .map_err(csv_error)?;
    expect.records(&records)?;
    Ok(records)
}

/// Rows of a CSV body split at a time: all that counting them holds.
const BODY_TILE_ROWS: usize = 1024;

/// A CSV body the reader refused: a name twice is the request's content (422, naming it), a
/// body that does not split is its syntax (400).
fn csv_error(e: CsvError) -> ApiError {
    match e {
        CsvError::DuplicateColumn { ref column, .. } => {
            let mut a = ApiError::unprocessable(format!("CSV header: {e}"));
            a.fields = vec![column.clone()];
            a
        }
        CsvError::NotUtf8(_) => ApiError::bad_request("the CSV body is not valid UTF-8"),
        e => ApiError::bad_request(format!("CSV body: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetSpec;
    use axum::http::StatusCode;
    use serde_json::json;

    const ANY: Expect<'static> = Expect::any(1000);

    #[test]
    fn limits_are_checked_before_rows_are_built() {
        let spec = DatasetSpec::hospital();
        let e = Expect::new(&spec, 3);
        // Unknown and overlong names, in every format, before any row exists.
        let long = "x".repeat(MAX_NAME + 1);
        let csv = format!("{long},Age\n1,2\n");
        assert_eq!(
            csv_records(csv.as_bytes(), &e).unwrap_err().status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let err = csv_records(b"Nope,Age\n1,2\n", &e).unwrap_err();
        assert!(
            err.message.contains("unknown field(s) Nope"),
            "{}",
            err.message
        );
        assert_eq!(err.fields, vec!["Nope".to_string()]);
        let split = json!({"dataframe_split": {"columns": ["Nope"], "data": [[1]]}});
        assert!(mlflow_json(split, &e).unwrap_err().message.contains("Nope"));
        // Rows over the limit: 413 naming the limit.
        let rows = "Age\n1\n2\n3\n4\n";
        let err = csv_records(rows.as_bytes(), &e).unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(err.message.contains("--max-rows"), "{}", err.message);
        let many = json!([{"Age": "1"}, {"Age": "1"}, {"Age": "1"}, {"Age": "1"}]);
        assert_eq!(
            plain_records(many, &e).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        // An expanding body is refused from its bytes.
        let tiny = format!("[{}{{}}]", "{},".repeat(10_000));
        assert_eq!(
            precheck_json(tiny.as_bytes(), &e).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert!(precheck_json(br#"[{"Age": "21-30", "x": "a,b,c:d"}]"#, &e).is_ok());
        // Long text values.
        let long_value = json!({"Age": "y".repeat(MAX_TEXT + 1)});
        assert!(plain_records(long_value, &e)
            .unwrap_err()
            .message
            .contains("longer than"));
    }

    #[test]
    fn nan_outside_strings_is_null() {
        let v = parse_json(br#"{"a": NaN, "b": "NaN", "c": [1, NaN], "d": "x\"NaN"}"#).unwrap();
        assert_eq!(v["a"], Value::Null);
        assert_eq!(v["b"], json!("NaN"));
        assert_eq!(v["c"], json!([1, null]));
        assert_eq!(v["d"], json!("x\"NaN"));
        let e = parse_json(b"{\"a\": 1").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("malformed JSON"), "{}", e.message);
    }

    #[test]
    fn every_mlflow_format_gives_the_same_records() {
        let want = vec![
            json!({"a": 1, "b": "x"}).as_object().unwrap().clone(),
            json!({"a": 2, "b": "y"}).as_object().unwrap().clone(),
        ];
        let bodies = [
            json!({"dataframe_split": {"columns": ["a", "b"], "data": [[1, "x"], [2, "y"]], "index": [0, 1]}}),
            json!({"dataframe_records": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}),
            json!({"instances": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}),
            json!({"inputs": {"a": [1, 2], "b": ["x", "y"]}}),
        ];
        for b in bodies {
            let r = mlflow_json(b.clone(), &ANY).unwrap();
            assert_eq!(r.records, want, "{b}");
            assert!(!r.proba);
        }
        let csv = csv_records(b"a,b\n1,x\r\n2,\"y\"\n", &ANY).unwrap();
        assert_eq!(csv[1]["b"], json!("y"));
        assert_eq!(csv[0]["a"], json!("1"));
        let p = mlflow_json(
            json!({"instances": [{"a": 1}], "params": {"predict_method": "predict_proba"}}),
            &ANY,
        )
        .unwrap();
        assert!(p.proba);
    }

    #[test]
    fn a_csv_body_reads_as_the_same_file_would() {
        let want = csv_records(b"a,b\n1,\"x\ny\"\n2,z\n", &ANY).unwrap();
        assert_eq!(want[0]["b"], json!("x\ny"));
        assert_eq!(want[1]["b"], json!("z"));
        for body in [
            "\u{feff}a,b\r1,\"x\ny\"\r2,z\r".as_bytes(),
            b"\n , \r\na,b\r\n1,\"x\ny\"\r\n\t\r\n2,z",
        ] {
            assert_eq!(csv_records(body, &ANY).unwrap(), want);
        }
        let dup = csv_records(b"a,b,a\n1,2,3\n", &ANY).unwrap_err();
        assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            dup.message.contains("'a' appears more than once") && dup.message.contains("1 and 3"),
            "{}",
            dup.message
        );
        assert_eq!(dup.fields, vec!["a".to_string()]);
        let split = json!({"dataframe_split": {"columns": ["a", "b", "a"], "data": [[1, 2, 3]]}});
        let dup = mlflow_json(split, &ANY).unwrap_err();
        assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(dup.message.contains("1 and 3"), "{}", dup.message);
        // Rows are counted as the reader counts them: blank lines are none, a quoted line
        // break is inside one.
        let e = Expect::any(2);
        assert!(csv_records(b"a\n1\n\n\"2\n3\"\n,\n", &e).is_ok());
        let over = csv_records(b"a\n1\n2\n3\n", &e).unwrap_err();
        assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn mlflow_shape_errors_say_what_is_wrong() {
        let two = mlflow_json(json!({"instances": [], "inputs": []}), &ANY).unwrap_err();
        assert!(
            two.message.contains("instances and inputs"),
            "{}",
            two.message
        );
        let none = mlflow_json(json!({"rows": []}), &ANY).unwrap_err();
        assert!(none.message.contains("none"), "{}", none.message);
        let ragged = mlflow_json(
            json!({"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}),
            &ANY,
        )
        .unwrap_err();
        assert_eq!(ragged.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            ragged.message.contains("row 0 has 1 values for 2"),
            "{}",
            ragged.message
        );
        let uneven = mlflow_json(json!({"inputs": {"a": [1, 2], "b": ["x"]}}), &ANY).unwrap_err();
        assert!(
            uneven.message.contains("'b' has 1 values"),
            "{}",
            uneven.message
        );
        let csv = csv_records(b"a,b\n1\n", &ANY).unwrap_err();
        assert!(
            csv.message.contains("row 1 has 1 fields"),
            "{}",
            csv.message
        );
    }
}
