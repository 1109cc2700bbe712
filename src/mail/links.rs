//! The links in a message: every `<a href>` of its HTML part and every `http(s)://` URL
//! of its text part, for tests that follow the link a mail carries (a password reset, a
//! confirmation).
//!
//! ```
//! use squall::mail::Email;
//!
//! let email = Email::builder()
//!     .from("site@example.com")
//!     .to("peter@example.com")
//!     .text("Reset your password: https://example.com/reset/abc123 (valid for an hour).")
//!     .html(r#"<p><a href="https://example.com/reset/abc123">Reset</a> or
//!              <a href="https://example.com/help?topic=reset&amp;lang=en">get help</a></p>"#)
//!     .build()?;
//! assert_eq!(
//!     email.links(),
//!     ["https://example.com/reset/abc123", "https://example.com/help?topic=reset&lang=en"]
//! );
//! assert_eq!(email.link_matching("/reset/").as_deref(), Some("https://example.com/reset/abc123"));
//! assert_eq!(email.link_matching("/nowhere/"), None);
//! # Ok::<(), squall::mail::EmailError>(())
//! ```

use scraper::{ElementRef, Html};

use super::email::Email;

impl Email {
    /// Every link in the message, first seen first, each once: the `href` of each `<a>`
    /// in the HTML part (entities decoded, as a browser reads them), then each
    /// `http://` or `https://` URL in the text part that the HTML did not have.
    ///
    /// In the text, a URL ends at whitespace, a quote or an angle bracket; trailing
    /// punctuation (`.`, `,`, `;`, `:`, `!`, `?`) and a closing bracket with no opening
    /// one in the URL are left out, so `(see https://x.example/a).` gives
    /// `https://x.example/a`. Links are returned as written: a relative `href` stays
    /// relative.
    pub fn links(&self) -> Vec<String> {
        let mut links = Vec::new();
        if let Some(html) = &self.html {
            let document = Html::parse_document(html);
            for node in document.root_element().descendants() {
                let Some(element) = ElementRef::wrap(node) else {
                    continue;
                };
                if element.value().name() == "a"
                    && let Some(href) = element.value().attr("href")
                {
                    let href = href.trim();
                    if !href.is_empty() && !links.iter().any(|l| l == href) {
                        links.push(href.to_owned());
                    }
                }
            }
        }
        for url in text_urls(&self.text) {
            if !links.iter().any(|l| l == url) {
                links.push(url.to_owned());
            }
        }
        links
    }

    /// The first of [`links`](Self::links) that contains `pattern` (plain text, not a
    /// regular expression), such as `"/reset/"`.
    pub fn link_matching(&self, pattern: &str) -> Option<String> {
        self.links().into_iter().find(|link| link.contains(pattern))
    }
}

/// The `http://` and `https://` URLs in plain text.
fn text_urls(text: &str) -> Vec<&str> {
    let mut urls = Vec::new();
    let mut rest = text;
    while let Some(start) = next_url_start(rest) {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .unwrap_or(tail.len());
        let url = trim_url(&tail[..end]);
        // A bare scheme ("see http:// below") is not a link.
        if url.len() > url.find("//").map_or(0, |i| i + 2) {
            urls.push(url);
        }
        rest = &tail[end..];
    }
    urls
}

/// Where the next `http://` or `https://` begins (case-insensitive), if anywhere.
fn next_url_start(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    match (lower.find("http://"), lower.find("https://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Drops trailing sentence punctuation, and closing brackets that close nothing in the URL.
fn trim_url(mut url: &str) -> &str {
    loop {
        let Some(last) = url.chars().last() else {
            return url;
        };
        let unmatched = |open: char| url.matches(open).count() < url.matches(last).count();
        let drop = match last {
            '.' | ',' | ';' | ':' | '!' | '?' => true,
            ')' => unmatched('('),
            ']' => unmatched('['),
            '}' => unmatched('{'),
            _ => false,
        };
        if !drop {
            return url;
        }
        url = &url[..url.len() - last.len_utf8()];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_urls_end_where_prose_resumes() {
        let text = "Go to https://example.com/a. Or (see http://example.com/b), \
                    <https://example.com/c> \"https://example.com/d\" \
                    https://en.example.org/wiki/Rust_(language) and HTTPS://EXAMPLE.COM/E? \
                    not http:// alone";
        assert_eq!(
            text_urls(text),
            [
                "https://example.com/a",
                "http://example.com/b",
                "https://example.com/c",
                "https://example.com/d",
                "https://en.example.org/wiki/Rust_(language)",
                "HTTPS://EXAMPLE.COM/E",
            ]
        );
        assert!(text_urls("no links here").is_empty());
    }

    #[test]
    fn html_links_come_first_and_each_once() {
        let email = Email::builder()
            .from("a@example.com")
            .to("b@example.com")
            .text("https://example.com/text-only and https://example.com/both")
            .html(
                r#"<a href="/relative">r</a><a>no href</a><a href=" https://example.com/both ">b</a>
                   <a href="/relative">again</a><area href="https://example.com/map">"#,
            )
            .build()
            .unwrap();
        assert_eq!(
            email.links(),
            [
                "/relative",
                "https://example.com/both",
                "https://example.com/text-only"
            ]
        );
        assert_eq!(
            email.link_matching("example.com").as_deref(),
            Some("https://example.com/both")
        );
    }
}
