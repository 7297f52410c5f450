//! The known answers of `vectors.json`, which the Python SDK checks too: a
//! parameter value must mean the same in a Rust plan and a Python one.

use serde_json::Value;

fn table(name: &str) -> Vec<(String, Value)> {
    let vectors: Value = serde_json::from_str(include_str!("../vectors.json")).expect("vectors.json is JSON");
    vectors[name]
        .as_array()
        .unwrap_or_else(|| panic!("vectors.json has no {name}"))
        .iter()
        .map(|pair| (pair[0].as_str().expect("an input string").to_string(), pair[1].clone()))
        .collect()
}

#[test]
fn durations_give_the_known_answers() {
    for (text, expected) in table("durations_ns") {
        let got = tg_units::parse_duration(&text).ok().map(|d| d.as_nanos() as u64);
        assert_eq!(got, expected.as_u64(), "{text:?}");
    }
}

#[test]
fn sizes_give_the_known_answers() {
    for (text, expected) in table("sizes") {
        assert_eq!(tg_units::parse_size(&text).ok(), expected.as_u64(), "{text:?}");
    }
}

#[test]
fn booleans_give_the_known_answers() {
    for (text, expected) in table("bools") {
        assert_eq!(tg_units::parse_bool(&text).ok(), expected.as_bool(), "{text:?}");
    }
}
