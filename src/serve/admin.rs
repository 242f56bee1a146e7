//! Admin routes behind the bearer token: the registry as JSON, promotion and reload.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::promote::{self, PromoteError};
use crate::tracking::{RegistryError, StoreError};
use input::ApiError;

use super::scoring::*;
use super::*;

/// `GET /v1/models`: what is served, every version, every alias and the recent audit log.
/// Without the admin token, no free text and no place: aliases lose their bundle paths,
/// versions their descriptions, moves their actors, reasons, evidence and origins.
pub(super) async fn models(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let admin = authorize(&s, &headers).is_ok();
    let s2 = s.clone();
    let (versions, aliases, events) = tokio::task::spawn_blocking(move || {
        s2.slot.with_store(|st| {
            Ok::<_, StoreError>((
                st.model_versions()?,
                st.aliases()?,
                st.alias_events(None, 50)?,
            ))
        })
    })
    .await
    .map_err(|e| server_fault("reading the registry", e))?
    .map_err(|e| server_fault("reading the registry", e))?;
    let serving = s.slot.current().map(|m| {
        json!({
            "alias": s.slot.alias, "version": m.version, "run_id": m.run_id,
            "run_name": m.bundle.run_name, "family": m.bundle.params.family.name(),
            "sha256": m.sha256, "loaded_at": m.loaded_at,
            "validation_roc_auc": m.bundle.metrics.roc_auc,
        })
    });
    let mut body = json!({
        "serving": serving,
        "versions": versions,
        "aliases": aliases,
        "events": events,
    });
    if !admin {
        for (list, private) in [
            ("versions", &["description"][..]),
            ("aliases", &["path"][..]),
            (
                "events",
                &["actor", "reason", "evidence", "pulled_from"][..],
            ),
        ] {
            for item in body[list].as_array_mut().into_iter().flatten() {
                if let Some(o) = item.as_object_mut() {
                    for k in private {
                        o.remove(*k);
                    }
                }
            }
        }
    }
    Ok(Json(body).into_response())
}

/// Admin routes need `Authorization: Bearer <STAYTRACK_TOKEN>`; with no token they are off.
pub(super) fn authorize(s: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &s.token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin routes are disabled: start the server with STAYTRACK_TOKEN set to a secret of at least 32 bytes",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer <STAYTRACK_TOKEN>)",
        ))
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8;
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0);
    }
    diff == 0 && a.len() == b.len()
}

/// An admin route's JSON body, once the token is checked.
fn admin_json(
    s: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, ApiError> {
    authorize(s, headers)?;
    input::parse_json(&body_bytes(body)?)
}

/// An optional text field of a JSON body: absent or null is `None`, anything but text is 422.
fn text_field(v: &Value, k: &str) -> Result<Option<String>, ApiError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(x)) => Ok(Some(x.clone())),
        Some(_) => Err(ApiError::unprocessable(format!(
            "field '{k}' must be a string"
        ))),
    }
}

/// `POST /v1/models/promote` `{"run_id" | "version", "alias"?, "reason"?, "force"?}`: the
/// same promotion as the CLI's, weighed by the same policy. A refusal is 409 with the evidence.
pub(super) async fn admin_promote(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let v = admin_json(&s, &headers, body)?;
    let field = |k: &str| v.get(k).filter(|x| !x.is_null());
    let alias = text_field(&v, "alias")?.unwrap_or_else(|| s.slot.alias.clone());
    let reason = text_field(&v, "reason")?;
    use promote::Target;
    let target = match (field("run_id"), field("version")) {
        (Some(Value::String(r)), None) => Target::Run(r.clone()),
        (None, Some(n)) => Target::Version(
            n.as_i64()
                .ok_or_else(|| ApiError::unprocessable("field 'version' must be an integer"))?,
        ),
        (Some(_), None) => return Err(ApiError::unprocessable("field 'run_id' must be a string")),
        _ => {
            return Err(ApiError::unprocessable(
                "give exactly one of 'run_id' and 'version'",
            ))
        }
    };
    let force = match field("force") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::unprocessable(
                "field 'force' must be true or false",
            ))
        }
    };
    let req = promote::Request {
        target,
        alias,
        actor: "api".into(),
        reason,
        force,
    };
    let s2 = s.clone();
    let done = tokio::task::spawn_blocking(move || {
        s2.slot.with_store(|st| promote::promote(st, &s2.cfg, &req))
    })
    .await
    .map_err(|e| server_fault("the promotion", e))?;
    let done = match done {
        Ok(d) => d,
        Err(promote::PromoteError::Refused(e)) => {
            let mut body = ApiError::new(
                StatusCode::CONFLICT,
                PromoteError::Refused(e.clone()).to_string(),
            )
            .body();
            body["evidence"] = serde_json::to_value(&e).unwrap_or_default();
            return Ok((StatusCode::CONFLICT, Json(body)).into_response());
        }
        Err(e) => return Err(promote_error(e)),
    };
    let serving = refresh_now(&s).await?;
    Ok(Json(json!({
        "move": done.alias_move,
        "evidence": done.evidence,
        "serving_version": serving
    }))
    .into_response())
}

