//! Scoring requests: the served model, checking records against it, probabilities that are
//! always numbers, the prediction log, and the `/predict`, `/predict_outcome` and MLflow
//! `/invocations` routes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::data::{Frame, RecordError};
use crate::tracking::PredictionRow;
use input::{ApiError, Record};
use model::Loaded;

use super::*;

pub(super) fn no_model(s: &AppState) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "no model is promoted to '{}' yet; run `staytrack promote RUN --alias {}`",
            s.slot.alias, s.slot.alias
        ),
    )
}

/// The body bytes, or the JSON error for a body that could not be read (413 over the limit).
pub(super) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::new(
                status,
                format!("cannot read the request body: {}", r.body_text()),
            )
        }
    })
}

pub(super) fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request body is larger than the server's limit (--max-body)",
    )
}

/// Probabilities and classes for records, from one model.
pub(super) struct Scored {
    pub model: Arc<Loaded>,
    pub probs: Vec<f64>,
    pub classes: Vec<i64>,
    /// Each record's case id as it was sent, echoed in `/predict`'s answers.
    pub case_ids: Vec<Option<Value>>,
    /// What the case id is called: the spec's first id column.
    pub case_id_name: Option<String>,
    /// One per record: what the answer and the log call it.
    pub prediction_ids: Vec<String>,
    /// Each record's top columns, when the request asked (`explain`).
    pub explanations: Option<Vec<crate::explain::RowExplanation>>,
}

impl Scored {
    /// The `X-Prediction-Id` header: the ids, comma-separated.
    /// A batch past `MAX_HEADER_IDS` names its first ones only, so the header stays within
    /// what HTTP clients read (64 KiB a line); `/predict` and `/invocations` carry every id in
    /// the body.
    pub fn id_header(&self) -> (header::HeaderName, String) {
        let ids = &self.prediction_ids[..self.prediction_ids.len().min(MAX_HEADER_IDS)];
        (
            header::HeaderName::from_static(PREDICTION_ID_HEADER),
            ids.join(","),
        )
    }
}

/// The header every scoring answer carries its prediction ids in.
pub const PREDICTION_ID_HEADER: &str = "x-prediction-id";

/// The most ids `X-Prediction-Id` lists (about 37 KB).
pub const MAX_HEADER_IDS: usize = 1000;

/// The longest `X-Request-Id` kept.
const MAX_REQUEST_ID: usize = 128;

/// The client's `X-Request-Id`: up to 128 visible ASCII characters, or a 400 naming the header.
pub(super) fn request_id(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("x-request-id") else {
        return Ok(None);
    };
    let b = v.as_bytes();
    if b.is_empty() || b.len() > MAX_REQUEST_ID || !b.iter().all(|c| (0x21..=0x7e).contains(c)) {
        return Err(ApiError::bad_request(format!(
            "X-Request-Id must be 1 to {MAX_REQUEST_ID} visible ASCII characters"
        )));
    }
    Ok(Some(String::from_utf8_lossy(b).into_owned()))
}

/// The served model, or 503 while there is none.
pub(super) fn serving(s: &AppState) -> Result<Arc<Loaded>, ApiError> {
    s.slot.current().ok_or_else(|| no_model(s))
}

/// What a request is checked against: the model's columns and the row limit.
pub(super) fn expect<'a>(s: &AppState, model: &'a Loaded) -> input::Expect<'a> {
    input::Expect::new(&model.bundle.spec, s.max_rows)
}

/// Scores records with `model`, the one their columns were checked against, and logs them
/// before answering: with `--log-full block`, an answer the log has no room for is a 503.
pub(super) async fn score(
    s: &Arc<AppState>,
    model: Arc<Loaded>,
    records: Vec<Record>,
    source: &'static str,
    request: Option<String>,
    explain: Option<usize>,
) -> Result<Scored, ApiError> {
    // An explanation costs hundreds of scorings, more for large trees: explained rows stay on
    // the async worker only while their work is within a millisecond or so.
    let inline = match explain {
        None => records.len() <= INLINE_ROWS,
        Some(_) => model.explainer().map_or(true, |e| {
            e.work_per_row().saturating_mul(records.len() as u64) <= EXPLAIN_INLINE_WORK
        }),
    };
    let (scored, rows) = if inline {
        score_now(s, model, records, source, request, explain)?
    } else {
        let s = s.clone();
        tokio::task::spawn_blocking(move || score_now(&s, model, records, source, request, explain))
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "scoring failed"))??
    };
    if let (Some(log), Some(rows)) = (&s.log, rows) {
        log.admit(rows).await.map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the prediction log is full (the store is slow or the bucket unreachable); the \
                 request was not answered so that no answer goes unlogged; try again",
            )
        })?;
    }
    // Counted once answered: a refused request predicted nothing for anyone.
    s.metrics.count_classes(scored.classes.iter().copied());
    Ok(scored)
}

