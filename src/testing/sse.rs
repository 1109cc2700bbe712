//! Server-sent events read as a browser's `EventSource` reads them: the
//! [WHATWG event-stream rules](https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation)
//! (lines ending in CRLF, LF or CR, a leading BOM dropped, comments skipped, `data` lines
//! joined with LF, `id` kept from event to event, `retry` taken only when all digits),
//! so an endless stream can be tested for its first events.
//!
//! The running example is on [`SseStream`].

use std::collections::VecDeque;
use std::time::Duration;

use http::StatusCode;

use super::stream::{Error, StreamingResponse};

/// One event of an event stream, as an `EventSource` dispatches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The event type: the `event` field, `message` when it has none.
    pub event: String,
    /// The `data` lines joined with LF (without a final LF).
    pub data: String,
    /// The last event ID, as `MessageEvent.lastEventId`: the last `id` field the stream
    /// sent, in this event or an earlier one; empty when none (or an empty `id` reset it).
    pub id: String,
    /// The reconnection time a `retry` field set since the previous event, if any.
    pub retry: Option<Duration>,
}

/// A response read as server-sent events ([`StreamingResponse::sse`]), by the
/// [WHATWG event-stream rules](https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation)
/// as a browser's `EventSource` reads them: lines end in CRLF, LF or CR, a leading BOM is
/// dropped, comments are skipped, `data` lines are joined with LF, the `id` is kept from
/// event to event, and `retry` is taken only when all digits.
///
/// Each chunk is awaited within the response's
/// [chunk timeout](StreamingResponse::chunk_timeout), set before calling `sse()`.
/// An endless stream is tested for its first events:
///
/// ```
/// use axum::{Router, routing::get, response::sse::{Event, Sse}};
/// use futures_util::{StreamExt, stream};
/// use squall::testing::TestClient;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = Router::new().route("/ticks", get(|| async {
///     // Never ends: a test reads the events it needs and drops the rest.
///     let ticks = stream::iter(0..).map(|n| Ok::<_, std::convert::Infallible>(
///         Event::default().event("tick").id(n.to_string()).data(format!("n={n}\nend")),
///     ));
///     Sse::new(ticks)
/// }));
/// let mut events = TestClient::new(app).get("/ticks").stream().await.sse();
/// let first = events.next_event().await.unwrap().unwrap();
/// assert_eq!((first.event.as_str(), first.data.as_str(), first.id.as_str()), ("tick", "n=0\nend", "0"));
/// let more = events.next_events(2).await.unwrap();
/// assert_eq!(more[1].id, "2");
/// # }
/// ```
#[derive(Debug)]
pub struct SseStream {
    response: StreamingResponse,
    parser: Parser,
}

// Here rather than in `stream` so that the stream module does not need this one.
impl StreamingResponse {
    /// Reads the body as server-sent events (see [`SseStream`]).
    ///
    /// # Panics
    /// When the response is not one an `EventSource` reads (`200` with
    /// `Content-Type: text/event-stream`); [`try_sse`](Self::try_sse) returns the error.
    #[track_caller]
    pub fn sse(self) -> SseStream {
        match self.try_sse() {
            Ok(events) => events,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`sse`](Self::sse), returning an error instead of panicking.
    pub fn try_sse(self) -> Result<SseStream, Error> {
        let content_type = self.header("content-type");
        let mime = content_type
            .and_then(|t| t.split(';').next())
            .map(str::trim);
        if self.status() != StatusCode::OK
            || !mime.is_some_and(|m| m.eq_ignore_ascii_case("text/event-stream"))
        {
            return Err(Error::NotEventStream {
                method: self.method().clone(),
                url: self.url().to_string(),
                status: self.status(),
                content_type: content_type.map(str::to_owned),
            });
        }
        Ok(SseStream::new(self))
    }
}

impl SseStream {
    pub(super) fn new(response: StreamingResponse) -> Self {
        SseStream {
            response,
            parser: Parser::default(),
        }
    }

    /// The response the events come in (status, headers, URL).
    pub fn response(&self) -> &StreamingResponse {
        &self.response
    }

