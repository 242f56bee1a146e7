//! Logging to a run: a batch of metrics, params and tags (one transaction), one metric, one
//! param, a tag set or deleted, dataset inputs, and a metric's history. Every count, key and
//! value is checked against MLflow's limits before the store is touched.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::errors::MlflowError;
use super::wire::{self, KeyValue};
use super::Shared;
use crate::tracking::external::{DatasetInput, MetricPoint};

type Answer = Result<Json<Value>, MlflowError>;

#[derive(Deserialize)]
pub struct Metric {
    key: Option<String>,
    #[serde(default, deserialize_with = "wire::opt_f64")]
    value: Option<f64>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    step: Option<i64>,
}

fn metric(m: Metric) -> Result<MetricPoint, MlflowError> {
    let key = m
        .key
        .ok_or_else(|| MlflowError::invalid("metric key: missing"))?;
    wire::check_key("metric", &key)?;
    let value = m.value.ok_or_else(|| {
        MlflowError::invalid(format!("metric '{}': value missing", wire::clip(&key)))
    })?;
    if !value.is_finite() {
        return Err(MlflowError::invalid(format!(
            "metric '{}': {value} cannot be stored; log finite values",
            wire::clip(&key)
        )));
    }
    Ok((
        key,
        value,
        m.timestamp.unwrap_or_else(crate::util::now_ms),
        m.step.unwrap_or(0),
    ))
}

/// Params: keys and values within MLflow's limits, no key twice with two values.
fn params(given: &[KeyValue]) -> Result<Vec<(String, String)>, MlflowError> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(given.len());
    for p in given {
        wire::check_key("param", &p.key)?;
        wire::check_value("param", &p.key, &p.value, wire::MAX_PARAM_VALUE)?;
        if let Some((_, v)) = out.iter().find(|(k, _)| *k == p.key) {
            if *v != p.value {
                return Err(MlflowError::invalid(format!(
                    "param '{}' is given twice with different values",
                    wire::clip(&p.key)
                )));
            }
            continue;
        }
        out.push((p.key.clone(), p.value.clone()));
    }
    Ok(out)
}

/// Tags: keys and values within MLflow's limits.
pub fn tags(given: &[KeyValue]) -> Result<Vec<(String, String)>, MlflowError> {
    if given.len() > wire::MAX_PARAMS_TAGS_PER_BATCH {
        return Err(MlflowError::invalid(format!(
            "tags: {} given; at most {} per request",
            given.len(),
            wire::MAX_PARAMS_TAGS_PER_BATCH
        )));
    }
    given
        .iter()
        .map(|t| {
            wire::check_key("tag", &t.key)?;
            wire::check_value("tag", &t.key, &t.value, wire::MAX_TAG_VALUE)?;
            Ok((t.key.clone(), t.value.clone()))
        })
        .collect()
}

