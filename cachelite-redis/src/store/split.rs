//! The store's multi-key work in a Redis Cluster, where no command may
//! name keys of two hash slots (`CROSSSLOT`).
//!
//! Keys are not hash-tagged: `{namespace}` in every key would put a whole
//! namespace on one master, and a cache is where spreading the load
//! matters most. So an entry, its tag sets and its lease live in
//! different slots, and what one server does in one script or pipeline is
//! done here as one command per slot:
//!
//! - a tagged write adds the entry to each tag set, writes the entry, then
//!   adds it to the tag sets again. An invalidation of the tag that runs
//!   between the steps either sees the entry (first add) or is followed by
//!   it (second add), so no entry written before an invalidation outlives
//!   it; at worst a tag set names a key that holds no value of that tag,
//!   and its invalidation deletes one entry too many;
//! - a tag's members, and scanned keys, are unlinked in groups of one slot,
//!   and several keys are read with one `MGET` per slot (a lease's waiter
//!   reads the entry and the lease that way);
//! - globs and clears scan every master (`SCAN` per node);
//! - the invalidation message is its own `PUBLISH`, which any node spreads
//!   to the whole cluster.

use futures::{StreamExt, TryStreamExt};
use redis::cluster_routing::RoutingInfo;

use super::{BATCH, Req, px};
use crate::channel::Op;
use crate::conn;
use crate::{Error, RedisStore};

/// Adds ARGV[1] to the tag set KEYS[1], which lives at least as long as
/// its longest-lived member (ARGV[2] ms; 0: forever).
const TAG_ADD: &str = r"
local ttl = tonumber(ARGV[2])
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[1])
if ttl == 0 then
  redis.call('PERSIST', KEYS[1])
else
  local left = redis.call('PTTL', KEYS[1])
  if existed == 0 or (left >= 0 and left < ttl) then
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
end
return 1
";

/// Slots unlinked at once.
const PARALLEL: usize = 16;

impl RedisStore {
    /// `put` in a cluster: tag sets, entry, tag sets again, then the
    /// message; returns whether the entry was stored.
    pub(super) async fn put_split(
        &self,
        rendered: &str,
        key: &str,
        bytes: Vec<u8>,
        ttl: Option<std::time::Duration>,
        tags: &[String],
        origin: Option<u64>,
    ) -> Result<bool, Error> {
        let ttl_ms = ttl.map_or(0, px);
        self.add_to_tags(key, tags, ttl_ms).await?;
        let mut set = redis::cmd("SET");
        set.arg(key).arg(bytes);
        if let Some(ttl) = ttl {
            set.arg("PX").arg(px(ttl));
        }
        if origin.is_none() {
            set.arg("NX");
        }
        // `OK` when stored; nil when `NX` found the key.
        let stored: redis::Value = self.run(Req::Cmd(&set)).await?;
        let stored = !matches!(stored, redis::Value::Nil);
        if stored {
            self.add_to_tags(key, tags, ttl_ms).await?;
        }
        if let Some(origin) = origin {
            self.publish(Op::Keys(vec![rendered.to_owned()]), origin)
                .await?;
        }
        Ok(stored)
    }

    async fn add_to_tags(&self, key: &str, tags: &[String], ttl_ms: u64) -> Result<(), Error> {
        let keys = &self.inner.keys;
        let adds = tags.iter().map(|t| async move {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(TAG_ADD)
                .arg(1)
                .arg(keys.tag(t))
                .arg(key)
                .arg(ttl_ms);
            self.run::<i64>(Req::Cmd(&cmd)).await
        });
        futures::future::try_join_all(adds).await.map(drop)
    }

    /// `remove_rendered` in a cluster: the unlink, then the message.
    pub(super) async fn remove_split(&self, rendered: &str, origin: u64) -> Result<bool, Error> {
        // The entry and its counter sit in different slots.
        let keys = &self.inner.keys;
        let both = [
            keys.entry(rendered).into_bytes(),
            keys.counter(rendered).into_bytes(),
        ];
        let n = self.unlink_by_slot(&both).await?;
        self.publish(Op::Keys(vec![rendered.to_owned()]), origin)
            .await?;
        Ok(n > 0)
    }

    /// A waiter's poll in a cluster: the entry, and whether the lease (a
    /// key that holds its taker's token) is still held.
    pub(super) async fn poll_split(
        &self,
        key: &str,
        lock: &str,
    ) -> Result<(Option<Vec<u8>>, bool), Error> {
        let mut found = self.get_many_split(&[key, lock]).await?.into_iter();
        let raw = found.next().flatten();
        Ok((raw, found.next().flatten().is_some()))
    }

    /// The values of `keys` (Redis keys), in order: one `MGET` per hash
    /// slot, a few slots at a time.
    pub(super) async fn get_many_split<K: AsRef<str>>(
        &self,
        keys: &[K],
    ) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let mut commands = Vec::new();
        let by_slot = conn::group_by_slot(&keys.iter().map(|k| k.as_ref()).collect::<Vec<_>>());
        for group in by_slot {
            for chunk in group.chunks(BATCH) {
                let mut cmd = redis::cmd("MGET");
                for &i in chunk {
                    cmd.arg(keys[i].as_ref());
                }
                commands.push((chunk.to_vec(), cmd));
            }
        }
        let mut out = vec![None; keys.len()];
        // Each read owns its command: a future borrowing from the list
        // would not be `Send` for every lifetime.
        let mut reads = futures::stream::iter(commands.into_iter().map(|(at, cmd)| async move {
            let values: Vec<Option<Vec<u8>>> = self.run(Req::Cmd(&cmd)).await?;
            Ok::<_, Error>((at, values))
        }))
        .buffer_unordered(PARALLEL);
        while let Some((at, values)) = reads.try_next().await? {
            for (&i, v) in at.iter().zip(values) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Unlinks `keys`, one command per hash slot, a few slots at a time.
    pub(super) async fn unlink_by_slot(&self, keys: &[Vec<u8>]) -> Result<usize, Error> {
        let mut commands = Vec::new();
        for group in conn::group_by_slot(keys) {
            for chunk in group.chunks(BATCH) {
                let mut cmd = redis::cmd("UNLINK");
                for &i in chunk {
                    cmd.arg(keys[i].as_slice());
                }
                commands.push(cmd);
            }
        }
        // Each unlink owns its command: a future borrowing from the groups
        // would not be `Send` for every lifetime.
        let unlinks = commands
            .into_iter()
            .map(|cmd| async move { self.run::<usize>(Req::Cmd(&cmd)).await });
        futures::stream::iter(unlinks)
            .buffer_unordered(PARALLEL)
            .try_fold(0, |sum, n| async move { Ok(sum + n) })
            .await
    }

    /// A route to each master that serves slots, from `CLUSTER NODES`.
    pub(super) async fn masters(&self) -> Result<Vec<RoutingInfo>, Error> {
        let mut nodes = redis::cmd("CLUSTER");
        nodes.arg("NODES");
        let text: String = self.run(Req::Cmd(&nodes)).await?;
        Ok(conn::master_slots(&text)
            .into_iter()
            .map(conn::to_slot)
            .collect())
    }
}
