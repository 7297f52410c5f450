//! `tg:plan/network`: an instance's addresses on the data network and the
//! shape of what it sends, as Testground's network client offered; addresses
//! of the plan's choosing and stateful inbound filtering beyond it.
//!
//! Everything here is a request to netsim ([`netsim::Network::configure`],
//! [`netsim::Network::set_address`], [`netsim::Network::set_inbound`]), which
//! records it in the trace; this file only validates and converts. What
//! changes the network every shard of a split run shares (a path's filter or
//! clog, a crash, an address) goes through [`netsim::Sim::request_fault`]
//! when the run has a sync latency: it reaches the network that long after
//! the call, on every shard at the same point of the run.
//!
//! A configuration is validated in full before anything changes, so a refused
//! one leaves the previous configuration in place. It then takes effect at the
//! current virtual time through [`netsim::Network::configure`]; packets already
//! sent keep the fate they were given. The callback state, if any, is signalled
//! through the sync service afterwards, so an instance that waits on it knows
//! the new shape already applies to everything sent from then on.

use crate::bindings::network::{Config, Filter, Host, LinkRule, LinkShape, NetworkError, RoutingPolicy};
use crate::instance::InstanceState;
use netsim::net::{self, Subnet};
use netsim::{Fault, NodeId, PathAction, SyncOp};
use std::net::IpAddr;
use std::time::Duration;

impl Host for InstanceState {
    fn data_address(&mut self) -> wasmtime::Result<String> {
        Ok(self.sim.lock().net().ipv4_of(self.node()).to_string())
    }

    fn data_address_v6(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.sim.lock().net().ipv6_of(self.node()).map(|ip| ip.to_string()))
    }

    fn nat_address(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.sim.lock().net().nat_public_of(self.node()).map(|ip| ip.to_string()))
    }

    async fn set_address(&mut self, address: String) -> wasmtime::Result<Result<(), NetworkError>> {
        let Ok(ip) = address.trim().parse::<IpAddr>() else {
            let why = format!("address: {address:?} is not an IPv4 or IPv6 address");
            return Ok(Err(NetworkError::InvalidConfig(why)));
        };
        let node = self.node();
        // The address table is every shard's: with a sync latency the move
        // reaches them all as a fault does, and the call returns once it has.
        let request = {
            let mut sim = self.sim.lock();
            (!sim.config().sync_latency.is_zero()).then(|| sim.request_address_move(node, ip))
        };
        let moved = match request {
            Some(request) => std::future::poll_fn(|cx| self.sim.lock().poll_address_move(node, request, cx)).await,
            None => self.sim.lock().with_net(|net, cx| net.set_address(cx, node, ip)),
        };
        Ok(moved.map(|_| ()).map_err(|e| NetworkError::InvalidConfig(format!("address: {e}"))))
    }

    fn set_inbound_filter(&mut self, filter: Filter) -> wasmtime::Result<Result<(), NetworkError>> {
        let node = self.node();
        self.sim.lock().with_net(|net, cx| net.set_inbound(cx, node, to_netsim_filter(filter)));
        Ok(Ok(()))
    }

    async fn configure(&mut self, config: Config) -> wasmtime::Result<Result<(), NetworkError>> {
        let (netsim_config, callback) = match to_netsim(config) {
            Ok(parts) => parts,
            Err(refused) => return Ok(Err(refused)),
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
        if let Err(e) = self.check_instances(&[("src", src), ("dst", dst)]) {
            return Ok(Err(e));
        }
        let node = self.node();
        let (from, to, filter) = (NodeId(src), NodeId(dst), filter.map(to_netsim_filter));
        let mut sim = self.sim.lock();
        if sim.config().sync_latency.is_zero() {
            // At once, before the plan's next packet: what the call always did.
            sim.record(node, "plan.network.path-filter", format_args!("{src}->{dst} {filter:?}"));
            sim.net_mut().set_path_filter(from, to, filter);
        } else {
            sim.request_fault(node, Duration::ZERO, Fault::PathFilter { from, to, filter });
        }
        Ok(Ok(()))
    }

    fn clog_path(&mut self, src: u32, dst: u32, clogged: bool) -> wasmtime::Result<Result<(), NetworkError>> {
        if let Err(e) = self.check_instances(&[("src", src), ("dst", dst)]) {
            return Ok(Err(e));
        }
        let action = if clogged { PathAction::Clog } else { PathAction::Release };
        // The same fault event a composition timeline schedules: one mechanism, one trace.
        let fault = Fault::Paths { action, from: vec![NodeId(src)], to: vec![NodeId(dst)], both_ways: false };
        let node = self.node();
        self.sim.lock().request_fault(node, Duration::ZERO, fault);
        Ok(Ok(()))
    }

    fn crash_instance(
        &mut self,
        seq: u32,
        restart_after_ns: Option<u64>,
    ) -> wasmtime::Result<Result<(), NetworkError>> {
        if let Err(e) = self.check_instances(&[("seq", seq)]) {
            return Ok(Err(e));
        }
        let node = self.node();
        let mut sim = self.sim.lock();
        sim.request_fault(node, Duration::ZERO, Fault::Crash(vec![NodeId(seq)]));
        if let Some(after) = restart_after_ns {
            // Counted from the crash.
            sim.request_fault(node, Duration::from_nanos(after), Fault::Restart(vec![NodeId(seq)]));
        }
        Ok(Ok(()))
    }
}

