//! The SQL of who is listening: each replica's report of its open streams, rewritten in place.

use super::{Pool, Result, Store};

/// Defines the listener-report queries for one sqlx database type in a module of its own.
macro_rules! backend {
    ($module:ident, $db:ty) => {
        pub mod $module {
            use super::super::Result;

            type Pool = sqlx::Pool<$db>;

            /// Rewrites this replica's report and drops reports older than `stale_before`.
            pub async fn report(pool: &Pool, replica: &str, report: &str, now: i64, stale_before: i64) -> Result<()> {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO listener_reports (replica, report, reported_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (replica) DO UPDATE SET report = excluded.report, reported_at = excluded.reported_at",
                )
                .bind(replica)
                .bind(report)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM listener_reports WHERE reported_at < $1")
                    .bind(stale_before)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            /// The reports written at or after `since`: (replica, report).
            pub async fn reports(pool: &Pool, since: i64) -> Result<Vec<(String, String)>> {
                Ok(sqlx::query_as("SELECT replica, report FROM listener_reports WHERE reported_at >= $1 ORDER BY replica")
                    .bind(since)
                    .fetch_all(pool)
                    .await?)
            }
        }
    };
}

backend!(postgres, sqlx::Postgres);
backend!(sqlite, sqlx::Sqlite);

impl Store {
    pub async fn report_listeners(
        &self,
        replica: &str,
        report: &str,
        now: i64,
        stale_before: i64,
    ) -> Result<()> {
        dispatch!(self, self, |q, pool| q::report(
            pool,
            replica,
            report,
            now,
            stale_before
        )
        .await)
    }

    pub async fn listener_reports(&self, since: i64) -> Result<Vec<(String, String)>> {
        dispatch!(self, self, |q, pool| q::reports(pool, since).await)
    }
}
