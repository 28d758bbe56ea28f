//! The Redis tier over TLS (`rediss://`), against a private redis-server
//! started with a CA and a server certificate made here by the `openssl`
//! command.
//!
//! Skips with a message when redis-server, its TLS support or `openssl` is
//! missing, unless `CACHELITE_REQUIRE_REDIS=1`, which makes that a failure.

mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cachelite_redis::{RedisStore, TieredCache};
use support::{namespace, until};

const PATIENT: Duration = Duration::from_secs(3);

fn skip(why: &str) {
    assert!(
        !std::env::var("CACHELITE_REQUIRE_REDIS").is_ok_and(|v| v == "1"),
        "{why}, and CACHELITE_REQUIRE_REDIS=1: install redis-server (built with TLS) and openssl"
    );
    eprintln!("skipping: {why} (set CACHELITE_REQUIRE_REDIS=1 to fail instead)");
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and a certificate it signed, with their keys, under `dir`.
fn certify(dir: &Path, ca: &str, leaf: &str, extensions: &str) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    if !dir.join(format!("{ca}.crt")).exists() {
        let (key, crt) = (format!("{ca}.key"), format!("{ca}.crt"));
        let subject = format!("/CN=cachelite test {ca}");
        let mut args = vec!["req", "-x509", "-nodes", "-days", "2"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &crt, "-subj", &subject]);
        args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
        args.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(dir, &args);
    }
    let ext = format!("{leaf}.ext");
    std::fs::write(dir.join(&ext), extensions).unwrap();
    let (key, csr, crt) = (
        format!("{leaf}.key"),
        format!("{leaf}.csr"),
        format!("{leaf}.crt"),
    );
    let subject = format!("/CN={leaf}");
    let mut args = vec!["req", "-new", "-nodes"];
    args.extend(ec);
    args.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
    openssl(dir, &args);
    let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-set_serial",
            "2",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ],
    );
}

