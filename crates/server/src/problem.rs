//! Errors of the API as `application/problem+json` (RFC 9457), carrying the same readable
//! reasons the CLI prints, and of the pages as an HTML page with the same text.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use certmail_app::AppError;
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says the kind.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The status's short text.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, in words.
    pub detail: String,
}

impl Problem {
    /// A problem with a status and a reason.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 403 for a role that may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, detail)
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Problem {
        // certmail's own failures (database, files, corrupt data): the client gets an id and
        // a plain sentence, the log gets the details (never the driver's text to a client).
        if e.is_internal() {
            let mut b = [0u8; 6];
            let _ = certmail_app::random_bytes(&mut b);
            let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
            eprintln!("certmail-server: internal error {id}: {e}");
            return Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "internal error {id}: the server could not do this; its log has the details"
                ),
            );
        }
        let status = StatusCode::from_u16(e.kind().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Problem::new(status, e.to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&self).unwrap_or_default();
        (
            self.status(),
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

/// An uploaded (multipart) form that could not be read, with the status axum gives it.
pub fn upload_error(e: axum::extract::multipart::MultipartError) -> Problem {
    Problem::new(
        e.status(),
        format!("the upload could not be read: {}", e.body_text()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_by_kind_and_internal_ones_keep_their_text_to_the_log() {
        let p = Problem::from(AppError::NotFound {
            what: "account named",
            id: "\"ann\"".into(),
        });
        assert_eq!(p.status(), StatusCode::NOT_FOUND);
        assert_eq!(p.detail, "no account named \"ann\"");
        let p = Problem::from(AppError::Invalid("the value must be on or off".into()));
        assert_eq!(p.status(), StatusCode::BAD_REQUEST);
        let p = Problem::from(AppError::Store(certmail_store::StoreError::Connect(
            "error returned from database: relation \"secret_table\" does not exist".into(),
        )));
        assert_eq!(p.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(p.detail.starts_with("internal error "), "{}", p.detail);
        assert!(!p.detail.contains("secret_table"), "{}", p.detail);
    }
}
