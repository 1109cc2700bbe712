//! The [`Email`] model: plain data, validated when built, rendered to RFC 5322 bytes on
//! demand.
//!
//! ```
//! use squall::mail::Email;
//!
//! let email = Email::builder()
//!     .from("Site <noreply@example.com>")
//!     .to("peter@example.com")
//!     .bcc("audit@example.com")
//!     .subject("Your receipt")
//!     .text("Thanks!")
//!     .html("<p>Thanks!</p>")
//!     .attach("receipt.txt", "text/plain", b"paid".to_vec())
//!     .build()?;
//! let rendered = email.render()?;
//! assert_eq!(rendered.recipients, ["peter@example.com", "audit@example.com"]);
//! assert!(!String::from_utf8_lossy(&rendered.bytes).contains("audit@"));
//! # Ok::<(), squall::mail::EmailError>(())
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment as LettreAttachment, Mailbox, MultiPart, SinglePart};
use serde::{Deserialize, Serialize};

use super::fold::fold_headers;

/// Why an [`Email`] could not be built or rendered. Each names the field at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmailError {
    /// An address did not parse as `addr@domain` or `Name <addr@domain>`.
    #[error("{field}: {value:?} is not a valid email address: {reason}")]
    BadAddress {
        /// The field: `from`, `to`, `cc`, `bcc` or `reply_to`.
        field: &'static str,
        /// The value as given.
        value: String,
        /// What the parser said.
        reason: String,
    },
    /// A header value held CR or LF, which would let it inject headers.
    #[error("{field}: value contains a line break (CR or LF), which is not allowed in a header")]
    LineBreak {
        /// The field or header name.
        field: String,
    },
    /// The message has no `to`, `cc` or `bcc` at all.
    #[error("to: the message has no recipient (to, cc and bcc are all empty)")]
    NoRecipient,
    /// No `from` was given.
    #[error("from: the message has no sender")]
    NoSender,
    /// An extra header name is not a valid header field name, or is one that squall sets.
    #[error("headers: {name:?} {reason}")]
    BadHeaderName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An attachment's content type did not parse.
    #[error("attachments: {name:?} has an invalid content type {content_type:?}")]
    BadContentType {
        /// The attachment's file name.
        name: String,
        /// The content type as given.
        content_type: String,
    },
    /// A header has a word too long to fold under RFC 5322's 998-octet line limit
    /// (a `Subject` word is encoded instead, so this is another header or a name).
    #[error(
        "{field}: a word in this header makes a {length}-octet line, over the 998-octet limit, and has no space to fold at"
    )]
    HeaderTooLong {
        /// The header field's name.
        field: String,
        /// The length of the line it needs, in octets.
        length: usize,
    },
    /// A `List-Unsubscribe` URL or address is not usable (one-click needs https).
    #[error("list_unsubscribe: {value:?} {reason}")]
    BadUnsubscribe {
        /// The URL or address as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// lettre refused to assemble the message; its error is the source.
    #[error("the message could not be rendered: {0}")]
    Render(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A file attached to an [`Email`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file name the recipient sees.
    pub name: String,
    /// A MIME type such as `application/pdf`.
    pub content_type: String,
    /// The bytes of the file.
    pub bytes: Vec<u8>,
}

/// An email message: plain data that can be stored, queued and compared.
///
/// Build one with [`Email::builder`], which validates every field. The `message_id` and
/// `date` are fixed when it is built, so rendering twice gives the same headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Email {
    /// The sender, `addr@domain` or `Name <addr@domain>`.
    pub from: String,
    /// Primary recipients.
    pub to: Vec<String>,
    /// Carbon-copy recipients.
    pub cc: Vec<String>,
    /// Blind-copy recipients: in the envelope, never in the headers.
    pub bcc: Vec<String>,
    /// Where replies go.
    pub reply_to: Vec<String>,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// An optional HTML alternative of the body.
    pub html: Option<String>,
    /// Attached files.
    pub attachments: Vec<Attachment>,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// The `Message-ID` header value, with its angle brackets.
    pub message_id: String,
    /// The `Date` header, in milliseconds since the Unix epoch.
    pub date_unix_ms: u64,
}

/// A message ready for the wire: envelope and RFC 5322 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedEmail {
    /// The envelope sender (bare address).
    pub from: String,
    /// Every envelope recipient (bare addresses): to, then cc, then bcc.
    pub recipients: Vec<String>,
    /// The `Message-ID` header value.
    pub message_id: String,
    /// The whole message, headers and body, CRLF line ends. Cloning it shares the bytes.
    pub bytes: Bytes,
}

