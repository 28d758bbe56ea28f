//! Instructions per operation of the Redis rows, for callgrind:
//! `valgrind --tool=callgrind --callgrind-out-file=/dev/null
//! --toggle-collect='*instr_caller_poll*' redis_instr URL CASE N`
//! (the calling future only), or `--toggle-collect='*instr_total*'`
//! (everything on the one runtime thread: the caller and the connection's
//! task). Cases: l2, miss, cached_hit, cached_miss, mgr_hit, mgr_miss, raw_get.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use cached::{AsyncRedisCache, ConcurrentCachedAsync as _};
use cachelite::redis::{RedisStore, TieredCache};

type Op<'a> = Box<dyn FnMut(u64) -> Pin<Box<dyn Future<Output = ()> + 'a>> + 'a>;

#[inline(never)]
fn instr_caller_poll(
    f: Pin<&mut (dyn Future<Output = ()> + '_)>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    f.poll(cx)
}

struct Caller<'a>(Pin<Box<dyn Future<Output = ()> + 'a>>);
impl Future for Caller<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        instr_caller_poll(self.0.as_mut(), cx)
    }
}

#[inline(never)]
fn instr_total(rt: &tokio::runtime::Runtime, op: &mut Op<'_>, from: u64, n: u64) {
    rt.block_on(async {
        for i in from..from + n {
            Caller(op(i)).await;
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, case, n) = (&args[1], args[2].as_str(), args[3].parse::<u64>().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let keys = 1000u64;
    let value = "v".repeat(100);
    let ttl = Duration::from_secs(300);
    let ns = format!("instr-{:08x}", fastrand::u32(..));
    let store = |ns: &str| {
        RedisStore::builder(url.as_str())
            .namespace(ns)
            .connect_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(2))
            .build()
            .unwrap()
    };
    let (remote, miss, cached, mgr, conn) = rt.block_on(async {
        let remote: TieredCache<u64, String> = TieredCache::builder(store(&ns))
            .local_capacity(1)
            .ttl(ttl)
            .build()
            .unwrap();
        let miss: TieredCache<u64, String> = TieredCache::builder(store(&format!("{ns}-miss")))
            .ttl(ttl)
            .build()
            .unwrap();
        let cached = AsyncRedisCache::<u64, String>::builder(format!("cached-{ns}:"))
            .ttl(ttl)
            .connection_string(url)
            .build()
            .await
            .unwrap();
        let mgr = AsyncRedisCache::<u64, String>::builder(format!("cached-{ns}:"))
            .ttl(ttl)
            .connection_string(url)
            .connection_manager(true)
            .build()
            .await
            .unwrap();
        let conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        while !(remote.is_local_active() && miss.is_local_active()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for k in 0..keys {
            remote.insert(&k, value.clone()).await.unwrap();
            let _ = cached.async_cache_set(k, value.clone()).await;
        }
        (remote, miss, cached, mgr, conn)
    });
    let raw_keys: Vec<String> = (0..keys)
        .map(|k| remote.store().redis_key(&k).unwrap())
        .collect();
    let (remote, miss, cached, mgr, value, conn, raw_keys) =
        (&remote, &miss, &cached, &mgr, &value, &conn, &raw_keys);
    let mut op: Op<'_> = match case {
        "l2" => Box::new(move |i| {
            Box::pin(async move {
                black_box(remote.get(&(i % keys)).await);
            })
        }),
        "miss" => Box::new(move |i| {
            let k = (1 << 50) + i;
            Box::pin(async move {
                black_box(miss.get_or_insert_with(&k, || value.clone()).await);
            })
        }),
        "cached_hit" => Box::new(move |i| {
            Box::pin(async move {
                black_box(cached.async_cache_get(&(i % keys)).await.ok());
            })
        }),
        "mgr_hit" => Box::new(move |i| {
            Box::pin(async move {
                black_box(mgr.async_cache_get(&(i % keys)).await.ok());
            })
        }),
        "cached_miss" | "mgr_miss" => {
            let c = if case == "mgr_miss" { mgr } else { cached };
            Box::new(move |i| {
                let k = (1 << 51) + i + if case == "mgr_miss" { 1 << 40 } else { 0 };
                Box::pin(async move {
                    black_box(c.async_cache_get(&k).await.ok());
                    black_box(c.async_cache_set(k, value.clone()).await.ok());
                })
            })
        }
        "raw_get" => Box::new(move |i| {
            let mut c = conn.clone();
            let k = &raw_keys[(i % keys) as usize];
            Box::pin(async move {
                let r: redis::RedisResult<Option<Vec<u8>>> =
                    redis::cmd("GET").arg(k).query_async(&mut c).await;
                black_box(r.ok());
            })
        }),
        _ => panic!("unknown case {case}"),
    };
    // Warm up outside the collected function, then measure.
    let seed = u64::from(fastrand::u32(..)) << 20;
    rt.block_on(async {
        for i in 0..200 {
            op(seed + i).await;
        }
    });
    instr_total(&rt, &mut op, seed + 1000, n);
}
