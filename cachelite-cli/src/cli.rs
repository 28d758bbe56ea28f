//! The `cachelite` command line: argument parsing and the commands.
//!
//! Every command prints its result on stdout, as plain text or, with
//! `--json`, as one JSON document. Without `--json`, errors go to stderr as
//! one line starting with `cachelite:`; with it, they go to stdout as
//! `{"error": "..."}`, so a script reading JSON always gets JSON.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cachelite::{Insertion, Policy};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::format::{cell, human_bytes, human_ttl, percent, plain_value, table};
use crate::server::{
    DEFAULT_MAX_BODY, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_ITEMS, DEFAULT_MAX_KEY_LEN, ServerConfig,
};
use crate::shared::RedisConfig;
use crate::store::{Access, DEFAULT_STORE, Session, Store};
use crate::{parse_bytes, parse_duration, parse_value, secs};
use cachelite_redis::{RedisStore, RedisStoreBuilder};

/// A file-backed cache on the command line, and a cache server.
#[derive(Debug, Parser)]
#[command(name = "cachelite", version, about, long_about = None)]
#[command(after_help = "Exit status: 0 ok, 1 key not found, 2 usage or I/O error.")]
pub struct Cli {
    /// The store file (.json or .msgpack).
    #[arg(
        long,
        global = true,
        env = "CACHELITE_STORE",
        value_name = "PATH",
        default_value = DEFAULT_STORE
    )]
    pub store: PathBuf,

    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store a value. VALUE is stored as JSON when it parses as JSON, as a string otherwise.
    Set {
        /// The key.
        key: String,
        /// The value.
        #[arg(allow_hyphen_values = true)]
        value: String,
        /// Time to live: seconds, or a number with a unit (500ms, 30s, 5m, 2h, 1d).
        #[arg(long, value_name = "SECS", value_parser = parse_duration)]
        ttl: Option<Duration>,
        /// A tag for `invalidate --tag`; repeat for more.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// Print a value: a string as raw text, other JSON compact. Exit 1 if missing.
    Get {
        /// The key.
        key: String,
    },
    /// Remove a key. Exit 1 if it was missing.
    Del {
        /// The key.
        key: String,
    },
    /// Print the seconds a key has left to live, or `none`. Exit 1 if missing.
    Ttl {
        /// The key.
        key: String,
    },
    /// List keys, with their TTL and value, optionally matching a glob (`user:*`).
    Keys {
        /// Redis-style glob: `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`.
        pattern: Option<String>,
    },
    /// Remove the keys matching a glob, or carrying any of the given tags.
    Invalidate {
        /// Redis-style glob.
        #[arg(required_unless_present = "tags", conflicts_with = "tags")]
        pattern: Option<String>,
        /// Remove keys carrying this tag; repeat for more.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// Show the store's size and the hit rate of `get`.
    Stats,
    /// Remove every key.
    Flush,
    /// Serve a cache over HTTP (see the README for the routes).
    Serve(ServeArgs),
    /// Show the engine at work: memoization, every eviction policy, TTL, tags.
    Demo,
}

/// Options of `cachelite serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one (printed at start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Require `Authorization: Bearer TOKEN` for every write.
    #[arg(long, env = "CACHELITE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Bound on the number of entries.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_ITEMS as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_items: u64,
    /// Bound on the memory held by keys and values (e.g. 64MiB): each entry weighs its key plus the larger of its JSON size and its decoded size.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes, default_value = "64MiB")]
    pub max_bytes: u64,
    /// Eviction policy: lru, lfu, fifo, random, ... (a wrong name lists them all).
    #[arg(long, default_value = "lru", value_parser = parse_policy)]
    pub policy: Policy,
    /// TTL of entries stored without one (e.g. 300, 5m).
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub default_ttl: Option<Duration>,
    /// Sweep expired entries in the background at this interval.
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub active_expiry: Option<Duration>,
    /// Snapshot file (.json or .msgpack): restored at start, saved periodically, on POST /snapshot and at shutdown. Not with --redis.
    #[arg(long, value_name = "PATH")]
    pub snapshot: Option<PathBuf>,
    /// Seconds between snapshot saves.
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "60")]
    pub snapshot_interval: Duration,
    /// Largest request body accepted (e.g. 1MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes, default_value_t = DEFAULT_MAX_BODY as u64)]
    pub max_body: u64,
    /// Longest key accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_KEY_LEN as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_key_len: u64,
    /// Concurrent connections; one more is answered 503 and closed.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS as u64, value_parser = clap::value_parser!(u64).range(1..=u64::from(u32::MAX >> 3)))]
    pub max_connections: u64,
    /// Longest time from a request's head to its response, body read included; then 408.
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "30s")]
    pub request_timeout: Duration,
    /// Longest wait for a complete request head, from the connection opening or the head's first byte; then the connection is closed.
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "10s")]
    pub header_timeout: Duration,
    /// Longest silence between requests on a kept-alive connection; then it is closed.
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "30s")]
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers); a larger one is answered 431.
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes, default_value = "16KiB")]
    pub max_header_size: u64,
    /// Share the cache through Redis with every server started on the same URL and namespace: each keeps a local copy, dropped at once when any of them writes. Without a URL, CACHELITE_REDIS_URL, or a cluster (CACHELITE_REDIS_CLUSTER) or sentinels (CACHELITE_REDIS_SENTINELS). The other CACHELITE_REDIS_* variables (codec, version, compression, encryption key, timeouts) apply too.
    #[arg(long, value_name = "URL", num_args = 0..=1)]
    pub redis: Option<Option<String>>,
    /// The Redis namespace the servers share (default: CACHELITE_REDIS_NAMESPACE, else `default`).
    #[arg(long, value_name = "NAME", requires = "redis")]
    pub namespace: Option<String>,
    /// The longest a server keeps a local copy of a Redis entry (default: as long as the entry lives).
    #[arg(long, value_name = "SECS", value_parser = parse_duration, requires = "redis")]
    pub local_ttl: Option<Duration>,
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    s.parse::<Policy>().map_err(|e| e.to_string())
}

