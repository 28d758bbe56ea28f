//! Finding the master through Redis Sentinel.
//!
//! The sentinels are asked in turn (`SENTINEL get-master-addr-by-name`),
//! starting with the one that answered last. Every answer is remembered, so
//! the store's connection and the subscriber's notice a failover whichever
//! of them asked: a connection made to another master than the one named
//! last is replaced before its next command. A store also asks again in
//! the background when the last answer is older than [`RECHECK`], so that
//! one without a subscriber learns of a failover before the old master,
//! still accepting writes until the sentinels turn it into a replica,
//! swallows many of them.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::Error;

/// How old the last answer may get before a store asks again.
pub(crate) const RECHECK: Duration = Duration::from_secs(1);

/// A master's address, as the sentinels name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Addr {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The sentinels of one service, and the master they named last.
pub(crate) struct Sentinels {
    sentinels: Vec<redis::Client>,
    service: String,
    /// How the master is reached: the scheme (TLS or not), database,
    /// credentials and protocol of the URL given to the builder (its host
    /// is ignored).
    master_template: redis::ConnectionInfo,
    /// The master named by the last answer.
    master: Mutex<Option<Addr>>,
    /// The sentinel that answered last: asked first next time.
    preferred: AtomicUsize,
    /// When the last answer came, in ms after `epoch`.
    answered_ms: AtomicU64,
    epoch: Instant,
}

impl fmt::Debug for Sentinels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sentinels")
            .field("sentinels", &self.sentinels.len())
            .field("service", &self.service)
            .field("master", &*self.master.lock())
            .finish_non_exhaustive()
    }
}

/// A reply to `SENTINEL get-master-addr-by-name`: `[host, port]`, or nil
/// for a service the sentinel does not monitor.
fn parse_master(reply: Option<(String, String)>) -> Option<Addr> {
    let (host, port) = reply?;
    Some(Addr {
        host,
        port: port.parse().ok()?,
    })
}

impl Sentinels {
    pub(crate) fn new(
        sentinels: Vec<redis::Client>,
        service: String,
        master_template: redis::ConnectionInfo,
    ) -> Self {
        Self {
            sentinels,
            service,
            master_template,
            master: Mutex::new(None),
            preferred: AtomicUsize::new(0),
            answered_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Asks the sentinels again on a task of its own if the last answer is
    /// older than [`RECHECK`]: the caller goes on meanwhile. One asks at a
    /// time. Must run inside a tokio runtime.
    pub(crate) fn recheck_if_stale(self: &Arc<Self>, timeout: Duration) {
        let last = self.answered_ms.load(Ordering::Acquire);
        let now = self.now_ms();
        let every = u64::try_from(RECHECK.as_millis()).unwrap_or(u64::MAX);
        if now.saturating_sub(last) < every
            || self
                .answered_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let s = self.clone();
        tokio::spawn(async move {
            let _ = s.resolve(timeout).await;
        });
    }

    /// The master named last, if any sentinel has answered yet.
    pub(crate) fn current(&self) -> Option<Addr> {
        self.master.lock().clone()
    }

    /// Asks the sentinels for the master, each within `timeout`; the first
    /// that knows the service answers.
    pub(crate) async fn resolve(&self, timeout: Duration) -> Result<Addr, Error> {
        let n = self.sentinels.len();
        let first = self.preferred.load(Ordering::Relaxed);
        let mut last_error = None;
        for i in 0..n {
            let at = (first + i) % n;
            let ask = async {
                let mut conn = self.sentinels[at]
                    .get_multiplexed_async_connection()
                    .await?;
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(&self.service)
                    .query_async::<Option<(String, String)>>(&mut conn)
                    .await
            };
            match tokio::time::timeout(timeout, ask).await {
                Ok(Ok(reply)) => match parse_master(reply) {
                    Some(addr) => {
                        self.preferred.store(at, Ordering::Relaxed);
                        *self.master.lock() = Some(addr.clone());
                        self.answered_ms.store(self.now_ms(), Ordering::Release);
                        return Ok(addr);
                    }
                    None => {
                        last_error = Some(Error::Config(format!(
                            "no sentinel knows a master named {:?}",
                            self.service
                        )));
                    }
                },
                Ok(Err(e)) => last_error = Some(Error::Redis(e)),
                Err(_) => last_error = Some(Error::Timeout),
            }
        }
        Err(last_error.unwrap_or(Error::Timeout))
    }

    /// A client for the master at `addr`, with the master's settings.
    pub(crate) fn client_for(&self, addr: &Addr) -> Result<redis::Client, Error> {
        let t = &self.master_template;
        let at =
            crate::conn::addr_like(t.addr(), addr.host.clone(), addr.port).ok_or_else(|| {
                Error::Config(
                    "the sentinel master settings must be a redis:// or rediss:// URL".into(),
                )
            })?;
        Ok(redis::Client::open(t.clone().set_addr(at))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::IntoConnectionInfo;

    #[test]
    fn master_replies_are_read_and_nil_or_junk_is_none() {
        assert_eq!(
            parse_master(Some(("10.0.0.7".into(), "6380".into()))),
            Some(Addr {
                host: "10.0.0.7".into(),
                port: 6380
            })
        );
        assert_eq!(parse_master(None), None);
        assert_eq!(parse_master(Some(("h".into(), "port".into()))), None);
        let v6 = Addr {
            host: "::1".into(),
            port: 7,
        };
        assert_eq!(v6.to_string(), "[::1]:7");
    }

    #[test]
    fn the_master_is_reached_with_the_settings_given() {
        let template = "redis://user:secret@ignored:1/3"
            .into_connection_info()
            .unwrap();
        let s = Sentinels::new(Vec::new(), "m".into(), template);
        let client = s
            .client_for(&Addr {
                host: "10.0.0.9".into(),
                port: 6390,
            })
            .unwrap();
        let info = client.get_connection_info();
        assert_eq!(info.addr().to_string(), "10.0.0.9:6390");
        let r = info.redis_settings();
        assert_eq!(
            (r.db(), r.username(), r.password()),
            (3, Some("user"), Some("secret"))
        );
        let shown = format!("{s:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[tokio::test]
    async fn unreachable_sentinels_are_an_error_not_a_hang() {
        let s = Sentinels::new(
            vec![redis::Client::open("redis://127.0.0.1:1/").unwrap()],
            "mymaster".into(),
            "redis://127.0.0.1/".into_connection_info().unwrap(),
        );
        let r = s.resolve(Duration::from_millis(200)).await;
        assert!(r.is_err(), "{r:?}");
        assert_eq!(s.current(), None);
    }
}
