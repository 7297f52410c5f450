//! NAT traversal: `plans/nat` punches UDP and TCP holes between every pair of
//! NAT types, and gets through where the Internet lets it — everywhere but
//! between a symmetric NAT and a port-restricted or symmetric one. The
//! matrix is the README's; each cell is a pair of groups in one run.

mod support;

use std::path::Path;
use support::{plan, run};
use tg_wasm::run::{RunSpec, RunSummary};

/// What sits in front of a peer: no NAT, or one of RFC 3489's four types.
const KINDS: [&str; 5] = ["public", "full-cone", "restricted-cone", "port-restricted-cone", "symmetric"];

/// Whether hole punching gets through between these two, as on the Internet
/// (RFC 5128 §3.3–3.4): a symmetric NAT maps the peer's flow to a port the
/// observer never saw, which only a peer admitting any port can reach.
fn punches(a: &str, b: &str) -> bool {
    let symmetric = |x: &str| x == "symmetric";
    let admits_only_known_ports = |x: &str| x == "port-restricted-cone" || x == "symmetric";
    !((symmetric(a) && admits_only_known_ports(b)) || (symmetric(b) && admits_only_known_ports(a)))
}

/// Every unordered pair of kinds, as two groups of one peer each, after the observer.
fn matrix(case: &str) -> (RunSpec, Vec<(String, &'static str, &'static str)>) {
    let mut text = format!(
        "[global]\nplan = \"p\"\ncase = \"{case}\"\n\
         # Every link 10 ms one way: the SYNs and pings have a real journey.\n\
         [[network.regions]]\nname = \"internet\"\nlatency = [\"10ms\"]\n\
         [[groups]]\nid = \"observer\"\ninstances = {{ count = 1 }}\nnetwork = {{ region = \"internet\" }}\n"
    );
    let mut cells = Vec::new();
    for (i, a) in KINDS.iter().enumerate() {
        for b in &KINDS[i..] {
            for (side, kind) in [("a", a), ("b", b)] {
                let id = format!("{a}~{b}:{side}");
                let nat = if *kind == "public" { String::new() } else { format!(", nat = {{ type = \"{kind}\" }}") };
                text.push_str(&format!(
                    "[[groups]]\nid = \"{id}\"\ninstances = {{ count = 1 }}\nnetwork = {{ region = \"internet\"{nat} }}\n"
                ));
                cells.push((id, *a, *b));
            }
        }
    }
    let c = tg_wasm::composition::parse(&text, Path::new("/")).expect("the matrix composition");
    let spec = RunSpec { groups: c.groups, network: c.network, ..RunSpec::single_group(plan("nat"), case, 1) };
    (spec, cells)
}

fn check_matrix(summary: &RunSummary, cells: &[(String, &str, &str)], proto: &str) {
    assert_eq!(summary.end, "completed", "{}", summary.render());
    assert_eq!(summary.groups[0].ok, 1, "the observer ends when every peer is done");
    let mut wrong = Vec::new();
    for (id, a, b) in cells {
        let g = summary.groups.iter().find(|g| &g.id == id).unwrap();
        let expect = punches(a, b);
        if (g.ok == 1) != expect {
            wrong.push(format!("{id}: expected {}, got {:?}", if expect { "ok" } else { "a failure" }, g.reasons));
        }
        if !expect {
            let reason = &g.reasons[0].reason;
            assert!(reason.starts_with(&format!("{proto} hole punching failed: nothing came back")), "{reason}");
        }
    }
    assert!(wrong.is_empty(), "{proto}:\n{}", wrong.join("\n"));
}

#[test]
fn udp_hole_punching_gets_through_every_pair_of_nats_the_internet_lets_through() {
    let (spec, cells) = matrix("punch-udp");
    let (summary, _) = run(&spec);
    check_matrix(&summary, &cells, "UDP");
}

#[test]
fn tcp_hole_punching_by_simultaneous_open_gets_through_the_same_pairs() {
    let (spec, cells) = matrix("punch-tcp");
    let (summary, _) = run(&spec);
    check_matrix(&summary, &cells, "TCP");
}

/// The matrix is symmetric: what gets through one way gets through the other.
#[test]
fn the_expected_matrix_is_the_readme_table() {
    let table = [
        // public, full-cone, restricted-cone, port-restricted-cone, symmetric
        [true, true, true, true, true],
        [true, true, true, true, true],
        [true, true, true, true, true],
        [true, true, true, true, false],
        [true, true, true, false, false],
    ];
    for (i, a) in KINDS.iter().enumerate() {
        for (j, b) in KINDS.iter().enumerate() {
            assert_eq!(punches(a, b), table[i][j], "{a} x {b}");
        }
    }
}

#[test]
fn peers_refuse_an_interval_of_zero_instead_of_spinning_at_one_instant() {
    // punch-tcp with interval 0 redialled at one instant: 40 s of wall time
    // for 1 s of virtual time, the progress line stuck at 0 s.
    for case in ["punch-tcp", "punch-udp"] {
        let mut spec = RunSpec::single_group(plan("nat"), case, 3);
        spec.groups[0].params.insert("interval".into(), "0s".into());
        let (summary, exec) = run(&spec);
        assert!(!summary.success(), "{case}");
        assert_eq!(exec.virtual_time.as_nanos(), 0, "{case}: refused before any try");
        let refused = exec
            .outcomes
            .iter()
            .filter(|o| o.reason.as_deref().is_some_and(|r| r.contains("interval must be above 0s")));
        assert_eq!(refused.count(), 2, "{case}: both peers refuse; the observer has nothing to do");
    }
}
