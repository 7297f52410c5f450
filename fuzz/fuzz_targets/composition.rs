//! Composition files come from users: any text must either resolve or be
//! refused with an error, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tg_wasm::composition;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Both a relative and an absolute base, since plan paths are joined onto it.
    for base in [Path::new("/compositions"), Path::new("rel")] {
        if let Ok(c) = composition::parse(text, base) {
            // Counts that resolved are usable as instance counts: every group has at least one.
            assert!(!c.groups.is_empty());
            assert!(c.groups.iter().all(|g| g.instances >= 1));
        }
    }
});