    /// The next event: `None` when the stream ends (an event left unfinished by the end
    /// is dropped, as a browser drops it), an error when reading the body failed or a
    /// chunk did not come in time.
    pub async fn next_event(&mut self) -> Option<Result<SseEvent, Error>> {
        loop {
            if let Some(event) = self.parser.ready.pop_front() {
                return Some(Ok(event));
            }
            match self.response.next_chunk().await? {
                Ok(chunk) => self.parser.feed(&chunk),
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The next `n` events, or fewer when the stream ends first.
    pub async fn next_events(&mut self, n: usize) -> Result<Vec<SseEvent>, Error> {
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            match self.next_event().await {
                Some(event) => events.push(event?),
                None => break,
            }
        }
        Ok(events)
    }

    /// The last event ID read so far (empty when none), as an `EventSource` would send it
    /// back in `Last-Event-ID` on reconnecting.
    pub fn last_event_id(&self) -> &str {
        &self.parser.last_id
    }

    /// The reconnection time the stream last set with `retry`, if any.
    pub fn retry(&self) -> Option<Duration> {
        self.parser.retry
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The event-stream parser: bytes in, events out.
#[derive(Debug, Default)]
struct Parser {
    /// The unfinished line (or, before the first bytes are known, what may be a BOM).
    line: Vec<u8>,
    /// Whether the stream's start has been checked for a BOM.
    started: bool,
    /// Whether the last line ended with CR, so an LF that comes next belongs to it.
    after_cr: bool,
    data: String,
    event: String,
    last_id: String,
    retry: Option<Duration>,
    /// A `retry` seen since the last event dispatched.
    retry_pending: Option<Duration>,
    ready: VecDeque<SseEvent>,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8]) {
        if self.started {
            return self.feed_lines(bytes);
        }
        self.line.extend_from_slice(bytes);
        if self.line.len() < BOM.len() && BOM.starts_with(&self.line) {
            return; // maybe a BOM still
        }
        self.started = true;
        let head = std::mem::take(&mut self.line);
        self.feed_lines(head.strip_prefix(BOM).unwrap_or(&head));
    }

    fn feed_lines(&mut self, mut bytes: &[u8]) {
        while let Some(&first) = bytes.first() {
            if std::mem::take(&mut self.after_cr) && first == b'\n' {
                bytes = &bytes[1..];
                continue;
            }
            let Some(end) = bytes.iter().position(|&b| b == b'\r' || b == b'\n') else {
                self.line.extend_from_slice(bytes);
                return;
            };
            if self.line.is_empty() {
                self.line_done(&bytes[..end]);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&bytes[..end]);
                self.line_done(&line);
                line.clear();
                self.line = line; // keep the buffer
            }
            self.after_cr = bytes[end] == b'\r';
            bytes = &bytes[end + 1..];
        }
    }

    fn line_done(&mut self, line: &[u8]) {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return; // a comment
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match name {
            b"event" => self.event = value.into_owned(),
            b"data" => {
                self.data.push_str(&value);
                self.data.push('\n');
            }
            b"id" if !value.contains('\0') => self.last_id = value.into_owned(),
            b"retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                    self.retry_pending = self.retry;
                }
            }
            _ => {} // unknown fields are ignored
        }
    }

    fn dispatch(&mut self) {
        if self.data.is_empty() {
            self.event.clear();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        let event = match std::mem::take(&mut self.event) {
            event if event.is_empty() => "message".to_owned(),
            event => event,
        };
        self.ready.push_back(SseEvent {
            event,
            data,
            id: self.last_id.clone(),
            retry: self.retry_pending.take(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events of `chunks` fed one after the other.
    fn parse(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = Parser::default();
        for chunk in chunks {
            parser.feed(chunk);
        }
        parser.ready.into_iter().collect()
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn line_endings_of_all_three_kinds_even_split_between_chunks() {
        let events = parse(&[
            b"data: a\r",
            b"\ndata: b\r\r",
            b"data: c\n\n",
            b"data:d\r\n\r\n",
        ]);
        assert_eq!(data(&events), ["a\nb", "c", "d"]);
    }

    #[test]
    fn a_cr_at_a_chunk_end_then_a_blank_line_is_two_line_ends() {
        // CR | CR LF: the first CR ends "data: x", the CR LF is the empty line.
        let events = parse(&[b"data: x\r", b"\r\n"]);
        assert_eq!(data(&events), ["x"]);
    }

    #[test]
    fn a_leading_bom_is_dropped_even_when_split_but_only_at_the_start() {
        let events = parse(&[b"\xEF", b"\xBB", b"\xBFdata: 1\n\n\xEF\xBB\xBFdata: 2\n\n"]);
        // The second BOM is part of a field name that is not "data": ignored.
        assert_eq!(data(&events), ["1"]);
        let events = parse(&[b"\xEF\xBB\xBF\xEF\xBB\xBFdata: 1\n\n"]);
        assert!(events.is_empty(), "only one BOM is dropped");
    }

    #[test]
    fn comments_unknown_fields_and_a_field_without_colon() {
        let events = parse(&[b": keep-alive\nfoo: bar\ndata\n\ndata:  two spaces\n\n"]);
        // "data" alone is a data field with an empty value; only one space is stripped.
        assert_eq!(data(&events), ["", " two spaces"]);
    }

    #[test]
    fn event_type_resets_after_each_event_and_defaults_to_message() {
        let events = parse(&[b"event: add\ndata: 1\n\ndata: 2\n\nevent: lost\n\ndata: 3\n\n"]);
        let types: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(types, ["add", "message", "message"]);
    }

    #[test]
    fn id_carries_over_resets_when_empty_and_ignores_nul() {
        let events = parse(&[b"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: x\0y\ndata: d\n\n"]);
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["7", "7", "", ""]);
    }

    #[test]
    fn retry_only_when_all_digits_and_kept_until_the_next_event() {
        let mut parser = Parser::default();
        parser.feed(b"retry: 1500\n\nretry: 2x\ndata: a\n\nretry: -1\nretry: 30\ndata: b\n\n");
        let retries: Vec<_> = parser.ready.iter().map(|e| e.retry).collect();
        let ms = Duration::from_millis;
        assert_eq!(retries, [Some(ms(1500)), Some(ms(30))]);
        assert_eq!(parser.retry, Some(ms(30)));
        parser.feed(b"retry:\ndata: c\n\n");
        assert_eq!(parser.ready.back().map(|e| e.retry), Some(None));
    }

    #[test]
    fn an_unfinished_event_at_the_end_is_not_dispatched() {
        assert!(parse(&[b"data: half\n"]).is_empty());
        assert!(parse(&[b"data: half"]).is_empty());
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let events = parse(&[b"data: \xFF\xFE ok\n\n"]);
        assert_eq!(data(&events), ["\u{FFFD}\u{FFFD} ok"]);
    }
}
