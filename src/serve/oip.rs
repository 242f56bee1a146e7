//! The Open Inference Protocol v2 wire format for a tabular model: one input tensor per column,
//! in JSON or in the binary tensor extension, checked against the column's type, its shape and
//! the row limit before any record is built; and the outputs asked for, each in JSON or binary.
//!
//! Binary requests carry an `Inference-Header-Content-Length` header: the body is that many
//! bytes of JSON, then each binary input's bytes in the order the inputs are listed, little
//! endian, `BYTES` elements as a 4-byte length and the bytes.

use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::input::{columns_to_records, parse_json, Record};
use super::limits::{precheck_json, Expect};
use crate::data::spec::ValueType;
use crate::data::DatasetSpec;

/// The header giving the JSON part's length in a binary request or response.
pub const HEADER_LENGTH: &str = "inference-header-content-length";
/// The protocol extensions this server implements, as server metadata lists them.
pub const EXTENSIONS: [&str; 1] = ["binary_tensor_data"];

/// A tensor element type of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datatype {
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F16,
    Bf16,
    F32,
    F64,
    Bytes,
}

const NAMES: [(&str, Datatype); 14] = [
    ("BOOL", Datatype::Bool),
    ("UINT8", Datatype::U8),
    ("UINT16", Datatype::U16),
    ("UINT32", Datatype::U32),
    ("UINT64", Datatype::U64),
    ("INT8", Datatype::I8),
    ("INT16", Datatype::I16),
    ("INT32", Datatype::I32),
    ("INT64", Datatype::I64),
    ("FP16", Datatype::F16),
    ("BF16", Datatype::Bf16),
    ("FP32", Datatype::F32),
    ("FP64", Datatype::F64),
    ("BYTES", Datatype::Bytes),
];

impl Datatype {
    pub fn parse(s: &str) -> Option<Datatype> {
        NAMES.iter().find(|(n, _)| *n == s).map(|(_, d)| *d)
    }

    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, d)| *d == self)
            .map_or("?", |(n, _)| n)
    }

    /// Bytes per element; None for `BYTES`, whose elements carry their length.
    fn size(self) -> Option<usize> {
        use Datatype::*;
        Some(match self {
            Bool | U8 | I8 => 1,
            U16 | I16 | F16 | Bf16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 => 8,
            Bytes => return None,
        })
    }

    fn is_int(self) -> bool {
        use Datatype::*;
        matches!(self, U8 | U16 | U32 | U64 | I8 | I16 | I32 | I64)
    }

    fn is_float(self) -> bool {
        matches!(
            self,
            Datatype::F16 | Datatype::Bf16 | Datatype::F32 | Datatype::F64
        )
    }

    /// What model metadata advertises for a column.
    pub fn of(value: ValueType) -> Datatype {
        match value {
            ValueType::Int => Datatype::I64,
            ValueType::Float => Datatype::F64,
            ValueType::Text => Datatype::Bytes,
        }
    }

    /// Whether a column of `value` takes tensors of this type: text only as `BYTES`, integers
    /// only as integers (a float could carry a fraction), numbers as floats or integers.
    fn fits(self, value: ValueType) -> bool {
        match value {
            ValueType::Text => self == Datatype::Bytes,
            ValueType::Int => self.is_int(),
            ValueType::Float => self.is_int() || self.is_float(),
        }
    }

    /// The largest finite magnitude of a float type.
    fn float_max(self) -> f64 {
        match self {
            Datatype::F16 => 65_504.0,
            // (2 − 2⁻⁷) · 2¹²⁷: FP32's exponent with 8 bits of significand.
            Datatype::Bf16 => (255u128 << 120) as f64,
            Datatype::F32 => f32::MAX as f64,
            _ => f64::MAX,
        }
    }

    /// The inclusive range of an integer type, as i128 so every type fits.
    fn int_range(self) -> (i128, i128) {
        use Datatype::*;
        match self {
            U8 => (0, u8::MAX as i128),
            U16 => (0, u16::MAX as i128),
            U32 => (0, u32::MAX as i128),
            U64 => (0, u64::MAX as i128),
            I8 => (i8::MIN as i128, i8::MAX as i128),
            I16 => (i16::MIN as i128, i16::MAX as i128),
            I32 => (i32::MIN as i128, i32::MAX as i128),
            _ => (i64::MIN as i128, i64::MAX as i128),
        }
    }
}

