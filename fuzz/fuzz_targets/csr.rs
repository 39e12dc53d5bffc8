//! A certificate request (PEM or DER) signed by the built-in CA: `sign_csr` checks the
//! self-signature and the profile, and never panics.
#![no_main]

use std::sync::OnceLock;

use certmail_ca::{CaSpec, KeySpec, SigHash, Signer};
use libfuzzer_sys::fuzz_target;

fn ca() -> &'static Signer {
    static CA: OnceLock<Signer> = OnceLock::new();
    CA.get_or_init(|| {
        let spec = CaSpec {
            cn: "Fuzz CA".into(),
            email: None,
            days: 3650,
            key: KeySpec::P256,
            hash: SigHash::Sha256,
            path_len: None,
        };
        certmail_ca::create_root(&spec, 1_800_000_000)
            .expect("CA")
            .1
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = certmail_ca::sign_csr(
        ca(),
        data,
        Some("fuzz@example.com"),
        30,
        1_800_000_000,
        vec![1, 2, 3],
    );
});
