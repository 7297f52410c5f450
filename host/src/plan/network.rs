//! `tg:plan/network`: an instance's address on the data network and the shape
//! of what it sends, as Testground's network client offered.
//!
//! A configuration is validated in full before anything changes, so a refused
//! one leaves the previous configuration in place. It then takes effect at the
//! current virtual time through [`netsim::Network::configure`]; packets already
//! sent keep the fate they were given. The callback state, if any, is signalled
//! through the sync service afterwards, so an instance that waits on it knows
//! the new shape already applies to everything sent from then on.

use crate::bindings::network::{Config, Filter, Host, LinkRule, LinkShape, NetworkError, RoutingPolicy};
use crate::instance::InstanceState;
use netsim::net::{self, addr_of};
use netsim::{Fault, NodeId, PathAction, SyncOp};
use std::net::Ipv4Addr;
use std::time::Duration;

impl Host for InstanceState {
    fn data_address(&mut self) -> wasmtime::Result<String> {
        Ok(addr_of(self.node()).to_string())
    }

    async fn configure(&mut self, config: Config) -> wasmtime::Result<Result<(), NetworkError>> {
        let (netsim_config, callback) = match to_netsim(config) {
            Ok(parts) => parts,
            Err(why) => return Ok(Err(NetworkError::InvalidConfig(why))),
        };
        let node = self.node();
        {
            let mut sim = self.sim.lock();
            // The full configuration goes into the trace so that two runs which
            // shape their links differently can never share a digest.
            sim.record(node, "plan.network.configure", format_args!("{netsim_config:?} callback={callback:?}"));
            sim.with_net(|net, cx| net.configure(cx, node, netsim_config));
        }
        if let Some(state) = callback {
            let signalled = super::sync::sync_op(&self.sim, node, SyncOp::SignalEntry { state }, None).await;
            if let Err(e) = signalled {
                return Ok(Err(NetworkError::InvalidConfig(format!("callback-state: {e:?}"))));
            }
        }
        Ok(Ok(()))
    }

    fn wait_network_initialized(&mut self) -> wasmtime::Result<()> {
        // Every instance's address and default link exist before any instance runs.
        Ok(())
    }

    fn set_path_filter(
        &mut self,
        src: u32,
        dst: u32,
        filter: Option<Filter>,
    ) -> wasmtime::Result<Result<(), NetworkError>> {
        if let Err(e) = self.refuse_when_split("set-path-filter") {
            return Ok(Err(e));
        }
        let node = self.node();
        let mut sim = self.sim.lock();
        let instances = sim.net().instances();
        for (which, seq) in [("src", src), ("dst", dst)] {
            if seq >= instances {
                let why = format!("{which}: instance {seq} does not exist (the run has {instances})");
                return Ok(Err(NetworkError::InvalidConfig(why)));
            }
        }
        let filter = filter.map(to_netsim_filter);
        sim.record(node, "plan.network.path-filter", format_args!("{src}->{dst} {filter:?}"));
        sim.net_mut().set_path_filter(NodeId(src), NodeId(dst), filter);
        Ok(Ok(()))
    }

    fn clog_path(&mut self, src: u32, dst: u32, clogged: bool) -> wasmtime::Result<Result<(), NetworkError>> {
        if let Err(e) = self.refuse_when_split("clog-path").and(self.check_instances(&[("src", src), ("dst", dst)])) {
            return Ok(Err(e));
        }
        let action = if clogged { PathAction::Clog } else { PathAction::Release };
        // The same fault event a composition timeline schedules: one mechanism, one trace.
        let fault = Fault::Paths { action, from: vec![NodeId(src)], to: vec![NodeId(dst)], both_ways: false };
        let mut sim = self.sim.lock();
        let now = sim.now();
        sim.schedule_fault(now, fault);
        Ok(Ok(()))
    }

