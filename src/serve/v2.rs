//! The Open Inference Protocol v2 routes: server and model metadata, readiness, inference.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::data::Role;
use input::ApiError;

use super::*;
use super::{scoring::*, server::*};

/// The v2 model name: `staytrack` or the served alias.
pub(super) fn v2_model(s: &AppState, name: &str) -> Result<(), ApiError> {
    if name == MODEL_NAME || name == s.slot.alias {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no model named '{name}'; this server serves '{MODEL_NAME}' (alias '{}')",
                s.slot.alias
            ),
        ))
    }
}

pub(super) async fn v2_server() -> Json<Value> {
    Json(json!({
        "name": MODEL_NAME,
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": [],
    }))
}

pub(super) async fn v2_metadata(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    v2_model(&s, &name)?;
    let m = s.slot.current().ok_or_else(|| no_model(&s))?;
    let inputs: Vec<Value> = m
        .bundle
        .spec
        .columns
        .iter()
        .filter(|c| c.role != Role::Target)
        .map(|c| {
            let datatype = match c.value {
                crate::data::spec::ValueType::Int => "INT64",
                crate::data::spec::ValueType::Float => "FP64",
                crate::data::spec::ValueType::Text => "BYTES",
            };
            json!({ "name": c.name, "datatype": datatype, "shape": [-1] })
        })
        .collect();
    Ok(Json(json!({
        "name": name,
        "versions": [m.version.to_string()],
        "platform": format!("staytrack-{}", m.bundle.params.family.name()),
        "inputs": inputs,
        "outputs": [
            { "name": "probability", "datatype": "FP64", "shape": [-1] },
            { "name": "class", "datatype": "INT64", "shape": [-1] },
        ],
    }))
    .into_response())
}

pub(super) async fn v2_model_ready(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    v2_model(&s, &name)?;
    Ok(ready(State(s)).await)
}

pub(super) async fn v2_infer(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    v2_model(&s, &name)?;
    let body = body_bytes(body)?;
    let model = serving(&s)?;
    let want = expect(&s, &model);
    input::precheck_json(&body, &want)?;
    let (records, id) = input::v2_records(input::parse_json(&body)?, &want)?;
    let r = score(&s, model, records, "/v2/infer").await?;
    let n = r.probs.len();
    let mut out = json!({
        "model_name": name,
        "model_version": r.model.version.to_string(),
        "outputs": [
            { "name": "probability", "datatype": "FP64", "shape": [n], "data": r.probs },
            { "name": "class", "datatype": "INT64", "shape": [n], "data": r.classes },
        ],
    });
    if let Some(id) = id {
        out["id"] = id;
    }
    Ok(Json(out).into_response())
}
