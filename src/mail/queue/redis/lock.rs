//! The `spool-drain --single` lock: `SET NX PX` on `{NAME}:single` with a random token,
//! renewed by a task every third of the lease while the guard lives, deleted when the
//! guard drops (off the async workers), and expired after the lease if the run was killed.

use std::sync::Arc;
use std::time::Duration;

use super::conn::{Patience, Run};
use super::scripts::{RENEW, UNLOCK};
use super::{Inner, RedisConfig};
use crate::mail::queue::{QueueError, SingleRunGuard, random_u64};

impl Inner {
    /// Takes the lock without waiting: `Ok(None)` when another run holds it.
    pub(super) async fn try_lock_single(
        self: &Arc<Self>,
    ) -> Result<Option<SingleRunGuard>, QueueError> {
        let token = format!("{}-{:016x}", self.consumer, random_u64());
        let lease_ms = (self.config.lease.as_millis() as u64).max(1);
        let mut set = redis::cmd("SET");
        set.arg(&self.keys.single)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(lease_ms);
        let got: Option<String> = self
            .run("lock (SET NX)", Patience::Drainer, Run::Cmd(&set))
            .await?;
        if got.is_none() {
            return Ok(None);
        }
        let weak = Arc::downgrade(self);
        let every = (self.config.lease / 3).max(Duration::from_millis(100));
        let renew_token = token.clone();
        let renewal = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                let mut script = RENEW.prepare_invoke();
                script
                    .key(&inner.keys.single)
                    .arg(&renew_token)
                    .arg(lease_ms);
                match inner.once::<i64>(Run::Script(&script)).await {
                    Ok(1) => {}
                    Ok(_) => tracing::warn!("the --single lock was lost (it expired)"),
                    Err(e) => tracing::warn!(error = %e, "could not renew the --single lock"),
                }
            }
        });
        Ok(Some(SingleRunGuard::new(LockGuard {
            unlock: Some(Unlock {
                config: self.config.clone(),
                key: self.keys.single.clone(),
                token,
            }),
            renewal,
        })))
    }
}

/// Holds the `--single` lock: renews it while alive, deletes it on drop.
struct LockGuard {
    unlock: Option<Unlock>,
    renewal: tokio::task::JoinHandle<()>,
}

impl Drop for LockGuard {
    /// Stops the renewal and deletes the lock without blocking an async worker: inside a
    /// runtime, a thread of its blocking pool makes the round trip (a runtime that shuts
    /// down waits for it, so `spool-drain --single` leaves no lock behind); outside one,
    /// this thread does. If that fails, the lock expires after the lease.
    fn drop(&mut self) {
        self.renewal.abort();
        let Some(unlock) = self.unlock.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || unlock.run());
            }
            Err(_) => unlock.run(),
        }
    }
}

/// Deletes the lock if this run still holds it, on a plain blocking connection bounded
/// by the timeout: the queue's async connection may belong to a runtime that is shutting
/// down (the end of `spool-drain --single`).
struct Unlock {
    config: RedisConfig,
    key: String,
    token: String,
}

impl Unlock {
    fn run(self) {
        if let Err(e) = self.try_run() {
            tracing::debug!(error = %e, "could not delete the --single lock; it expires");
        }
    }

    fn try_run(&self) -> Result<(), redis::RedisError> {
        let c = &self.config;
        let mut script = UNLOCK.prepare_invoke();
        script.key(&self.key).arg(&self.token);
        if c.cluster {
            let client = redis::cluster::ClusterClientBuilder::new(c.nodes.clone())
                .connection_timeout(c.timeout)
                .response_timeout(c.timeout)
                .build()?;
            script.invoke::<i64>(&mut client.get_connection()?)?;
        } else {
            let client = redis::Client::open(c.nodes.first().cloned().unwrap_or_default())?;
            let mut conn = client.get_connection_with_timeout(c.timeout)?;
            conn.set_read_timeout(Some(c.timeout))?;
            conn.set_write_timeout(Some(c.timeout))?;
            script.invoke::<i64>(&mut conn)?;
        }
        Ok(())
    }
}
