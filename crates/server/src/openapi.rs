//! The OpenAPI 3.1 document of `/api/v1/`, generated from the handlers' annotations.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;

use crate::problem::Problem;
use crate::{api, api_ca, api_hold, api_jobs, api_select, api_store, api_trust};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "certmail API",
        description = "S/MIME certificate manager and gateway. Authenticate with `Authorization: Bearer TOKEN` (`certmail admin token NAME`) or a web admin session (changes then need the X-CSRF-Token header). Errors are application/problem+json."
    ),
    paths(
        api::me,
        api::list_certificates,
        api::get_certificate,
        api::recipient,
        api::user_get,
        api::user_put,
        api::user_delete,
        api::domain_get,
        api::domain_put,
        api::domain_delete,
        api::global_get,
        api::global_put,
        api::global_delete,
        api::audit,
        api_store::import,
        api_store::ca_issue,
        api_store::export_api,
        api_store::p12_api,
        api_trust::delete_certificate,
        api_trust::crls,
        api_trust::delete_crl,
        api_trust::ctl,
        api_trust::ctl_put,
        api_trust::ctl_delete,
        api_trust::cas,
        api_trust::pending,
        api_trust::pending_delete,
        api_trust::users,
        api_trust::user_add,
        api_trust::domains,
        api_trust::domain_add,
        api_select::user_list,
        api_select::user_add,
        api_select::user_remove,
        api_select::domain_list,
        api_select::domain_add,
        api_select::domain_remove,
        api_select::global_list,
        api_select::global_add,
        api_select::global_remove,
        api_jobs::crl_sources,
        api_jobs::crl_update,
        api_jobs::expiry,
        api_jobs::directories,
        api_jobs::directory_add,
        api_jobs::directory_delete,
        api_jobs::directory_lookup,
        api_hold::list,
        api_hold::show,
        api_hold::delete,
        api_hold::release,
        api_hold::ca_send,
        api_ca::revoke,
        api_ca::crl,
        api_ca::create,
        api_ca::config_get,
        api_ca::config_put,
        api_ca::pending_csr,
        api_ca::pending_reschedule,
        api_ca::pending_upload,
        api_store::keys,
        api_store::key_delete,
    ),
    components(schemas(
        Problem,
        api::Me,
        api::CertificatePage,
        api::CertificateDetail,
        api::RecipientJson,
        api::SettingValue,
        api::SettingBody,
        api::AuditPage,
        api_jobs::UpdateBody,
        api_jobs::DirectoryBody,
        api_hold::Held,
        api_hold::HeldPage,
        api_hold::ReleaseBody,
        api_hold::Released,
        api_hold::SendBody,
        api_hold::Sent,
        api_ca::RevokeBody,
        api_ca::Revoked,
        api_ca::CrlBody,
        api_ca::CrlCreated,
        api_ca::CaCreateBody,
        api_ca::RescheduleBody,
        api_ca::Rescheduled,
        api_ca::Uploaded
    ))
)]
struct ApiDoc;

/// The document as JSON.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

pub(crate) async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}
