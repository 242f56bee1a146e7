//! What a request may cost: the row limit, name and value lengths, and a count of a JSON body's
//! values from its bytes, so a body whose parsed form would be many times its size is refused
//! before it is parsed. Names are checked against the served model's spec before rows are built.

use axum::http::StatusCode;
use serde_json::Value;

use super::error::ApiError;
use super::input::Record;
use crate::data::DatasetSpec;

/// The longest column name a request may use.
pub const MAX_NAME: usize = 256;
/// The longest text value a request may send in a cell.
pub const MAX_TEXT: usize = 1024;

/// What a request is checked against: the served model's columns and the row limit.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    spec: Option<&'a DatasetSpec>,
    pub max_rows: usize,
}

impl<'a> Expect<'a> {
    pub fn new(spec: &'a DatasetSpec, max_rows: usize) -> Expect<'a> {
        Expect {
            spec: Some(spec),
            max_rows,
        }
    }

    /// Any column names (for parsing without a model).
    pub const fn any(max_rows: usize) -> Expect<'static> {
        Expect {
            spec: None,
            max_rows,
        }
    }

    /// The served model's spec, when there is one.
    pub fn spec(&self) -> Option<&'a DatasetSpec> {
        self.spec
    }

    fn n_columns(&self) -> usize {
        self.spec.map_or(64, |s| s.columns.len())
    }

    /// The most JSON values a body of `max_rows` rows can need (a cell, its name, and room for
    /// the envelope).
    fn max_values(&self) -> usize {
        (self.max_rows + 1)
            .saturating_mul(2 * self.n_columns() + 4)
            .saturating_add(64)
    }

    /// A column name the model knows, of sane length; checked before any row uses it.
    pub fn column(&self, name: &str) -> Result<(), ApiError> {
        if name.len() > MAX_NAME {
            return Err(ApiError::unprocessable(format!(
                "a column name of {} bytes is longer than the {MAX_NAME} allowed",
                name.len()
            )));
        }
        if let Some(spec) = self.spec {
            if spec.column(name).is_none() {
                let mut e = ApiError::unprocessable(format!(
                    "unknown field(s) {} (the model's columns are {})",
                    name.escape_debug(),
                    spec.columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                e.fields = vec![name.to_string()];
                return Err(e);
            }
        }
        Ok(())
    }

    pub(crate) fn rows(&self, n: usize) -> Result<(), ApiError> {
        if n > self.max_rows {
            return Err(too_many_rows(self.max_rows));
        }
        Ok(())
    }

    /// Every record's names and text values, after parsing (which names the model knows is
    /// the frame's to say, record by record).
    pub fn records(&self, records: &[Record]) -> Result<(), ApiError> {
        self.rows(records.len())?;
        for (i, r) in records.iter().enumerate() {
            for (k, v) in r {
                if k.len() > MAX_NAME {
                    return Err(ApiError::unprocessable(format!(
                        "record {i}: a field name of {} bytes is longer than the {MAX_NAME} allowed",
                        k.len()
                    )));
                }
                if let Value::String(t) = v {
                    if t.len() > MAX_TEXT {
                        let mut e = ApiError::unprocessable(format!(
                            "record {i}: the value of '{k}' is {} bytes, longer than the {MAX_TEXT} allowed",
                            t.len()
                        ));
                        e.fields = vec![k.clone()];
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }
}

fn too_many_rows(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request holds more than {max} rows, the server's limit (--max-rows); send fewer rows per request or score the file with `staytrack score`"),
    )
}

/// Counts a JSON body's values and nesting from its bytes, without parsing it, so a body whose
/// parsed form would be many times its size is refused first.
pub fn precheck_json(body: &[u8], expect: &Expect) -> Result<(), ApiError> {
    let mut values = 1usize;
    scan_json(body, |b, in_string| {
        if !in_string && matches!(b, b',' | b':' | b'[' | b'{') {
            values += 1;
        }
    });
    if values > expect.max_values() {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request holds more values than {} rows of the model's columns can; the server takes at most {} rows (--max-rows)",
                expect.max_rows, expect.max_rows
            ),
        ));
    }
    Ok(())
}

/// Calls `f` with each byte of a JSON text and whether it lies inside a string (quotes and
/// escapes included), without parsing.
pub(crate) fn scan_json(body: &[u8], mut f: impl FnMut(u8, bool)) {
    let (mut in_str, mut escaped) = (false, false);
    for &b in body {
        let inside = in_str;
        if in_str {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else if b == b'"' {
            in_str = true;
        }
        f(b, inside || in_str);
    }
}