impl InstanceState {
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

/// The plan's refusal of a configuration, saying where it is wrong.
fn invalid(why: String) -> NetworkError {
    NetworkError::InvalidConfig(why)
}

/// Checks `config` and converts it; the error names the faulty field.
fn to_netsim(config: Config) -> Result<(net::NetworkConfig, Option<String>), NetworkError> {
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
        netsim::sync::validate_name("callback-state", state).map_err(|e| invalid(format!("callback-state: {e:?}")))?;
    }
    Ok((net::NetworkConfig { default, rules, routing }, config.callback_state))
}

fn to_netsim_rule(at: &str, rule: &LinkRule) -> Result<net::LinkRule, NetworkError> {
    let subnet: Subnet = rule.subnet.parse().map_err(|why| invalid(format!("{at}.subnet: {why}")))?;
    let shape = to_netsim_shape(&format!("{at}.shape"), &rule.shape)?;
    Ok(net::LinkRule { subnet: subnet.addr, prefix: subnet.prefix, shape, filter: to_netsim_filter(rule.filter) })
}

fn to_netsim_shape(at: &str, shape: &LinkShape) -> Result<net::LinkShape, NetworkError> {
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
            return Err(invalid(format!("{at}.{name}: {p} is not a probability in [0, 1]")));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_forms() {
        let cidr = |text: &str| text.parse::<Subnet>().map(|s| (s.addr.to_string(), s.prefix));
        assert_eq!(cidr("16.0.0.0/24"), Ok(("16.0.0.0".into(), 24)));
        assert_eq!(cidr("16.0.0.5"), Ok(("16.0.0.5".into(), 32)));
        assert_eq!(cidr("16.0.3.7/16"), Ok(("16.0.0.0".into(), 16)), "host bits cleared, as Go's ParseCIDR");
        assert_eq!(cidr("0.0.0.0/0"), Ok(("0.0.0.0".into(), 0)));
        assert_eq!(cidr("fd00::1000:2/64"), Ok(("fd00::".into(), 64)));
        assert!(cidr("16.0.0.0/33").is_err());
        assert!(cidr("16.0.0/8").is_err());
        assert!(cidr("16.0.0.0/x").is_err());
        assert!(cidr("::1/129").is_err());
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
        let refusal = |config| match to_netsim(config) {
            Err(NetworkError::InvalidConfig(why)) => why,
            other => panic!("not refused as invalid: {other:?}"),
        };
        let config = |rules, loss| Config {
            default: LinkShape { loss, ..shape() },
            rules,
            routing: RoutingPolicy::AllowAll,
            callback_state: None,
        };
        let err = refusal(config(vec![], 1.5));
        assert!(err.starts_with("default.loss:"), "{err}");
        let err = refusal(config(vec![], f64::NAN));
        assert!(err.starts_with("default.loss:"), "{err}");
        let bad = LinkRule { subnet: "16.0.0.0/40".into(), shape: shape(), filter: Filter::Drop };
        let err = refusal(config(vec![bad], 0.0));
        assert!(err.starts_with("rules[0].subnet:"), "{err}");
        let bad = LinkRule {
            subnet: "16.0.0.0/8".into(),
            shape: LinkShape { reorder: -0.1, ..shape() },
            filter: Filter::Accept,
        };
        let err = refusal(config(vec![bad], 0.0));
        assert!(err.starts_with("rules[0].shape.reorder:"), "{err}");
        let (ok, _) = to_netsim(config(vec![], 1.0)).unwrap();
        assert_eq!(ok.default.loss, 1.0);
    }
}
