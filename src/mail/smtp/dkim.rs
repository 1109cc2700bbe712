//! DKIM signing (RFC 6376) in the SMTP transport: [`Dkim`] signs each message's bytes just
//! before they are sent, rsa-sha256 or ed25519-sha256 (by the key), relaxed/relaxed, with
//! `h=` covering From, To, Subject, Date, Message-ID, MIME-Version and Content-Type, and
//! Cc and Reply-To when the message has them. The signing is mail-auth's.
//!
//! ```
//! # fn demo(pem: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use squall::mail::{Dkim, SmtpConfig};
//!
//! // By URL: smtp://mail.example.com?dkim_domain=example.com&dkim_selector=s1&dkim_key=/etc/dkim/s1.pem
//! let dkim = Dkim::from_pem("example.com", "s1", pem)?;
//! assert_eq!(dkim.algorithm(), "ed25519-sha256");
//! let config = SmtpConfig::new("mail.example.com", 587).dkim(dkim);
//! # Ok(())
//! # }
//! # demo("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n").unwrap();
//! ```

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, PrivateKeyInfo};
use rsa::traits::PublicKeyParts;

use super::error::SmtpError;
use super::pool::Pool;
use crate::mail::RenderedEmail;

/// The headers every signature covers (`h=`), when the message has them.
const SIGNED: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
];
/// Covered only when the message has them.
const SIGNED_WHEN_PRESENT: &[&str] = &["Cc", "Reply-To"];

const RSA_OID: &str = "1.2.840.113549.1.1.1";
const ED25519_OID: &str = "1.3.101.112";

/// Why a DKIM key or setting cannot be used, or a message could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DkimError {
    /// The key file could not be read.
    #[error("DKIM key {}: cannot read the file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The key is not one that can sign: not PEM, encrypted, another algorithm, too short.
    #[error("DKIM key{}: {reason}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Key {
        /// The file, when the key came from one.
        path: Option<PathBuf>,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The domain or selector cannot go into a signature.
    #[error("DKIM {what} {value:?}: {reason}")]
    Setting {
        /// `domain` or `selector`.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// Signing a message failed.
    #[error("DKIM signing failed: {0}")]
    Sign(String),
}

/// The private key, kept as what mail-auth reads it from, so that a signer can be made
/// for each message's header list.
enum Key {
    /// PKCS#1 DER.
    Rsa(Vec<u8>),
    /// The 32-byte seed.
    Ed25519([u8; 32]),
}

/// A DKIM signing key with its domain (`d=`) and selector (`s=`): the public key is
/// published at `<selector>._domainkey.<domain>`.
///
/// Give it to [`SmtpConfig::dkim`](super::SmtpConfig::dkim), or by URL with
/// `dkim_domain=`, `dkim_selector=` and `dkim_key=<PEM file>`. Clones share the key.
#[derive(Clone)]
pub struct Dkim {
    domain: String,
    selector: String,
    key: Arc<Key>,
}

impl fmt::Debug for Dkim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dkim")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl Dkim {
    /// A signer from a PEM private key: `RSA PRIVATE KEY` (PKCS#1), or `PRIVATE KEY`
    /// (PKCS#8) holding an RSA or an Ed25519 key. RSA keys need at least 1024 bits.
    pub fn from_pem(
        domain: impl Into<String>,
        selector: impl Into<String>,
        pem: &str,
    ) -> Result<Self, DkimError> {
        let key = parse_pem(pem).map_err(|reason| DkimError::Key { path: None, reason })?;
        Self::new(domain.into(), selector.into(), key)
    }

    /// A signer from a PEM file, read now; see [`from_pem`](Self::from_pem).
    pub fn from_pem_file(
        domain: impl Into<String>,
        selector: impl Into<String>,
        path: impl AsRef<Path>,
    ) -> Result<Self, DkimError> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|source| DkimError::Read {
            path: path.to_owned(),
            source,
        })?;
        let key = std::str::from_utf8(&pem)
            .map_err(|_| "not a PEM file (not text)".to_owned())
            .and_then(parse_pem)
            .map_err(|reason| DkimError::Key {
                path: Some(path.to_owned()),
                reason,
            })?;
        Self::new(domain.into(), selector.into(), key)
    }

    fn new(domain: String, selector: String, key: Key) -> Result<Self, DkimError> {
        check_name("domain", &domain)?;
        check_name("selector", &selector)?;
        Ok(Dkim {
            domain,
            selector,
            key: Arc::new(key),
        })
    }

    /// `rsa-sha256` or `ed25519-sha256`, by the key.
    pub fn algorithm(&self) -> &'static str {
        match *self.key {
            Key::Rsa(_) => "rsa-sha256",
            Key::Ed25519(_) => "ed25519-sha256",
        }
    }

    /// `message` (headers and body, CRLF line ends) with a `DKIM-Signature` header
    /// put in front.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DkimError> {
        let present = header_names(message);
        let headers: Vec<&str> = SIGNED
            .iter()
            .chain(
                SIGNED_WHEN_PRESENT
                    .iter()
                    .filter(|h| present.iter().any(|p| p.eq_ignore_ascii_case(h.as_bytes()))),
            )
            .copied()
            .collect();
        let header = match &*self.key {
            Key::Rsa(der) => {
                let key = RsaKey::<Sha256>::from_pkcs1_der(der).map_err(sign_error)?;
                self.signature(key, &headers, message)?
            }
            Key::Ed25519(seed) => {
                let key = Ed25519Key::from_bytes(seed).map_err(sign_error)?;
                self.signature(key, &headers, message)?
            }
        };
        let mut signed = Vec::with_capacity(header.len() + message.len());
        signed.extend_from_slice(header.as_bytes());
        signed.extend_from_slice(message);
        Ok(signed)
    }

    fn signature<K: SigningKey>(
        &self,
        key: K,
        headers: &[&str],
        message: &[u8],
    ) -> Result<String, DkimError> {
        let signature = DkimSigner::from_key(key)
            .domain(self.domain.clone())
            .selector(self.selector.clone())
            .headers(headers.iter().copied())
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed)
            .sign(message)
            .map_err(sign_error)?;
        Ok(signature.to_header())
    }
}

