//! Where a store's commands go: one server, a Redis Cluster, or the master
//! that Redis Sentinel names. `RedisStore::run` dispatches on [`Conn`];
//! scans and subscriptions ask the [`Topology`] which nodes to use.
//!
//! In a cluster no command may name keys of two hash slots (`CROSSSLOT`):
//! the store sends such work as one command per slot (see
//! [`group_by_slot`]), scans each master on its own (see [`master_slots`]),
//! and a subscriber listens on any one node, since a `PUBLISH` on a node of
//! a cluster reaches the subscribers of every node.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use redis::aio::MultiplexedConnection;
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{AsyncConnectionConfig, ConnectionAddr};

use crate::Error;
use crate::sentinel::{Addr, Sentinels};

/// The kind of deployment a store talks to.
#[derive(Debug)]
pub(crate) enum Topology {
    /// One server (or a proxy that looks like one).
    Single,
    /// A Redis Cluster.
    Cluster(Box<Cluster>),
    /// The master of a service that sentinels watch.
    Sentinel(Arc<Sentinels>),
}

/// A cluster's client, and one plain client per node listed, for
/// subscriptions (a pub/sub connection is to one node).
pub(crate) struct Cluster {
    pub(crate) client: ClusterClient,
    pub(crate) nodes: Vec<redis::Client>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

/// A live connection of a store.
#[derive(Clone)]
pub(crate) enum Conn {
    /// To one server (a single server, or the master the sentinels named):
    /// one multiplexed connection shared by every call. It does not
    /// reconnect by itself: the store replaces it after a call on it fails
    /// at the transport level, one new connection at a time.
    Server(MultiplexedConnection),
    /// To every master of a cluster, routing each command by its key.
    Cluster(ClusterConnection),
}

/// The store's connection and, through sentinels, the master it is to.
#[derive(Clone)]
pub(crate) struct Held {
    pub(crate) conn: Conn,
    pub(crate) master: Option<Addr>,
}

impl fmt::Debug for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.conn {
            Conn::Server(_) => "server",
            Conn::Cluster(_) => "cluster",
        };
        f.debug_struct("Held")
            .field("conn", &kind)
            .field("master", &self.master)
            .finish()
    }
}

/// A connection being made, shared by every call that waits for one
/// meanwhile: one attempt at a time, whatever the number of callers.
pub(crate) type Shared = futures::future::Shared<BoxFuture<'static, Result<Held, Arc<Error>>>>;

/// A store's connection: none yet, one being made, or one made. Each
/// attempt has an id, so that a call that failed on an old connection
/// never drops a newer one.
pub(crate) enum State {
    Empty,
    Connecting(u64, Shared),
    Ready(u64, Held),
}

/// The [`State`], and the id of the next attempt.
pub(crate) struct Link {
    pub(crate) state: State,
    next: u64,
}

impl Link {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Empty,
            next: 1,
        }
    }

    /// The id for a new attempt (never 0: 0 names no attempt).
    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        id
    }

    /// The id of the connection held or being made, if any.
    pub(crate) fn id(&self) -> Option<u64> {
        match self.state {
            State::Empty => None,
            State::Connecting(id, _) | State::Ready(id, _) => Some(id),
        }
    }
}

/// The error a shared connection attempt ended with, for one of the calls
/// that waited for it.
pub(crate) fn copy_error(e: &Error) -> Error {
    match e {
        Error::Config(m) => Error::Config(m.clone()),
        Error::Key(m) => Error::Key(m.clone()),
        Error::Encode(m) => Error::Encode(m.clone()),
        Error::Glob(m) => Error::Glob(m.clone()),
        Error::Redis(e) => Error::Redis(e.clone()),
        Error::Timeout => Error::Timeout,
        Error::Unavailable => Error::Unavailable,
        Error::NoRuntime => Error::NoRuntime,
        Error::Store(e) => Error::Store(e.to_string().into()),
    }
}

/// Timeouts for making connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) response: Duration,
}

/// A connection being made, or one that needs no waiting (a cluster's
/// connects lazily, on its first command).
pub(crate) enum Pending {
    Ready(Held),
    Connecting(BoxFuture<'static, Result<Held, Error>>),
}

/// One multiplexed connection to `client`'s server, within the connect
/// timeout.
async fn server(client: redis::Client, t: Timeouts) -> Result<Conn, Error> {
    // No response timeout of the connection's own: `run` bounds every
    // call, and one timer per call is enough.
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(t.connect))
        .set_response_timeout(None);
    let conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    Ok(Conn::Server(conn))
}

impl Topology {
    /// Starts making a connection: for a cluster, a lazy one (the first
    /// command connects); for a server, the connection itself; through
    /// the sentinels, after asking them for the master. The future owns
    /// what it needs, so that every call waiting for a connection can
    /// share it.
    pub(crate) fn connect(&self, single: &redis::Client, t: Timeouts) -> Pending {
        match self {
            Topology::Single => {
                let client = single.clone();
                Pending::Connecting(
                    async move {
                        Ok(Held {
                            conn: server(client, t).await?,
                            master: None,
                        })
                    }
                    .boxed(),
                )
            }
            Topology::Cluster(c) => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(t.connect)
                    .set_response_timeout(t.response);
                Pending::Ready(Held {
                    conn: Conn::Cluster(c.client.get_pending_async_connection_with_config(config)),
                    master: None,
                })
            }
            Topology::Sentinel(s) => {
                let s = s.clone();
                Pending::Connecting(
                    async move {
                        let addr = s.resolve(t.connect + t.response).await?;
                        Ok(Held {
                            conn: server(s.client_for(&addr)?, t).await?,
                            master: Some(addr),
                        })
                    }
                    .boxed(),
                )
            }
        }
    }

    /// Whether a held connection still goes where it should: through
    /// sentinels, to the master they named last.
    /// Through sentinels, a stale answer is refreshed in the background
    /// (within `timeout`), and seen by a later call.
    pub(crate) fn is_current(&self, held: &Held, timeout: Duration) -> bool {
        match self {
            Topology::Sentinel(s) => {
                s.recheck_if_stale(timeout);
                s.current() == held.master
            }
            _ => true,
        }
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Topology::Cluster(_))
    }
}

