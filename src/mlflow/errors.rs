//! The API's one error: MLflow's `{"error_code": ..., "message": ...}` with the HTTP status
//! the client maps to its exception types. A store fault is logged here and answered without
//! the file's path.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::tracking::external::ExternalError;

/// The longest message an error answer carries; a hostile key quoted in full stays bounded.
const MAX_MESSAGE: usize = 2048;

#[derive(Debug)]
pub struct MlflowError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl MlflowError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        MlflowError {
            status,
            code,
            message,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", message)
    }

    pub fn exists(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "INVALID_PARAMETER_VALUE",
            message,
        )
    }

    pub fn endpoint(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ENDPOINT_NOT_FOUND",
            format!(
                "{method} {path} is not part of the MLflow API this server covers \
                 (the README's \"Tracking your own training code\" lists what is)"
            ),
        )
    }

    pub fn internal(what: impl std::fmt::Display) -> Self {
        eprintln!("staytrack tracking: {what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "the store could not carry out the request; the server's log says why",
        )
    }
}

impl From<ExternalError> for MlflowError {
    fn from(e: ExternalError) -> Self {
        match e {
            ExternalError::NotFound(m) => MlflowError::not_found(m),
            ExternalError::AlreadyExists(m) => MlflowError::exists(m),
            ExternalError::Invalid(m) => MlflowError::invalid(m),
            ExternalError::Store(s) if s.is_busy() => MlflowError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "TEMPORARILY_UNAVAILABLE",
                "the store is busy with another writer; try again",
            ),
            ExternalError::Store(s) => MlflowError::internal(s),
        }
    }
}

impl From<crate::tracking::StoreError> for MlflowError {
    fn from(e: crate::tracking::StoreError) -> Self {
        ExternalError::Store(e).into()
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error_code": self.code, "message": self.message})),
        )
            .into_response()
    }
}
