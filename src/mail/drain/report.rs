//! [`DrainReport`]: what a drain did, its one-line summary, and the exit status it means.

use serde::Serialize;

/// What a drain did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DrainReport {
    /// Messages the server accepted.
    pub sent: u64,
    /// Messages put back for a later attempt.
    pub deferred: u64,
    /// Messages moved to the dead-letter place (permanent failure or attempts exhausted).
    pub failed: u64,
    /// Unreadable records (and entries that are not records at all) moved to the
    /// dead-letter place.
    pub quarantined: u64,
    /// Claims given back unchanged (the server was unreachable, or shutdown).
    pub released: u64,
    /// Recipients refused for good (a 5xx reply to `RCPT TO`), whether the message went
    /// to the others, waits to be tried again for them, or was dead-lettered.
    pub rejected_recipients: u64,
    /// Each recipient counted in [`rejected_recipients`](Self::rejected_recipients): the
    /// message, the recipient and the server's reply.
    pub refused: Vec<RefusedRecipient>,
    /// Messages still in the queue when the run ended: queued, deferred (due or not) or
    /// in flight under another drainer. Counted at the end of a run that is not
    /// [`watch`](Self::watch); dead letters are not counted.
    pub left: u64,
    /// Set when the run stopped because the mail server could not be used.
    pub unreachable: Option<String>,
    /// Set when [`DrainOptions::single`](super::DrainOptions::single) was asked and
    /// another run held the lock, so this run did nothing.
    pub locked_out: bool,
    /// Set for a [`DrainOptions::watch`](super::DrainOptions::watch) run, which ends
    /// only on shutdown.
    pub watch: bool,
    /// How long the drain took, in milliseconds.
    pub elapsed_ms: u64,
}

/// A recipient the server refused for good during a drain.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RefusedRecipient {
    /// The queue id of the message.
    pub id: String,
    /// The envelope recipient.
    pub recipient: String,
    /// The server's reply.
    pub error: String,
}

/// Exit status: nothing is left undone.
const EXIT_DONE: u8 = 0;
/// Exit status: some mail failed for good (or was quarantined) in this run.
const EXIT_FAILED: u8 = 1;
/// Exit status: this run did all it could, but mail is left that is not due yet, is in
/// flight under another drainer, or was beyond `max`.
const EXIT_PENDING: u8 = 3;
/// Exit status (sysexits `EX_TEMPFAIL`): this run deferred mail, or the server was
/// unreachable; try again later.
const EXIT_TEMPFAIL: u8 = 75;

impl DrainReport {
    /// The process exit status, first match wins:
    ///
    /// - 0 when another run held the `single` lock (nothing to do, for cron);
    /// - 1 when something failed for good or was quarantined in this run;
    /// - 0 for a `watch` run (it ends only on shutdown; deferrals and outages are logged);
    /// - 75 when this run deferred mail or the server was unreachable (try again later);
    /// - 3 when the queue still holds mail ([`left`](Self::left)): not due yet, in flight
    ///   under another drainer, or beyond `max`;
    /// - 0 otherwise: the queue is empty of all but dead letters.
    pub fn exit_code(&self) -> u8 {
        if self.locked_out {
            EXIT_DONE
        } else if self.failed > 0 || self.quarantined > 0 {
            EXIT_FAILED
        } else if self.watch {
            EXIT_DONE
        } else if self.deferred > 0 || self.unreachable.is_some() {
            EXIT_TEMPFAIL
        } else if self.left > 0 {
            EXIT_PENDING
        } else {
            EXIT_DONE
        }
    }

    /// One line: `sent 9,812 · deferred 12 · failed 3 · 4.1 s`, with what is left in the
    /// queue when anything is.
    pub fn summary(&self) -> String {
        if self.locked_out {
            return "another run holds the lock; nothing to do".to_owned();
        }
        let mut parts = vec![
            format!("sent {}", thousands(self.sent)),
            format!("deferred {}", thousands(self.deferred)),
            format!("failed {}", thousands(self.failed)),
        ];
        if self.quarantined > 0 {
            parts.push(format!("quarantined {}", thousands(self.quarantined)));
        }
        if self.rejected_recipients > 0 {
            parts.push(format!(
                "recipients refused {}",
                thousands(self.rejected_recipients)
            ));
        }
        if self.left > 0 {
            parts.push(format!("left in the queue {}", thousands(self.left)));
        }
        parts.push(format!("{:.1} s", self.elapsed_ms as f64 / 1000.0));
        let mut line = parts.join(" · ");
        if let Some(why) = &self.unreachable {
            line.push_str(&format!(" · stopped: {why}"));
        }
        line
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        let code = |r: DrainReport| r.exit_code();
        assert_eq!(code(DrainReport::default()), 0);
        let left = DrainReport {
            left: 2,
            ..DrainReport::default()
        };
        assert_eq!(code(left.clone()), 3);
        let deferred = DrainReport {
            deferred: 1,
            ..left.clone()
        };
        assert_eq!(code(deferred.clone()), 75);
        assert_eq!(
            code(DrainReport {
                failed: 1,
                ..deferred.clone()
            }),
            1
        );
        assert_eq!(
            code(DrainReport {
                watch: true,
                unreachable: Some("down".into()),
                ..deferred
            }),
            0
        );
        assert_eq!(
            code(DrainReport {
                locked_out: true,
                ..left
            }),
            0
        );
        assert_eq!(thousands(9812), "9,812");
    }
}
