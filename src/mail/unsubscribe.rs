//! One-click unsubscribe (RFC 8058): the `List-Unsubscribe` and `List-Unsubscribe-Post`
//! headers that Gmail and Yahoo require of bulk senders, set on the [`EmailBuilder`].
//!
//! ```
//! use squall::mail::Email;
//!
//! let email = Email::builder()
//!     .from("news@example.com")
//!     .to("reader@example.org")
//!     .subject("This week")
//!     .list_unsubscribe("https://example.com/unsubscribe/3f9a1c")
//!     .list_unsubscribe_mailto("unsubscribe@example.com")
//!     .build()?;
//! assert!(email.headers.contains(&(
//!     "List-Unsubscribe".into(),
//!     "<https://example.com/unsubscribe/3f9a1c>, <mailto:unsubscribe@example.com>".into(),
//! )));
//! assert!(email.headers.contains(&(
//!     "List-Unsubscribe-Post".into(),
//!     "List-Unsubscribe=One-Click".into(),
//! )));
//! # Ok::<(), squall::mail::EmailError>(())
//! ```
//!
//! The https URL must identify the recipient and list by itself (an opaque token in the
//! path or query): the mail client POSTs `List-Unsubscribe=One-Click` to it with no cookie
//! and no other context. RFC 8058 also wants a DKIM signature that covers both headers.

use super::email::{EmailBuilder, EmailError};

/// The longest URL accepted, so that the header stays under RFC 5322's 998-octet line
/// limit even when it cannot be folded.
const MAX_URL_LEN: usize = 900;

/// What [`EmailBuilder::list_unsubscribe`] and
/// [`list_unsubscribe_mailto`](EmailBuilder::list_unsubscribe_mailto) collected;
/// validated by [`EmailBuilder::build`].
#[derive(Debug, Default, Clone)]
pub(super) struct ListUnsubscribe {
    https: Option<String>,
    mailto: Option<String>,
}

impl EmailBuilder {
    /// Adds one-click unsubscribe (RFC 8058): `List-Unsubscribe: <url>` and
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    ///
    /// `url` must be an absolute `https://` URL with a host; [`build`](Self::build)
    /// refuses anything else ([`EmailError::BadUnsubscribe`]). The URL should carry an
    /// opaque token naming the recipient and list, since the unsubscribe request is a
    /// bare POST of `List-Unsubscribe=One-Click` to it.
    pub fn list_unsubscribe(mut self, url: impl Into<String>) -> Self {
        self.unsubscribe.https = Some(url.into());
        self
    }

    /// Adds a `mailto:` unsubscribe address to `List-Unsubscribe` (RFC 2369), after the
    /// https URL if there is one: a bare address (`unsubscribe@example.com`) or a mailto
    /// URL (`mailto:unsubscribe@example.com?subject=stop`). Alone, without
    /// [`list_unsubscribe`](Self::list_unsubscribe), it is not one-click, and no
    /// `List-Unsubscribe-Post` is written.
    pub fn list_unsubscribe_mailto(mut self, address: impl Into<String>) -> Self {
        self.unsubscribe.mailto = Some(address.into());
        self
    }
}

impl ListUnsubscribe {
    /// Validates what was given and appends the headers to `headers`; an error when
    /// `headers` already has a `List-Unsubscribe` field of its own.
    pub(super) fn write(self, headers: &mut Vec<(String, String)>) -> Result<(), EmailError> {
        if self.https.is_none() && self.mailto.is_none() {
            return Ok(());
        }
        if let Some((name, _)) = headers.iter().find(|(name, _)| {
            name.eq_ignore_ascii_case("list-unsubscribe")
                || name.eq_ignore_ascii_case("list-unsubscribe-post")
        }) {
            return Err(EmailError::BadHeaderName {
                name: name.clone(),
                reason: "is set by list_unsubscribe(); give the URL there only",
            });
        }
        let mut uris = Vec::with_capacity(2);
        if let Some(url) = &self.https {
            uris.push(format!("<{}>", https_url(url)?));
        }
        if let Some(address) = &self.mailto {
            uris.push(format!("<{}>", mailto_url(address)?));
        }
        headers.push(("List-Unsubscribe".into(), uris.join(", ")));
        if self.https.is_some() {
            headers.push((
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ));
        }
        Ok(())
    }
}

fn bad(value: &str, reason: &'static str) -> EmailError {
    EmailError::BadUnsubscribe {
        value: value.to_owned(),
        reason,
    }
}

