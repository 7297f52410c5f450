//! Who has which address now: every instance's IPv4 (and IPv6) address, the
//! public addresses of NATs, and which NAT each instance sits behind.
//!
//! The table starts from a [`super::Topology`] and changes when a plan
//! chooses its own address ([`super::Network::set_address`]). Every lookup a packet
//! needs goes through it — where an address leads, whether a source address
//! is still the sender's — so an address change is one edit here and nothing
//! in the socket code. Ordered maps only: nothing here is iterated in an
//! order that could differ between runs.

use super::addr;
use crate::node::NodeId;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What an address leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// An instance.
    Node(NodeId),
    /// The public side of a NAT, by number.
    Nat(u32),
}

/// Why a plan may not take an address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Another instance (or a NAT) has it.
    #[error("{ip} is taken by {by}")]
    Taken {
        /// The address.
        ip: IpAddr,
        /// Who has it, in words (`instance 3`, `a NAT`).
        by: String,
    },
    /// Not an address this instance can have where it is.
    #[error("{ip} is outside {network}")]
    Outside {
        /// The address.
        ip: IpAddr,
        /// Where it must be, in words.
        network: &'static str,
    },
    /// An IPv6 address for an instance that has none: IPv6 is off in the
    /// run, or the instance is behind a NAT (NATs translate IPv4 only).
    #[error("{0}")]
    NoIpv6(&'static str),
}

/// The run's addresses.
pub(crate) struct AddressTable {
    owners: BTreeMap<IpAddr, Owner>,
    v4: Vec<Ipv4Addr>,
    v6: Vec<Option<Ipv6Addr>>,
    realm: Vec<Option<u32>>,
}

impl AddressTable {
    pub(crate) fn with_capacity(n: usize) -> AddressTable {
        AddressTable {
            owners: BTreeMap::new(),
            v4: Vec::with_capacity(n),
            v6: Vec::with_capacity(n),
            realm: Vec::with_capacity(n),
        }
    }

    /// Adds the next instance (`node` must be the next number); on a clash,
    /// the address and who has it.
    pub(crate) fn push(
        &mut self,
        node: NodeId,
        v4: Ipv4Addr,
        v6: Option<Ipv6Addr>,
        realm: Option<u32>,
    ) -> Result<(), (IpAddr, Owner)> {
        debug_assert_eq!(node.index(), self.v4.len());
        for ip in [Some(IpAddr::V4(v4)), v6.map(IpAddr::V6)].into_iter().flatten() {
            if let Some(&first) = self.owners.get(&ip) {
                return Err((ip, first));
            }
            self.owners.insert(ip, Owner::Node(node));
        }
        self.v4.push(v4);
        self.v6.push(v6);
        self.realm.push(realm);
        Ok(())
    }

    /// Gives NAT `k` its public address; on a clash, who has it.
    pub(crate) fn add_nat(&mut self, k: u32, public: Ipv4Addr) -> Result<(), Owner> {
        match self.owners.get(&IpAddr::V4(public)) {
            Some(&first) => Err(first),
            None => {
                self.owners.insert(IpAddr::V4(public), Owner::Nat(k));
                Ok(())
            }
        }
    }

    /// Who has `ip`.
    pub(crate) fn owner(&self, ip: IpAddr) -> Option<Owner> {
        // Most packets go to an instance at its planned address: the plan
        // names the only instance that can have it, and if that one has it
        // now, the map (which holds each instance's address, and no other
        // owner for it) says the same. This spares a tree search per packet.
        if let IpAddr::V4(v4) = ip
            && let Some(n) = addr::node_of(v4)
            && self.v4.get(n.index()) == Some(&v4)
        {
            debug_assert_eq!(self.owners.get(&ip), Some(&Owner::Node(n)));
            return Some(Owner::Node(n));
        }
        self.owners.get(&ip).copied()
    }

    /// `node`'s IPv4 address.
    pub(crate) fn v4(&self, node: NodeId) -> Ipv4Addr {
        self.v4[node.index()]
    }

    /// `node`'s IPv6 address, if it has one.
    pub(crate) fn v6(&self, node: NodeId) -> Option<Ipv6Addr> {
        self.v6[node.index()]
    }

    /// The NAT `node` sits behind.
    pub(crate) fn realm(&self, node: NodeId) -> Option<u32> {
        self.realm[node.index()]
    }

    /// Whether `ip` is one of `node`'s own addresses now.
    pub(crate) fn is_own(&self, node: NodeId, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.v4[node.index()] == v4,
            IpAddr::V6(v6) => self.v6[node.index()] == Some(v6),
        }
    }

    /// Gives `node` address `ip` in place of its address of that family;
    /// returns the one it gave up. Its old address leads nowhere from now on.
    pub(crate) fn set(&mut self, node: NodeId, ip: IpAddr) -> Result<IpAddr, AddressError> {
        let behind = self.realm[node.index()].is_some();
        match ip {
            IpAddr::V4(v4) if behind && !addr::is_private(v4) => {
                return Err(AddressError::Outside {
                    ip,
                    network: "the private ranges (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) an instance behind a NAT is in",
                });
            }
            IpAddr::V4(v4) if !behind && !addr::assignable_public(v4) => {
                return Err(AddressError::Outside {
                    ip,
                    network: "the data network 16.0.0.0/4 (less each block's x.y.0.0, gateway x.y.0.1 and x.y.255.255)",
                });
            }
            IpAddr::V6(_) if behind => {
                return Err(AddressError::NoIpv6(
                    "an instance behind a NAT has no IPv6 address (NATs translate IPv4 only)",
                ));
            }
            IpAddr::V6(_) if self.v6[node.index()].is_none() => {
                return Err(AddressError::NoIpv6(
                    "IPv6 is off in this run (a composition turns it on: [network] ipv6 = true)",
                ));
            }
            IpAddr::V6(v6)
                if !addr::in_subnet(ip, IpAddr::V6(addr::DATA_NETWORK_V6), addr::DATA_PREFIX_V6)
                    || v6 == addr::DATA_NETWORK_V6 =>
            {
                return Err(AddressError::Outside {
                    ip,
                    network: "the IPv6 data network fd00::/8 (less its network address fd00::)",
                });
            }
            _ => {}
        }
        match self.owners.get(&ip) {
            Some(Owner::Node(n)) if *n == node => return Ok(ip),
            Some(Owner::Node(n)) => return Err(AddressError::Taken { ip, by: format!("instance {n}") }),
            Some(Owner::Nat(_)) => return Err(AddressError::Taken { ip, by: "a NAT's public side".into() }),
            None => {}
        }
        let old = match ip {
            IpAddr::V4(v4) => IpAddr::V4(std::mem::replace(&mut self.v4[node.index()], v4)),
            IpAddr::V6(v6) => {
                let old = self.v6[node.index()].replace(v6).expect("instances not behind a NAT have an IPv6 address");
                IpAddr::V6(old)
            }
        };
        self.owners.remove(&old);
        self.owners.insert(ip, Owner::Node(node));
        Ok(old)
    }
}