pub(super) fn score_now(
    s: &AppState,
    model: Arc<Loaded>,
    records: Vec<Record>,
    source: &'static str,
    request: Option<String>,
    explain: Option<usize>,
) -> Result<(Scored, Option<Vec<PredictionRow>>), ApiError> {
    let spec = &model.bundle.spec;
    let frame = Frame::from_records_shared(&model.spec, &records).map_err(record_error)?;
    let probs = model.bundle.predict(&frame).map_err(|e| {
        let mut err = ApiError::unprocessable(e.to_string());
        if let crate::features::FeatureError::Record(r) = &e {
            err.fields = r.fields();
            err.fields_more = r.more();
        }
        err
    })?;
    // No probability that is not a number ever leaves the server or reaches the log.
    if let Some(i) = probs.iter().position(|p| !p.is_finite()) {
        return Err(ApiError::unprocessable(format!(
            "record {i}: the model gives no probability for these values; check its numbers are within a sane range"
        )));
    }
    let classes: Vec<i64> = probs.iter().map(|p| (*p >= THRESHOLD) as i64).collect();
    let explanations = match explain {
        None => None,
        Some(k) => Some(explained(&model, &frame, k)?),
    };
    // The case id as the record gave it (the answer echoes it), and as the frame read it (the
    // log keeps that text).
    let id_col = spec.case_id().map(|c| c.name.as_str());
    let case_id_name = id_col.map(str::to_string);
    let case_ids: Vec<Option<Value>> = records
        .iter()
        .map(|r| r.get(id_col?).filter(|v| !v.is_null()).cloned())
        .collect();
    let logged_ids = id_col.and_then(|name| match frame.column(name) {
        Some(crate::data::ColumnData::Id(v)) => Some(v),
        _ => None,
    });
    let mut issues = model.checker.frame(&frame);
    model.checker.coerced(&records, &mut issues);
    if issues.iter().any(|i| !i.is_empty()) {
        s.metrics.count_quality(issues.iter().flatten());
    }
    let prediction_ids: Vec<String> = (0..probs.len())
        .map(|_| crate::util::new_run_id())
        .collect();
    let rows = s.log.as_ref().map(|_| {
        let at = crate::util::now_ms();
        // The record as parsed (its names checked against the model, its values bounded), not
        // the request's bytes, which may carry anything around it.
        records
            .iter()
            .zip(&probs)
            .zip(&classes)
            .zip(&issues)
            .zip(&prediction_ids)
            .enumerate()
            .map(|(i, ((((r, p), c), found), pid))| PredictionRow {
                at,
                model_version: Some(model.version),
                case_id: logged_ids.and_then(|v| v.id(i)).map(str::to_string),
                inputs: serde_json::to_string(r).unwrap_or_default(),
                probability: *p,
                class: *c,
                source: source.to_string(),
                quality: crate::data::quality::to_stored(found),
                prediction_id: Some(pid.clone()),
                request_id: request.clone(),
                replica: Some(s.replica.clone()),
                model_name: Some(s.model_name.clone()),
                alias: Some(s.slot.alias.clone()),
                run_id: Some(model.run_id.clone()),
                threshold: Some(THRESHOLD),
            })
            .collect()
    });
    Ok((
        Scored {
            model,
            probs,
            classes,
            case_ids,
            case_id_name,
            prediction_ids,
            explanations,
        },
        rows,
    ))
}

/// Explained rows of a request: their top `k` columns.
fn explained(
    model: &Loaded,
    frame: &Frame,
    k: usize,
) -> Result<Vec<crate::explain::RowExplanation>, ApiError> {
    let e = model.explainer().map_err(|e| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("explain: the served model cannot be explained: {e}"),
        )
    })?;
    crate::explain::explain_frame(e, &model.bundle.pipeline, frame, k)
        .map_err(|e| ApiError::unprocessable(e.to_string()))
}

/// The `explain` query parameter of `/predict` (`?explain=K`), if given.
fn explain_query(query: Option<&str>) -> Result<Option<usize>, ApiError> {
    let Some(q) = query else { return Ok(None) };
    let mut found = None;
    for pair in q.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "explain" {
            if found.is_some() {
                return Err(ApiError::bad_request("explain is given twice"));
            }
            found = Some(
                crate::explain::parse_top("explain", value)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?,
            );
        }
    }
    Ok(found)
}

