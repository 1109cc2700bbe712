//! One mail transaction on an open connection: `MAIL FROM`, a `RCPT TO` per recipient
//! (pipelined when the server offers PIPELINING), `DATA` and the content, with each
//! refused recipient reported on its own.

use std::str::FromStr;

use lettre::Address;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};

use super::error::{SmtpError, Step};
use super::pool::{Connection, Pool};
use crate::mail::{EmailError, Error, Recorded, Rejection, RenderedEmail};

/// lettre dot-stuffs the content into a scratch buffer as long as the slice it is given;
/// slices of this size keep that buffer small when a message is large.
const CONTENT_SLICE: usize = 64 * 1024;

impl Pool {
    /// One mail transaction. `Ok` carries the recipients that were refused.
    ///
    /// `before_content`, when set, is the record of the last message this connection
    /// delivered: the content (and so the server's 250 for this message) waits for it,
    /// so that at most one accepted message per connection is not yet acked. When that
    /// record was abandoned (the drain stopped), nothing is sent.
    ///
    /// When the server offers PIPELINING (RFC 2920), `MAIL FROM`, every `RCPT TO` and
    /// `DATA` go out in one write and their replies are read together: two round trips
    /// per message instead of four.
    pub(super) async fn transact(
        &self,
        conn: &mut Connection,
        message: &RenderedEmail,
        before_content: &mut Option<Recorded>,
    ) -> Result<Vec<Rejection>, Error> {
        let pipelining = conn.pipelining;
        let smtp = &mut conn.smtp;
        // Borrowed, never copied: the content goes from here to lettre's encoder.
        let content: &[u8] = &message.bytes[..];
        let mut parameters = Vec::new();
        let non_ascii_address =
            !message.from.is_ascii() || message.recipients.iter().any(|r| !r.is_ascii());
        if non_ascii_address {
            if !smtp.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(SmtpError::MessageUnsupported {
                    server: self.server.clone(),
                    reason: "the message has non-ASCII addresses, but the server does not offer SMTPUTF8, so it can never be sent there".into(),
                }
                .into());
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !content.is_ascii() && smtp.server_info().supports_feature(Extension::EightBitMime) {
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let mail = Mail::new(Some(parse_address(&message.from)?), parameters);
        let rcpts = message
            .recipients
            .iter()
            .map(|r| Ok(Rcpt::new(parse_address(r)?, Vec::new())))
            .collect::<Result<Vec<_>, Error>>()?;

        let mut rejected = Vec::new();
        if pipelining {
            let mut group = mail.to_string();
            for rcpt in &rcpts {
                group.push_str(&rcpt.to_string());
            }
            group.push_str(&Data.to_string());
            // The first reply comes back through `command`, the others are read in turn,
            // even after a refusal, so the connection stays in step.
            let mail_reply = self.step(Step::MailFrom, smtp.command(group)).await;
            if let Err(e) = &mail_reply
                && !e.keeps_connection()
            {
                return Err(e.clone().into());
            }
            for recipient in &message.recipients {
                match self.step(Step::RcptTo, smtp.read_response()).await {
                    Ok(_) => {}
                    Err(error) if error.keeps_connection() => rejected.push(Rejection {
                        recipient: recipient.clone(),
                        error,
                    }),
                    Err(error) => return Err(error.into()),
                }
            }
            let data_reply = self.step(Step::Data, smtp.read_response()).await;
            let all_rejected = rejected.len() == message.recipients.len();
            if data_reply.is_ok() && (all_rejected || mail_reply.is_err()) {
                // The server took DATA although the transaction failed, and now reads
                // everything as content (a QUIT or RSET too): end the data phase with
                // nothing in it, as RFC 2920 §3.1 asks, and the server refuses it.
                self.end_empty_data(conn).await;
            }
            mail_reply?;
            if all_rejected {
                return Err(all_refused(rejected));
            }
            data_reply?;
        } else {
            self.step(Step::MailFrom, smtp.command(mail)).await?;
            for (recipient, rcpt) in message.recipients.iter().zip(rcpts) {
                match self.step(Step::RcptTo, smtp.command(rcpt)).await {
                    Ok(_) => {}
                    Err(error) if error.keeps_connection() => rejected.push(Rejection {
                        recipient: recipient.clone(),
                        error,
                    }),
                    Err(error) => return Err(error.into()),
                }
            }
            if rejected.len() == message.recipients.len() {
                return Err(all_refused(rejected));
            }
            self.step(Step::Data, smtp.command(Data)).await?;
        }
        if let Some(previous) = before_content.take()
            && !previous.wait().await
        {
            // The server waits for content that will not come: the worker drops this
            // connection (an I/O error does not keep it), which closes it.
            return Err(Error::Io(std::io::Error::other(
                "the drain stopped before this message's content was sent",
            )));
        }
        // lettre dot-stuffs as it writes and carries the stuffing state from one slice to
        // the next, so a line that starts with '.' across a slice boundary is still escaped.
        self.step(
            Step::Content,
            conn.smtp.message_iter(content.chunks(CONTENT_SLICE)),
        )
        .await?;
        Ok(rejected)
    }

    /// Sends the lone "." that ends a data phase with no content, and reads the server's
    /// verdict (a refusal, since the transaction has no recipient) under the step
    /// timeout. Any reply brings the connection back in step; when none comes, the
    /// connection is marked to be closed rather than reused.
    async fn end_empty_data(&self, conn: &mut Connection) {
        match self.step(Step::Content, conn.smtp.command(".\r\n")).await {
            Ok(_) => {}
            Err(error) if error.keeps_connection() => {
                tracing::debug!(server = %self.server, %error, "empty data phase refused");
            }
            Err(error) => {
                tracing::debug!(server = %self.server, %error, "no reply to an empty data phase; closing the connection");
                conn.out_of_step = true;
            }
        }
    }
}

/// The error for a message whose every recipient was refused: the one reply when there
/// was one recipient, else each reply listed.
fn all_refused(rejected: Vec<Rejection>) -> Error {
    match <[Rejection; 1]>::try_from(rejected) {
        Ok([only]) => only.error.into(),
        Err(all) => Error::Refused { rejected: all },
    }
}

fn parse_address(address: &str) -> Result<Address, Error> {
    Address::from_str(address).map_err(|e| {
        Error::Email(EmailError::BadAddress {
            field: "envelope",
            value: address.to_owned(),
            reason: e.to_string(),
        })
    })
}
