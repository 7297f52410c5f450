//! Would be a plan, but builds as a Rust library only.

pub fn describe() -> &'static str {
    "not a component"
}
