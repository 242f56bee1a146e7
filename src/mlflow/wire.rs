//! MLflow's JSON on the wire: reading a request (a JSON body, or a GET's query string read as
//! the same fields), the id forms, the limits MLflow sets on keys and values, and the shapes of
//! experiments and runs in answers.

use axum::http::Uri;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use super::errors::MlflowError;
use crate::tracking::external::{Experiment, ExternalRun};

/// MLflow's limits (its `mlflow/utils/validation.py`).
pub const MAX_KEY: usize = 250;
pub const MAX_PARAM_VALUE: usize = 6000;
pub const MAX_TAG_VALUE: usize = 8000;
pub const MAX_EXPERIMENT_TAG_VALUE: usize = 20_000;
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
pub const MAX_NAME: usize = 500;
pub const MAX_DATASETS_PER_BATCH: usize = 1000;
pub const MAX_DATASET_DIGEST: usize = 36;
pub const MAX_DATASET_SOURCE: usize = 65_535;
pub const MAX_DATASET_SCHEMA: usize = 1_048_575;
pub const MAX_DATASET_PROFILE: usize = 1_048_575;
pub const MAX_INPUT_TAG_KEY: usize = 255;
pub const MAX_INPUT_TAG_VALUE: usize = 500;
pub const MAX_ALIAS: usize = 255;
/// The most results one search page holds (MLflow's threshold).
pub const MAX_RESULTS: usize = 50_000;
pub const DEFAULT_RESULTS: usize = 1000;

/// A request body as `T`; a fault names the field serde found wrong.
pub fn from_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, MlflowError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return serde_json::from_slice(b"{}")
            .map_err(|e| MlflowError::invalid(format!("request body: {e}")));
    }
    serde_json::from_slice(bytes).map_err(|e| MlflowError::invalid(format!("request body: {e}")))
}

/// A GET's query string as `T`: each key once is a string, a repeated key a list (list fields
/// take a single string too, see `list`).
pub fn from_query<T: DeserializeOwned>(uri: &Uri) -> Result<T, MlflowError> {
    let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| MlflowError::invalid(format!("query string: {e}")))?
        .0;
    let mut obj = Map::new();
    for (k, v) in pairs {
        match obj.get_mut(&k) {
            Some(Value::Array(a)) => a.push(Value::String(v)),
            Some(old) => {
                let first = old.take();
                *old = Value::Array(vec![first, Value::String(v)]);
            }
            None => {
                obj.insert(k, Value::String(v));
            }
        }
    }
    serde_json::from_value(Value::Object(obj))
        .map_err(|e| MlflowError::invalid(format!("query string: {e}")))
}

/// An int64 as protobuf's JSON gives it: a number or a decimal string.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        I(i64),
        F(f64),
        S(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::I(i)) => Ok(Some(i)),
        Some(N::F(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        Some(N::F(f)) => Err(serde::de::Error::custom(format!("{f} is not an integer"))),
        Some(N::S(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("'{s}' is not an integer"))),
    }
}

/// A double as protobuf's JSON gives it: a number, or a string (`"NaN"` is refused later).
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        F(f64),
        S(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::F(f)) => Ok(Some(f)),
        Some(N::S(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("'{s}' is not a number"))),
    }
}

/// A repeated field: a list, or one string (a GET with the key once).
pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum L {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<L>::deserialize(d)? {
        None => Vec::new(),
        Some(L::One(s)) => vec![s],
        Some(L::Many(v)) => v,
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// An experiment id on the wire: MLflow's default experiment is "0", staytrack's is 1, so the
/// wire id is the store's minus one.
pub fn experiment_out(id: i64) -> String {
    (id - 1).to_string()
}

pub fn experiment_in(field: &str, s: &str) -> Result<i64, MlflowError> {
    let ok = !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit());
    match s.parse::<i64>() {
        Ok(n) if ok => Ok(n + 1),
        _ => Err(MlflowError::invalid(format!(
            "{field}: '{}' is not an experiment id (a number)",
            clip(s)
        ))),
    }
}

/// A run id as sent: the store's ids are UUIDs, so anything else is refused before a lookup.
pub fn run_id(field: &str, s: &str) -> Result<String, MlflowError> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(MlflowError::invalid(format!(
            "{field}: '{}' is not a run id",
            clip(s)
        )));
    }
    Ok(s.to_string())
}

/// `run_id`, or the older `run_uuid` the client may send instead.
pub fn either_run_id(a: &Option<String>, b: &Option<String>) -> Result<String, MlflowError> {
    match a.as_deref().filter(|s| !s.is_empty()).or(b.as_deref()) {
        Some(s) => run_id("run_id", s),
        None => Err(MlflowError::invalid("run_id: missing")),
    }
}

/// A short quotation of hostile input for an error message.
pub fn clip(s: &str) -> String {
    if s.chars().count() <= 64 {
        s.to_string()
    } else {
        format!(
            "{}… ({} characters)",
            s.chars().take(64).collect::<String>(),
            s.chars().count()
        )
    }
}

/// A key (metric, param, tag): 1 to 250 characters, no NUL, no `..` path step, no leading `/`
/// (MLflow's rule for keys that may become paths).
pub fn check_key(what: &str, k: &str) -> Result<(), MlflowError> {
    let len = k.chars().count();
    if len == 0 || len > MAX_KEY {
        return Err(MlflowError::invalid(format!(
            "{what} key '{}' has {len} characters; keys have 1 to {MAX_KEY}",
            clip(k)
        )));
    }
    if k.contains('\0') || k.starts_with('/') || k.split('/').any(|p| p == "..") {
        return Err(MlflowError::invalid(format!(
            "{what} key '{}' holds a NUL, a leading '/' or a '..' step",
            clip(k)
        )));
    }
    Ok(())
}

