//! A message split into what the preview pages show, by the `mail-parser` crate: the
//! subject and addresses decoded, the HTML and text parts, the headers, the attachments.

use mail_parser::{Address, MessageParser, MimeHeaders};

/// One message as the pages show it.
pub(super) struct View {
    pub(super) subject: String,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) cc: String,
    pub(super) date: String,
    /// The first `text/html` part, if there is one (never HTML made from the text).
    pub(super) html: Option<String>,
    /// The first text part (or the text mail-parser makes from the HTML).
    pub(super) text: Option<String>,
    /// The top-level headers, in order: name and value, unfolded.
    pub(super) headers: Vec<(String, String)>,
    pub(super) attachments: Vec<Part>,
}

/// An attachment (or an inline part that is not a body).
pub(super) struct Part {
    pub(super) name: String,
    pub(super) content_type: String,
    pub(super) bytes: Vec<u8>,
}

/// `Name <addr>` for each address, comma-separated.
fn addresses(address: Option<&Address<'_>>) -> String {
    let Some(address) = address else {
        return String::new();
    };
    address
        .iter()
        .map(|a| match (a.name(), a.address()) {
            (Some(name), Some(addr)) => format!("{name} <{addr}>"),
            (None, Some(addr)) => addr.to_owned(),
            (Some(name), None) => name.to_owned(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A folded header value on one line.
fn unfold(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl View {
    /// Parses `bytes`; `None` when they are not a message at all.
    pub(super) fn parse(bytes: &[u8]) -> Option<View> {
        let message = MessageParser::default().parse(bytes)?;
        let html = message
            .html_part(0)
            .filter(|part| part.is_text_html())
            .and_then(|part| part.text_contents())
            .map(str::to_owned);
        let text = message.body_text(0).map(|t| t.into_owned());
        let attachments = message
            .attachments()
            .enumerate()
            .map(|(i, part)| Part {
                name: part
                    .attachment_name()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("part-{}", i + 1)),
                content_type: part
                    .content_type()
                    .map(|ct| match ct.subtype() {
                        Some(sub) => format!("{}/{}", ct.ctype(), sub),
                        None => ct.ctype().to_owned(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".into()),
                bytes: part.contents().to_vec(),
            })
            .collect();
        Some(View {
            subject: message.subject().unwrap_or_default().to_owned(),
            from: addresses(message.from()),
            to: addresses(message.to()),
            cc: addresses(message.cc()),
            date: message.header_raw("Date").map(unfold).unwrap_or_default(),
            html,
            text,
            headers: message
                .headers_raw()
                .map(|(name, value)| (name.to_owned(), unfold(value)))
                .collect(),
            attachments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Email;

    #[test]
    fn parts_of_a_rendered_message() {
        let email = Email::builder()
            .from("Site <site@example.com>")
            .to("a@example.com")
            .to("B <b@example.com>")
            .subject("Grüße & more")
            .text("plain body")
            .html("<p>html body</p>")
            .attach("notes.txt", "text/plain", b"hello file".to_vec())
            .attach(
                "dot.png",
                "image/png",
                vec![0x89, b'P', b'N', b'G', 0, 1, 2],
            )
            .build()
            .unwrap();
        let view = View::parse(&email.render().unwrap().bytes).unwrap();
        assert_eq!(view.subject, "Grüße & more");
        assert_eq!(view.from, "Site <site@example.com>");
        assert_eq!(view.to, "a@example.com, B <b@example.com>");
        assert_eq!(
            view.html.as_deref().map(str::trim),
            Some("<p>html body</p>")
        );
        assert_eq!(view.text.as_deref().map(str::trim), Some("plain body"));
        assert!(view.headers.iter().any(|(n, _)| n == "Message-ID"));
        let names: Vec<_> = view.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["notes.txt", "dot.png"]);
        assert_eq!(view.attachments[1].content_type, "image/png");
        assert_eq!(view.attachments[1].bytes, [0x89, b'P', b'N', b'G', 0, 1, 2]);
    }

    #[test]
    fn a_text_only_message_has_no_html() {
        let email = Email::builder()
            .from("site@example.com")
            .to("a@example.com")
            .text("only text")
            .build()
            .unwrap();
        let view = View::parse(&email.render().unwrap().bytes).unwrap();
        assert!(view.html.is_none());
        assert_eq!(view.text.as_deref().map(str::trim), Some("only text"));
    }
}