/// Headers squall writes itself; extra headers may not repeat them.
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

impl Email {
    /// Starts building a message.
    pub fn builder() -> EmailBuilder {
        EmailBuilder::default()
    }

    /// Every envelope recipient as a bare address: to, then cc, then bcc.
    pub fn recipients(&self) -> Result<Vec<String>, EmailError> {
        let mut out = Vec::with_capacity(self.to.len() + self.cc.len() + self.bcc.len());
        for (field, list) in [("to", &self.to), ("cc", &self.cc), ("bcc", &self.bcc)] {
            for value in list {
                out.push(parse_mailbox(field, value)?.email.to_string());
            }
        }
        Ok(out)
    }

    /// Renders the message to RFC 5322 bytes with lettre. Bcc goes into the envelope only.
    pub fn render(&self) -> Result<RenderedEmail, EmailError> {
        let from = parse_mailbox("from", &self.from)?;
        let recipients = self.recipients()?;
        let mut builder = lettre::Message::builder()
            .from(from.clone())
            .subject(self.subject.clone())
            .message_id(Some(self.message_id.clone()))
            .date(UNIX_EPOCH + Duration::from_millis(self.date_unix_ms));
        for value in &self.to {
            builder = builder.to(parse_mailbox("to", value)?);
        }
        for value in &self.cc {
            builder = builder.cc(parse_mailbox("cc", value)?);
        }
        for value in &self.reply_to {
            builder = builder.reply_to(parse_mailbox("reply_to", value)?);
        }
        for (name, value) in &self.headers {
            let header_name = HeaderName::new_from_ascii(name.clone()).map_err(|_| {
                EmailError::BadHeaderName {
                    name: name.clone(),
                    reason: "is not a valid header field name",
                }
            })?;
            builder = builder.raw_header(HeaderValue::new(header_name, value.clone()));
        }

        let body = match &self.html {
            Some(html) => MultiPart::alternative_plain_html(self.text.clone(), html.clone()),
            None if self.attachments.is_empty() => {
                let message = builder
                    .singlepart(SinglePart::plain(self.text.clone()))
                    .map_err(|e| EmailError::Render(Box::new(e)))?;
                return self.finish(from, recipients, message);
            }
            None => MultiPart::mixed().singlepart(SinglePart::plain(self.text.clone())),
        };
        let body = if self.attachments.is_empty() {
            body
        } else {
            let mut mixed = MultiPart::mixed().multipart(body);
            for attachment in &self.attachments {
                let content_type = ContentType::parse(&attachment.content_type).map_err(|_| {
                    EmailError::BadContentType {
                        name: attachment.name.clone(),
                        content_type: attachment.content_type.clone(),
                    }
                })?;
                mixed = mixed.singlepart(
                    LettreAttachment::new(attachment.name.clone())
                        .body(attachment.bytes.clone(), content_type),
                );
            }
            mixed
        };
        let message = builder
            .multipart(body)
            .map_err(|e| EmailError::Render(Box::new(e)))?;
        self.finish(from, recipients, message)
    }

    fn finish(
        &self,
        from: Mailbox,
        recipients: Vec<String>,
        message: lettre::Message,
    ) -> Result<RenderedEmail, EmailError> {
        let bytes =
            fold_headers(message.formatted()).map_err(|too_long| EmailError::HeaderTooLong {
                field: too_long.field,
                length: too_long.length,
            })?;
        Ok(RenderedEmail {
            from: from.email.to_string(),
            recipients,
            message_id: self.message_id.clone(),
            bytes: bytes.into(),
        })
    }
}

/// Builds an [`Email`], collecting fields; [`EmailBuilder::build`] validates them all.
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct EmailBuilder {
    from: Option<String>,
    to: Vec<String>,
    cc: Vec<String>,
    bcc: Vec<String>,
    reply_to: Vec<String>,
    subject: String,
    text: String,
    html: Option<String>,
    attachments: Vec<Attachment>,
    headers: Vec<(String, String)>,
    message_id: Option<String>,
    date: Option<SystemTime>,
    pub(super) unsubscribe: super::unsubscribe::ListUnsubscribe,
}