/// The model's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Probability,
    Class,
}

impl Output {
    pub const ALL: [Output; 2] = [Output::Probability, Output::Class];

    pub fn name(self) -> &'static str {
        match self {
            Output::Probability => "probability",
            Output::Class => "class",
        }
    }

    pub fn datatype(self) -> Datatype {
        match self {
            Output::Probability => Datatype::F64,
            Output::Class => Datatype::I64,
        }
    }
}

/// An output asked for, and whether it goes back as binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub output: Output,
    pub binary: bool,
}

/// A parsed inference request.
#[derive(Debug)]
pub struct InferRequest {
    pub records: Vec<Record>,
    pub id: Option<Value>,
    pub outputs: Vec<Wanted>,
    /// `parameters.explain`: each row's top K columns, answered as an `explanation` output.
    pub explain: Option<usize>,
}

/// The model's inputs as metadata lists them: every column but the target.
pub fn input_metadata(spec: &DatasetSpec) -> Vec<Value> {
    spec.columns
        .iter()
        .filter(|c| c.role != crate::data::Role::Target)
        .map(|c| json!({ "name": c.name, "datatype": Datatype::of(c.value).name(), "shape": [-1] }))
        .collect()
}

pub fn output_metadata() -> Vec<Value> {
    Output::ALL
        .iter()
        .map(|o| json!({ "name": o.name(), "datatype": o.datatype().name(), "shape": [-1] }))
        .collect()
}

/// Parses a request body; `header_length` is the `Inference-Header-Content-Length` header.
pub fn parse(
    body: &[u8],
    header_length: Option<&str>,
    expect: &Expect,
) -> Result<InferRequest, ApiError> {
    let (head, mut tail) = match header_length {
        None => (body, &body[body.len()..]),
        Some(h) => {
            let n: usize = h.trim().parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "Inference-Header-Content-Length must be a byte count, not '{}'",
                    h.escape_debug()
                ))
            })?;
            if n > body.len() {
                return Err(ApiError::bad_request(format!(
                    "Inference-Header-Content-Length is {n} but the body holds {} bytes",
                    body.len()
                )));
            }
            body.split_at(n)
        }
    };
    precheck_json(head, expect)?;
    let Value::Object(mut top) = parse_json(head)? else {
        return Err(ApiError::bad_request("expected a JSON object with inputs"));
    };
    let id = top.remove("id");
    if let Some(id) = &id {
        if !id.is_string() {
            return Err(ApiError::bad_request("id must be a string"));
        }
    }
    let params = parameters(top.get("parameters"), "parameters")?;
    let binary_default = flag(params, "binary_data_output", "parameters")?.unwrap_or(false);
    let explain = match params.and_then(|p| p.get("explain")) {
        None => None,
        Some(v) => crate::explain::top_from_json("parameters.explain", v)
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
    };
    let Some(Value::Array(inputs)) = top.remove("inputs") else {
        return Err(ApiError::bad_request(
            "inputs must be an array of tensors {name, shape, datatype, data}",
        ));
    };
    if inputs.is_empty() {
        return Err(ApiError::bad_request("inputs holds no tensors"));
    }
    let mut cols: Vec<(String, Value)> = Vec::with_capacity(inputs.len());
    for (i, t) in inputs.into_iter().enumerate() {
        let (name, values) = input(i, t, &mut tail, expect)?;
        if cols.iter().any(|(n, _)| *n == name) {
            return Err(ApiError::bad_request(format!(
                "inputs[{i}]: '{name}' is given twice"
            )));
        }
        cols.push((name, Value::Array(values)));
    }
    if !tail.is_empty() {
        return Err(ApiError::bad_request(format!(
            "the body holds {} bytes after the inputs' binary data (binary_data_size)",
            tail.len()
        )));
    }
    let records = columns_to_records(cols, "inputs")?;
    expect.records(&records)?;
    let outputs = wanted(top.remove("outputs"), binary_default)?;
    Ok(InferRequest {
        records,
        id,
        outputs,
        explain,
    })
}

