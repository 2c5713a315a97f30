//! The SQL of single sign-on: sign-ins under way (taken once) and the sessions they open. Keys
//! are hashes of what the browser holds; the service never stores a cookie's or a state's value.

use super::{Pool, Result, Store};

/// A sign-in under way, as the callback finds it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SignInAttempt {
    pub nonce: String,
    pub pkce_verifier: String,
    pub expires_at: i64,
}

/// A web UI session: who, with which rights, until when (milliseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UiSession {
    pub subject: String,
    pub org: Option<String>,
    /// Role names, space-separated.
    pub roles: String,
    pub id_token: String,
    pub expires_at: i64,
}

/// Defines the sign-in queries for one sqlx database type in a module of its own.
macro_rules! backend {
    ($module:ident, $db:ty) => {
        pub mod $module {
            use super::super::Result;
            use super::{SignInAttempt, UiSession};

            type Pool = sqlx::Pool<$db>;

            /// Records an attempt, first dropping every expired one (attempts and sessions), then
            /// the oldest beyond `most`.
            pub async fn begin(pool: &Pool, state_hash: &str, attempt: &SignInAttempt, now: i64, most: i64) -> Result<()> {
                let mut tx = pool.begin().await?;
                sqlx::query("DELETE FROM sign_in_attempts WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM ui_sessions WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO sign_in_attempts (state_hash, nonce, pkce_verifier, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(state_hash)
                    .bind(&attempt.nonce)
                    .bind(&attempt.pkce_verifier)
                    .bind(attempt.expires_at)
                    .execute(&mut *tx)
                    .await?;
                let (pending,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sign_in_attempts").fetch_one(&mut *tx).await?;
                if pending > most {
                    sqlx::query(
                        "DELETE FROM sign_in_attempts WHERE state_hash IN \
                         (SELECT state_hash FROM sign_in_attempts ORDER BY expires_at LIMIT $1)",
                    )
                    .bind(pending - most)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// Takes an attempt: deleted as it is read, so only one caller ever gets it.
            pub async fn take(pool: &Pool, state_hash: &str) -> Result<Option<SignInAttempt>> {
                Ok(sqlx::query_as(
                    "DELETE FROM sign_in_attempts WHERE state_hash = $1 RETURNING nonce, pkce_verifier, expires_at",
                )
                .bind(state_hash)
                .fetch_optional(pool)
                .await?)
            }

            pub async fn open(pool: &Pool, id_hash: &str, session: &UiSession, now: i64) -> Result<()> {
                sqlx::query(
                    "INSERT INTO ui_sessions (id_hash, subject, org, roles, id_token, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id_hash)
                .bind(&session.subject)
                .bind(&session.org)
                .bind(&session.roles)
                .bind(&session.id_token)
                .bind(now)
                .bind(session.expires_at)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub async fn find(pool: &Pool, id_hash: &str, now: i64) -> Result<Option<UiSession>> {
                Ok(sqlx::query_as(
                    "SELECT subject, org, roles, id_token, expires_at FROM ui_sessions \
                     WHERE id_hash = $1 AND expires_at > $2",
                )
                .bind(id_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?)
            }

            pub async fn close(pool: &Pool, id_hash: &str) -> Result<Option<UiSession>> {
                Ok(sqlx::query_as(
                    "DELETE FROM ui_sessions WHERE id_hash = $1 RETURNING subject, org, roles, id_token, expires_at",
                )
                .bind(id_hash)
                .fetch_optional(pool)
                .await?)
            }
        }
    };
}

backend!(postgres, sqlx::Postgres);
backend!(sqlite, sqlx::Sqlite);

impl Store {
    /// Records a sign-in under way, keeping at most `most` (the oldest go first).
    pub async fn begin_sign_in(
        &self,
        state_hash: &str,
        attempt: &SignInAttempt,
        now: i64,
        most: i64,
    ) -> Result<()> {
        dispatch!(self, self, |q, pool| q::begin(
            pool, state_hash, attempt, now, most
        )
        .await)
    }

    /// Takes the sign-in of `state_hash`, once.
    pub async fn take_sign_in(&self, state_hash: &str) -> Result<Option<SignInAttempt>> {
        dispatch!(self, self, |q, pool| q::take(pool, state_hash).await)
    }

    pub async fn open_ui_session(
        &self,
        id_hash: &str,
        session: &UiSession,
        now: i64,
    ) -> Result<()> {
        dispatch!(self, self, |q, pool| q::open(pool, id_hash, session, now)
            .await)
    }

    /// The session of `id_hash` if it has not expired by `now`.
    pub async fn ui_session(&self, id_hash: &str, now: i64) -> Result<Option<UiSession>> {
        dispatch!(self, self, |q, pool| q::find(pool, id_hash, now).await)
    }

    /// Ends a session; answers it if there was one.
    pub async fn close_ui_session(&self, id_hash: &str) -> Result<Option<UiSession>> {
        dispatch!(self, self, |q, pool| q::close(pool, id_hash).await)
    }
}