impl EmailBuilder {
    /// The sender.
    pub fn from(mut self, address: impl Into<String>) -> Self {
        self.from = Some(address.into());
        self
    }
    /// Adds a primary recipient.
    pub fn to(mut self, address: impl Into<String>) -> Self {
        self.to.push(address.into());
        self
    }
    /// Adds a carbon-copy recipient.
    pub fn cc(mut self, address: impl Into<String>) -> Self {
        self.cc.push(address.into());
        self
    }
    /// Adds a blind-copy recipient.
    pub fn bcc(mut self, address: impl Into<String>) -> Self {
        self.bcc.push(address.into());
        self
    }
    /// Adds a Reply-To address.
    pub fn reply_to(mut self, address: impl Into<String>) -> Self {
        self.reply_to.push(address.into());
        self
    }
    /// The subject line.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = subject.into();
        self
    }
    /// The plain-text body.
    pub fn text(mut self, body: impl Into<String>) -> Self {
        self.text = body.into();
        self
    }
    /// An HTML alternative of the body.
    pub fn html(mut self, body: impl Into<String>) -> Self {
        self.html = Some(body.into());
        self
    }
    /// Attaches a file.
    pub fn attach(
        mut self,
        name: impl Into<String>,
        content_type: impl Into<String>,
        bytes: Vec<u8>,
    ) -> Self {
        self.attachments.push(Attachment {
            name: name.into(),
            content_type: content_type.into(),
            bytes,
        });
        self
    }
    /// Adds an extra header such as `X-Campaign`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Sets the Message-ID (with angle brackets); by default one is made up.
    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }
    /// Sets the Date; by default the time of `build`.
    pub fn date(mut self, date: SystemTime) -> Self {
        self.date = Some(date);
        self
    }

    /// Validates every field and returns the message.
    pub fn build(mut self) -> Result<Email, EmailError> {
        self.unsubscribe.write(&mut self.headers)?;
        let from = self.from.ok_or(EmailError::NoSender)?;
        let sender = parse_mailbox("from", &from)?;
        for (field, list) in [
            ("to", &self.to),
            ("cc", &self.cc),
            ("bcc", &self.bcc),
            ("reply_to", &self.reply_to),
        ] {
            for value in list {
                parse_mailbox(field, value)?;
            }
        }
        if self.to.is_empty() && self.cc.is_empty() && self.bcc.is_empty() {
            return Err(EmailError::NoRecipient);
        }
        no_line_break("subject", &self.subject)?;
        for (name, value) in &self.headers {
            check_header_name(name)?;
            no_line_break(name, value)?;
        }
        for attachment in &self.attachments {
            no_line_break("attachments", &attachment.name)?;
            if ContentType::parse(&attachment.content_type).is_err() {
                return Err(EmailError::BadContentType {
                    name: attachment.name.clone(),
                    content_type: attachment.content_type.clone(),
                });
            }
        }
        let message_id = match self.message_id {
            Some(id) => {
                no_line_break("message_id", &id)?;
                id
            }
            None => make_message_id(sender.email.domain()),
        };
        let date = self.date.unwrap_or_else(SystemTime::now);
        let date_unix_ms = date
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Ok(Email {
            from,
            to: self.to,
            cc: self.cc,
            bcc: self.bcc,
            reply_to: self.reply_to,
            subject: self.subject,
            text: self.text,
            html: self.html,
            attachments: self.attachments,
            headers: self.headers,
            message_id,
            date_unix_ms,
        })
    }
}

fn parse_mailbox(field: &'static str, value: &str) -> Result<Mailbox, EmailError> {
    no_line_break(field, value)?;
    value
        .parse::<Mailbox>()
        .map_err(|e| EmailError::BadAddress {
            field,
            value: value.to_owned(),
            reason: e.to_string(),
        })
}

fn no_line_break(field: &str, value: &str) -> Result<(), EmailError> {
    if value.contains(['\r', '\n']) {
        return Err(EmailError::LineBreak {
            field: field.to_owned(),
        });
    }
    Ok(())
}