    fn crash_instance(
        &mut self,
        seq: u32,
        restart_after_ns: Option<u64>,
    ) -> wasmtime::Result<Result<(), NetworkError>> {
        if let Err(e) = self.refuse_when_split("crash-instance").and(self.check_instances(&[("seq", seq)])) {
            return Ok(Err(e));
        }
        let mut sim = self.sim.lock();
        let now = sim.now();
        sim.schedule_fault(now, Fault::Crash(vec![NodeId(seq)]));
        if let Some(after) = restart_after_ns {
            sim.schedule_fault(now + Duration::from_nanos(after), Fault::Restart(vec![NodeId(seq)]));
        }
        Ok(Ok(()))
    }
}

impl InstanceState {
    /// Refuses fault injection from the plan in a run split across workers:
    /// the fault would take effect at once on this worker only, while the
    /// others hold instances it concerns. A composition's `[[events]]`, known
    /// to every worker in advance, do the same job there.
    fn refuse_when_split(&self, call: &str) -> Result<(), NetworkError> {
        match self.sim.lock().layout() {
            Some(layout) if layout.is_split() => Err(NetworkError::InvalidConfig(format!(
                "{call} is not available in a run split across workers (--workers): schedule the fault in \
                 the composition's [[events]] instead, or run in one process"
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses instance numbers the run does not have.
    fn check_instances(&self, seqs: &[(&str, u32)]) -> Result<(), NetworkError> {
        let instances = self.sim.lock().net().instances();
        match seqs.iter().find(|(_, seq)| *seq >= instances) {
            Some((which, seq)) => Err(NetworkError::InvalidConfig(format!(
                "{which}: instance {seq} does not exist (the run has {instances})"
            ))),
            None => Ok(()),
        }
    }
}

/// Checks `config` and converts it; the error names the faulty field.
fn to_netsim(config: Config) -> Result<(net::NetworkConfig, Option<String>), String> {
    let default = to_netsim_shape("default", &config.default)?;
    let rules = config
        .rules
        .iter()
        .enumerate()
        .map(|(i, rule)| to_netsim_rule(&format!("rules[{i}]"), rule))
        .collect::<Result<Vec<_>, _>>()?;
    let routing = match config.routing {
        RoutingPolicy::AllowAll => net::RoutingPolicy::AllowAll,
        RoutingPolicy::DenyAll => net::RoutingPolicy::DenyAll,
    };
    if let Some(state) = &config.callback_state {
        netsim::sync::validate_name("callback-state", state).map_err(|e| format!("callback-state: {e:?}"))?;
    }
    Ok((net::NetworkConfig { default, rules, routing }, config.callback_state))
}

fn to_netsim_rule(at: &str, rule: &LinkRule) -> Result<net::LinkRule, String> {
    let (subnet, prefix) = parse_cidr(&rule.subnet).map_err(|why| format!("{at}.subnet: {why}"))?;
    let shape = to_netsim_shape(&format!("{at}.shape"), &rule.shape)?;
    Ok(net::LinkRule { subnet, prefix, shape, filter: to_netsim_filter(rule.filter) })
}

fn to_netsim_shape(at: &str, shape: &LinkShape) -> Result<net::LinkShape, String> {
    let probabilities = [
        ("loss", shape.loss),
        ("loss-correlation", shape.loss_correlation),
        ("duplicate", shape.duplicate),
        ("duplicate-correlation", shape.duplicate_correlation),
        ("corrupt", shape.corrupt),
        ("corrupt-correlation", shape.corrupt_correlation),
        ("reorder", shape.reorder),
        ("reorder-correlation", shape.reorder_correlation),
    ];
    for (name, p) in probabilities {
        // `contains` is false for NaN, which must be refused too.
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("{at}.{name}: {p} is not a probability in [0, 1]"));
        }
    }
    Ok(net::LinkShape {
        latency: Duration::from_nanos(shape.latency_ns),
        jitter: Duration::from_nanos(shape.jitter_ns),
        bandwidth: shape.bandwidth_bps,
        loss: shape.loss,
        loss_correlation: shape.loss_correlation,
        duplicate: shape.duplicate,
        duplicate_correlation: shape.duplicate_correlation,
        corrupt: shape.corrupt,
        corrupt_correlation: shape.corrupt_correlation,
        reorder: shape.reorder,
        reorder_correlation: shape.reorder_correlation,
    })
}

fn to_netsim_filter(filter: Filter) -> net::Filter {
    match filter {
        Filter::Accept => net::Filter::Accept,
        Filter::Reject => net::Filter::Reject,
        Filter::Drop => net::Filter::Drop,
    }
}

/// Parses `a.b.c.d/p` (or a bare address, meaning `/32`). Host bits are
/// cleared, as Go's `net.ParseCIDR` does for the network Testground used.
fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => {
            let prefix: u8 = prefix.parse().map_err(|_| format!("{text:?}: prefix {prefix:?} is not a number"))?;
            (addr, prefix)
        }
        None => (text, 32),
    };
    if prefix > 32 {
        return Err(format!("{text:?}: prefix /{prefix} is longer than 32"));
    }
    let addr: Ipv4Addr = addr.parse().map_err(|_| format!("{text:?}: {addr:?} is not an IPv4 address"))?;
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
    Ok((Ipv4Addr::from(u32::from(addr) & mask), prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_forms() {
        assert_eq!(parse_cidr("16.0.0.0/24"), Ok((Ipv4Addr::new(16, 0, 0, 0), 24)));
        assert_eq!(parse_cidr("16.0.0.5"), Ok((Ipv4Addr::new(16, 0, 0, 5), 32)));
        assert_eq!(parse_cidr("16.0.3.7/16"), Ok((Ipv4Addr::new(16, 0, 0, 0), 16)));
        assert_eq!(parse_cidr("0.0.0.0/0"), Ok((Ipv4Addr::UNSPECIFIED, 0)));
        assert!(parse_cidr("16.0.0.0/33").is_err());
        assert!(parse_cidr("16.0.0/8").is_err());
        assert!(parse_cidr("16.0.0.0/x").is_err());
        assert!(parse_cidr("::1/128").is_err());
    }

    fn shape() -> LinkShape {
        LinkShape {
            latency_ns: 1,
            jitter_ns: 0,
            bandwidth_bps: 0,
            loss: 0.0,
            loss_correlation: 0.0,
            duplicate: 0.0,
            duplicate_correlation: 0.0,
            corrupt: 0.0,
            corrupt_correlation: 0.0,
            reorder: 0.0,
            reorder_correlation: 0.0,
        }
    }

    #[test]
    fn refusals_say_where() {
        let config = |rules, loss| Config {
            default: LinkShape { loss, ..shape() },
            rules,
            routing: RoutingPolicy::AllowAll,
            callback_state: None,
        };
        let err = to_netsim(config(vec![], 1.5)).unwrap_err();
        assert!(err.starts_with("default.loss:"), "{err}");
        let err = to_netsim(config(vec![], f64::NAN)).unwrap_err();
        assert!(err.starts_with("default.loss:"), "{err}");
        let bad = LinkRule { subnet: "16.0.0.0/40".into(), shape: shape(), filter: Filter::Drop };
        let err = to_netsim(config(vec![bad], 0.0)).unwrap_err();
        assert!(err.starts_with("rules[0].subnet:"), "{err}");
        let bad = LinkRule {
            subnet: "16.0.0.0/8".into(),
            shape: LinkShape { reorder: -0.1, ..shape() },
            filter: Filter::Accept,
        };
        let err = to_netsim(config(vec![bad], 0.0)).unwrap_err();
        assert!(err.starts_with("rules[0].shape.reorder:"), "{err}");
        let (ok, _) = to_netsim(config(vec![], 1.0)).unwrap();
        assert_eq!(ok.default.loss, 1.0);
    }
}
