//! A whole message through the gateway's incoming path: `unwrap` (decrypt with a fixed key,
//! verify, unwrap opaque signatures), report headers, signature removal, the calendar check
//! and header rewriting. Bad MIME or CMS is an error, never a panic.
#![no_main]

use certmail_fuzz::key;
use certmail_smime::message::{self, HeaderEdit, UnwrapOptions};
use certmail_smime::mime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = mime::parse(data) {
        let _ = message::kind(&e);
        let _ = message::from_addresses(&e);
    }
    let _ = message::has_calendar(data);
    let _ = message::strip_signature(data);
    let edit = HeaderEdit {
        remove: vec!["Sensitivity".into()],
        subject: Some("[decrypted] x".into()),
    };
    if let Ok((head, start)) =
        message::restamp_edit(data, &[("X-Certmail-Id".into(), "F".into())], &edit)
    {
        assert!(start <= data.len());
        assert!(head.ends_with(b"\r\n"));
    }
    if let Ok(u) = message::unwrap(data, &[key()], &UnwrapOptions::default()) {
        let _ = message::report_headers(&u.layers);
        let _ = u.all_signatures_ok();
    }
});
