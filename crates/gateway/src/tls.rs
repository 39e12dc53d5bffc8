//! STARTTLS: a rustls server configuration (aws-lc-rs provider, TLS 1.2 and 1.3) from PEM
//! files or from a certificate and key in the stores.

use std::sync::Arc;

use certmail_app::App;
use certmail_store::StoreKind;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{GatewayConfig, GatewayError};

fn config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<TlsAcceptor, GatewayError> {
    let cfg = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| GatewayError::Tls(format!("certificate and key do not fit: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// The STARTTLS acceptor the options ask for, if any.
pub async fn acceptor(app: &App, cfg: &GatewayConfig) -> Result<Option<TlsAcceptor>, GatewayError> {
    acceptor_from(
        app,
        cfg.tls_cert.as_deref(),
        cfg.tls_key.as_deref(),
        cfg.tls_cert_from_store.as_deref(),
    )
    .await
}

/// The web admin's TLS acceptor (`--http-tls-cert/--http-tls-key` or from the store), if any.
pub async fn http_acceptor(
    app: &App,
    cfg: &GatewayConfig,
) -> Result<Option<TlsAcceptor>, GatewayError> {
    acceptor_from(
        app,
        cfg.http_tls_cert.as_deref(),
        cfg.http_tls_key.as_deref(),
        cfg.http_tls_cert_from_store.as_deref(),
    )
    .await
}

async fn acceptor_from(
    app: &App,
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
    from_store: Option<&str>,
) -> Result<Option<TlsAcceptor>, GatewayError> {
    if let (Some(c), Some(k)) = (cert, key) {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(c)
            .map_err(|e| GatewayError::Tls(format!("{}: {e}", c.display())))?
            .collect::<Result<_, _>>()
            .map_err(|e| GatewayError::Tls(format!("{}: {e}", c.display())))?;
        if certs.is_empty() {
            return Err(GatewayError::Tls(format!(
                "{}: no certificate in the file",
                c.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_file(k).map_err(|e| {
            GatewayError::Tls(format!("{}: no usable private key: {e}", k.display()))
        })?;
        return config(certs, key).map(Some);
    }
    if let Some(t) = from_store {
        let view = app.get(StoreKind::Certificates, t).await?;
        let key = app.private_key(&view.cert).await?;
        let mut certs = vec![CertificateDer::from(view.cert.der.clone())];
        for c in app.chain(&view.cert).await? {
            certs.push(CertificateDer::from(c.der.clone()));
        }
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec()));
        return config(certs, key).map(Some);
    }
    Ok(None)
}