/// The URL as it goes in the header: parsed, and serialized by the URL parser (so that
/// spaces and angle brackets come out percent-encoded).
fn https_url(url: &str) -> Result<String, EmailError> {
    if url.contains(['\r', '\n']) {
        return Err(bad(url, "contains a line break"));
    }
    let parsed = ::url::Url::parse(url.trim()).map_err(|_| {
        bad(
            url,
            "is not an absolute URL (RFC 8058 needs https://host/...)",
        )
    })?;
    if parsed.scheme() != "https" {
        return Err(bad(
            url,
            "is not an https URL; one-click unsubscribe (RFC 8058) requires https",
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad(url, "has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(url, "carries a user name or password"));
    }
    let serialized = parsed.to_string();
    if serialized.len() > MAX_URL_LEN {
        return Err(bad(url, "is longer than 900 octets"));
    }
    Ok(serialized)
}

/// A `mailto:` URL from a bare address or a mailto URL.
fn mailto_url(address: &str) -> Result<String, EmailError> {
    let value = address.trim();
    let (url, addr) = match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("mailto:") => {
            let rest = &value[7..];
            (value.to_owned(), rest.split('?').next().unwrap_or(rest))
        }
        _ => (format!("mailto:{value}"), value),
    };
    let valid = |c: char| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | ',');
    if !url.chars().all(valid) {
        return Err(bad(
            address,
            "is not a mailto address: it has a space, a line break, a comma, quotes or angle brackets",
        ));
    }
    match addr.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') => {}
        _ => {
            return Err(bad(
                address,
                "is not an address such as unsubscribe@example.com",
            ));
        }
    }
    if url.len() > MAX_URL_LEN {
        return Err(bad(address, "is longer than 900 octets"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use crate::mail::{Email, EmailBuilder, EmailError};

    fn base() -> EmailBuilder {
        Email::builder()
            .from("news@example.com")
            .to("reader@example.org")
            .subject("News")
            .text("body")
    }

    fn header<'a>(email: &'a Email, name: &str) -> Option<&'a str> {
        email
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn one_click_writes_both_headers() {
        let email = base()
            .list_unsubscribe("https://example.com/u/abc?list=weekly")
            .build()
            .unwrap();
        assert_eq!(
            header(&email, "List-Unsubscribe"),
            Some("<https://example.com/u/abc?list=weekly>")
        );
        assert_eq!(
            header(&email, "List-Unsubscribe-Post"),
            Some("List-Unsubscribe=One-Click")
        );
    }

    #[test]
    fn mailto_alone_is_not_one_click() {
        let email = base()
            .list_unsubscribe_mailto("mailto:stop@example.com?subject=stop")
            .build()
            .unwrap();
        assert_eq!(
            header(&email, "List-Unsubscribe"),
            Some("<mailto:stop@example.com?subject=stop>")
        );
        assert_eq!(header(&email, "List-Unsubscribe-Post"), None);
        assert!(base().build().unwrap().headers.is_empty());
    }

    #[test]
    fn spaces_and_brackets_are_percent_encoded() {
        let email = base()
            .list_unsubscribe("https://example.com/u/a b>c")
            .build()
            .unwrap();
        assert_eq!(
            header(&email, "List-Unsubscribe"),
            Some("<https://example.com/u/a%20b%3Ec>")
        );
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for (url, reason) in [
            ("http://example.com/u/1", "requires https"),
            ("/u/1", "not an absolute URL"),
            ("mailto:x@example.com", "requires https"),
            ("https://user:pw@example.com/u", "user name or password"),
            ("https://example.com/u\r\nBcc: x@example.com", "line break"),
        ] {
            let err = base().list_unsubscribe(url).build().unwrap_err();
            assert!(
                matches!(&err, EmailError::BadUnsubscribe { value, .. } if value == url),
                "{url}: {err}"
            );
            assert!(err.to_string().contains(reason), "{url}: {err}");
            assert!(err.to_string().starts_with("list_unsubscribe: "), "{err}");
        }
        let long = format!("https://example.com/{}", "a".repeat(1000));
        assert!(base().list_unsubscribe(long).build().is_err());
        for address in [
            "not an address",
            "a@b",
            "<a@example.com>",
            "x@example.com,y@example.com",
        ] {
            let err = base().list_unsubscribe_mailto(address).build().unwrap_err();
            assert!(
                matches!(err, EmailError::BadUnsubscribe { .. }),
                "{address}: {err}"
            );
        }
    }

    #[test]
    fn a_hand_written_header_as_well_is_an_error() {
        let err = base()
            .header("List-Unsubscribe", "<https://example.com/other>")
            .list_unsubscribe("https://example.com/u/1")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("list_unsubscribe()"), "{err}");
    }

    #[test]
    fn headers_survive_rendering_and_folding() {
        let url = format!("https://example.com/unsubscribe/{}", "x".repeat(20));
        let email = base()
            .list_unsubscribe(url.clone())
            .list_unsubscribe_mailto("unsubscribe@example.com")
            .build()
            .unwrap();
        let rendered = email.render().unwrap();
        let text = String::from_utf8(rendered.bytes.to_vec()).unwrap();
        let head = &text[..text.find("\r\n\r\n").unwrap()];
        assert!(
            head.split("\r\n").all(|line| line.len() <= 78),
            "a header line is over 78 octets:\n{head}"
        );
        // Unfolding (RFC 5322 §2.2.3: remove the CRLF before whitespace) gives the value back.
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", "\t");
        let line = unfolded
            .split("\r\n")
            .find(|l| l.starts_with("List-Unsubscribe:"))
            .unwrap();
        assert_eq!(
            line,
            format!("List-Unsubscribe: <{url}>, <mailto:unsubscribe@example.com>")
        );
        assert!(
            unfolded
                .split("\r\n")
                .any(|l| l == "List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        );
    }
}
