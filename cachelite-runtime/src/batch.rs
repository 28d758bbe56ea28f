//! Batches and refreshes: [`Cache::get_many`] (one lock per shard touched),
//! [`Cache::get_or_insert_many`] (one loader call for all the misses), and
//! [`Cache::refresh`] (recompute now, serving the old value meanwhile).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hash};

use crate::cache::{Cache, Insertion};
use crate::events::Event;
use crate::policy::Policy;
use crate::shard::Evicted;
use crate::singleflight::{Leader, Leading, lead_async, thread_token};

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    /// The values of several keys at once, in their order (`None` for a
    /// key that is missing or expired). Each shard holding some of the
    /// keys is locked once, shared, for all of them, rather than once per
    /// key. Hits and misses count as for [`Cache::get`]; an expired entry
    /// found here is left for the next write or the sweeper to remove.
    /// (With [`Policy::TinyLfu`], each shard with misses is also locked
    /// once exclusively, to count them for admission.)
    ///
    /// ```
    /// use cachelite_runtime::Cache;
    ///
    /// let c: Cache<String, u32> = Cache::new(100);
    /// c.insert("a".into(), 1);
    /// c.insert("c".into(), 3);
    /// assert_eq!(c.get_many(["a", "b", "c"]), [Some(1), None, Some(3)]);
    /// assert_eq!((c.stats().hits, c.stats().misses), (2, 1));
    /// ```
    pub fn get_many<'q, Q, I>(&self, keys: I) -> Vec<Option<V>>
    where
        I: IntoIterator<Item = &'q Q>,
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + 'q,
    {
        let keys: Vec<&Q> = keys.into_iter().collect();
        let hashes: Vec<u64> = keys.iter().map(|k| self.hash(*k)).collect();
        let shard_of = |i: usize| self.inner.shard_index(hashes[i]);
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by_key(|&i| shard_of(i));
        let listen = !self.inner.listeners.is_empty();
        let mut out: Vec<Option<V>> = vec![None; keys.len()];
        let mut hit_keys: Vec<(usize, K)> = Vec::new();
        let mut missed: Vec<u64> = Vec::new();
        for group in order.chunk_by(|&a, &b| shard_of(a) == shard_of(b)) {
            let shard = &self.inner.shards[shard_of(group[0])].0;
            missed.clear();
            {
                let g = shard.read();
                for &i in group {
                    let now = |d| self.inner.clock.now_near(d);
                    if let Some(e) = g.hit(hashes[i], keys[i], now) {
                        out[i] = Some(e.value.clone());
                        if listen {
                            hit_keys.push((i, e.key.clone()));
                        }
                    } else {
                        g.count_miss_shared();
                        missed.push(hashes[i]);
                    }
                }
            }
            if self.inner.config.policy == Policy::TinyLfu && !missed.is_empty() {
                shard.write().record_misses(&missed);
            }
        }
        if listen {
            for (i, k) in &hit_keys {
                if let Some(v) = &out[*i] {
                    self.inner.listeners.emit(&Event::Hit { key: k, value: v });
                }
            }
            for _ in 0..out.iter().filter(|v| v.is_none()).count() {
                self.inner.listeners.emit(&Event::Miss { key: None });
            }
        }
        out
    }

    /// The values of several keys at once, loading every miss with one
    /// call of `load`, which gets the missing keys (each once, in the
    /// order they were first asked for) and returns the pairs it found;
    /// those are stored (with the default TTL) and returned. A key `load`
    /// did not return stays `None`, and pairs for keys it was not asked
    /// for are ignored. `load` runs with no lock held.
    ///
    /// The loads of concurrent batches are not shared: two batches missing
    /// one key at the same time both load it (the later value stays).
    ///
    /// ```
    /// use cachelite_runtime::Cache;
    ///
    /// let users: Cache<u32, String> = Cache::new(100);
    /// users.insert(1, "ada".into());
    /// let mut calls = Vec::new();
    /// let got = users.get_or_insert_many(&[1, 2, 3, 2], |missing| {
    ///     calls.push(missing.to_vec());
    ///     // A database's `WHERE id IN (...)`: user 3 does not exist.
    ///     missing.iter().filter(|&&id| id != 3).map(|&id| (id, format!("user{id}"))).collect::<Vec<_>>()
    /// });
    /// assert_eq!(got, [Some("ada".into()), Some("user2".into()), None, Some("user2".into())]);
    /// assert_eq!(calls, [vec![2, 3]]);
    /// assert_eq!(users.get(&2).as_deref(), Some("user2"));
    /// ```
    pub fn get_or_insert_many<I>(&self, keys: &[K], load: impl FnOnce(&[K]) -> I) -> Vec<Option<V>>
    where
        I: IntoIterator<Item = (K, V)>,
    {
        let mut out = self.get_many(keys);
        let missing = misses(keys, &out);
        if !missing.is_empty() {
            let loaded = self.inner.loads.time_batch(|| load(&missing));
            self.fill(keys, &mut out, loaded);
        }
        out
    }

    /// The async form of [`Cache::get_or_insert_many`]: `load` gets the
    /// missing keys by value and returns a future of the pairs it found.
    ///
    /// ```
    /// use cachelite_runtime::Cache;
    ///
    /// let c: Cache<u32, u32> = Cache::new(100);
    /// let got = futures::executor::block_on(c.get_or_insert_many_async(&[1, 2], |missing| async move {
    ///     missing.into_iter().map(|k| (k, k * 10)).collect::<Vec<_>>()
    /// }));
    /// assert_eq!(got, [Some(10), Some(20)]);
    /// ```
    pub async fn get_or_insert_many_async<I, F>(
        &self,
        keys: &[K],
        load: impl FnOnce(Vec<K>) -> F,
    ) -> Vec<Option<V>>
    where
        F: Future<Output = I>,
        I: IntoIterator<Item = (K, V)>,
    {
        let mut out = self.get_many(keys);
        let missing = misses(keys, &out);
        if !missing.is_empty() {
            let loaded = self.inner.loads.time_batch_async(load(missing)).await;
            self.fill(keys, &mut out, loaded);
        }
        out
    }

    /// Puts what a batch load found where it was asked for, and stores it:
    /// one exclusive lock per shard touched.
    fn fill(&self, keys: &[K], out: &mut [Option<V>], loaded: impl IntoIterator<Item = (K, V)>) {
        let mut wanted: HashMap<&K, Vec<usize>> = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            if out[i].is_none() {
                wanted.entry(k).or_default().push(i);
            }
        }
        let mut items = Vec::new();
        for (k, v) in loaded {
            let Some(at) = wanted.remove(&k) else {
                continue; // not asked for, or returned twice
            };
            for &i in &at {
                out[i] = Some(v.clone());
            }
            let hash = self.hash(&k);
            items.push((self.inner.shard_index(hash), hash, k, v));
        }
        let listen = !self.inner.listeners.is_empty();
        let events: Vec<(K, V)> = if listen {
            items
                .iter()
                .map(|(_, _, k, v)| (k.clone(), v.clone()))
                .collect()
        } else {
            Vec::new()
        };
        items.sort_unstable_by_key(|(shard, ..)| *shard);
        // Weighed and given deadlines before any lock: the weigher is user code.
        let mut items: Vec<_> = items
            .into_iter()
            .map(|(shard, hash, k, v)| (shard, self.item(hash, k, Insertion::new(v))))
            .collect();
        let mut rejected = Vec::new();
        let mut evicted = Evicted::new();
        while !items.is_empty() {
            let shard = items[0].0;
            let n = items.iter().take_while(|(s, _)| *s == shard).count();
            let mut g = self.inner.shards[shard].0.write();
            for (_, item) in items.drain(..n) {
                if let Err(pair) = self.store_locked(&mut g, item, &mut evicted) {
                    rejected.push(pair);
                }
            }
        }
        drop(rejected);
        for (k, v) in &events {
            self.inner
                .listeners
                .emit(&Event::Inserted { key: k, value: v });
        }
        self.finish(evicted);
    }

    /// Recomputes `key` now and replaces its value; returns the new value.
    /// Meanwhile the entry stays: readers keep getting the old value, and
    /// callers of the read-throughs that miss wait for this one instead of
    /// computing too. If the key is removed or invalidated while `compute`
    /// runs, its result is returned but not stored, as for any computation
    /// in flight.
    ///
    /// ```
    /// use cachelite_runtime::Cache;
    ///
    /// let prices: Cache<&str, u32> = Cache::new(10);
    /// prices.insert("btc", 100);
    /// assert_eq!(prices.refresh("btc", || 105), 105);
    /// assert_eq!(prices.get("btc"), Some(105));
    /// ```
    pub fn refresh(&self, key: K, compute: impl FnOnce() -> V) -> V {
        self.refresh_with(key, || {
            let v = compute();
            (v.clone(), Some(Insertion::new(v)))
        })
    }

    /// [`Cache::refresh`] for a fallible computation: an `Err` is returned
    /// and stores nothing, so the old value stays in place.
    ///
    /// ```
    /// use cachelite_runtime::Cache;
    ///
    /// let c: Cache<&str, u32> = Cache::new(10);
    /// c.insert("rate", 7);
    /// assert_eq!(c.try_refresh("rate", || Err::<u32, _>("upstream down")), Err("upstream down"));
    /// assert_eq!(c.get("rate"), Some(7), "the old value is kept");
    /// ```
    pub fn try_refresh<E>(&self, key: K, compute: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        self.refresh_with(key, || match compute() {
            Ok(v) => (Ok(v.clone()), Some(Insertion::new(v))),
            Err(e) => (Err(e), None),
        })
    }

    /// The general refresh, as [`Cache::get_or_compute`] is the general
    /// read-through: `compute` returns the caller's output and what to
    /// store, if anything (nothing leaves the old value in place).
    ///
    /// If a computation of the key is already in flight, this one runs
    /// too and its result is stored when it is done, without the flight's
    /// guard against a concurrent invalidation.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Insertion};
    /// use std::time::Duration;
    ///
    /// let c: Cache<u8, u8> = Cache::new(10);
    /// let out = c.refresh_with(1, || ("done", Some(Insertion::new(2).with_ttl(Duration::from_secs(5)))));
    /// assert_eq!((out, c.get(&1)), ("done", Some(2)));
    /// ```
    pub fn refresh_with<O>(
        &self,
        key: K,
        compute: impl FnOnce() -> (O, Option<Insertion<V>>),
    ) -> O {
        let hash = self.hash(&key);
        // Err: a computation is in flight already; this one runs beside it.
        let leader = {
            let mut g = self.shard(hash).write();
            match g.start_refresh(hash, &key, Some(thread_token())) {
                Some(id) => Ok(Leader::new(self, hash, key, id)),
                None => Err(key),
            }
        };
        match leader {
            Ok(leader) => {
                let (out, ins) = {
                    let _leading = Leading::enter(leader.id());
                    self.inner.loads.time(compute)
                };
                leader.complete(ins);
                out
            }
            Err(key) => {
                let (out, ins) = self.inner.loads.time(compute);
                if let Some(ins) = ins {
                    self.insert_entry(key, ins);
                }
                out
            }
        }
    }

    /// The async form of [`Cache::refresh_with`]: `compute` is a future.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Insertion};
    ///
    /// let c: Cache<u8, u8> = Cache::new(10);
    /// c.insert(1, 1);
    /// let v = futures::executor::block_on(c.refresh_with_async(1, async { (2, Some(Insertion::new(2))) }));
    /// assert_eq!((v, c.get(&1)), (2, Some(2)));
    /// ```
    pub async fn refresh_with_async<O, F>(&self, key: K, compute: F) -> O
    where
        F: Future<Output = (O, Option<Insertion<V>>)>,
    {
        let hash = self.hash(&key);
        // Err: a computation is in flight already; this one runs beside it.
        let leader = {
            let mut g = self.shard(hash).write();
            match g.start_refresh(hash, &key, None) {
                Some(id) => Ok(Leader::new(self, hash, key, id)),
                None => Err(key),
            }
        };
        match leader {
            Ok(leader) => {
                let (out, ins) =
                    lead_async(leader.id(), self.inner.loads.time_async(compute)).await;
                leader.complete(ins);
                out
            }
            Err(key) => {
                let (out, ins) = self.inner.loads.time_async(compute).await;
                if let Some(ins) = ins {
                    self.insert_entry(key, ins);
                }
                out
            }
        }
    }
}

/// The keys of a batch that missed, each once, in first-asked order.
fn misses<K: Hash + Eq + Clone, V>(keys: &[K], found: &[Option<V>]) -> Vec<K> {
    let mut seen = std::collections::HashSet::new();
    keys.iter()
        .zip(found)
        .filter(|(k, v)| v.is_none() && seen.insert(*k))
        .map(|(k, _)| k.clone())
        .collect()
}