fn sign_error(e: mail_auth::Error) -> DkimError {
    DkimError::Sign(e.to_string())
}

/// A domain or selector goes into the signature's tag list as it is: letters, digits,
/// `-`, `_` and dots only.
fn check_name(what: &'static str, value: &str) -> Result<(), DkimError> {
    let reason = if value.is_empty() {
        "is empty"
    } else if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        "may hold only letters, digits, '-', '_' and '.'"
    } else {
        return Ok(());
    };
    Err(DkimError::Setting {
        what,
        value: value.to_owned(),
        reason,
    })
}

/// The names of the header fields of `message`, up to the blank line.
fn header_names(message: &[u8]) -> Vec<&[u8]> {
    message
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
        .filter(|line| !line.starts_with(b" ") && !line.starts_with(b"\t"))
        .filter_map(|line| line.iter().position(|b| *b == b':').map(|i| &line[..i]))
        .collect()
}

/// Reads the one key of a PEM text.
fn parse_pem(pem: &str) -> Result<Key, String> {
    let (label, der) = rsa::pkcs8::der::pem::decode_vec(pem.trim().as_bytes())
        .map_err(|e| format!("not a PEM private key ({e}); expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----"))?;
    match label {
        "RSA PRIVATE KEY" => {
            let key = rsa::RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|e| format!("not a PKCS#1 RSA private key: {e}"))?;
            check_rsa(&key)?;
            Ok(Key::Rsa(der))
        }
        "PRIVATE KEY" => {
            let info = PrivateKeyInfo::try_from(der.as_slice())
                .map_err(|e| format!("not a PKCS#8 private key: {e}"))?;
            match info.algorithm.oid.to_string().as_str() {
                RSA_OID => {
                    let key = rsa::RsaPrivateKey::from_pkcs8_der(&der)
                        .map_err(|e| format!("not a PKCS#8 RSA private key: {e}"))?;
                    check_rsa(&key)?;
                    let pkcs1 = key
                        .to_pkcs1_der()
                        .map_err(|e| format!("the RSA key cannot be re-encoded: {e}"))?;
                    Ok(Key::Rsa(pkcs1.as_bytes().to_vec()))
                }
                // RFC 8410: the key is an OCTET STRING of the 32-byte seed.
                ED25519_OID => match info.private_key {
                    [0x04, 0x20, seed @ ..] if seed.len() == 32 => {
                        let mut bytes = [0u8; 32];
                        bytes.copy_from_slice(seed);
                        Ok(Key::Ed25519(bytes))
                    }
                    _ => Err("the Ed25519 key is not a 32-byte seed (RFC 8410)".into()),
                },
                other => Err(format!(
                    "a PKCS#8 key of algorithm {other}; DKIM signs with RSA ({RSA_OID}) or Ed25519 ({ED25519_OID})"
                )),
            }
        }
        "ENCRYPTED PRIVATE KEY" => Err(
            "the key is encrypted; write it out unencrypted (openssl pkey -in key.pem -out plain.pem)"
                .into(),
        ),
        other => Err(format!(
            "a PEM {other:?} block; expected RSA PRIVATE KEY (PKCS#1) or PRIVATE KEY (PKCS#8, RSA or Ed25519)"
        )),
    }
}

/// RFC 8301: verifiers ignore RSA signatures by keys under 1024 bits.
fn check_rsa(key: &rsa::RsaPrivateKey) -> Result<(), String> {
    let bits = key.size() * 8;
    if bits < 1024 {
        return Err(format!(
            "the RSA key has {bits} bits; DKIM needs at least 1024 (2048 is usual)"
        ));
    }
    Ok(())
}

