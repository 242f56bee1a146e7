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

use crate::data::{Frame, RecordError, Role};
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
    pub case_ids: Vec<Option<i64>>,
}

/// The served model, or 503 while there is none.
pub(super) fn serving(s: &AppState) -> Result<Arc<Loaded>, ApiError> {
    s.slot.current().ok_or_else(|| no_model(s))
}

/// What a request is checked against: the model's columns and the row limit.
pub(super) fn expect<'a>(s: &AppState, model: &'a Loaded) -> input::Expect<'a> {
    input::Expect::new(&model.bundle.spec, s.max_rows)
}

/// Scores records with `model`, the one their columns were checked against.
pub(super) async fn score(
    s: &Arc<AppState>,
    model: Arc<Loaded>,
    records: Vec<Record>,
    source: &'static str,
) -> Result<Scored, ApiError> {
    if records.len() <= INLINE_ROWS {
        return score_now(s, model, records, source);
    }
    let s = s.clone();
    tokio::task::spawn_blocking(move || score_now(&s, model, records, source))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "scoring failed"))?
}

pub(super) fn score_now(
    s: &AppState,
    model: Arc<Loaded>,
    records: Vec<Record>,
    source: &'static str,
) -> Result<Scored, ApiError> {
    let spec = &model.bundle.spec;
    let frame = Frame::from_records(spec, &records).map_err(record_error)?;
    let probs = model.bundle.predict(&frame).map_err(|e| {
        let mut err = ApiError::unprocessable(e.to_string());
        if let crate::features::FeatureError::Record(r) = &e {
            err.fields = r.fields();
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
    let id_col = spec
        .columns
        .iter()
        .find(|c| c.role == Role::Id)
        .map(|c| c.name.as_str());
    let case_ids: Vec<Option<i64>> = records
        .iter()
        .map(|r| {
            let v = r.get(id_col?)?;
            v.as_i64()
                .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .or_else(|| v.as_str()?.trim().parse().ok())
        })
        .collect();
    s.metrics.count_classes(classes.iter().copied());
    let mut issues = model.checker.frame(&frame);
    model.checker.coerced(&records, &mut issues);
    if issues.iter().any(|i| !i.is_empty()) {
        s.metrics.count_quality(issues.iter().flatten());
    }
    if let Some(log) = &s.log {
        let at = crate::util::now_ms();
        // The record as parsed (its names checked against the model, its values bounded), not
        // the request's bytes, which may carry anything around it.
        let rows = records
            .iter()
            .zip(&probs)
            .zip(&classes)
            .zip(&case_ids)
            .zip(&issues)
            .map(|((((r, p), c), id), found)| PredictionRow {
                at,
                model_version: Some(model.version),
                case_id: *id,
                inputs: serde_json::to_string(r).unwrap_or_default(),
                probability: *p,
                class: *c,
                source: source.to_string(),
                quality: crate::data::quality::to_stored(found),
            })
            .collect();
        log.record(rows);
    }
    Ok(Scored {
        model,
        probs,
        classes,
        case_ids,
    })
}

pub(super) fn record_error(e: RecordError) -> ApiError {
    let mut err = ApiError::unprocessable(e.to_string());
    err.fields = e.fields();
    err
}

/// One answer of `/predict`.
#[derive(serde::Serialize)]
pub(super) struct Prediction {
    case_id: Option<i64>,
    class: i64,
    probability: f64,
    model_version: i64,
}

/// Scores a body of one record or a list of records; says whether it was one.
async fn score_plain(
    s: &Arc<AppState>,
    body: Result<Bytes, BytesRejection>,
    route: &'static str,
) -> Result<(Scored, bool), ApiError> {
    let body = body_bytes(body)?;
    let model = serving(s)?;
    let want = expect(s, &model);
    input::precheck_json(&body, &want)?;
    let (records, single) = input::plain_records(input::parse_json(&body)?, &want)?;
    Ok((score(s, model, records, route).await?, single))
}

/// `POST /predict`: one record ⇒ one answer; a list ⇒ a list of answers.
pub(super) async fn predict(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (r, single) = score_plain(&s, body, "/predict").await?;
    let one = |i: usize| Prediction {
        case_id: r.case_ids[i],
        class: r.classes[i],
        probability: r.probs[i],
        model_version: r.model.version,
    };
    if single {
        return Ok(Json(one(0)).into_response());
    }
    Ok(Json(json!({
        "model_version": r.model.version,
        "alias": s.slot.alias,
        "threshold": THRESHOLD,
        "predictions": (0..r.probs.len()).map(one).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `POST /predict_outcome`: the seed's request (one raw row, pandas `to_dict`) and answer shape.
pub(super) async fn predict_outcome(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (r, _) = score_plain(&s, body, "/predict_outcome").await?;
    Ok(Json(json!({
        "Class": r.classes,
        "probability": r.probs.iter().map(|p| [1.0 - p, *p]).collect::<Vec<_>>(),
    }))
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
        },
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "content type '{}' is not supported; use application/json or text/csv",
                    if other.is_empty() { "(none)" } else { other }
                ),
            ))
        }
    };
    let r = score(&s, model, req.records, "/invocations").await?;
    let predictions: Value = if req.proba {
        r.probs.iter().map(|p| json!([1.0 - p, p])).collect()
    } else {
        r.classes.iter().map(|c| json!(c)).collect()
    };
    Ok(Json(json!({ "predictions": predictions })).into_response())
}
