//! Errors and replies as HTTP responses: Parse's JSON, with the status the
//! error carries (`Error::status`).

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{Code, Error};
use crate::service::Reply;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let Some(code) = self.code() else {
            return (status, Json(json!({"error": "unauthorized"}))).into_response();
        };
        if let Error::Store(_) | Error::Password(_) = &self {
            // Details stay in the log; the client learns only that it was our fault.
            tracing::error!(error = %self, "internal error");
        }
        let message = self.client_message();
        (status, Json(json!({"code": code, "error": message}))).into_response()
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

/// axum's `Path`, refusing bad segments (invalid UTF-8, say) with a Parse
/// error: axum's own rejection is plain text.
pub struct Path<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Error> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(Error::parse(Code::InvalidJson, rejection.body_text())),
        }
    }
}
