//! The invalidation messages a store announces to every two-tier cache of
//! its namespace, and where a Redis subscriber listens for them.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{PubSubSink, PubSubStream};
use serde::{Deserialize, Serialize};

use crate::sentinel::{Addr, Sentinels};

/// One write or invalidation, as every subscriber of the namespace sees it.
///
/// A store delivers these through its [`Feed`](crate::Feed); [`Message::encode`]
/// and [`Message::decode`] give a compact byte form for stores that carry
/// them as payloads (Redis pub/sub, `NOTIFY`, a table row).
///
/// ```
/// use cachelite_redis::{Message, Op};
/// let m = Message { origin: 7, op: Op::Keys(vec!["user:1".into()]) };
/// assert_eq!(Message::decode(&m.encode()), Some(m));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote: a subscriber skips its own messages (it already applied
    /// them to its local tier).
    pub origin: u64,
    /// What to drop.
    pub op: Op,
}

/// What to drop from every local tier.
///
/// ```
/// let op = cachelite_redis::Op::Glob("user:*".into());
/// assert_ne!(op, cachelite_redis::Op::Clear);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// These rendered keys.
    Keys(Vec<String>),
    /// Entries carrying any of these tags.
    Tags(Vec<String>),
    /// Entries whose rendered key matches this glob.
    Glob(String),
    /// Everything.
    Clear,
}

impl Message {
    /// The message as MessagePack bytes.
    ///
    /// ```
    /// let m = cachelite_redis::Message { origin: 1, op: cachelite_redis::Op::Clear };
    /// assert!(!m.encode().is_empty());
    /// ```
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        // Plain data of strings and integers: encoding cannot fail.
        rmp_serde::to_vec(self).unwrap_or_default()
    }

    /// A message from [`Message::encode`]'s bytes; `None` for anything else.
    ///
    /// ```
    /// assert_eq!(cachelite_redis::Message::decode(b"\xff"), None);
    /// ```
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        rmp_serde::from_slice(bytes).ok()
    }
}

/// Where a subscriber listens: the server; one node of a cluster at a
/// time (a `PUBLISH` on any node reaches the subscribers of every node),
/// the next one listed when it fails; or the master the sentinels name.
pub(crate) struct Subscription {
    source: Source,
}

enum Source {
    Single(Box<redis::Client>),
    Cluster {
        nodes: Vec<redis::Client>,
        next: usize,
    },
    Sentinel {
        sentinels: Arc<Sentinels>,
        on: Option<Addr>,
    },
}

async fn subscribe(
    client: &redis::Client,
    channel: &str,
    timeout: Duration,
) -> Option<(PubSubSink, PubSubStream)> {
    let ps = tokio::time::timeout(timeout, client.get_async_pubsub())
        .await
        .ok()?
        .ok()?;
    let (mut sink, stream) = ps.split();
    tokio::time::timeout(timeout, sink.subscribe(channel))
        .await
        .ok()?
        .ok()?;
    Some((sink, stream))
}

/// The most nodes a cluster subscriber remembers.
const MAX_NODES: usize = 64;

/// Adds the nodes that `nodes[at]` knows of to `nodes`, so that a
/// subscriber given one node can move to another when that one fails.
/// Their settings (credentials, TLS) are those of `nodes[at]`.
async fn learn_nodes(nodes: &mut Vec<redis::Client>, at: usize, timeout: Duration) {
    let ask = async {
        let mut c = nodes[at].get_multiplexed_async_connection().await.ok()?;
        redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async::<String>(&mut c)
            .await
            .ok()
    };
    let Ok(Some(text)) = tokio::time::timeout(timeout, ask).await else {
        return;
    };
    let template = nodes[at].get_connection_info().clone();
    for (host, port) in crate::conn::node_addrs(&text) {
        let Some(addr) = crate::conn::addr_like(template.addr(), host, port) else {
            return;
        };
        if nodes.len() >= MAX_NODES
            || nodes
                .iter()
                .any(|n| n.get_connection_info().addr() == &addr)
        {
            continue;
        }
        if let Ok(client) = redis::Client::open(template.clone().set_addr(addr)) {
            nodes.push(client);
        }
    }
}

impl Subscription {
    pub(crate) fn single(client: redis::Client) -> Self {
        Self {
            source: Source::Single(Box::new(client)),
        }
    }

    /// Over the cluster's `nodes`, starting at a random one so that the
    /// processes of a service spread over the nodes.
    pub(crate) fn cluster(nodes: Vec<redis::Client>) -> Self {
        let next = fastrand::usize(..nodes.len().max(1));
        Self {
            source: Source::Cluster { nodes, next },
        }
    }

    pub(crate) fn sentinel(sentinels: Arc<Sentinels>) -> Self {
        Self {
            source: Source::Sentinel {
                sentinels,
                on: None,
            },
        }
    }

    /// A connection subscribed to `channel`, each step within `timeout`;
    /// in a cluster, the first node that accepts, from where the last
    /// connection was.
    pub(crate) async fn connect(
        &mut self,
        channel: &str,
        timeout: Duration,
    ) -> Option<(PubSubSink, PubSubStream)> {
        match &mut self.source {
            Source::Single(client) => subscribe(client, channel, timeout).await,
            Source::Cluster { nodes, next } => {
                for _ in 0..nodes.len() {
                    let at = *next % nodes.len();
                    if let Some(s) = subscribe(&nodes[at], channel, timeout).await {
                        *next = at;
                        learn_nodes(nodes, at, timeout).await;
                        return Some(s);
                    }
                    *next = at + 1;
                }
                None
            }
            Source::Sentinel { sentinels, on } => {
                let addr = sentinels.resolve(timeout).await.ok()?;
                let client = sentinels.client_for(&addr).ok()?;
                let s = subscribe(&client, channel, timeout).await?;
                *on = Some(addr);
                Some(s)
            }
        }
    }

    /// Whether the connection still goes where writes are published:
    /// through sentinels, to the master they name now (asked with each
    /// heartbeat). When no sentinel answers, the heartbeat's ping alone
    /// decides.
    pub(crate) async fn is_current(&self, timeout: Duration) -> bool {
        match &self.source {
            Source::Sentinel { sentinels, on } => match sentinels.resolve(timeout).await {
                Ok(addr) => on.as_ref() == Some(&addr),
                Err(_) => true,
            },
            Source::Single(_) | Source::Cluster { .. } => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for op in [
            Op::Keys(vec!["a".into(), "#1".into()]),
            Op::Tags(vec!["t".into()]),
            Op::Glob("u*".into()),
            Op::Clear,
        ] {
            let m = Message { origin: 7, op };
            assert_eq!(Message::decode(&m.encode()), Some(m));
        }
        assert_eq!(Message::decode(b"\xff garbage"), None);
    }
}