/// A failure: exit status 1 (not found) or 2 (anything else), and a
/// message.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
    key: Option<String>,
}

impl Failure {
    fn not_found(key: &str) -> Self {
        Self {
            code: 1,
            message: "key not found".to_owned(),
            key: Some(key.to_owned()),
        }
    }

    fn error(message: impl std::fmt::Display) -> Self {
        Self {
            code: 2,
            message: crate::store::one_line(&message.to_string()),
            key: None,
        }
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Failure::error(e)
    }
}

/// Parses the process arguments, runs the command and returns the exit
/// status. Never panics on bad input.
#[must_use]
pub fn main() -> ExitCode {
    // `exit` prints help and version (status 0) and usage errors (status 2).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && json_requested(std::env::args()) => {
            // A usage error under --json is still one JSON document on stdout.
            let rendered = e.to_string();
            let first = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("usage error");
            println!(
                "{}",
                json!({ "error": first.trim_start_matches("error: ") })
            );
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    run(&cli)
}

/// Whether `--json` appears among the options (before any `--`).
fn json_requested(args: impl Iterator<Item = String>) -> bool {
    args.take_while(|a| a != "--").any(|a| a == "--json")
}

/// Runs a parsed command line, printing its output, and returns the exit
/// status.
#[must_use]
pub fn run(cli: &Cli) -> ExitCode {
    let result = dispatch(cli);
    match result {
        Ok(out) => {
            emit(&out);
            ExitCode::SUCCESS
        }
        Err(f) => {
            if cli.json {
                let mut doc = json!({ "error": f.message });
                if let Some(k) = f.key {
                    doc["key"] = Value::String(k);
                }
                emit(&format!("{doc}\n"));
            } else {
                let line = match &f.key {
                    Some(k) => format!("cachelite: {}: {}\n", f.message, cell(k, 200)),
                    None => format!("cachelite: {}\n", f.message),
                };
                let _ = io::stderr().write_all(line.as_bytes());
            }
            ExitCode::from(f.code)
        }
    }
}

/// Writes to stdout, ignoring a closed pipe (`cachelite keys | head`).
fn emit(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn json_line(v: &Value) -> String {
    format!("{v}\n")
}

fn ttl_value(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| json!(secs(d)))
}

