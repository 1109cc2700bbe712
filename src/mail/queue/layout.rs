//! How a [`QueuedMessage`] lies in a record body, and reading it back without copying the
//! message: its `bytes` become a slice of the body's one buffer, so a drainer holds a
//! large message once, not once for the file and once more for the decoded copy.

use bytes::Bytes;
use serde::Deserialize;

use super::QueuedMessage;
use crate::mail::record::{FromBody, RecordError, decode_body};

/// A [`QueuedMessage`] as bincode wrote it, its message bytes borrowed from the body.
/// bincode stores no field names, so the fields are `QueuedMessage`'s, in its order: the
/// round-trip tests (and the record of the first release) keep the two in step, and
/// [`MessageView::into_message`] reads every field of one to fill every field of the
/// other, so a field added to one alone is a compile error or an unused-field warning.
#[derive(Deserialize)]
struct MessageView<'a> {
    id: String,
    created_unix_ms: u64,
    attempts: u32,
    next_attempt_unix_ms: u64,
    last_error: Option<String>,
    from: String,
    recipients: Vec<String>,
    message_id: String,
    #[serde(borrow)]
    bytes: &'a [u8],
}

impl MessageView<'_> {
    /// The message, its bytes a slice of `body` (which `self.bytes` borrows from).
    fn into_message(self, body: &Bytes) -> QueuedMessage {
        QueuedMessage {
            id: self.id,
            created_unix_ms: self.created_unix_ms,
            attempts: self.attempts,
            next_attempt_unix_ms: self.next_attempt_unix_ms,
            last_error: self.last_error,
            from: self.from,
            recipients: self.recipients,
            message_id: self.message_id,
            bytes: body.slice_ref(self.bytes),
        }
    }
}

impl FromBody for QueuedMessage {
    fn from_body(body: Bytes) -> Result<Self, RecordError> {
        let view: MessageView<'_> = decode_body(&body)?;
        Ok(view.into_message(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::RenderedEmail;
    use crate::mail::record::decode_record;

    /// The decoded message's bytes lie inside the record's buffer: read, not copied.
    #[test]
    fn decoded_bytes_are_a_slice_of_the_record_not_a_copy() {
        let mut message = QueuedMessage::new(&RenderedEmail {
            from: "a@example.com".into(),
            recipients: vec!["b@example.com".into()],
            message_id: "<x@example.com>".into(),
            bytes: Bytes::from(vec![b'x'; 100_000]),
        });
        message.last_error = Some("451 later".into());
        let record = Bytes::from(message.to_record().unwrap());
        let decoded: QueuedMessage = decode_record(record.clone()).unwrap();
        assert_eq!(decoded, message);
        let inside = record.as_ptr_range();
        let got = decoded.bytes.as_ptr_range();
        assert!(
            inside.start <= got.start && got.end <= inside.end,
            "the message bytes were copied out of the record"
        );
    }
}