/// Collects `dkim_domain`, `dkim_selector` and `dkim_key` from an SMTP URL's query.
#[derive(Default)]
pub(super) struct UrlParams {
    domain: Option<String>,
    selector: Option<String>,
    key: Option<String>,
}

impl UrlParams {
    /// Takes `key=value` when it is a DKIM parameter; false when it is not one.
    pub(super) fn take(&mut self, key: &str, value: &str) -> bool {
        let slot = match key {
            "dkim_domain" => &mut self.domain,
            "dkim_selector" => &mut self.selector,
            "dkim_key" => &mut self.key,
            _ => return false,
        };
        *slot = Some(value.to_owned());
        true
    }

    /// The signer the parameters describe (its key read now), none when there were none.
    pub(super) fn finish(self) -> Result<Option<Dkim>, String> {
        match (self.domain, self.selector, self.key) {
            (None, None, None) => Ok(None),
            (Some(domain), Some(selector), Some(key)) => Dkim::from_pem_file(domain, selector, key)
                .map(Some)
                .map_err(|e| e.to_string()),
            (domain, selector, key) => {
                let missing: Vec<&str> = [
                    ("dkim_domain", domain.is_none()),
                    ("dkim_selector", selector.is_none()),
                    ("dkim_key", key.is_none()),
                ]
                .iter()
                .filter(|(_, missing)| *missing)
                .map(|(name, _)| *name)
                .collect();
                Err(format!(
                    "DKIM signing needs dkim_domain, dkim_selector and dkim_key together; {} missing",
                    missing.join(" and ")
                ))
            }
        }
    }
}

impl Pool {
    /// `message` signed when the configuration has a DKIM key; as it is otherwise. A
    /// message that cannot be signed is one this server will never be sent.
    pub(super) fn dkim_sign<'m>(
        &self,
        message: &'m RenderedEmail,
    ) -> Result<Cow<'m, RenderedEmail>, SmtpError> {
        let Some(dkim) = &self.config.dkim else {
            return Ok(Cow::Borrowed(message));
        };
        let signed = dkim
            .sign(&message.bytes)
            .map_err(|e| SmtpError::MessageUnsupported {
                server: self.server.clone(),
                reason: e.to_string(),
            })?;
        Ok(Cow::Owned(RenderedEmail {
            bytes: Bytes::from(signed),
            ..message.clone()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";

    /// The header names in the `h=` tag of a signed message, lowercased.
    fn signed_headers(signed: &str) -> Vec<String> {
        let unfolded = signed.replace("\r\n\t", " ");
        let h = unfolded
            .split("; h=")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap();
        h.split(':')
            .map(|n| n.trim().to_ascii_lowercase())
            .collect()
    }

    #[test]
    fn the_signature_goes_in_front_and_covers_cc_only_when_present() {
        let dkim = Dkim::from_pem("example.com", "s1", ED25519_PEM).unwrap();
        let message = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n";
        let signed = String::from_utf8(dkim.sign(message).unwrap()).unwrap();
        assert!(
            signed.starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"),
            "{signed}"
        );
        assert!(
            signed.ends_with(
                "\r\nFrom: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
            ),
            "{signed}"
        );
        assert!(signed.contains("c=relaxed/relaxed"), "{signed}");
        assert!(signed.contains("d=example.com"), "{signed}");
        let names = signed_headers(&signed);
        assert!(names.contains(&"from".to_owned()), "{names:?}");
        assert!(!names.contains(&"cc".to_owned()), "{names:?}");
        let with_cc = b"From: a@example.com\r\nCc: c@example.com\r\n\r\nbody\r\n";
        let signed = String::from_utf8(dkim.sign(with_cc).unwrap()).unwrap();
        assert!(
            signed_headers(&signed).contains(&"cc".to_owned()),
            "{signed}"
        );
    }

    #[test]
    fn bad_keys_and_names_say_what_is_wrong() {
        for (pem, expect) in [
            ("hello", "not a PEM private key"),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "a PEM \"CERTIFICATE\" block",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "not a PKCS#8 private key",
            ),
        ] {
            let e = Dkim::from_pem("example.com", "s1", pem)
                .unwrap_err()
                .to_string();
            assert!(e.contains(expect), "{pem}: {e}");
        }
        let e = Dkim::from_pem("example.com; x=1", "s1", ED25519_PEM).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("DKIM domain \"example.com; x=1\""),
            "{e}"
        );
        let e = Dkim::from_pem_file("example.com", "s1", "/nonexistent/s1.pem").unwrap_err();
        assert!(
            e.to_string()
                .contains("/nonexistent/s1.pem: cannot read the file"),
            "{e}"
        );
    }

    #[test]
    fn url_parameters_come_together() {
        let mut params = UrlParams::default();
        assert!(params.take("dkim_domain", "example.com"));
        assert!(!params.take("tls", "required"));
        let e = params.finish().err().unwrap();
        assert!(e.contains("dkim_selector and dkim_key missing"), "{e}");
        assert!(UrlParams::default().finish().unwrap().is_none());
    }
}