fn dispatch(cli: &Cli) -> Result<String, Failure> {
    let as_json = cli.json;
    let store = || Store::new(&cli.store).map_err(Failure::from);
    match &cli.command {
        Command::Serve(args) => serve(args, as_json),
        Command::Demo => crate::demo::run(as_json),
        Command::Set {
            key,
            value,
            ttl,
            tags,
        } => {
            let mut s = store()?.open(Access::Write)?;
            let value = parse_value(value);
            let mut ins = Insertion::new(value);
            if let Some(d) = ttl {
                ins = ins.with_ttl(*d);
            }
            if !tags.is_empty() {
                ins = ins.with_tags(tags);
            }
            let created = !s.cache().contains_key(key.as_str());
            s.cache().insert_entry(key.clone(), ins);
            let c = s.counters_mut();
            c.sets = c.sets.saturating_add(1);
            s.save()?;
            Ok(if as_json {
                json_line(&json!({ "key": key, "created": created, "ttl": ttl.map(secs) }))
            } else {
                String::new()
            })
        }
        Command::Get { key } => {
            // Counting hits rewrites the .stats sidecar, so a get takes the
            // write lock, except on a store that was never written.
            let store = store()?;
            let counting = store.has_directory();
            let access = if counting {
                Access::Write
            } else {
                Access::Read
            };
            let mut s = store.open(access)?;
            let found = s.cache().get(key.as_str());
            let ttl = s.cache().ttl(key.as_str());
            if found.is_some() {
                let c = s.counters_mut();
                c.hits = c.hits.saturating_add(1);
            } else {
                let c = s.counters_mut();
                c.misses = c.misses.saturating_add(1);
            }
            if counting {
                // Advisory: a read must not fail because a count could not be kept.
                let _ = s.save_counters();
            }
            let value = found.ok_or_else(|| Failure::not_found(key))?;
            Ok(if as_json {
                json_line(&json!({ "key": key, "value": value, "ttl": ttl_value(ttl) }))
            } else {
                format!("{}\n", plain_value(&value))
            })
        }
        Command::Del { key } => {
            let mut s = store()?.open(Access::Write)?;
            if s.cache().remove(key.as_str()).is_none() {
                return Err(Failure::not_found(key));
            }
            let c = s.counters_mut();
            c.deletes = c.deletes.saturating_add(1);
            s.save()?;
            Ok(if as_json {
                json_line(&json!({ "key": key, "deleted": true }))
            } else {
                String::new()
            })
        }
        Command::Ttl { key } => {
            let s = store()?.open(Access::Read)?;
            if !s.cache().contains_key(key.as_str()) {
                return Err(Failure::not_found(key));
            }
            let ttl = s.cache().ttl(key.as_str());
            Ok(if as_json {
                json_line(&json!({ "key": key, "ttl": ttl_value(ttl) }))
            } else {
                match ttl {
                    Some(d) => format!("{}\n", secs(d)),
                    None => "none\n".to_owned(),
                }
            })
        }
        Command::Keys { pattern } => {
            let glob = pattern
                .as_deref()
                .map(cachelite::Glob::new)
                .transpose()
                .map_err(Failure::error)?;
            let s = store()?.open(Access::Read)?;
            let mut keys = s.cache().keys();
            if let Some(g) = &glob {
                keys.retain(|k| g.is_match(k));
            }
            keys.sort_unstable();
            Ok(list_keys(&s, &keys, as_json))
        }
        Command::Invalidate { pattern, tags } => {
            let glob = pattern
                .as_deref()
                .map(cachelite::Glob::new)
                .transpose()
                .map_err(Failure::error)?;
            let mut s = store()?.open(Access::Write)?;
            let removed = match &glob {
                Some(g) => s.cache().invalidate_matching(g),
                None => s.cache().invalidate_tags(tags),
            };
            if removed > 0 {
                let c = s.counters_mut();
                c.invalidations = c.invalidations.saturating_add(removed as u64);
                s.save()?;
            }
            Ok(removed_output(removed, as_json))
        }
        Command::Flush => {
            let mut s = store()?.open(Access::Write)?;
            let removed = s.cache().keys().len();
            s.cache().clear();
            let c = s.counters_mut();
            c.invalidations = c.invalidations.saturating_add(removed as u64);
            s.save()?;
            Ok(removed_output(removed, as_json))
        }
        Command::Stats => {
            let s = store()?.open(Access::Read)?;
            Ok(stats_output(&s, as_json))
        }
    }
}

