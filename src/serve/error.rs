//! The error every route answers with: a status and one body that every client reads.
//!
//! `{"error": "...", "error_code": "...", "message": "...", "fields": [...]}`: `error` is what
//! Open Inference Protocol v2 clients (tritonclient, KServe) read, `error_code` and `message`
//! are MLflow's (`MlflowException.serialize_as_json`), and `fields` names the request's fields
//! the error is about, for clients that highlight them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// An error answer: a status, a message and the fields it is about.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub fields: Vec<String>,
    /// Fields the error is about beyond those `fields` names.
    pub fields_more: usize,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            fields: Vec::new(),
            fields_more: 0,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// The body, as JSON: at most `MAX_MESSAGE` bytes of message (twice, for both kinds of
    /// client) and `util::MAX_LISTED` fields, so no error answer passes 64 KiB whatever the
    /// request held.
    pub fn body(&self) -> Value {
        let message = bounded(&self.message);
        let mut body = serde_json::json!({
            "error": message,
            "error_code": mlflow_code(self.status),
            "message": message,
        });
        if !self.fields.is_empty() {
            let (fields, more) =
                crate::util::first_few(self.fields.iter().map(|f| bounded_name(f)));
            body["fields"] = Value::from(fields);
            if more + self.fields_more > 0 {
                body["fields_not_listed"] = Value::from(more + self.fields_more);
            }
        }
        body
    }
}

/// The most bytes of message an error answer carries.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// The message, cut at a character boundary past `MAX_MESSAGE` bytes with a note saying so.
fn bounded(message: &str) -> std::borrow::Cow<'_, str> {
    if message.len() <= MAX_MESSAGE {
        return message.into();
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{} … ({} more bytes of message cut)",
        &message[..end],
        message.len() - end
    )
    .into()
}

/// A field name as an error lists it: at most `limits::MAX_NAME` bytes.
fn bounded_name(name: &str) -> &str {
    let mut end = name.len().min(super::limits::MAX_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// MLflow's error code for a status: the name in MLflow's `ErrorCode` that means the same
/// (MLflow itself answers 400 for every bad request; staytrack keeps 413 and 422 apart).
pub fn mlflow_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 405 | 415 => "BAD_REQUEST",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "RESOURCE_DOES_NOT_EXIST",
        408 | 504 => "DEADLINE_EXCEEDED",
        409 => "RESOURCE_CONFLICT",
        413 | 429 => "REQUEST_LIMIT_EXCEEDED",
        422 => "INVALID_PARAMETER_VALUE",
        503 => "TEMPORARILY_UNAVAILABLE",
        _ => "INTERNAL_ERROR",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut resp = (self.status, axum::Json(body)).into_response();
        // Every 503 is a moment's refusal (no model yet, bodies or the log full): say when to
        // come back.
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_speaks_to_every_client() {
        let mut e = ApiError::unprocessable("record 0: bad");
        e.fields = vec!["Age".into()];
        let b = e.body();
        assert_eq!(b["error"], "record 0: bad");
        assert_eq!(b["message"], "record 0: bad");
        assert_eq!(b["error_code"], "INVALID_PARAMETER_VALUE");
        assert_eq!(b["fields"], serde_json::json!(["Age"]));
        assert_eq!(
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "x").body()["error_code"],
            "TEMPORARILY_UNAVAILABLE"
        );
        assert!(ApiError::bad_request("x").body().get("fields").is_none());
    }
}