/// One input tensor: its name and values, checked against its column.
fn input(
    i: usize,
    t: Value,
    tail: &mut &[u8],
    expect: &Expect,
) -> Result<(String, Vec<Value>), ApiError> {
    let Value::Object(t) = t else {
        return Err(ApiError::bad_request(format!(
            "inputs[{i}] must be a tensor object"
        )));
    };
    let name = match t.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(ApiError::bad_request(format!(
                "inputs[{i}] needs a name (the column)"
            )))
        }
    };
    let at = format!("inputs[{i}] ('{name}')");
    expect.column(&name)?;
    let datatype = match t.get("datatype") {
        Some(Value::String(d)) => Datatype::parse(d).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{at}: unknown datatype '{}'; the protocol's are {}",
                d.escape_debug(),
                NAMES.map(|(n, _)| n).join(", ")
            ))
        })?,
        _ => return Err(ApiError::bad_request(format!("{at} needs a datatype"))),
    };
    // Without a model (parsing alone) every column is taken as text or number by its datatype.
    if let Some(col) = expect.spec().and_then(|s| s.column(&name)) {
        if !datatype.fits(col.value) {
            let mut e = ApiError::bad_request(format!(
                "{at}: datatype {} does not fit a column of {}; send {}",
                datatype.name(),
                col.value.describe(),
                match col.value {
                    ValueType::Text => "BYTES",
                    ValueType::Int => "an integer type (INT64)",
                    ValueType::Float => "a float type (FP64) or an integer type",
                }
            ));
            e.fields = vec![name.clone()];
            return Err(e);
        }
    }
    let n = rows(&at, t.get("shape"), expect)?;
    let params = parameters(t.get("parameters"), &at)?;
    let binary_size = match params.and_then(|p| p.get("binary_data_size")) {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ApiError::bad_request(format!(
                "{at}: parameters.binary_data_size must be a byte count"
            ))
        })? as usize),
    };
    let values = match (binary_size, t.get("data")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(format!(
                "{at} has both data and parameters.binary_data_size; send one"
            )))
        }
        (None, None) => {
            return Err(ApiError::bad_request(format!(
                "{at} needs data (or binary data with parameters.binary_data_size)"
            )))
        }
        (Some(size), None) => {
            if size > tail.len() {
                return Err(ApiError::bad_request(format!(
                    "{at}: binary_data_size is {size} but only {} bytes of binary data remain",
                    tail.len()
                )));
            }
            let (bytes, rest) = tail.split_at(size);
            *tail = rest;
            from_binary(&at, datatype, bytes, n)?
        }
        (None, Some(data)) => from_json(&at, datatype, data, n)?,
    };
    Ok((name, values))
}

/// The rows a tensor holds from its shape: `[n]` or `[n, 1]`, one column a tensor.
fn rows(at: &str, shape: Option<&Value>, expect: &Expect) -> Result<usize, ApiError> {
    let dims: Option<Vec<u64>> = match shape {
        Some(Value::Array(d)) => d.iter().map(Value::as_u64).collect(),
        _ => None,
    };
    let Some(dims) = dims else {
        return Err(ApiError::bad_request(format!(
            "{at} needs a shape: an array of non-negative integers, [rows] or [rows, 1]"
        )));
    };
    let n = match dims[..] {
        [n] | [n, 1] => n,
        _ => {
            return Err(ApiError::bad_request(format!(
                "{at}: shape {dims:?} is not [rows] or [rows, 1]; send one column per tensor"
            )))
        }
    };
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    expect.rows(n)?;
    if n == 0 {
        return Err(ApiError::bad_request(format!("{at}: shape holds no rows")));
    }
    Ok(n)
}

/// JSON data, flat or nested one level (`[[v], [v]]` for shape `[n, 1]`).
fn from_json(at: &str, datatype: Datatype, data: &Value, n: usize) -> Result<Vec<Value>, ApiError> {
    let Value::Array(items) = data else {
        return Err(ApiError::bad_request(format!(
            "{at}: data must be an array"
        )));
    };
    let mut out = Vec::with_capacity(n.min(items.len() + 1));
    for item in items {
        match item {
            Value::Array(inner) => {
                for v in inner {
                    out.push(json_element(at, datatype, v, out.len())?);
                }
            }
            v => out.push(json_element(at, datatype, v, out.len())?),
        }
        if out.len() > n {
            break;
        }
    }
    if out.len() != n {
        return Err(ApiError::bad_request(format!(
            "{at}: shape says {n} rows but data holds {}",
            if out.len() > n {
                "more".to_string()
            } else {
                out.len().to_string()
            }
        )));
    }
    Ok(out)
}

