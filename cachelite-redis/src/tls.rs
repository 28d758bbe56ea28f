//! Opening a redis-rs client for a URL: plain TCP, a Unix socket, or TLS
//! (`rediss://`) when the `tls` feature is on.
//!
//! With the feature, TLS goes through rustls and its `ring` provider; the
//! server is verified against the system's root certificates, or against
//! the CA set with `RedisStoreBuilder::tls_root_certificate`.
//! A URL ending in `#insecure` (redis-rs's convention) skips verification.
//! Without the feature a `rediss://` URL is a configuration error that names
//! the feature to enable.

use std::fmt;

use crate::Error;

/// Certificates for a `rediss://` connection, beyond the system's roots.
/// Its `Debug` never prints them (a client key is a secret).
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    /// PEM: the CAs trusted instead of the system's roots.
    #[cfg(feature = "tls")]
    pub(crate) root_certificate: Option<Vec<u8>>,
    /// PEM: a client certificate chain and its private key, for servers that
    /// authenticate clients (`tls-auth-clients yes`).
    #[cfg(feature = "tls")]
    pub(crate) client_identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TlsSettings");
        #[cfg(feature = "tls")]
        {
            let set = |v: bool| if v { "<set>" } else { "<none>" };
            d.field("root_certificate", &set(self.root_certificate.is_some()));
            d.field("client_identity", &set(self.client_identity.is_some()));
        }
        d.finish()
    }
}

impl TlsSettings {
    /// Whether certificates beyond the system's roots were given.
    pub(crate) fn is_custom(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.root_certificate.is_some() || self.client_identity.is_some()
        }
        #[cfg(not(feature = "tls"))]
        {
            false
        }
    }
}

/// Whether `url` asks for TLS.
fn is_tls_url(url: &str) -> bool {
    url.trim_start()
        .get(..9)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("rediss://"))
}

fn bad_url(url: &str, why: impl fmt::Display) -> Error {
    let url = redacted(url);
    Error::Config(format!("cannot use the URL {url:?}: {why}"))
}

/// `url` with any password replaced by `***`, for messages and logs.
pub(crate) fn redacted(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..start], &rest[..colon], &rest[at..]),
        None => url.to_owned(),
    }
}

/// A client for `url`; no connection is made.
#[cfg(not(feature = "tls"))]
pub(crate) fn client(url: &str, _tls: &TlsSettings) -> Result<redis::Client, Error> {
    if is_tls_url(url) {
        return Err(bad_url(
            url,
            "rediss:// (TLS) needs the `tls` feature of cachelite-redis \
             (`redis-tls` on the cachelite crate), which this build does not enable",
        ));
    }
    redis::Client::open(url).map_err(|e| bad_url(url, e))
}

/// A client for `url`; no connection is made.
#[cfg(feature = "tls")]
pub(crate) fn client(url: &str, tls: &TlsSettings) -> Result<redis::Client, Error> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let custom = tls.root_certificate.is_some() || tls.client_identity.is_some();
    if !is_tls_url(url) {
        if custom {
            return Err(bad_url(
                url,
                "TLS certificates were given, but only a rediss:// URL uses them",
            ));
        }
        return redis::Client::open(url).map_err(|e| bad_url(url, e));
    }
    use_ring_unless_chosen();
    if !custom {
        return redis::Client::open(url).map_err(|e| bad_url(url, e));
    }
    if let Some(pem) = &tls.root_certificate {
        // An input with no certificate in it would make every handshake
        // fail later; say so now.
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::Config(format!("the TLS root certificate is not valid PEM: {e}"))
            })?;
        if certs.is_empty() {
            return Err(Error::Config(
                "the TLS root certificate holds no PEM certificate \
                 (-----BEGIN CERTIFICATE-----)"
                    .into(),
            ));
        }
    }
    let certificates = redis::TlsCertificates {
        client_tls: tls
            .client_identity
            .clone()
            .map(|(client_cert, client_key)| redis::ClientTlsConfig {
                client_cert,
                client_key,
            }),
        root_cert: tls.root_certificate.clone(),
    };
    redis::Client::build_with_tls(url, certificates).map_err(|e| bad_url(url, e))
}

/// rustls needs a process-wide crypto provider. Installs `ring` unless the
/// application installed one already; without this, a build in which some
/// other crate also enables rustls's `aws-lc-rs` would have no default.
#[cfg(feature = "tls")]
fn use_ring_unless_chosen() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: one is in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_an_error_message() {
        assert_eq!(
            redacted("redis://:hunter2@host:6379/0"),
            "redis://:***@host:6379/0"
        );
        assert_eq!(
            redacted("rediss://user:p@ss@host/"),
            "rediss://user:***@host/"
        );
        assert_eq!(redacted("redis://user@host"), "redis://user@host");
        assert_eq!(redacted("redis://host:6379"), "redis://host:6379");
        assert_eq!(redacted("unix:///tmp/r.sock"), "unix:///tmp/r.sock");
        let e = bad_url("redis://:hunter2@host:99999", "bad port").to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn only_the_rediss_scheme_asks_for_tls() {
        assert!(is_tls_url("rediss://127.0.0.1:6380/"));
        assert!(is_tls_url("  REDISS://cache.example:6380/#insecure"));
        assert!(!is_tls_url("redis://127.0.0.1/"));
        assert!(!is_tls_url("redis+unix:///tmp/redis.sock"));
        assert!(!is_tls_url("rediss"));
        assert!(!is_tls_url(""));
    }

    #[test]
    fn settings_never_print_certificates() {
        #[allow(unused_mut)]
        let mut s = TlsSettings::default();
        #[cfg(feature = "tls")]
        {
            s.client_identity = Some((b"CERT".to_vec(), b"SECRET KEY".to_vec()));
        }
        let shown = format!("{s:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn without_the_feature_rediss_names_the_feature() {
        let err = client("rediss://127.0.0.1:6380/", &TlsSettings::default()).unwrap_err();
        let Error::Config(m) = err else {
            panic!("expected a configuration error, got {err:?}")
        };
        assert!(
            m.contains("`tls` feature") && m.contains("redis-tls"),
            "{m}"
        );
    }

    #[cfg(feature = "tls")]
    #[test]
    fn certificates_need_a_rediss_url_and_real_pem() {
        let with_ca = |pem: &[u8]| TlsSettings {
            root_certificate: Some(pem.to_vec()),
            client_identity: None,
        };
        let err = client("redis://127.0.0.1/", &with_ca(b"x")).unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.contains("rediss://")),
            "{err}"
        );
        let err = client("rediss://127.0.0.1/", &with_ca(b"not a certificate")).unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.contains("no PEM certificate")),
            "{err}"
        );
        // The system's roots, and no verification at all, need no settings.
        client("rediss://127.0.0.1:6380/", &TlsSettings::default()).unwrap();
        client("rediss://127.0.0.1:6380/#insecure", &TlsSettings::default()).unwrap();
    }
}