/// `POST /v1/feedback` `[{"<id>": 7, "<label>": "31-40"}, ...]` or `{"records": [...]}`, with
/// optional `"id"` and `"label"` naming the fields (the spec's first id column and its label
/// column otherwise): the outcomes `staytrack feedback` loads, by the served model's spec.
pub(super) async fn admin_feedback(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let v = admin_json(&s, &headers, body)?;
    let records = match &v {
        Value::Array(a) => a.clone(),
        Value::Object(o) => match o.get("records") {
            Some(Value::Array(a)) => a.clone(),
            _ => {
                return Err(ApiError::unprocessable(
                    "give a list of records, or {\"records\": [...]}",
                ))
            }
        },
        _ => {
            return Err(ApiError::unprocessable(
                "give a list of records, or {\"records\": [...]}",
            ))
        }
    };
    if records.len() > s.max_rows {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} records; at most {} per request",
                records.len(),
                s.max_rows
            ),
        ));
    }
    let (id, label) = if matches!(v, Value::Object(_)) {
        (text_field(&v, "id")?, text_field(&v, "label")?)
    } else {
        (None, None)
    };
    let spec = match s.slot.current() {
        Some(m) => m.bundle.spec.clone(),
        None => crate::data::DatasetSpec::of_workspace(&s.cfg)
            .map_err(|e| server_fault("reading the dataset spec", format!("{e:#}")))?,
    };
    let (id, label) = crate::feedback::columns(&spec, id.as_deref(), label.as_deref())
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let s2 = s.clone();
    let outbox = s.metrics.capture.get().map(|_| s.replica.clone());
    let summary = tokio::task::spawn_blocking(move || {
        s2.slot.with_store(|st| {
            crate::feedback::load_records(st, &spec, &records, &id, &label, outbox.as_deref())
        })
    })
    .await
    .map_err(|e| server_fault("storing the outcomes", e))?
    .map_err(|e| server_fault("storing the outcomes", format!("{e:#}")))?;
    Ok(Json(summary).into_response())
}

pub(super) async fn admin_reload(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&s, &headers)?;
    let serving = refresh_now(&s).await?;
    Ok(Json(json!({ "alias": s.slot.alias, "serving_version": serving })).into_response())
}

pub(super) async fn refresh_now(s: &Arc<AppState>) -> Result<Option<i64>, ApiError> {
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || s2.slot.refresh())
        .await
        .map_err(|e| server_fault("the reload", e))?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))
}

fn promote_error(e: PromoteError) -> ApiError {
    match e {
        PromoteError::Registry(e) => registry_error(e),
        PromoteError::Refused(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        // A broken settings file is the server's fault, not the client's.
        PromoteError::Policy(m) => server_fault("reading the promotion policy", m),
        PromoteError::ForceWithoutReason
        | PromoteError::NoCandidate(_)
        | PromoteError::Unloadable { .. } => ApiError::unprocessable(e.to_string()),
    }
}

pub(super) fn registry_error(e: RegistryError) -> ApiError {
    let status = match &e {
        RegistryError::Store(StoreError::NoSuchRun(_)) | RegistryError::NoSuchVersion(_) => {
            StatusCode::NOT_FOUND
        }
        RegistryError::Store(StoreError::AmbiguousRun { .. })
        | RegistryError::BadAlias(_)
        | RegistryError::NotFinished { .. }
        | RegistryError::NoBundle(_)
        | RegistryError::NoSuchAlias(_)
        | RegistryError::NothingToRollBack(_)
        | RegistryError::UnknownRun(_)
        | RegistryError::TooLong { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        RegistryError::Moved { .. } => StatusCode::CONFLICT,
        RegistryError::Store(_) => return server_fault("the registry", e),
    };
    ApiError::new(status, e.to_string())
}

/// A fault on the server's side: its detail (a path, a store's error) goes to the server's own
/// log; the caller learns what failed, not where.
fn server_fault(what: &str, detail: impl std::fmt::Display) -> ApiError {
    eprintln!("staytrack serve: {what} failed: {detail}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what} failed on the server's side; the server's log says why"),
    )
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secre", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
        assert!(!constant_time_eq(b"secretx", b"secret"));
    }
}
