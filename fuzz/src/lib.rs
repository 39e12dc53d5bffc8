//! What the fuzz targets share: a fixed RSA key pair and certificate, made once per process.

use std::sync::OnceLock;

use certmail_crypto::{AwsLcOps, PrivateKey};
use certmail_pki::Certificate;
use certmail_smime::KeyPair;

/// The recipient and signer of the S/MIME targets (`fuzz@example.com`, RSA-2048).
pub fn key() -> &'static KeyPair {
    static K: OnceLock<KeyPair> = OnceLock::new();
    K.get_or_init(|| {
        let pki = certmail_testkit::TestPki::new("Fuzz");
        let leaf = pki.leaf_rsa(&certmail_testkit::LeafSpec::email("fuzz@example.com", 1));
        let cert = Certificate::from_der(&leaf.der, &AwsLcOps).expect("cert");
        let k = PrivateKey::from_der_any(&leaf.key_pkcs8, None).expect("key");
        KeyPair::new(cert, &k).expect("pair")
    })
}

/// A current-thread runtime and an app over a fresh data directory (SQLite) that lives as
/// long as the process: the store the SMTP and API targets run against.
pub fn runtime_and_app() -> (tokio::runtime::Runtime, std::sync::Arc<certmail_app::App>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = Box::leak(Box::new(tempfile::tempdir().expect("tempdir")));
    let app = rt.block_on(async {
        let cfg = certmail_app::Config {
            data_dir: dir.path().join("data"),
            database_url: None,
        };
        certmail_app::App::init(&cfg, None).await.expect("init");
        std::sync::Arc::new(certmail_app::App::open(&cfg, None).await.expect("open"))
    });
    (rt, app)
}