fn removed_output(removed: usize, as_json: bool) -> String {
    if as_json {
        json_line(&json!({ "removed": removed }))
    } else {
        format!("{removed}\n")
    }
}

fn list_keys(s: &Session, keys: &[String], as_json: bool) -> String {
    if as_json {
        return json_line(&json!({ "count": keys.len(), "keys": keys }));
    }
    let rows: Vec<[String; 3]> = keys
        .iter()
        .filter_map(|k| {
            // An entry can expire between listing and reading.
            let v = s.cache().peek(k.as_str())?;
            let ttl = s.cache().ttl(k.as_str()).map_or("-".to_owned(), human_ttl);
            Some([cell(k, 60), ttl, cell(&v.to_string(), 60)])
        })
        .collect();
    let mut out = table(["KEY", "TTL", "VALUE"], &rows);
    out.push_str(&match rows.len() {
        1 => "(1 key)\n".to_owned(),
        n => format!("({n} keys)\n"),
    });
    out
}

fn stats_output(s: &Session, as_json: bool) -> String {
    let cache = s.cache();
    let keys = cache.keys();
    let with_ttl = keys
        .iter()
        .filter(|k| cache.ttl(k.as_str()).is_some())
        .count();
    let bytes = cache.stats().bytes;
    let c = s.counters();
    if as_json {
        return json_line(&json!({
            "store": s.path().display().to_string(),
            "entries": keys.len(),
            "with_ttl": with_ttl,
            "bytes": bytes,
            "file_bytes": s.file_size(),
            "hits": c.hits,
            "misses": c.misses,
            "hit_rate": c.hit_rate(),
            "sets": c.sets,
            "deletes": c.deletes,
            "invalidations": c.invalidations,
        }));
    }
    let rows = [
        ["store", &s.path().display().to_string()],
        ["entries", &keys.len().to_string()],
        ["with ttl", &with_ttl.to_string()],
        ["data size", &human_bytes(bytes)],
        [
            "file size",
            &s.file_size().map_or("-".to_owned(), human_bytes),
        ],
        ["hits", &c.hits.to_string()],
        ["misses", &c.misses.to_string()],
        ["hit rate", &percent(c.hit_rate())],
        ["sets", &c.sets.to_string()],
        ["deletes", &c.deletes.to_string()],
        ["invalidated", &c.invalidations.to_string()],
    ]
    .map(|[a, b]| [a.to_owned(), b.to_owned()]);
    table(["STAT", "VALUE"], &rows)
}