/// One JSON element, as its datatype allows. `null` is a missing value in any type.
fn json_element(at: &str, datatype: Datatype, v: &Value, i: usize) -> Result<Value, ApiError> {
    let ok = match v {
        Value::Null => true,
        Value::String(_) => datatype == Datatype::Bytes,
        Value::Number(num) if datatype.is_int() => {
            let x = num
                .as_i64()
                .map(i128::from)
                .or_else(|| num.as_u64().map(i128::from));
            let (lo, hi) = datatype.int_range();
            x.is_some_and(|x| (lo..=hi).contains(&x))
        }
        // A float must be one its declared type can hold: FP16 tops out at 65,504, FP32 at
        // about 3.4e38 (as the binary form cannot carry more).
        Value::Number(num) => {
            datatype.is_float()
                && num
                    .as_f64()
                    .is_some_and(|x| x.abs() <= datatype.float_max())
        }
        _ => false,
    };
    if ok {
        Ok(v.clone())
    } else {
        Err(ApiError::bad_request(format!(
            "{at}: element {i} ({v}) is not {}",
            match datatype {
                Datatype::Bytes => "a string (BYTES)".to_string(),
                d if d.is_int() => format!("an integer within {}", d.name()),
                d => format!("a number ({})", d.name()),
            }
        )))
    }
}

/// Binary data of `n` elements. Float NaN is a missing value, as in pandas.
fn from_binary(
    at: &str,
    datatype: Datatype,
    bytes: &[u8],
    n: usize,
) -> Result<Vec<Value>, ApiError> {
    let Some(size) = datatype.size() else {
        return bytes_elements(at, bytes, n);
    };
    if bytes.len() != n * size {
        return Err(ApiError::bad_request(format!(
            "{at}: {n} elements of {} take {} bytes, but binary_data_size is {}",
            datatype.name(),
            n * size,
            bytes.len()
        )));
    }
    let float = |f: f64| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number);
    Ok(bytes
        .chunks_exact(size)
        .map(|c| {
            use Datatype::*;
            match datatype {
                U8 => Value::from(c[0]),
                I8 => Value::from(c[0] as i8),
                U16 => Value::from(u16::from_le_bytes([c[0], c[1]])),
                I16 => Value::from(i16::from_le_bytes([c[0], c[1]])),
                U32 => Value::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                I32 => Value::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                U64 => Value::from(u64::from_le_bytes(c.try_into().unwrap_or_default())),
                I64 => Value::from(i64::from_le_bytes(c.try_into().unwrap_or_default())),
                F16 => float(f16_to_f64(u16::from_le_bytes([c[0], c[1]]))),
                Bf16 => {
                    float(f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64)
                }
                F32 => float(f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64),
                F64 => float(f64::from_le_bytes(c.try_into().unwrap_or_default())),
                // Refused before: no column takes booleans.
                Bool | Bytes => Value::Null,
            }
        })
        .collect())
}

/// `BYTES` elements: a little-endian u32 length, then that many bytes of UTF-8.
fn bytes_elements(at: &str, mut bytes: &[u8], n: usize) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::with_capacity(n.min(bytes.len() / 4 + 1));
    for i in 0..n {
        let cut = |why: &str| ApiError::bad_request(format!("{at}: BYTES element {i}: {why}"));
        if bytes.len() < 4 {
            return Err(cut("the binary data ends before its length"));
        }
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if len > bytes.len() - 4 {
            return Err(cut(&format!(
                "says {len} bytes but {} remain",
                bytes.len() - 4
            )));
        }
        let text = std::str::from_utf8(&bytes[4..4 + len]).map_err(|_| cut("not UTF-8 text"))?;
        out.push(Value::String(text.to_string()));
        bytes = &bytes[4 + len..];
    }
    if !bytes.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{at}: {} bytes follow the {n} BYTES elements the shape gives",
            bytes.len()
        )));
    }
    Ok(out)
}