#[derive(Deserialize)]
struct Batch {
    run_id: Option<String>,
    #[serde(default)]
    metrics: Vec<Metric>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn log_batch(State(s): State<Shared>, body: Bytes) -> Answer {
    let req: Batch = wire::from_body(&body)?;
    let id = wire::either_run_id(&req.run_id, &None)?;
    let (nm, np, nt) = (req.metrics.len(), req.params.len(), req.tags.len());
    let over = |what: &str, n: usize, max: usize| {
        MlflowError::invalid(format!(
            "{what}: {n} in one batch; at most {max} (MLflow's limit)"
        ))
    };
    if nm > wire::MAX_METRICS_PER_BATCH {
        return Err(over("metrics", nm, wire::MAX_METRICS_PER_BATCH));
    }
    if np > wire::MAX_PARAMS_TAGS_PER_BATCH {
        return Err(over("params", np, wire::MAX_PARAMS_TAGS_PER_BATCH));
    }
    if nt > wire::MAX_PARAMS_TAGS_PER_BATCH {
        return Err(over("tags", nt, wire::MAX_PARAMS_TAGS_PER_BATCH));
    }
    if nm + np + nt > wire::MAX_ENTITIES_PER_BATCH {
        return Err(over(
            "metrics, params and tags",
            nm + np + nt,
            wire::MAX_ENTITIES_PER_BATCH,
        ));
    }
    let metrics = req
        .metrics
        .into_iter()
        .map(metric)
        .collect::<Result<Vec<_>, _>>()?;
    let params = params(&req.params)?;
    let tags = tags(&req.tags)?;
    super::write(&s, move |st| {
        Ok(st.log_external_batch(&id, &metrics, &params, &tags)?)
    })
    .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct OneMetric {
    run_id: Option<String>,
    run_uuid: Option<String>,
    #[serde(flatten)]
    metric: Metric,
}

pub async fn log_metric(State(s): State<Shared>, body: Bytes) -> Answer {
    let req: OneMetric = wire::from_body(&body)?;
    let id = wire::either_run_id(&req.run_id, &req.run_uuid)?;
    let m = metric(req.metric)?;
    super::write(&s, move |st| {
        Ok(st.log_external_batch(&id, &[m], &[], &[])?)
    })
    .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct OneKeyValue {
    run_id: Option<String>,
    run_uuid: Option<String>,
    key: Option<String>,
    value: Option<String>,
}

impl OneKeyValue {
    fn parts(self, what: &str) -> Result<(String, KeyValue), MlflowError> {
        let id = wire::either_run_id(&self.run_id, &self.run_uuid)?;
        let key = self
            .key
            .ok_or_else(|| MlflowError::invalid(format!("{what} key: missing")))?;
        Ok((
            id,
            KeyValue {
                key,
                value: self.value.unwrap_or_default(),
            },
        ))
    }
}

pub async fn log_param(State(s): State<Shared>, body: Bytes) -> Answer {
    let (id, kv) = wire::from_body::<OneKeyValue>(&body)?.parts("param")?;
    let p = params(&[kv])?;
    super::write(&s, move |st| {
        Ok(st.log_external_batch(&id, &[], &p, &[])?)
    })
    .await?;
    Ok(Json(json!({})))
}

pub async fn set_tag(State(s): State<Shared>, body: Bytes) -> Answer {
    let (id, kv) = wire::from_body::<OneKeyValue>(&body)?.parts("tag")?;
    let t = tags(&[kv])?;
    super::write(&s, move |st| {
        Ok(st.log_external_batch(&id, &[], &[], &t)?)
    })
    .await?;
    Ok(Json(json!({})))
}

pub async fn delete_tag(State(s): State<Shared>, body: Bytes) -> Answer {
    let (id, kv) = wire::from_body::<OneKeyValue>(&body)?.parts("tag")?;
    wire::check_key("tag", &kv.key)?;
    super::write(&s, move |st| Ok(st.delete_external_tag(&id, &kv.key)?)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct Dataset {
    name: Option<String>,
    digest: Option<String>,
    source_type: Option<String>,
    source: Option<String>,
    schema: Option<String>,
    profile: Option<String>,
}

#[derive(Deserialize)]
struct Input {
    #[serde(default)]
    tags: Vec<KeyValue>,
    dataset: Option<Dataset>,
}

#[derive(Deserialize)]
struct Inputs {
    run_id: Option<String>,
    #[serde(default)]
    datasets: Vec<Input>,
    /// Logged models, which are not kept: a request naming some is refused.
    #[serde(default)]
    models: Vec<serde_json::Value>,
}

fn dataset(i: Input) -> Result<DatasetInput, MlflowError> {
    let d = i
        .dataset
        .ok_or_else(|| MlflowError::invalid("datasets: an input without its dataset"))?;
    let field = |v: Option<String>, what: &str, max: usize| -> Result<String, MlflowError> {
        let v = v.ok_or_else(|| MlflowError::invalid(format!("dataset {what}: missing")))?;
        if v.chars().count() > max || v.contains('\0') {
            return Err(MlflowError::invalid(format!(
                "dataset {what}: at most {max} characters and no NUL"
            )));
        }
        Ok(v)
    };
    let name = field(d.name, "name", wire::MAX_NAME)?;
    let digest = field(d.digest, "digest", wire::MAX_DATASET_DIGEST)?;
    let source_type = field(d.source_type, "source_type", wire::MAX_KEY)?;
    let source = field(d.source, "source", wire::MAX_DATASET_SOURCE)?;
    let schema = d
        .schema
        .map(|v| field(Some(v), "schema", wire::MAX_DATASET_SCHEMA))
        .transpose()?;
    let profile = d
        .profile
        .map(|v| field(Some(v), "profile", wire::MAX_DATASET_PROFILE))
        .transpose()?;
    let mut tags = Vec::new();
    for t in i.tags {
        if t.key.is_empty() || t.key.chars().count() > wire::MAX_INPUT_TAG_KEY {
            return Err(MlflowError::invalid(format!(
                "input tag '{}': keys have 1 to {} characters",
                wire::clip(&t.key),
                wire::MAX_INPUT_TAG_KEY
            )));
        }
        wire::check_value("input tag", &t.key, &t.value, wire::MAX_INPUT_TAG_VALUE)?;
        tags.push((t.key, t.value));
    }
    Ok(DatasetInput {
        name,
        digest,
        source_type,
        source,
        schema,
        profile,
        tags,
    })
}

pub async fn log_inputs(State(s): State<Shared>, body: Bytes) -> Answer {
    let req: Inputs = wire::from_body(&body)?;
    let id = wire::either_run_id(&req.run_id, &None)?;
    if !req.models.is_empty() {
        return Err(MlflowError::invalid(
            "models: logged models are not kept by this server; log the model file as an artifact",
        ));
    }
    if req.datasets.len() > wire::MAX_DATASETS_PER_BATCH {
        return Err(MlflowError::invalid(format!(
            "datasets: {} in one request; at most {}",
            req.datasets.len(),
            wire::MAX_DATASETS_PER_BATCH
        )));
    }
    let inputs = req
        .datasets
        .into_iter()
        .map(dataset)
        .collect::<Result<Vec<_>, _>>()?;
    super::write(&s, move |st| Ok(st.log_external_inputs(&id, &inputs)?)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct History {
    run_id: Option<String>,
    run_uuid: Option<String>,
    metric_key: Option<String>,
}

pub async fn history(State(s): State<Shared>, uri: Uri) -> Answer {
    let req: History = wire::from_query(&uri)?;
    let id = wire::either_run_id(&req.run_id, &req.run_uuid)?;
    let key = req
        .metric_key
        .ok_or_else(|| MlflowError::invalid("metric_key: missing"))?;
    wire::check_key("metric", &key)?;
    let k = key.clone();
    let points = super::read(&s, move |st| Ok(st.external_metric_history(&id, &k)?)).await?;
    let metrics: Vec<Value> = points
        .iter()
        .map(|(v, ts, step)| json!({"key": key, "value": v, "timestamp": ts, "step": step}))
        .collect();
    Ok(Json(json!({"metrics": metrics})))
}
