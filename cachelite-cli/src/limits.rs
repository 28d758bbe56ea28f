//! The server's connection handling and its limits: a cap on concurrent
//! connections, a deadline for each request head, an idle timeout, a cap
//! on header size, and the counters `/metrics` reports for each.
//!
//! axum's own `serve` offers none of these knobs, so connections are
//! accepted here and handed to hyper's HTTP/1 connection driver, each
//! with a watchdog that closes it when a deadline passes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// Counts of every limit reached, and of the traffic they apply to; shared
/// by the accept loop, the connections and the handlers.
#[derive(Debug, Default)]
pub(crate) struct ServerCounters {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) idle_closed: AtomicU64,
    pub(crate) header_timeouts: AtomicU64,
    pub(crate) headers_too_large: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) request_timeouts: AtomicU64,
    pub(crate) bodies_too_large: AtomicU64,
}

impl ServerCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The connection limits `serve` applies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnLimits {
    pub(crate) max_connections: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_header_bytes: usize,
}

/// Connections answered 503 at the same time at most; beyond that, a
/// connection over the cap is closed without an answer, so a flood cannot
/// make the server spend unbounded work on refusals.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;
/// How long a refused client gets to read its 503.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Accepts connections on `listener` until `stop` turns true, then asks
/// each open connection to finish its request in flight and close, and
/// waits for them for `grace` at most.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    counters: Arc<ServerCounters>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_header_size(limits.max_header_bytes)
        .header_read_timeout(None)
        .keep_alive(true);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stopped(&mut stop) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, most likely: back off rather
                // than spin, and keep serving the connections already open.
                eprintln!("cachelite: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            ServerCounters::bump(&counters.connections_rejected);
            if let Ok(permit) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, refuse(stream)).await;
                    drop(permit);
                });
            }
            continue;
        };
        ServerCounters::bump(&counters.connections_accepted);
        let (app, counters, http, stop) =
            (app.clone(), counters.clone(), http.clone(), stop.clone());
        tokio::spawn(async move {
            counters.connections_open.fetch_add(1, Ordering::Relaxed);
            serve_connection(stream, app, &http, limits, &counters, stop).await;
            counters.connections_open.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    drop(listener);
    // Every connection holds one slot until it ends: when all slots are
    // free again, every connection has finished.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(grace, slots.acquire_many(all)).await;
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Answers a connection over the cap with a 503 and closes it. What the
/// client sent is read and discarded first, so closing does not reset the
/// connection before the client has read the answer.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = "{\"error\":\"too many connections: the server is at its limit (--max-connections); retry later\"}\n";
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let mut left: usize = 64 * 1024;
    while left > 0 {
        match stream.read(&mut sink).await {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Why the watchdog closed a connection.
enum Cut {
    HeaderTimeout,
    Idle,
}

async fn serve_connection(
    stream: TcpStream,
    app: Router,
    http: &hyper::server::conn::http1::Builder,
    limits: ConnLimits,
    counters: &ServerCounters,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        io: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let (app, activity) = (app.clone(), activity.clone());
            activity.request_started();
            async move {
                let _done = RequestDone(&activity);
                app.oneshot(req.map(Body::new)).await
            }
        })
    };
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        cut = watchdog(&activity, limits) => {
            match cut {
                Cut::HeaderTimeout => ServerCounters::bump(&counters.header_timeouts),
                Cut::Idle => ServerCounters::bump(&counters.idle_closed),
            }
            // Dropping the connection closes the socket.
            return;
        }
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                r = conn.as_mut() => r,
                _ = watchdog(&activity, limits) => return,
            }
        }
    };
    if let Err(e) = result
        && e.is_parse_too_large()
    {
        ServerCounters::bump(&counters.headers_too_large);
    }
}

/// Resolves when the connection has passed a deadline: a request head not
/// complete `header_timeout` after the connection opened or its first byte
/// arrived, or no byte for `idle_timeout` between requests. A request being
/// handled is the request timeout's business, not the watchdog's.
async fn watchdog(activity: &Activity, limits: ConnLimits) -> Cut {
    loop {
        let now = activity.elapsed_ms();
        let (deadline, cut) = if activity.in_flight.load(Ordering::Acquire) > 0 {
            (
                now + millis(limits.idle_timeout.min(limits.header_timeout)),
                None,
            )
        } else {
            match activity.head_since.load(Ordering::Acquire) {
                0 => (
                    activity.last.load(Ordering::Acquire) + millis(limits.idle_timeout),
                    Some(Cut::Idle),
                ),
                since => (
                    since - 1 + millis(limits.header_timeout),
                    Some(Cut::HeaderTimeout),
                ),
            }
        };
        if now >= deadline
            && let Some(cut) = cut
        {
            return cut;
        }
        tokio::time::sleep_until(activity.base + Duration::from_millis(deadline.max(now + 1)))
            .await;
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4)
}

/// What a connection's watchdog needs to know, in milliseconds since the
/// connection opened.
struct Activity {
    base: Instant,
    /// When the last byte arrived or the last response was produced.
    last: AtomicU64,
    /// One more than when the pending request head began (the connection
    /// opening counts), or 0 when no head is pending.
    head_since: AtomicU64,
    /// Requests being handled.
    in_flight: AtomicU32,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            last: AtomicU64::new(0),
            // A new connection owes its first request head.
            head_since: AtomicU64::new(1),
            in_flight: AtomicU32::new(0),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        millis(self.base.elapsed())
    }

    fn on_read(&self) {
        let now = self.elapsed_ms();
        self.last.store(now, Ordering::Release);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ =
                self.head_since
                    .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
    }
}

/// Marks the end of a request when the handler's future completes or is
/// dropped.
struct RequestDone<'a>(&'a Activity);

impl Drop for RequestDone<'_> {
    fn drop(&mut self) {
        self.0.last.store(self.0.elapsed_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A TCP stream that tells its [`Activity`] when bytes arrive.
struct Tracked {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.on_read();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