fn serve(args: &ServeArgs, as_json: bool) -> Result<String, Failure> {
    let config = server_config(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let addr = SocketAddr::new(args.bind, args.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Failure::error(format!("cannot listen on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::error(format!("cannot listen on {addr}: {e}")))?;
        // Tests and scripts read this line to learn the port when it is 0.
        emit(&if as_json {
            json_line(&json!({ "listening": local.to_string() }))
        } else {
            format!("listening on {local}\n")
        });
        let snapshot = config.snapshot.clone();
        crate::server::serve(listener, config, shutdown_signal())
            .await
            .map_err(Failure::error)?;
        if let Some(p) = snapshot {
            let _ = writeln!(io::stderr(), "cachelite: saved snapshot {}", p.display());
        }
        Ok(String::new())
    })
}

fn server_config(args: &ServeArgs) -> Result<ServerConfig, Failure> {
    if args.token.as_deref() == Some("") {
        return Err(Failure::error("--token must not be empty"));
    }
    if let Some(p) = &args.snapshot
        && cachelite::SnapshotFormat::from_path(p).is_none()
    {
        return Err(Failure::error(crate::server::ServeError::SnapshotPath(
            p.clone(),
        )));
    }
    let redis = redis_config(args, |name| std::env::var(name).ok(), env_names())?;
    if redis.is_some() && args.snapshot.is_some() {
        return Err(Failure::error(crate::server::ServeError::SnapshotWithRedis));
    }
    Ok(ServerConfig {
        redis,
        max_items: Some(usize::try_from(args.max_items).unwrap_or(usize::MAX)),
        max_bytes: Some(args.max_bytes),
        policy: args.policy,
        default_ttl: args.default_ttl,
        active_expiry: args.active_expiry,
        snapshot: args.snapshot.clone(),
        snapshot_interval: Some(args.snapshot_interval),
        max_body: usize::try_from(args.max_body).unwrap_or(usize::MAX),
        max_key_len: usize::try_from(args.max_key_len).unwrap_or(usize::MAX),
        token: args.token.clone(),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        request_timeout: args.request_timeout,
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        max_header_bytes: usize::try_from(args.max_header_size).unwrap_or(usize::MAX),
        ..ServerConfig::default()
    })
}

/// The names of the process's environment variables.
fn env_names() -> Vec<String> {
    std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect()
}

/// The shared tier's settings: `--redis`, `--namespace` and `--local-ttl`
/// over the `CACHELITE_REDIS_*` variables `env` and `names` give.
fn redis_config(
    args: &ServeArgs,
    env: impl Fn(&str) -> Option<String>,
    names: Vec<String>,
) -> Result<Option<RedisConfig>, Failure> {
    const URL: &str = "CACHELITE_REDIS_URL";
    /// The variables that put the store elsewhere than at one URL.
    const TOPOLOGY: [&str; 2] = ["CACHELITE_REDIS_CLUSTER", "CACHELITE_REDIS_SENTINELS"];
    let Some(url) = &args.redis else {
        return Ok(None);
    };
    let set = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
    let url = match url {
        Some(u) => {
            // Checked here so that a bad URL is blamed on the flag.
            RedisStore::builder(u.as_str())
                .build()
                .map_err(|e| Failure::error(format!("--redis: {e}")))?;
            if let Some(other) = TOPOLOGY.iter().find(|n| set(n)) {
                return Err(Failure::error(format!(
                    "--redis URL names one server, but {other} is set: give --redis without \
                     a URL to use {other}, or unset it"
                )));
            }
            Some(u.clone())
        }
        None if !set(URL) && !TOPOLOGY.iter().any(|n| set(n)) => {
            return Err(Failure::error(format!(
                "--redis needs a URL: give one (--redis redis://127.0.0.1:6379/) or set {URL} \
                 (or {} for a cluster, or {} with CACHELITE_REDIS_SENTINEL_SERVICE)",
                TOPOLOGY[0], TOPOLOGY[1]
            )));
        }
        None => None,
    };
    RedisStoreBuilder::check_env_names(names.iter().map(String::as_str)).map_err(Failure::error)?;
    let mut store = RedisStoreBuilder::from_vars(|name| match &url {
        Some(u) if name == URL => Some(u.clone()),
        _ => env(name),
    })
    .map_err(Failure::error)?;
    if let Some(ns) = &args.namespace {
        store = store.namespace(ns.as_str());
        // Checked now, so that a bad name stops the server before it listens.
        store
            .clone()
            .build()
            .map_err(|e| Failure::error(format!("--namespace: {e}")))?;
    }
    let mut config = RedisConfig::new(store);
    config.local_ttl = args.local_ttl;
    Ok(Some(config))
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn negative_looking_values_are_values() {
        let cli = Cli::try_parse_from(["cachelite", "set", "k", "-5"]).unwrap();
        assert!(matches!(cli.command, Command::Set { ref value, .. } if value == "-5"));
    }

    fn serve_config(args: &[&str]) -> ServerConfig {
        let cli = Cli::try_parse_from(["cachelite", "serve"].iter().chain(args)).unwrap();
        let Command::Serve(a) = &cli.command else {
            unreachable!()
        };
        server_config(a).unwrap()
    }

    #[test]
    fn serve_is_bounded_by_default() {
        let c = serve_config(&[]);
        let d = ServerConfig::default();
        assert_eq!((c.max_items, c.max_bytes), (d.max_items, d.max_bytes));
        assert!(c.max_items.is_some() && c.max_bytes.is_some());
        assert_eq!(c.max_connections, d.max_connections);
        assert_eq!(c.request_timeout, d.request_timeout);
        assert_eq!(c.header_timeout, d.header_timeout);
        assert_eq!(c.idle_timeout, d.idle_timeout);
        assert_eq!(c.max_header_bytes, d.max_header_bytes);
    }

    #[test]
    fn every_server_limit_has_a_flag() {
        let c = serve_config(&[
            "--max-items=5",
            "--max-bytes=1MiB",
            "--max-connections=7",
            "--request-timeout=2s",
            "--header-timeout=500ms",
            "--idle-timeout=1m",
            "--max-header-size=4KiB",
        ]);
        assert_eq!((c.max_items, c.max_bytes), (Some(5), Some(1 << 20)));
        assert_eq!(c.max_connections, 7);
        assert_eq!(c.request_timeout, Duration::from_secs(2));
        assert_eq!(c.header_timeout, Duration::from_millis(500));
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.max_header_bytes, 4096);
        assert!(Cli::try_parse_from(["cachelite", "serve", "--max-connections=0"]).is_err());
    }

    fn serve_args(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(["cachelite", "serve"].iter().chain(args)).unwrap();
        let Command::Serve(a) = cli.command else {
            unreachable!()
        };
        a
    }

    /// `redis_config` over the given variables instead of the process's.
    fn redis_with(args: &[&str], vars: &[(&str, &str)]) -> Result<Option<RedisConfig>, String> {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let names = vars.keys().cloned().collect();
        redis_config(&serve_args(args), |n| vars.get(n).cloned(), names).map_err(|f| f.message)
    }

    fn store_of(c: Option<RedisConfig>) -> RedisStore {
        c.expect("a Redis configuration").store.build().unwrap()
    }

    #[test]
    fn without_redis_the_server_keeps_its_own_cache() {
        let vars = [("CACHELITE_REDIS_URL", "redis://127.0.0.1:6390/")];
        assert!(redis_with(&[], &vars).unwrap().is_none());
        assert!(serve_config(&[]).redis.is_none());
    }

    #[test]
    fn redis_flags_configure_the_shared_tier() {
        let c = redis_with(
            &[
                "--redis",
                "redis://127.0.0.1:6390/",
                "--namespace",
                "team",
                "--local-ttl",
                "2s",
            ],
            &[
                ("CACHELITE_REDIS_CODEC", "json"),
                ("CACHELITE_REDIS_NAMESPACE", "other"),
            ],
        )
        .unwrap();
        assert_eq!(c.as_ref().unwrap().local_ttl, Some(Duration::from_secs(2)));
        let store = store_of(c);
        assert_eq!(store.namespace(), "team", "the flag wins over the variable");
        assert_eq!(store.codec(), cachelite_redis::Codec::Json);
        let addr = store.client().get_connection_info().addr().to_string();
        assert_eq!(addr, "127.0.0.1:6390");
    }

    #[test]
    fn redis_without_a_url_reads_the_environment() {
        let vars = [
            ("CACHELITE_REDIS_URL", "redis://127.0.0.1:6391/"),
            ("CACHELITE_REDIS_NAMESPACE", "fromenv"),
        ];
        let store = store_of(redis_with(&["--redis"], &vars).unwrap());
        assert_eq!(store.namespace(), "fromenv");
        let addr = store.client().get_connection_info().addr().to_string();
        assert_eq!(addr, "127.0.0.1:6391");
        let flag = redis_with(&["--redis", "redis://127.0.0.1:6392/"], &vars).unwrap();
        let addr = store_of(flag)
            .client()
            .get_connection_info()
            .addr()
            .to_string();
        assert_eq!(addr, "127.0.0.1:6392", "the flag wins over the variable");
        let m = redis_with(&["--redis"], &[]).unwrap_err();
        assert!(
            m.contains("--redis needs a URL") && m.contains("CACHELITE_REDIS_URL"),
            "{m}"
        );
    }

    #[test]
    fn redis_without_a_url_reads_a_cluster_sentinels_and_keys() {
        let key = "5e".repeat(32);
        let vars = [
            ("CACHELITE_REDIS_CLUSTER", "127.0.0.1:7000,127.0.0.1:7001"),
            ("CACHELITE_REDIS_COMPRESSION", "lz4:512"),
            ("CACHELITE_REDIS_KEY", key.as_str()),
            ("CACHELITE_REDIS_KEY_ID", "3"),
        ];
        let c = redis_with(&["--redis", "--namespace", "team"], &vars).unwrap();
        let builder = format!("{:?}", c.as_ref().unwrap().store);
        assert!(
            builder.contains(r#"Cluster(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])"#),
            "{builder}"
        );
        let store = store_of(c);
        assert_eq!(store.namespace(), "team");
        assert_eq!(
            store.compression(),
            cachelite_redis::Compression::Lz4 { min_bytes: 512 }
        );
        assert_eq!(store.keyring().map(|k| k.current_id()), Some(3));
        let sentinels = [
            ("CACHELITE_REDIS_SENTINELS", "127.0.0.1:26379"),
            ("CACHELITE_REDIS_SENTINEL_SERVICE", "mymaster"),
        ];
        let c = redis_with(&["--redis"], &sentinels).unwrap();
        let builder = format!("{:?}", c.unwrap().store);
        assert!(builder.contains(r#"service: "mymaster""#), "{builder}");
        for topology in [&vars[..1], &sentinels[..]] {
            let m = redis_with(&["--redis", "redis://127.0.0.1:6390/"], topology).unwrap_err();
            assert!(
                m.contains("--redis URL names one server, but CACHELITE_REDIS_"),
                "{m}"
            );
        }
        let m = redis_with(&["--redis"], &[("CACHELITE_REDIS_KEY", "hunter2")]).unwrap_err();
        assert!(m.contains("--redis needs a URL"), "{m}");
        let m = redis_with(
            &["--redis", "redis://127.0.0.1:6390/"],
            &[("CACHELITE_REDIS_KEY", "hunter2")],
        )
        .unwrap_err();
        assert!(m.contains("CACHELITE_REDIS_KEY is not valid"), "{m}");
        assert!(!m.contains("hunter2"), "the key leaked: {m}");
    }

    #[test]
    fn redis_mistakes_are_named() {
        let url = "redis://127.0.0.1:6390/";
        let m = redis_with(&["--redis", "http://x/"], &[]).unwrap_err();
        assert!(m.starts_with("--redis:"), "{m}");
        let m = redis_with(&["--redis", url, "--namespace", "no spaces"], &[]).unwrap_err();
        assert!(m.starts_with("--namespace:"), "{m}");
        let m = redis_with(&["--redis", url], &[("CACHELITE_REDIS_NAMESPAC", "x")]).unwrap_err();
        assert!(
            m.contains("unknown variable CACHELITE_REDIS_NAMESPAC"),
            "{m}"
        );
        let m = redis_with(&["--redis", url], &[("CACHELITE_REDIS_CODEC", "xml")]).unwrap_err();
        assert!(m.contains("CACHELITE_REDIS_CODEC=\"xml\""), "{m}");
        for flag in ["--namespace=a", "--local-ttl=1s"] {
            let err = Cli::try_parse_from(["cachelite", "serve", flag]).unwrap_err();
            assert!(err.to_string().contains("--redis"), "{err}");
        }
        assert!(Cli::try_parse_from(["cachelite", "serve", "--redis", "--local-ttl=0"]).is_err());
    }

    #[test]
    fn a_snapshot_is_refused_with_redis() {
        let cli = Cli::try_parse_from([
            "cachelite",
            "serve",
            "--redis",
            "redis://127.0.0.1:6390/",
            "--snapshot",
            "s.json",
        ])
        .unwrap();
        let Command::Serve(a) = &cli.command else {
            unreachable!()
        };
        let m = server_config(a).unwrap_err().message;
        assert!(m.contains("--snapshot cannot be used with --redis"), "{m}");
    }

    #[test]
    fn unknown_policy_lists_the_valid_ones() {
        let err = Cli::try_parse_from(["cachelite", "serve", "--policy", "arc"]).unwrap_err();
        assert!(err.to_string().contains(&Policy::valid_names()), "{err}");
    }
}
