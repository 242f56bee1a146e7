//! Admin routes behind the bearer token: the registry as JSON, promotion and reload.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::bundle::BundleError;
use crate::feedback::FeedbackError;
use crate::promote::{self, PromoteError};
use crate::tracking::{RegistryError, StoreError};
use input::ApiError;
use model::{ReloadError, VersionError};

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
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
    let (id, label) =
        crate::feedback::columns(&spec, id.as_deref(), label.as_deref()).map_err(feedback_error)?;
    let s2 = s.clone();
    let outbox = s.metrics.capture.get().map(|_| s.replica.clone());
    let summary = tokio::task::spawn_blocking(move || {
        s2.slot.with_store(|st| {
            crate::feedback::load_records(st, &spec, &records, &id, &label, outbox.as_deref())
        })
    })
    .await
    .map_err(|e| server_fault("storing the outcomes", e))?
    .map_err(feedback_error)?;
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
        .map_err(reload_error)
}

/// A promotion's refusal or failure as an answer: the caller's fault is 4xx with the message,
/// the workspace's (its settings, its store, a bundle it cannot read) a 500 that names no path.
fn promote_error(e: PromoteError) -> ApiError {
    match e {
        PromoteError::Registry(e) => registry_error(e),
        PromoteError::Refused(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        // A broken settings file is the server's fault, not the client's.
        PromoteError::Policy(e) => server_fault("reading the promotion policy", e),
        PromoteError::Unloadable {
            bundle: bundle @ BundleError::Io { .. },
            ..
        } => server_fault("reading the candidate's bundle", bundle),
        PromoteError::ForceWithoutReason
        | PromoteError::Unranked { .. }
        | PromoteError::NoCandidate { .. }
        | PromoteError::Unloadable { .. } => ApiError::unprocessable(e.to_string()),
    }
}

/// Columns the caller named that the records or the spec do not have are 422; a store that
/// cannot take the outcomes is the server's fault.
fn feedback_error(e: FeedbackError) -> ApiError {
    match e {
        FeedbackError::NoIdColumn { .. } | FeedbackError::NoColumn { .. } => {
            ApiError::unprocessable(e.to_string())
        }
        FeedbackError::File(e) => server_fault("reading the outcomes", format!("{e:#}")),
        FeedbackError::Store(e) => server_fault("storing the outcomes", e),
    }
}

/// A store that cannot be read is a 500; a model that does not load is 503 (the model before
/// keeps serving), with what is wrong with it and not where.
fn reload_error(e: ReloadError) -> ApiError {
    match e {
        ReloadError::Store { alias, source } => {
            server_fault(&format!("reading alias '{alias}'"), source)
        }
        ReloadError::Load { .. } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// A version asked for by number: 404 when the registry does not hold it, 503 when its model
/// does not load, 500 when the registry cannot be read.
pub(super) fn version_error(e: VersionError) -> ApiError {
    match e {
        VersionError::NotRegistered { .. } => ApiError::not_found(e.to_string()),
        VersionError::Load { .. } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        VersionError::Store(e) => server_fault("reading the registry", e),
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
    use super::*;
    use crate::promote::{PolicyError, RuleError};

    const SECRET: &str = "/srv/private-workspace";

    fn io() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::PermissionDenied)
    }

    fn store_fault() -> StoreError {
        StoreError::Io {
            path: format!("{SECRET}/staytrack.db").into(),
            source: io(),
        }
    }

    /// Status and message of an answer; a 500 must not say where the workspace is.
    fn answer(e: ApiError) -> (u16, String) {
        if e.status == StatusCode::INTERNAL_SERVER_ERROR {
            assert!(!e.message.contains(SECRET), "{}", e.message);
            assert!(
                e.message.contains("the server's log says why"),
                "{}",
                e.message
            );
        }
        (e.status.as_u16(), e.message)
    }

    #[test]
    fn each_kind_of_promotion_error_has_its_status() {
        let status = |e: PromoteError| answer(promote_error(e)).0;
        let settings = format!("{SECRET}/staytrack.toml");
        // The workspace's faults.
        assert_eq!(
            status(PromoteError::Policy(PolicyError::Settings(
                anyhow::anyhow!("{settings}: Is a directory (os error 21)")
            ))),
            500
        );
        assert_eq!(
            status(PromoteError::Policy(PolicyError::Invalid {
                file: settings.clone().into(),
                problem: RuleError::NoDriftRows,
            })),
            500
        );
        assert_eq!(status(RegistryError::Store(store_fault()).into()), 500);
        assert_eq!(
            status(PromoteError::Unloadable {
                run: "r1".into(),
                bundle: BundleError::Io {
                    path: format!("{SECRET}/artifacts/ab/ab.bundle").into(),
                    source: io(),
                },
            }),
            500
        );
        // The caller's.
        assert_eq!(
            status(RegistryError::Store(StoreError::NoSuchRun("nope".into())).into()),
            404
        );
        assert_eq!(status(RegistryError::NoSuchVersion(9).into()), 404);
        assert_eq!(
            status(
                RegistryError::Moved {
                    alias: "production".into(),
                    expected: Some(1),
                    found: Some(2)
                }
                .into()
            ),
            409
        );
        assert_eq!(status(PromoteError::ForceWithoutReason), 422);
        assert_eq!(status(PromoteError::NoCandidate { metric: "roc_auc" }), 422);
        // A candidate whose bundle is broken is refused by what is wrong, not where it is.
        let (code, message) = answer(promote_error(PromoteError::Unloadable {
            run: "r1".into(),
            bundle: BundleError::Checksum {
                path: format!("{SECRET}/artifacts/ab/ab.bundle").into(),
            },
        }));
        assert_eq!(code, 422);
        assert!(
            message.contains("checksum") && !message.contains(SECRET),
            "{message}"
        );
    }

    #[test]
    fn feedback_reload_and_version_errors_have_their_status() {
        let status = |e: ApiError| answer(e).0;
        assert_eq!(
            status(feedback_error(FeedbackError::NoIdColumn {
                dataset: "stays".into()
            })),
            422
        );
        assert_eq!(
            status(feedback_error(FeedbackError::Store(store_fault()))),
            500
        );
        assert_eq!(
            status(reload_error(ReloadError::Store {
                alias: "production".into(),
                source: store_fault(),
            })),
            500
        );
        let (code, message) = answer(reload_error(ReloadError::Load {
            alias: "production".into(),
            version: 2,
            bundle: Box::new(BundleError::Missing {
                path: format!("{SECRET}/artifacts/ab/ab.bundle").into(),
            }),
            serving: Some(1),
        }));
        assert_eq!(code, 503);
        assert!(
            message.contains("version 2") && message.contains("still serving version 1"),
            "{message}"
        );
        assert!(!message.contains(SECRET), "{message}");
        assert_eq!(
            status(version_error(VersionError::NotRegistered {
                version: 9,
                registered: vec![1, 2],
            })),
            404
        );
        assert_eq!(
            status(version_error(VersionError::Store(store_fault()))),
            500
        );
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secre", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
        assert!(!constant_time_eq(b"secretx", b"secret"));
    }
}
