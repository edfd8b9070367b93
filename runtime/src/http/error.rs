//! The one place where errors become Parse JSON with Parse's HTTP statuses.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{Code, Error};
use crate::service::Reply;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            Error::Unauthorized => (StatusCode::FORBIDDEN, json!({"error": "unauthorized"})),
            Error::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"code": Code::InvalidJson as u32, "error": "Request body too large."}),
            ),
            Error::Parse { code, message } => {
                let status = match code {
                    Code::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
                    Code::ObjectNotFound => StatusCode::NOT_FOUND,
                    _ => StatusCode::BAD_REQUEST,
                };
                (status, json!({"code": *code as u32, "error": message}))
            }
            Error::Store(_) | Error::Password(_) => {
                // Details stay in the log; the client learns only that it was our fault.
                tracing::error!(error = %self, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"code": Code::InternalServerError as u32, "error": "Internal server error."}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self.created {
            Some(location) => (
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(self.body),
            )
                .into_response(),
            None => Json(self.body).into_response(),
        }
    }
}
