//! A thousand instances holding ten TCP connections each, all at once, with no
//! operating-system socket opened for any of them.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use support::{plan, run, spec};

/// Sockets this process holds, from its descriptor table.
fn os_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|entries| {
            entries
                .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_thousand_instances_hold_ten_connections_each_without_os_sockets() {
    let network = plan("network");
    let before = os_sockets();
    // Sample the descriptor table while the run is live, not only after it.
    let most = Arc::new(AtomicUsize::new(before));
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (most, running) = (most.clone(), running.clone());
        std::thread::spawn(move || {
            let mut samples = 0;
            while running.load(Ordering::Relaxed) {
                most.fetch_max(os_sockets(), Ordering::Relaxed);
                samples += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            samples
        })
    };
    let (summary, exec) = run(&spec(network, "mesh", 1000, 0));
    running.store(false, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    assert!(summary.success(), "{}", summary.render());
    let open: Vec<f64> = exec.metrics.iter().filter(|m| m.name == "connections-open").map(|m| m.value).collect();
    assert_eq!(open.len(), 1000);
    assert!(open.iter().all(|&c| c == 20.0), "each instance holds 10 outgoing + 10 incoming");
    assert!(samples > 0);
    assert_eq!(most.load(Ordering::Relaxed), before, "the run opened OS sockets");
}
