//! What the builder suggests about a plan's build, from what Cargo built:
//! settings that make the plan run faster on tg-wasm's engine and that no
//! crate can choose for itself.
//!
//! Only suggestions live here, shown after a build that succeeded; what a
//! build needs to succeed at all (`tokio_unstable`, the wasm target) is the
//! builder's own business.

/// The cfg curve25519-dalek's build script settles on when nothing chose a
/// backend: its 32-bit one, on every 32-bit target, `wasm32` included.
const DALEK_32_BIT: &str = r#"curve25519_dalek_bits="32""#;

/// A note for a plan whose curve25519-dalek (noise's key exchange, ed25519)
/// was built on its 32-bit backend, from Cargo's `build-script-executed`
/// messages; `None` when it was not built, or built on the 64-bit one.
///
/// The 64-bit backend needs 64×64→128-bit products, which the wide-arithmetic
/// proposal makes one wasm instruction and the engine enables: a noise
/// handshake then costs less than half the fuel (10.9 M against 24.8 M per
/// upgrade, `plans/libp2p-kad`'s `handshakes` case). Without that proposal
/// the 64-bit backend is slower than the 32-bit one, so the note names both.
pub(super) fn curve25519_backend(build_scripts: &[serde_json::Value]) -> Option<String> {
    let on_32_bits = build_scripts
        .iter()
        .filter_map(|m| m["cfgs"].as_array())
        .flatten()
        .any(|cfg| cfg.as_str() == Some(DALEK_32_BIT));
    on_32_bits.then(|| {
        "the plan builds curve25519-dalek (noise's key exchange) on its 32-bit backend, wasm32's default; on its \
         64-bit one with WebAssembly's wide arithmetic, which tg-wasm's engine runs, a handshake costs less than \
         half the fuel and time. Add \"-Ctarget-feature=+wide-arithmetic\", \"--cfg\", \
         'curve25519_dalek_bits=\"64\"' (and \"--cfg\", \"tokio_unstable\" for tokio's networking) to the \
         rustflags under [target.wasm32-wasip2] in the plan's .cargo/config.toml, as `tg-wasm new --template \
         libp2p` writes (both flags: the 64-bit backend without wide arithmetic is the slower one)"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn script(package: &str, cfgs: &[&str]) -> serde_json::Value {
        json!({"reason": "build-script-executed", "package_id": package, "cfgs": cfgs})
    }

    #[test]
    fn only_curve25519_dalek_on_its_32_bit_backend_gets_a_note() {
        let dalek = "registry+https://github.com/rust-lang/crates.io-index#curve25519-dalek@4.1.3";
        let other = script("path+file:///plan#plan@0.1.0", &["tokio_unstable"]);
        let on = |bits: &str| script(dalek, &[&format!("curve25519_dalek_bits=\"{bits}\""), "x=\"serial\""]);
        let note = curve25519_backend(&[other.clone(), on("32")]).expect("a note for the 32-bit backend");
        assert!(note.contains("+wide-arithmetic") && note.contains(r#"'curve25519_dalek_bits="64"'"#), "{note}");
        assert_eq!(curve25519_backend(&[other.clone(), on("64")]), None);
        assert_eq!(curve25519_backend(&[other]), None);
        assert_eq!(curve25519_backend(&[]), None);
    }
}