/// A redis-server listening only on a TLS port, with its certificates in a
/// temporary folder; killed by PID, waited on, and its folder removed on
/// drop.
struct TlsServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl TlsServer {
    /// `None` (after a message) when a tool or TLS support is missing.
    fn start(auth_clients: bool) -> Option<TlsServer> {
        if !runs("redis-server", "--version") {
            skip("redis-server is not installed");
            return None;
        }
        if !runs("openssl", "version") {
            skip("the openssl command is not installed");
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "cachelite-tls-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let server_ext = "basicConstraints=CA:FALSE\n\
                          keyUsage=critical,digitalSignature\n\
                          extendedKeyUsage=serverAuth\n\
                          subjectAltName=DNS:localhost,IP:127.0.0.1\n";
        let client_ext = "basicConstraints=CA:FALSE\n\
                          keyUsage=critical,digitalSignature\n\
                          extendedKeyUsage=clientAuth\n";
        certify(&dir, "ca", "server", server_ext);
        certify(&dir, "ca", "client", client_ext);
        // A CA that signed nothing this server presents.
        certify(&dir, "stranger", "unused", server_ext);

        let mut last_log = String::new();
        // A port can be taken between the probe and the bind: retry.
        for _ in 0..5 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let log = dir.join("redis.log");
            let file = |name: &str| dir.join(name).display().to_string();
            let child = Command::new("redis-server")
                .args(["--port", "0", "--bind", "127.0.0.1"])
                .args(["--tls-port", &port.to_string()])
                .args(["--tls-cert-file", &file("server.crt")])
                .args(["--tls-key-file", &file("server.key")])
                .args(["--tls-ca-cert-file", &file("ca.crt")])
                .args([
                    "--tls-auth-clients",
                    if auth_clients { "yes" } else { "no" },
                ])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--logfile", &log.display().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut s = TlsServer {
                child,
                port,
                dir: dir.clone(),
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(s);
                }
                if let Ok(Some(_)) = s.child.try_wait() {
                    break; // exited: the port was taken, or no TLS support
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
            if !last_log.contains("Address already in use")
                && last_log.to_ascii_lowercase().contains("tls")
            {
                // Most likely a redis-server built without TLS support.
                skip(&format!(
                    "redis-server could not serve TLS; its log:\n{last_log}"
                ));
                return None;
            }
            // Dropping `s` kills what is left and removes nothing yet: the
            // folder is reused by the next try.
            s.kill();
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("could not start redis-server with TLS; its log:\n{last_log}");
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/", self.port)
    }

    fn pem(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap()
    }

    /// A store over TLS that trusts the test CA.
    fn store(&self, ns: &str) -> RedisStore {
        self.builder(&self.url(), ns)
            .tls_root_certificate(self.pem("ca.crt"))
            .build()
            .unwrap()
    }

    fn builder(&self, url: &str, ns: &str) -> cachelite_redis::RedisStoreBuilder {
        RedisStore::builder(url)
            .namespace(ns)
            .connect_timeout(PATIENT)
            .response_timeout(PATIENT)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A two-tier cache whose subscriber (over TLS too) is connected.
async fn tiered(store: RedisStore) -> TieredCache<str, String> {
    let c = TieredCache::builder(store)
        .local_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    until(20, "the subscriber is connected over TLS", async || {
        c.is_local_active()
    })
    .await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_and_invalidations_cross_a_tls_connection() {
    let Some(server) = TlsServer::start(false) else {
        return;
    };
    let ns = namespace("share");
    let a = tiered(server.store(&ns)).await;
    let b = tiered(server.store(&ns)).await;
    assert!(a.ping().await.is_ok());
    support::two_clients_share_a_value(&a, &b).await;

    // b's local copy is kept coherent by a's writes over TLS.
    a.insert("greeting", "bonjour".to_string()).await.unwrap();
    until(10, "b sees a's new value", async || {
        b.get("greeting").await.as_deref() == Some("bonjour")
    })
    .await;
    assert!(a.remove("greeting").await.unwrap());
    until(10, "b's copy is gone", async || {
        b.get("greeting").await.is_none()
    })
    .await;
    assert_eq!(a.stats().errors, 0);
    assert_eq!(b.stats().errors, 0);
    assert_eq!(a.stats().disconnects, 0);
    a.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_server_fails_open() {
    let Some(server) = TlsServer::start(false) else {
        return;
    };
    let ns = namespace("stranger");
    // Trusting another CA, and trusting the system's roots: both refuse
    // this server's certificate.
    let stranger = server
        .builder(&server.url(), &ns)
        .tls_root_certificate(server.pem("stranger.crt"))
        .build()
        .unwrap();
    let system = server.builder(&server.url(), &ns).build().unwrap();
    for store in [stranger, system] {
        let cache: TieredCache<str, String> = TieredCache::builder(store).build().unwrap();
        let computed = AtomicUsize::new(0);
        for _ in 0..2 {
            let v = cache
                .get_or_insert_with("k", || {
                    computed.fetch_add(1, Ordering::SeqCst);
                    "computed".to_string()
                })
                .await;
            assert_eq!(v, "computed");
        }
        assert_eq!(computed.load(Ordering::SeqCst), 2, "nothing is cached");
        assert!(cache.stats().errors >= 1, "{:?}", cache.stats());
        assert!(!cache.is_local_active());
        assert!(cache.ping().await.is_err());
    }
    // Nothing reached the server.
    let trusted = server.store(&ns);
    assert_eq!(trusted.get::<_, String>(&"k").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_insecure_fragment_skips_verification() {
    let Some(server) = TlsServer::start(false) else {
        return;
    };
    let ns = namespace("insecure");
    let url = format!("rediss://127.0.0.1:{}/#insecure", server.port);
    let store = server.builder(&url, &ns).build().unwrap();
    store.set(&"k", &7_u32, None).await.unwrap();
    assert_eq!(store.get::<_, u32>(&"k").await.unwrap(), Some(7));
    // Written over the verified connection's server, too.
    assert_eq!(
        server.store(&ns).get::<_, u32>(&"k").await.unwrap(),
        Some(7)
    );
    assert_eq!(store.stats().errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_presented_when_the_server_requires_one() {
    let Some(server) = TlsServer::start(true) else {
        return;
    };
    let ns = namespace("mtls");
    let anonymous = server.store(&ns);
    assert!(
        anonymous.ping().await.is_err(),
        "the server requires a client certificate"
    );

    let known = server
        .builder(&server.url(), &ns)
        .tls_root_certificate(server.pem("ca.crt"))
        .tls_client_certificate(server.pem("client.crt"), server.pem("client.key"))
        .build()
        .unwrap();
    known.set(&"k", &"v".to_string(), None).await.unwrap();
    assert_eq!(
        known.get::<_, String>(&"k").await.unwrap().as_deref(),
        Some("v")
    );
    assert_eq!(known.stats().errors, 0);
}

#[test]
fn tls_settings_are_checked_when_the_store_is_built() {
    let err = RedisStore::builder("redis://127.0.0.1/")
        .tls_root_certificate(b"irrelevant".to_vec())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("rediss://"), "{err}");
    let err = RedisStore::builder("rediss://127.0.0.1/")
        .tls_root_certificate(b"no certificate here".to_vec())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
}
