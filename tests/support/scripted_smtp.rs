//! An in-process SMTP peer that follows a script, for fault injection only: replies a
//! real server would rarely give on demand, a dropped connection mid-DATA, silence.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the peer does at one point of the conversation.
#[derive(Clone, Debug)]
pub enum Act {
    /// Send this reply (one or more lines joined by CRLF; the last without a newline).
    Reply(&'static str),
    /// Say nothing and keep the connection open.
    Silent,
    /// Close the connection.
    Close,
    /// Reply "220", then send bytes that are not a TLS handshake and close.
    BreakTls,
}

/// The script: the greeting, then replies by command prefix (first match wins; `250 OK`
/// by default), `after_data` for the end of the content, `in_data` for once it starts.
/// `empty_data` answers the end of a data phase that has no accepted recipient.
#[derive(Clone, Debug)]
pub struct Script {
    pub greeting: Act,
    pub ehlo: &'static str,
    pub rules: Vec<(&'static str, Act)>,
    pub in_data: Option<Act>,
    pub after_data: Act,
    /// The verdict on a data phase opened (by a `DATA` rule) with no accepted recipient:
    /// a 554 by default, as RFC 2920 §3.1 asks of the server.
    pub empty_data: Act,
    /// After this many messages on one connection, the next `MAIL` gets a 421 and the
    /// connection closes, as rate-limiting servers do.
    pub messages_per_connection: Option<usize>,
    /// After this many messages accepted in all (over every connection), the end of the
    /// content of any later message gets no reply at all: the client waits for it.
    pub hold_after: Option<(usize, Arc<AtomicUsize>)>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            greeting: Act::Reply("220 scripted.test ESMTP"),
            ehlo: PIPELINING_EHLO,
            rules: Vec::new(),
            in_data: None,
            after_data: Act::Reply("250 2.0.0 queued"),
            empty_data: Act::Reply("554 5.5.1 no valid recipients"),
            messages_per_connection: None,
            hold_after: None,
        }
    }
}

/// An EHLO reply that offers PIPELINING, and one that does not.
pub const PIPELINING_EHLO: &str = "250-scripted.test\n250-PIPELINING\n250 8BITMIME";
pub const PLAIN_EHLO: &str = "250-scripted.test\n250 8BITMIME";

impl Script {
    /// The same script, with the other EHLO reply.
    pub fn without_pipelining(mut self) -> Self {
        self.ehlo = PLAIN_EHLO;
        self
    }

    pub fn messages_per_connection(mut self, limit: usize) -> Self {
        self.messages_per_connection = Some(limit);
        self
    }

    pub fn hold_after(mut self, accepted: usize) -> Self {
        self.hold_after = Some((accepted, Arc::new(AtomicUsize::new(0))));
        self
    }

    pub fn on(mut self, prefix: &'static str, act: Act) -> Self {
        self.rules.push((prefix, act));
        self
    }
}

/// A running peer: its port, and every command line it received.
pub struct Peer {
    pub port: u16,
    pub log: Arc<Mutex<Vec<String>>>,
}

/// Logged when a client connects.
pub const CONNECTED: &str = "<connected>";

/// Logged, with the Message-ID, for a message accepted after its content.
pub const ACCEPTED: &str = "<accepted> ";
/// Logged, with the Message-ID, for a message whose final reply is held back.
pub const HELD: &str = "<held> ";

/// Marks a `MAIL FROM` whose `RCPT TO` had already arrived with it, in the same read.
pub const PIPELINED: &str = "<pipelined>";

impl Peer {
    pub async fn start(script: Script) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let script = script.clone();
                let log = shared.clone();
                tokio::spawn(async move { serve(socket, script, log).await });
            }
        });
        Peer { port, log }
    }

    pub fn commands(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The Message-IDs of the messages whose content the peer logged with `marker`.
    fn marked(&self, marker: &str) -> Vec<String> {
        self.commands()
            .iter()
            .filter_map(|c| c.strip_prefix(marker))
            .map(str::to_owned)
            .collect()
    }

    /// The Message-IDs of the messages the peer accepted (a 2xx after the content), in
    /// order, once each time.
    pub fn accepted(&self) -> Vec<String> {
        self.marked(ACCEPTED)
    }

    /// The Message-IDs of the messages whose final reply the peer holds back.
    pub fn held(&self) -> Vec<String> {
        self.marked(HELD)
    }

    /// The `RCPT TO` lines the peer received.
    pub fn rcpts(&self) -> Vec<String> {
        self.commands()
            .into_iter()
            .filter(|c| c.to_ascii_uppercase().starts_with("RCPT"))
            .collect()
    }
}

