//! Which replica's relay publishes, when several share one PostgreSQL database.
//!
//! The leader holds a session-level advisory lock on a connection of its own for as long as it
//! leads, and reads and marks its changes on that very connection: a round that succeeds proves
//! the session, and with it the lock, is still alive. Every commit is announced by a trigger on
//! `changes` (`NOTIFY`, delivered at commit), so the leader publishes another replica's commit
//! at once instead of at its next poll.

use sqlx::{Connection, PgConnection, PgPool, postgres::PgListener};
use tokio::sync::watch;
use tokio_util::task::AbortOnDropHandle;

use super::{Change, Result, queries::postgres as q};
use crate::domain::Revision;

/// Arbitrary but fixed: the advisory lock key of the relay ("mcpcfg" in ASCII).
const RELAY_LOCK_KEY: i64 = 0x6d63_7063_6667;
/// Where the trigger of migration 0002 announces each committed change (payload: its revision).
const CHANGES_CHANNEL: &str = "mcp_config_changes";

pub struct Leadership {
    /// Detached from the pool, so it can never go back to it with the lock still held: dropped,
    /// it closes, and PostgreSQL releases the lock with the session.
    lock: PgConnection,
    /// The highest revision announced so far.
    announced: watch::Receiver<Revision>,
    /// The task that forwards announcements; it ends with the leadership.
    _listening: AbortOnDropHandle<()>,
}

impl Leadership {
    /// Leadership, or `None` while another replica's relay holds it.
    pub async fn try_acquire(pool: &PgPool) -> Result<Option<Self>> {
        let mut conn = pool.acquire().await?;
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(RELAY_LOCK_KEY)
            .fetch_one(&mut *conn)
            .await?;
        if !locked {
            return Ok(None);
        }
        let lock = conn.detach();
        // Listening before the leader's first read: a commit after that read is announced.
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        let (announce, announced) = watch::channel(0);
        // A task of its own: the relay waits on the (cancel-safe) watch channel, never on the
        // listener's socket. `recv` reconnects by itself; what is announced meanwhile is lost,
        // and the relay's poll finds it.
        let listening = AbortOnDropHandle::new(tokio::spawn(async move {
            while let Ok(notification) = listener.recv().await {
                let revision = notification.payload().parse().unwrap_or(Revision::MAX);
                announce.send_if_modified(|highest| {
                    let newer = revision > *highest;
                    *highest = (*highest).max(revision);
                    newer
                });
            }
        }));
        Ok(Some(Self {
            lock,
            announced,
            _listening: listening,
        }))
    }

    /// Unpublished changes in revision order, at most `limit`.
    pub async fn unpublished(&mut self, limit: u32) -> Result<Vec<Change>> {
        q::unpublished(&mut self.lock, 0, limit).await
    }

    pub async fn mark_published(&mut self, from: Revision, through: Revision) -> Result<()> {
        q::mark_published(&mut self.lock, from, through).await
    }

    /// The highest revision announced so far.
    pub fn announced(&self) -> Revision {
        *self.announced.borrow()
    }

    /// Returns once a revision above `published` has been announced (at once if one already
    /// was); never, if the listener has stopped (the poll still runs). Cancel-safe.
    pub async fn committed_after(&mut self, published: Revision) {
        loop {
            if *self.announced.borrow_and_update() > published {
                return;
            }
            if self.announced.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Gives leadership up: ends the lock's session cleanly, which releases the lock.
    pub async fn release(self) {
        let _ = self.lock.close().await;
    }
}