fn check_header_name(name: &str) -> Result<(), EmailError> {
    let bad = |reason| EmailError::BadHeaderName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(bad(
            "is not a valid header field name (printable ASCII, no colon)",
        ));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(bad("is set by squall; use the builder's own method for it"));
    }
    Ok(())
}

/// A Message-ID of 128 random bits at the sender's domain.
fn make_message_id(domain: &str) -> String {
    let random: [u8; 16] = super::random::random_bytes();
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("<{hex}@{domain}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> EmailBuilder {
        Email::builder()
            .from("Site <noreply@example.com>")
            .to("a@example.com")
            .subject("Hi")
            .text("body")
    }

    #[test]
    fn builds_and_fixes_id_and_date() {
        let email = base().build().unwrap();
        assert!(email.message_id.starts_with('<') && email.message_id.ends_with("@example.com>"));
        let first = email.render().unwrap();
        let text = String::from_utf8(first.bytes.to_vec()).unwrap();
        assert!(text.contains(&format!("Message-ID: {}", email.message_id)));
        assert_eq!(first.from, "noreply@example.com");
    }

    #[test]
    fn each_validation_error_names_its_field() {
        let err = base().to("not an address").build().unwrap_err();
        assert!(
            matches!(err, EmailError::BadAddress { field: "to", .. }),
            "{err}"
        );
        assert!(err.to_string().starts_with("to: \"not an address\""));

        let err = base().cc("x@").build().unwrap_err();
        assert!(matches!(err, EmailError::BadAddress { field: "cc", .. }));
        let err = base().bcc("@y").build().unwrap_err();
        assert!(matches!(err, EmailError::BadAddress { field: "bcc", .. }));
        let err = base().reply_to("nope").build().unwrap_err();
        assert!(matches!(
            err,
            EmailError::BadAddress {
                field: "reply_to",
                ..
            }
        ));
        let err = base().from("also nope").build().unwrap_err();
        assert!(matches!(err, EmailError::BadAddress { field: "from", .. }));

        let err = base()
            .subject("Hi\r\nBcc: victim@example.com")
            .build()
            .unwrap_err();
        assert!(matches!(&err, EmailError::LineBreak { field } if field == "subject"));
        let err = base().header("X-Tag", "a\nb").build().unwrap_err();
        assert!(matches!(&err, EmailError::LineBreak { field } if field == "X-Tag"));
        let err = base()
            .to("a@example.com\r\nBcc: x@y.z")
            .build()
            .unwrap_err();
        assert!(matches!(&err, EmailError::LineBreak { field } if field == "to"));

        let err = Email::builder().from("a@b.c").build().unwrap_err();
        assert!(matches!(err, EmailError::NoRecipient));
        let err = Email::builder().to("a@b.c").build().unwrap_err();
        assert!(matches!(err, EmailError::NoSender));

        let err = base().header("Bad Name", "v").build().unwrap_err();
        assert!(matches!(err, EmailError::BadHeaderName { .. }));
        let err = base().header("Subject", "v").build().unwrap_err();
        assert!(matches!(err, EmailError::BadHeaderName { .. }));
        let err = base()
            .attach("a.bin", "not a type", vec![])
            .build()
            .unwrap_err();
        assert!(matches!(err, EmailError::BadContentType { .. }));
    }

    #[test]
    fn bcc_is_in_the_envelope_only() {
        let email = base()
            .cc("c@example.com")
            .bcc("hidden@example.com")
            .build()
            .unwrap();
        let rendered = email.render().unwrap();
        assert_eq!(
            rendered.recipients,
            ["a@example.com", "c@example.com", "hidden@example.com"]
        );
        let text = String::from_utf8(rendered.bytes.to_vec()).unwrap();
        assert!(!text.contains("hidden@example.com"));
        assert!(!text.to_ascii_lowercase().contains("bcc:"));
        assert!(text.contains("Cc: c@example.com"));
    }

    #[test]
    fn serde_round_trip_keeps_everything() {
        let email = base()
            .html("<b>x</b>")
            .attach("f.bin", "application/octet-stream", vec![0, 1, 2, 255])
            .header("X-Campaign", "spring")
            .build()
            .unwrap();
        let json = serde_json::to_string(&email).unwrap();
        let back: Email = serde_json::from_str(&json).unwrap();
        assert_eq!(back, email);
    }
}
