//! The bulk issuance CSV (BOMs, quotes, aliases, limits): rows or errors naming line and
//! column, never a panic; limits hold.
#![no_main]

use certmail_ca::csv::{Limits, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_rows: 50,
        max_entry: 64,
    };
    if let Ok((rows, errors)) = parse(data, limits) {
        assert!(rows.len() <= 50);
        let _ = errors.len();
    }
});
