//! The Open Inference Protocol v2 routes: server and model metadata, readiness and inference,
//! for the alias's model and for any registered version by number. The wire format is `oip`'s.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequestParts, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use input::ApiError;
use model::Loaded;

use super::*;
use super::{scoring::*, server::*};

/// axum's `Path`, refused as every other bad request is: the server's JSON error, a 400, naming
/// the path parameter and never echoing its value (axum's own answer is plain text).
pub(super) struct Path<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(path_error)
    }
}

/// What a path that cannot be read gets: which parameter, and why, in a line.
fn path_error(e: PathRejection) -> ApiError {
    let why = match e {
        PathRejection::FailedToDeserializePathParams(e) => match e.into_kind() {
            ErrorKind::InvalidUtf8InPathParam { key } => format!(
                "the path's '{}' is not UTF-8 once its %-escapes are decoded",
                crate::util::shown(&key)
            ),
            ErrorKind::ParseErrorAtKey { key, .. } | ErrorKind::DeserializeError { key, .. } => {
                format!("the path's '{}' cannot be read", crate::util::shown(&key))
            }
            _ => "the path's parameters cannot be read".to_string(),
        },
        _ => "the path's parameters cannot be read".to_string(),
    };
    ApiError::bad_request(why)
}

/// The v2 model name: `staytrack` or the served alias. The name is cut in the answer: a path
/// may be kilobytes long.
pub(super) fn v2_model(s: &AppState, name: &str) -> Result<(), ApiError> {
    if name == MODEL_NAME || name == s.slot.alias {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no model named '{}'; this server serves '{MODEL_NAME}' (alias '{}')",
            crate::util::shown(name),
            s.slot.alias
        )))
    }
}

/// The model a route names: the alias's, or a registered version loaded on first use.
async fn resolve(s: &Arc<AppState>, version: Option<&str>) -> Result<Arc<Loaded>, ApiError> {
    let Some(version) = version else {
        return serving(s);
    };
    let v: i64 = version.parse().ok().filter(|v| *v > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "a model version is a positive integer, not '{}'",
            crate::util::shown(version)
        ))
    })?;
    let slot = s.clone();
    tokio::task::spawn_blocking(move || slot.slot.at_version(v))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "loading failed"))?
        .map_err(super::admin::version_error)
}

pub(super) async fn v2_server() -> Json<Value> {
    Json(json!({
        "name": MODEL_NAME,
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": oip::EXTENSIONS,
    }))
}

async fn metadata(
    s: Arc<AppState>,
    name: String,
    version: Option<String>,
) -> Result<Response, ApiError> {
    v2_model(&s, &name)?;
    let m = resolve(&s, version.as_deref()).await?;
    let slot = s.clone();
    let versions = tokio::task::spawn_blocking(move || slot.slot.versions())
        .await
        .unwrap_or_default();
    Ok(Json(json!({
        "name": name,
        "versions": versions.iter().map(i64::to_string).collect::<Vec<_>>(),
        "platform": format!("staytrack-{}", m.bundle.params.family.name()),
        "inputs": oip::input_metadata(&m.bundle.spec),
        "outputs": oip::output_metadata(),
    }))
    .into_response())
}

pub(super) async fn v2_metadata(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    metadata(s, name, None).await
}

pub(super) async fn v2_version_metadata(
    State(s): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    metadata(s, name, Some(version)).await
}

pub(super) async fn v2_model_ready(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    v2_model(&s, &name)?;
    Ok(ready(State(s)).await)
}

pub(super) async fn v2_version_ready(
    State(s): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    v2_model(&s, &name)?;
    let m = resolve(&s, Some(&version)).await?;
    Ok(
        Json(json!({ "ready": true, "model_version": m.version, "run_id": m.run_id }))
            .into_response(),
    )
}

async fn infer(
    s: Arc<AppState>,
    name: String,
    version: Option<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    v2_model(&s, &name)?;
    let body = body_bytes(body)?;
    let model = resolve(&s, version.as_deref()).await?;
    let want = expect(&s, &model);
    let header_length = match headers.get(oip::HEADER_LENGTH) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::bad_request("Inference-Header-Content-Length must be a byte count")
        })?),
    };
    let request = request_id(&headers)?;
    let req = oip::parse(&body, header_length, &want)?;
    let r = score(&s, model, req.records, "/v2/infer", request, req.explain).await?;
    let ids = r.id_header();
    let mut out = oip::encode(
        &name,
        r.model.version,
        req.id,
        &req.outputs,
        &r.probs,
        &r.classes,
        &r.prediction_ids,
    );
    if let Some(e) = &r.explanations {
        out.json = with_explanations(&out.json, e);
    }
    let mut resp = match out.binary {
        None => ([(header::CONTENT_TYPE, "application/json")], out.json).into_response(),
        Some(binary) => {
            let json_len = out.json.len();
            let mut bytes = out.json;
            bytes.extend_from_slice(&binary);
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (
                        header::HeaderName::from_static(oip::HEADER_LENGTH),
                        json_len.to_string(),
                    ),
                ],
                Body::from(bytes),
            )
                .into_response()
        }
    };
    if let Ok(v) = header::HeaderValue::from_str(&ids.1) {
        resp.headers_mut().insert(ids.0, v);
    }
    Ok(resp)
}

pub(super) async fn v2_infer(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    infer(s, name, None, headers, body).await
}

pub(super) async fn v2_version_infer(
    State(s): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    infer(s, name, Some(version), headers, body).await
}

/// The answer's JSON with one more output, `explanation`: a BYTES tensor holding each row's
/// explanation as JSON text (a tensor element is a scalar; clients read it as a string).
fn with_explanations(json: &[u8], e: &[crate::explain::RowExplanation]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(json) else {
        return json.to_vec();
    };
    let data: Vec<String> = e
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default())
        .collect();
    if let Some(Value::Array(outputs)) = v.get_mut("outputs") {
        outputs.push(json!({
            "name": "explanation",
            "datatype": "BYTES",
            "shape": [data.len()],
            "data": data,
        }));
    }
    serde_json::to_vec(&v).unwrap_or_else(|_| json.to_vec())
}