pub fn check_value(what: &str, k: &str, v: &str, max: usize) -> Result<(), MlflowError> {
    let len = v.chars().count();
    if len > max {
        return Err(MlflowError::invalid(format!(
            "{what} '{}': the value has {len} characters; at most {max}",
            clip(k)
        )));
    }
    if v.contains('\0') {
        return Err(MlflowError::invalid(format!(
            "{what} '{}': the value holds a NUL",
            clip(k)
        )));
    }
    Ok(())
}

pub fn check_name(what: &str, n: &str, max: usize) -> Result<(), MlflowError> {
    let len = n.chars().count();
    if len == 0 || len > max || n.chars().any(|c| c.is_control()) {
        return Err(MlflowError::invalid(format!(
            "{what}: '{}' must have 1 to {max} characters and no control characters",
            clip(n)
        )));
    }
    Ok(())
}

fn pairs(kv: &[(String, String)]) -> Vec<Value> {
    kv.iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect()
}

pub fn experiment_json(e: &Experiment) -> Value {
    json!({
        "experiment_id": experiment_out(e.id),
        "name": e.name,
        "artifact_location": e.artifact_location.clone()
            .unwrap_or_else(|| super::artifacts::experiment_location(e.id)),
        "lifecycle_stage": if e.deleted { "deleted" } else { "active" },
        "last_update_time": e.updated_at.unwrap_or(e.created_at),
        "creation_time": e.created_at,
        "tags": pairs(&e.tags),
    })
}

pub fn run_json(r: &ExternalRun) -> Value {
    let mut info = json!({
        "run_id": r.id,
        "run_uuid": r.id,
        "run_name": r.name,
        "experiment_id": experiment_out(r.experiment_id),
        "status": r.status,
        "artifact_uri": super::artifacts::run_location(r.experiment_id, &r.id),
        "lifecycle_stage": if r.deleted { "deleted" } else { "active" },
    });
    let o = info.as_object_mut().expect("an object");
    if let Some(u) = &r.user_id {
        o.insert("user_id".into(), json!(u));
    }
    if let Some(t) = r.start_time {
        o.insert("start_time".into(), json!(t));
    }
    if let Some(t) = r.end_time {
        o.insert("end_time".into(), json!(t));
    }
    let metrics: Vec<Value> = r
        .metrics
        .iter()
        .map(|(k, v, ts, step)| json!({"key": k, "value": v, "timestamp": ts, "step": step}))
        .collect();
    let inputs: Vec<Value> = r
        .inputs
        .iter()
        .map(|d| {
            let mut ds = json!({
                "name": d.name, "digest": d.digest,
                "source_type": d.source_type, "source": d.source,
            });
            if let Some(s) = &d.schema {
                ds["schema"] = json!(s);
            }
            if let Some(p) = &d.profile {
                ds["profile"] = json!(p);
            }
            json!({"tags": pairs(&d.tags), "dataset": ds})
        })
        .collect();
    json!({
        "info": info,
        "data": {"metrics": metrics, "params": pairs(&r.params), "tags": pairs(&r.tags)},
        "inputs": {"dataset_inputs": inputs},
    })
}

/// A page token: the offset of the next page and a digest of the question it continues, so a
/// token from another search (or a forged one) is refused rather than misread.
pub fn page_token(offset: usize, question: &str) -> String {
    format!("{offset:x}.{}", question_digest(question))
}

pub fn read_page_token(token: Option<&str>, question: &str) -> Result<usize, MlflowError> {
    let Some(t) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    let bad = || {
        MlflowError::invalid(format!(
            "page_token: '{}' is not a token this search gave",
            clip(t)
        ))
    };
    let (off, digest) = t.split_once('.').ok_or_else(bad)?;
    if off.len() > 12 || digest != question_digest(question) {
        return Err(bad());
    }
    usize::from_str_radix(off, 16).map_err(|_| bad())
}

fn question_digest(q: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(q.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `max_results` within MLflow's bounds.
pub fn max_results(given: Option<i64>, default: usize) -> Result<usize, MlflowError> {
    match given {
        None => Ok(default),
        Some(n) if n >= 1 && n as usize <= MAX_RESULTS => Ok(n as usize),
        Some(n) => Err(MlflowError::invalid(format!(
            "max_results: {n}; it must be 1 to {MAX_RESULTS}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_continue_only_their_own_search() {
        let t = page_token(1000, "q1");
        assert_eq!(read_page_token(Some(&t), "q1").unwrap(), 1000);
        assert!(read_page_token(Some(&t), "q2").is_err());
        assert!(read_page_token(Some("zz.00"), "q1").is_err());
        assert!(read_page_token(Some("garbage"), "q1").is_err());
        assert_eq!(read_page_token(None, "q1").unwrap(), 0);
    }

    #[test]
    fn ids_are_checked_before_any_lookup() {
        assert_eq!(experiment_in("experiment_id", "0").unwrap(), 1);
        assert!(experiment_in("experiment_id", "-1").is_err());
        assert!(experiment_in("experiment_id", "1e3").is_err());
        assert!(run_id("run_id", "../etc").is_err());
        assert!(run_id("run_id", "0190abcd-1234").is_ok());
    }

    #[test]
    fn keys_are_bounded_and_never_paths() {
        assert!(check_key("metric", "auc").is_ok());
        assert!(check_key("metric", &"k".repeat(251)).is_err());
        assert!(check_key("metric", "").is_err());
        assert!(check_key("metric", "../x").is_err());
        assert!(check_key("metric", "a\0b").is_err());
    }
}
