//! Where and how [`SmtpMailer`](super::SmtpMailer) connects: [`SmtpConfig`], read from
//! lettre's URL grammar or built with setters, and the [`Tls`] mode.
//!
//! ```
//! # fn demo() -> Result<(), squall::mail::Error> {
//! use std::time::Duration;
//! use squall::mail::{SmtpConfig, Tls};
//!
//! let from_url = SmtpConfig::from_url("smtp://mail.example.com:587?tls=required&timeout=10")?;
//! let by_hand = SmtpConfig::new("mail.example.com", 587)
//!     .tls(Tls::Required)
//!     .timeout(Duration::from_secs(10));
//! assert_eq!(format!("{from_url:?}"), format!("{by_hand:?}"));
//! # Ok(())
//! # }
//! # demo().unwrap();
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::client::{Certificate, TlsParameters};

use super::error::SmtpError;
use crate::mail::Error;
use crate::mail::url::grammar::{count, mask_password, seconds};

/// How to secure the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Tls {
    /// Plain text (`smtp://` without `tls=`).
    #[default]
    None,
    /// STARTTLS when the server offers it (`?tls=opportunistic`).
    Opportunistic,
    /// STARTTLS, and fail when it is not offered (`?tls=required`).
    Required,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// Where and how [`SmtpMailer`](super::SmtpMailer) connects.
#[derive(Clone)]
#[must_use]
pub struct SmtpConfig {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: Tls,
    pub(super) credentials: Option<(String, String)>,
    pub(super) hello_name: Option<String>,
    pub(super) timeout: Duration,
    pub(super) max_connections: usize,
    pub(super) idle_timeout: Duration,
    pub(super) root_certificates: Vec<Vec<u8>>,
    pub(super) accept_invalid_certs: bool,
    #[cfg(feature = "dkim")]
    pub(super) dkim: Option<super::dkim::Dkim>,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("timeout", &self.timeout)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl SmtpConfig {
    /// A plain-text connection to `host:port`, 30 s step timeout, at most 4 connections.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        SmtpConfig {
            host: host.into(),
            port,
            tls: Tls::None,
            credentials: None,
            hello_name: None,
            timeout: Duration::from_secs(30),
            max_connections: 4,
            idle_timeout: Duration::from_secs(60),
            root_certificates: Vec::new(),
            accept_invalid_certs: false,
            #[cfg(feature = "dkim")]
            dkim: None,
        }
    }

    /// Reads lettre's URL grammar: `smtp://user:pass@host:port/ehlo-name?tls=required`,
    /// `?tls=opportunistic`, `smtps://host:465`. squall adds `timeout=<seconds>`,
    /// `pool=<max connections>` and `ca=<PEM file>` (an extra trusted root), and with the
    /// `dkim` feature `dkim_domain=`, `dkim_selector=` and `dkim_key=<PEM file>` (see
    /// [`Dkim`](super::Dkim); the key is read now).
    ///
    /// Default ports: 25 for plain `smtp://`, 587 with `tls=`, 465 for `smtps://`.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::Url {
            url: mask_password(url),
            reason,
        };
        let parsed = ::url::Url::parse(url).map_err(|e| {
            bad(format!(
                "{e}; expected smtp://[user:pass@]host[:port][?tls=required|opportunistic] or smtps://host[:port]"
            ))
        })?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host; expected smtp://host:port".into()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut tls_param = None;
        let mut config = SmtpConfig::new(host, 0);
        let mut dkim = DkimParams::default();
        for (key, value) in parsed.query_pairs() {
            match &*key {
                key if dkim.take(key, &value) => {}
                "tls" => tls_param = Some(value.into_owned()),
                "timeout" => config.timeout = seconds(&key, &value).map_err(bad)?,
                "pool" => config.max_connections = count(&key, &value).map_err(bad)?,
                "ca" => {
                    let pem = std::fs::read(&*value)
                        .map_err(|e| bad(format!("ca={value}: cannot read the file: {e}")))?;
                    config.root_certificates.push(pem);
                }
                other => {
                    return Err(bad(format!(
                        "unknown parameter {other:?}; expected tls, timeout, pool, ca, dkim_domain, dkim_selector or dkim_key"
                    )));
                }
            }
        }
        dkim_from_url(&mut config, dkim).map_err(bad)?;
        let (tls, default_port) = match (parsed.scheme(), tls_param.as_deref()) {
            ("smtp", None) => (Tls::None, 25),
            ("smtp", Some("required")) => (Tls::Required, 587),
            ("smtp", Some("opportunistic")) => (Tls::Opportunistic, 587),
            ("smtps", None) => (Tls::Implicit, 465),
            ("smtp", Some(other)) => {
                return Err(bad(format!(
                    "tls={other} is not known; expected tls=required or tls=opportunistic"
                )));
            }
            ("smtps", Some(_)) => {
                return Err(bad("smtps:// is always TLS; drop the tls= parameter".into()));
            }
            (scheme, _) => {
                return Err(bad(format!("scheme {scheme:?} is not smtp or smtps")));
            }
        };
        config.tls = tls;
        config.port = parsed.port().unwrap_or(default_port);
        if parsed.path().len() > 1 {
            config.hello_name = Some(parsed.path().trim_matches('/').to_owned());
        }
        if let Some(password) = parsed.password() {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| bad("user or password is not valid UTF-8 once decoded".into()))
            };
            config.credentials = Some((decode(parsed.username())?, decode(password)?));
        }
        Ok(config)
    }

    /// How to secure the connection.
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = tls;
        self
    }
    /// Log in with AUTH PLAIN or LOGIN.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }
    /// The name sent with EHLO (default `localhost`).
    pub fn hello_name(mut self, name: impl Into<String>) -> Self {
        self.hello_name = Some(name.into());
        self
    }
    /// The longest any one step may take: connect, greeting, each command, the content.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// The most connections open at once (at least 1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }
    /// How long an unused connection is kept for reuse.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }
    /// Trusts this PEM certificate as a root, besides the web PKI roots.
    pub fn add_root_certificate(mut self, pem: Vec<u8>) -> Self {
        self.root_certificates.push(pem);
        self
    }
    /// Signs every message with DKIM just before it is sent.
    #[cfg(feature = "dkim")]
    pub fn dkim(mut self, dkim: super::dkim::Dkim) -> Self {
        self.dkim = Some(dkim);
        self
    }
    /// Accepts any certificate. Only for tests against a throwaway server.
    pub fn dangerous_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// `host:port`, with brackets around an IPv6 address: how errors name the server.
    pub(super) fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(feature = "dkim")]