pub(super) fn record_error(e: RecordError) -> ApiError {
    let mut err = ApiError::unprocessable(e.to_string());
    err.fields = e.fields();
    err.fields_more = e.more();
    err
}

/// One answer of `/predict`: its prediction id, the case id under the spec's name for it
/// (when the record had one), the class, the probability and the version that gave it.
fn prediction(r: &Scored, i: usize) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(
        "prediction_id".into(),
        Value::from(r.prediction_ids[i].as_str()),
    );
    if let (Some(name), Some(id)) = (&r.case_id_name, &r.case_ids[i]) {
        m.insert(name.clone(), id.clone());
    }
    // The fixed fields win over an id column that shares a name with one of them.
    m.insert("class".into(), Value::from(r.classes[i]));
    m.insert("probability".into(), Value::from(r.probs[i]));
    m.insert("model_version".into(), Value::from(r.model.version));
    if let Some(e) = r.explanations.as_ref().and_then(|e| e.get(i)) {
        m.insert("explanation".into(), json!(e));
    }
    Value::Object(m)
}

/// Scores a body of one record or a list of records; says whether it was one.
async fn score_plain(
    s: &Arc<AppState>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    route: &'static str,
    explain: Option<usize>,
) -> Result<(Scored, bool), ApiError> {
    let request = request_id(headers)?;
    let body = body_bytes(body)?;
    let model = serving(s)?;
    let want = expect(s, &model);
    input::precheck_json(&body, &want)?;
    let (records, single) = input::plain_records(input::parse_json(&body)?, &want)?;
    Ok((
        score(s, model, records, route, request, explain).await?,
        single,
    ))
}

/// `POST /predict`: one record ⇒ one answer; a list ⇒ a list of answers. `?explain=K` adds
/// each row's top K columns.
pub(super) async fn predict(
    State(s): State<Arc<AppState>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let explain = explain_query(query.as_deref())?;
    let (r, single) = score_plain(&s, &headers, body, "/predict", explain).await?;
    let one = |i: usize| prediction(&r, i);
    if single {
        return Ok(([r.id_header()], Json(one(0))).into_response());
    }
    Ok((
        [r.id_header()],
        Json(json!({
            "model_version": r.model.version,
            "alias": s.slot.alias,
            "threshold": THRESHOLD,
            "predictions": (0..r.probs.len()).map(one).collect::<Vec<_>>(),
        })),
    )
        .into_response())
}

/// `POST /predict_outcome`: the seed's request (one raw row, pandas `to_dict`) and answer shape.
pub(super) async fn predict_outcome(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (r, _) = score_plain(&s, &headers, body, "/predict_outcome", None).await?;
    Ok((
        [r.id_header()],
        Json(json!({
            "Class": r.classes,
            "probability": r.probs.iter().map(|p| [1.0 - p, *p]).collect::<Vec<_>>(),
            "prediction_id": r.prediction_ids,
        })),
    )
        .into_response())
}

/// `POST /invocations`: MLflow's scoring protocol.
pub(super) async fn invocations(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let request = request_id(&headers)?;
    let body = body_bytes(body)?;
    let model = serving(&s)?;
    let want = expect(&s, &model);
    let req = match ctype.as_str() {
        "application/json" => {
            input::precheck_json(&body, &want)?;
            input::mlflow_json(input::parse_json(&body)?, &want)?
        }
        "text/csv" => input::MlflowRequest {
            records: input::csv_records(&body, &want)?,
            proba: false,
            explain: None,
        },
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "content type '{}' is not supported; use application/json or text/csv",
                    if other.is_empty() {
                        "(none)".into()
                    } else {
                        crate::util::shown(other)
                    }
                ),
            ))
        }
    };
    let r = score(&s, model, req.records, "/invocations", request, req.explain).await?;
    let predictions: Value = if req.proba {
        r.probs.iter().map(|p| json!([1.0 - p, p])).collect()
    } else {
        r.classes.iter().map(|c| json!(c)).collect()
    };
    // MLflow's answer has room beside `predictions`; its client reads that key alone.
    let mut answer = json!({ "predictions": predictions, "prediction_ids": r.prediction_ids });
    if let Some(e) = &r.explanations {
        answer["explanations"] = json!(e);
    }
    Ok(([r.id_header()], Json(answer)).into_response())
}