/// Sends the reply for `act`; false when the connection should end.
async fn act(writer: &mut tokio::net::tcp::OwnedWriteHalf, act: &Act) -> bool {
    match act {
        Act::Reply(text) => {
            let text = text.replace('\n', "\r\n");
            writer
                .write_all(format!("{text}\r\n").as_bytes())
                .await
                .is_ok()
        }
        Act::Silent => {
            std::future::pending::<()>().await;
            false
        }
        Act::Close => false,
        Act::BreakTls => {
            let _ = writer.write_all(b"220 go ahead\r\n").await;
            let _ = writer
                .write_all(b"this is not a TLS server hello\r\n")
                .await;
            false
        }
    }
}

async fn serve(socket: tokio::net::TcpStream, script: Script, log: Arc<Mutex<Vec<String>>>) {
    log.lock().unwrap().push(CONNECTED.into());
    let (reader, mut writer) = socket.into_split();
    let mut reader = BufReader::new(reader);
    if !act(&mut writer, &script.greeting).await {
        return;
    }
    let mut line = String::new();
    let mut accepted = 0;
    // Whether the last MAIL was accepted: a RCPT counts only inside a transaction.
    let mut mail_ok = false;
    let mut delivered = 0;
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        log.lock().unwrap().push(command.clone());
        if command.to_ascii_uppercase().starts_with("MAIL") && !reader.buffer().is_empty() {
            log.lock().unwrap().push(PIPELINED.into());
        }
        let upper = command.to_ascii_uppercase();
        let rule = script
            .rules
            .iter()
            .find(|(prefix, _)| upper.starts_with(&prefix.to_ascii_uppercase()))
            .map(|(_, a)| a.clone());
        let reply = match rule {
            Some(a) => a,
            None if upper.starts_with("EHLO") => Act::Reply(script.ehlo),
            // As RFC 2920 asks of a server that pipelines: no DATA without a recipient.
            None if upper.starts_with("DATA") && accepted == 0 => {
                Act::Reply("554 5.5.1 no valid recipients")
            }
            None if upper.starts_with("DATA") => Act::Reply("354 end with <CRLF>.<CRLF>"),
            None if upper.starts_with("QUIT") => Act::Reply("221 bye"),
            None => Act::Reply("250 OK"),
        };
        if upper.starts_with("MAIL") {
            accepted = 0;
            mail_ok = matches!(reply, Act::Reply(r) if r.starts_with('2'));
            if script
                .messages_per_connection
                .is_some_and(|limit| delivered >= limit)
            {
                let closing = Act::Reply("421 4.7.0 too many messages on this connection, closing");
                act(&mut writer, &closing).await;
                return;
            }
        }
        if upper.starts_with("RCPT")
            && mail_ok
            && matches!(reply, Act::Reply(r) if r.starts_with('2'))
        {
            accepted += 1;
        }
        if !act(&mut writer, &reply).await {
            return;
        }
        if upper.starts_with("DATA") && matches!(reply, Act::Reply(r) if r.starts_with("354")) {
            // Read the content up to the lone dot, unless the script acts inside it.
            if let Some(in_data) = &script.in_data {
                let mut some = [0u8; 16];
                let _ = reader.read(&mut some).await;
                log.lock().unwrap().push("<content started>".into());
                if !act(&mut writer, in_data).await {
                    return;
                }
            }
            let mut content = Vec::new();
            loop {
                let mut l = Vec::new();
                match reader.read_until(b'\n', &mut l).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if l == b".\r\n" {
                    break;
                }
                content.extend_from_slice(&l);
            }
            log.lock()
                .unwrap()
                .push(format!("<content {} bytes>", content.len()));
            if accepted == 0 {
                if !act(&mut writer, &script.empty_data).await {
                    return;
                }
                continue;
            }
            let id = message_id(&content);
            if let Some((limit, accepted)) = &script.hold_after
                && accepted.load(Ordering::SeqCst) >= *limit
            {
                log.lock().unwrap().push(format!("{HELD}{id}"));
                std::future::pending::<()>().await;
            }
            if !act(&mut writer, &script.after_data).await {
                return;
            }
            if matches!(script.after_data, Act::Reply(r) if r.starts_with('2')) {
                if let Some((_, accepted)) = &script.hold_after {
                    accepted.fetch_add(1, Ordering::SeqCst);
                }
                log.lock().unwrap().push(format!("{ACCEPTED}{id}"));
            }
            delivered += 1;
        }
    }
}

/// The value of the content's `Message-ID` header, or "" when it has none.
fn message_id(content: &[u8]) -> String {
    String::from_utf8_lossy(content)
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("message-id")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default()
}