use super::dkim::UrlParams as DkimParams;

#[cfg(feature = "dkim")]
fn dkim_from_url(config: &mut SmtpConfig, params: DkimParams) -> Result<(), String> {
    config.dkim = params.finish()?;
    Ok(())
}

/// Without the `dkim` feature, the DKIM parameters are known only to be refused.
#[cfg(not(feature = "dkim"))]
#[derive(Default)]
struct DkimParams(Option<String>);

#[cfg(not(feature = "dkim"))]
impl DkimParams {
    fn take(&mut self, key: &str, _value: &str) -> bool {
        let dkim = key.starts_with("dkim_");
        if dkim {
            self.0.get_or_insert_with(|| key.to_owned());
        }
        dkim
    }
}

#[cfg(not(feature = "dkim"))]
fn dkim_from_url(_config: &mut SmtpConfig, params: DkimParams) -> Result<(), String> {
    match params.0 {
        Some(key) => Err(format!(
            "{key}: DKIM signing is not built in; build squall with the `dkim` feature"
        )),
        None => Ok(()),
    }
}

/// lettre's TLS parameters for `config`: the web PKI roots plus any extra root.
pub(super) fn tls_parameters(
    config: &SmtpConfig,
    server: &str,
) -> Result<TlsParameters, SmtpError> {
    let unusable = |problem: &'static str, source: Arc<dyn std::error::Error + Send + Sync>| {
        SmtpError::TlsConfig {
            server: server.to_owned(),
            problem,
            source,
        }
    };
    let mut builder = TlsParameters::builder(config.host.clone())
        .dangerous_accept_invalid_certs(config.accept_invalid_certs);
    for pem in &config.root_certificates {
        // lettre reads a PEM file without any certificate in it as an empty list.
        const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
        if !pem.windows(BEGIN.len()).any(|w| w == BEGIN) {
            return Err(unusable(ROOT_DOES_NOT_PARSE, Arc::new(NoCertificate)));
        }
        let cert =
            Certificate::from_pem(pem).map_err(|e| unusable(ROOT_DOES_NOT_PARSE, Arc::new(e)))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build_rustls()
        .map_err(|e| unusable("the TLS settings are unusable", Arc::new(e)))
}