/// IEEE half precision to f64.
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// A `parameters` object, if present.
fn parameters<'a>(
    v: Option<&'a Value>,
    at: &str,
) -> Result<Option<&'a Map<String, Value>>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            for unsupported in ["shared_memory_region", "classification"] {
                if m.contains_key(unsupported) {
                    return Err(ApiError::bad_request(format!(
                        "{at}: parameters.{unsupported} is not supported by this server{}",
                        if unsupported == "classification" {
                            "; ask for the 'class' output"
                        } else {
                            ""
                        }
                    )));
                }
            }
            Ok(Some(m))
        }
        Some(_) => Err(ApiError::bad_request(format!(
            "{at}: parameters must be an object"
        ))),
    }
}

/// A boolean parameter.
fn flag(
    params: Option<&Map<String, Value>>,
    key: &str,
    at: &str,
) -> Result<Option<bool>, ApiError> {
    match params.and_then(|p| p.get(key)) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::bad_request(format!(
            "{at}: parameters.{key} must be true or false, not {other}"
        ))),
    }
}

/// The outputs asked for, in the order asked; every output when none are named.
fn wanted(outputs: Option<Value>, binary_default: bool) -> Result<Vec<Wanted>, ApiError> {
    let items = match outputs {
        None | Some(Value::Null) => {
            return Ok(Output::ALL
                .iter()
                .map(|&output| Wanted {
                    output,
                    binary: binary_default,
                })
                .collect())
        }
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(_) => {
            return Err(ApiError::bad_request(
                "outputs must be a non-empty array of {name, parameters}",
            ))
        }
    };
    let mut out: Vec<Wanted> = Vec::with_capacity(items.len());
    for (i, o) in items.iter().enumerate() {
        let at = format!("outputs[{i}]");
        let Some(name) = o.get("name").and_then(Value::as_str) else {
            return Err(ApiError::bad_request(format!("{at} needs a name")));
        };
        let Some(output) = Output::ALL.into_iter().find(|x| x.name() == name) else {
            return Err(ApiError::bad_request(format!(
                "{at}: the model has no output '{}'; its outputs are probability and class",
                name.escape_debug()
            )));
        };
        if out.iter().any(|w| w.output == output) {
            return Err(ApiError::bad_request(format!(
                "{at}: '{name}' is asked for twice"
            )));
        }
        let params = parameters(o.get("parameters"), &at)?;
        out.push(Wanted {
            output,
            binary: flag(params, "binary_data", &at)?.unwrap_or(binary_default),
        });
    }
    Ok(out)
}

/// An encoded response: the JSON, and the binary part with the JSON's length when any output
/// is binary.
pub struct Encoded {
    pub json: Vec<u8>,
    pub binary: Option<Vec<u8>>,
}

/// The response body for the outputs asked for.
pub fn encode(
    model_name: &str,
    version: i64,
    id: Option<Value>,
    outputs: &[Wanted],
    probs: &[f64],
    classes: &[i64],
    prediction_ids: &[String],
) -> Encoded {
    let n = probs.len();
    let mut binary: Vec<u8> = Vec::new();
    let mut any_binary = false;
    let tensors: Vec<Value> = outputs
        .iter()
        .map(|w| {
            let mut t = json!({
                "name": w.output.name(),
                "datatype": w.output.datatype().name(),
                "shape": [n],
            });
            if w.binary {
                any_binary = true;
                let start = binary.len();
                match w.output {
                    Output::Probability => {
                        probs.iter().for_each(|p| binary.extend(p.to_le_bytes()))
                    }
                    Output::Class => classes.iter().for_each(|c| binary.extend(c.to_le_bytes())),
                }
                t["parameters"] = json!({ "binary_data_size": binary.len() - start });
            } else {
                t["data"] = match w.output {
                    Output::Probability => json!(probs),
                    Output::Class => json!(classes),
                };
            }
            t
        })
        .collect();
    // The protocol's response parameters are the room it has for the ids; a parameter is a
    // scalar, so they travel comma-separated as `X-Prediction-Id` does.
    let mut out = json!({
        "model_name": model_name,
        "model_version": version.to_string(),
        "outputs": tensors,
        "parameters": { "prediction_ids": prediction_ids.join(",") },
    });
    if let Some(id) = id {
        out["id"] = id;
    }
    Encoded {
        json: serde_json::to_vec(&out).unwrap_or_default(),
        binary: any_binary.then_some(binary),
    }
}

#[cfg(test)]
mod tests;