/// A route to the master serving `slot`.
pub(crate) fn to_slot(slot: u16) -> RoutingInfo {
    RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
        slot,
        SlotAddr::Master,
    )))
}

/// A route to the master serving `key`'s slot.
pub(crate) fn to_key(key: &[u8]) -> RoutingInfo {
    RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_key(
        key,
        SlotAddr::Master,
    )))
}

/// The positions of `keys` in groups of one hash slot each, groups in the
/// order first seen: one multi-key command per group never meets
/// `CROSSSLOT`.
pub(crate) fn group_by_slot<K: AsRef<[u8]>>(keys: &[K]) -> Vec<Vec<usize>> {
    let mut at: HashMap<Slot, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (pos, k) in keys.iter().enumerate() {
        let i = *at.entry(Slot::for_key(k.as_ref())).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push(pos);
    }
    groups
}

/// One slot of each master that serves slots, read from a `CLUSTER NODES`
/// reply: a scan routed to that slot runs on that master, so one scan per
/// entry covers the cluster's keys once.
pub(crate) fn master_slots(nodes: &str) -> Vec<u16> {
    let mut slots = Vec::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // id addr flags master ping pong epoch link-state slot...
        if fields.len() < 9 || !fields[2].split(',').any(|f| f == "master") {
            continue;
        }
        // Ranges `a-b` or single slots; `[...]` marks a slot in migration.
        let first = fields[8..]
            .iter()
            .filter(|s| !s.starts_with('['))
            .find_map(|s| s.split('-').next()?.parse::<u16>().ok());
        if let Some(slot) = first {
            slots.push(slot);
        }
    }
    slots
}

/// `host:port` reached the way `like` is: over TCP, or over TLS with the
/// same verification settings; `None` for a Unix socket.
pub(crate) fn addr_like(like: &ConnectionAddr, host: String, port: u16) -> Option<ConnectionAddr> {
    match like {
        ConnectionAddr::Tcp(..) => Some(ConnectionAddr::Tcp(host, port)),
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => Some(ConnectionAddr::TcpTls {
            host,
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        }),
        _ => None,
    }
}

/// The addresses of the nodes a `CLUSTER NODES` reply lists, masters and
/// replicas, leaving out those marked failing, without an address, or
/// still joining.
pub(crate) fn node_addrs(nodes: &str) -> Vec<(String, u16)> {
    let mut addrs = Vec::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3
            || fields[2]
                .split(',')
                .any(|f| f.starts_with("fail") || f == "noaddr" || f == "handshake")
        {
            continue;
        }
        // ip:port@cport[,hostname]
        let ip_port = fields[1].split('@').next().unwrap_or_default();
        let Some((host, port)) = ip_port.rsplit_once(':') else {
            continue;
        };
        if let (false, Ok(port)) = (host.is_empty(), port.parse::<u16>()) {
            addrs.push((host.to_owned(), port));
        }
    }
    addrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_slot_per_master_that_serves_slots() {
        let nodes = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383
6ec2 127.0.0.1:30005@40005 master - 0 1426238316232 5 connected
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected [0->-292f] 0-5460
824f 127.0.0.1:30006@40006 master - 0 1426238316232 6 connected 16000
";
        assert_eq!(master_slots(nodes), [5461, 10923, 0, 16000]);
        assert!(master_slots("garbage\n\n").is_empty());
    }

    #[test]
    fn node_addresses_skip_failing_and_unknown_nodes() {
        let nodes = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002,cache-2 master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@40003 master,fail - 0 1426238318243 3 disconnected 10923-16383
6ec2 :0@0 master,noaddr - 0 1426238316232 5 disconnected
e7d1 ::1:30001@40001 myself,master - 0 0 1 connected 0-5460
";
        assert_eq!(
            node_addrs(nodes),
            [
                ("127.0.0.1".to_string(), 30004),
                ("127.0.0.1".to_string(), 30002),
                ("::1".to_string(), 30001),
            ]
        );
    }

    #[test]
    fn keys_are_grouped_by_slot_and_hash_tags_share_one() {
        let keys: Vec<Vec<u8>> = ["{u}a", "x", "{u}b", "y", "x2"]
            .iter()
            .map(|k| k.as_bytes().to_vec())
            .collect();
        let groups = group_by_slot(&keys);
        let mut all: Vec<usize> = groups.concat();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 4], "each key once");
        assert_eq!(groups[0], [0, 2], "a hash tag shares its slot");
        for g in &groups {
            let slot = Slot::for_key(&keys[g[0]]);
            assert!(g.iter().all(|&i| Slot::for_key(&keys[i]) == slot));
        }
    }
}