const ROOT_DOES_NOT_PARSE: &str = "a root certificate does not parse";

/// A root certificate file with no certificate in it.
#[derive(Debug, thiserror::Error)]
#[error("no -----BEGIN CERTIFICATE----- section in the PEM data")]
struct NoCertificate;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_grammar() {
        let c = SmtpConfig::from_url("smtp://u:p%40ss@mail.example.com?tls=required").unwrap();
        assert_eq!((c.port, c.tls), (587, Tls::Required));
        assert_eq!(c.credentials, Some(("u".into(), "p@ss".into())));
        let c = SmtpConfig::from_url("smtps://mail.example.com").unwrap();
        assert_eq!((c.port, c.tls), (465, Tls::Implicit));
        let c = SmtpConfig::from_url("smtp://localhost:2525/client.example?timeout=2.5&pool=8")
            .unwrap();
        assert_eq!((c.port, c.tls), (2525, Tls::None));
        assert_eq!(c.hello_name.as_deref(), Some("client.example"));
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!(c.max_connections, 8);
        let c = SmtpConfig::from_url("smtp://[::1]:2525").unwrap();
        assert_eq!(c.server(), "[::1]:2525");
    }

    #[test]
    fn bad_urls_are_quoted_with_the_password_masked() {
        for (url, expect) in [
            (
                "smtp://u:hunter2@host?tls=always",
                "tls=always is not known",
            ),
            (
                "smtps://u:hunter2@host?tls=required",
                "drop the tls= parameter",
            ),
            ("smtp://u:hunter2@host?pool=0", "pool=0"),
            (
                "smtp://u:hunter2@host?color=red",
                "unknown parameter \"color\"",
            ),
            (
                "smtp://u:hunter2@host?ca=/nonexistent/ca.pem",
                "cannot read the file",
            ),
            ("smtp://u:hunter2@:25", "expected smtp://"),
        ] {
            let err = SmtpConfig::from_url(url).unwrap_err().to_string();
            assert!(err.contains(expect), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{url}: password leaked: {err}");
            assert!(err.contains("***"), "{url}: {err}");
        }
    }

    #[test]
    #[cfg(not(feature = "dkim"))]
    fn dkim_parameters_without_the_feature_say_to_enable_it() {
        let err = SmtpConfig::from_url("smtp://h?dkim_domain=example.com&dkim_selector=s1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dkim_domain: DKIM signing is not built in"),
            "{err}"
        );
        assert!(err.contains("`dkim` feature"), "{err}");
    }

    #[test]
    fn root_certificates_that_do_not_parse_are_refused_with_the_reason() {
        let not_pem = b"not a certificate".to_vec();
        let bad_base64 = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_vec();
        for pem in [not_pem, bad_base64] {
            let config = SmtpConfig::new("mail.example.com", 465)
                .tls(Tls::Implicit)
                .add_root_certificate(pem.clone());
            let Err(e) = tls_parameters(&config, &config.server()) else {
                panic!(
                    "{:?} was accepted as a root certificate",
                    String::from_utf8_lossy(&pem)
                )
            };
            let SmtpError::TlsConfig {
                server, problem, ..
            } = &e
            else {
                panic!("expected SmtpError::TlsConfig, got {e:?}")
            };
            assert_eq!(server, "mail.example.com:465");
            assert_eq!(*problem, "a root certificate does not parse");
            assert!(std::error::Error::source(&e).is_some());
            assert!(
                e.to_string()
                    .starts_with("mail.example.com:465: a root certificate does not parse: "),
                "{e}"
            );
        }
    }

    #[test]
    fn timeouts_that_a_duration_cannot_hold_are_url_errors() {
        for value in ["inf", "1e300"] {
            let url = format!("smtp://h?timeout={value}");
            match SmtpConfig::from_url(&url) {
                Err(Error::Url {
                    url: quoted,
                    reason,
                }) => {
                    assert_eq!(quoted, url);
                    assert!(reason.contains(&format!("timeout={value:?}")), "{reason}");
                }
                other => panic!("{url}: expected Error::Url, got {other:?}"),
            }
        }
    }
}
