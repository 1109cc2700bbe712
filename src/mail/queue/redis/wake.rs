//! Waking a watching drainer: a blocking `XREAD` on its own connection that returns as
//! soon as an entry the group has not yet been given is in the stream, bounded by the
//! time the earliest deferred message falls due.

use std::time::{Duration, Instant, SystemTime};

use redis::Value;

use super::claims::PROMOTE_EVERY;
use super::conn::{Purpose, Run};
use super::scripts::WAKE;
use super::{GROUP, Inner};
use crate::mail::queue::unix_ms;
use crate::sync::lock;

impl Inner {
    /// Waits until the stream holds an entry the group has not been given, a deferred
    /// message falls due, or `timeout` passed. The read starts at the group's last
    /// delivered id, not at `$`, so an entry added between the caller's empty claim and
    /// this read wakes it at once.
    pub(super) async fn wait_for_mail(&self, timeout: Duration) {
        let started = Instant::now();
        let mut script = WAKE.prepare_invoke();
        script
            .key(&self.keys.stream)
            .key(&self.keys.deferred)
            .arg(GROUP);
        let point = self.once::<(String, String)>(Run::Script(&script)).await;
        let conn = match point {
            Ok(_) => self
                .blocking
                .get_or_try_init(|| self.connect(Purpose::BlockingReads))
                .await
                .ok(),
            Err(_) => None,
        };
        let (Ok((last_delivered, first_due)), Some(conn)) = (point, conn) else {
            // Redis is away: do not spin.
            tokio::time::sleep(timeout.saturating_sub(started.elapsed())).await;
            return;
        };
        let mut conn = conn.clone();
        let until = self.until_due(&first_due, timeout);
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            // 0 would block for ever.
            .arg(until.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(&self.keys.stream)
            .arg(&last_delivered);
        let read = tokio::time::timeout(
            until + self.config.timeout,
            cmd.query_async::<Value>(&mut conn),
        )
        .await;
        if !matches!(read, Ok(Ok(_))) {
            // Redis is away: do not spin.
            tokio::time::sleep(until.saturating_sub(started.elapsed())).await;
        }
    }

    /// How long until the deferred message due at `first_due` (ms, `""` for none) can
    /// be promoted by the next claim, at most `limit`.
    fn until_due(&self, first_due: &str, limit: Duration) -> Duration {
        let Ok(due) = first_due.parse::<f64>() else {
            return limit;
        };
        let now = unix_ms(SystemTime::now());
        let due_in = Duration::from_millis((due as u64).saturating_sub(now));
        // A claim promotes at most every PROMOTE_EVERY: waking earlier finds nothing.
        let promote_in = lock(&self.last_promote).map_or(Duration::ZERO, |t| {
            PROMOTE_EVERY.saturating_sub(t.elapsed())
        });
        due_in
            .max(promote_in)
            .max(Duration::from_millis(1))
            .min(limit)
    }
}
