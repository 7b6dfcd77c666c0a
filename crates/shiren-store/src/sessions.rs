//! Interactive verification sessions (`verification_sessions`), the digests of frames they
//! accepted (`frame_digests`) and the callbacks they owe (`callbacks`). Every step of a session
//! is a conditional update on its current state, so that on any number of nodes a step is taken
//! once: one consent, one challenge, one judgement.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::{Result, Store, new_id, now_ms};

#[derive(Debug, Clone, Serialize, Deserialize, FromRow)]
pub struct SessionRow {
    pub id: String,
    pub scene_id: String,
    pub product: String,
    pub liveness: String,
    /// `created`, `consented`, `declined`, `capturing`, `judging`, `finished`.
    pub state: String,
    pub token_hash: String,
    pub access_key_id: String,
    pub order_no: Option<String>,
    pub return_url: Option<String>,
    pub callback_url: Option<String>,
    /// Encrypted with [`crate::Purpose::Sessions`], context = the session id.
    pub sealed: Vec<u8>,
    pub consent: Option<String>,
    pub challenge: Option<String>,
    pub nonce_hash: Option<String>,
    pub started_at: Option<i64>,
    pub outcome: Option<String>,
    pub record_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub finished_at: Option<i64>,
}

/// A callback due for delivery.
#[derive(Debug, Clone, FromRow)]
pub struct CallbackRow {
    pub id: String,
    pub session_id: String,
    pub url: String,
    pub access_key_id: String,
    pub body: String,
    pub attempts: i64,
    pub due_at: i64,
}

impl Store {
    pub async fn insert_session(&self, row: &SessionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO verification_sessions (id, scene_id, product, liveness, state, token_hash, access_key_id, \
             order_no, return_url, callback_url, sealed, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&row.id)
        .bind(&row.scene_id)
        .bind(&row.product)
        .bind(&row.liveness)
        .bind(&row.state)
        .bind(&row.token_hash)
        .bind(&row.access_key_id)
        .bind(&row.order_no)
        .bind(&row.return_url)
        .bind(&row.callback_url)
        .bind(&row.sealed)
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn session(&self, id: &str) -> Result<Option<SessionRow>> {
        Ok(sqlx::query_as("SELECT * FROM verification_sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn session_by_token_hash(&self, token_hash: &str) -> Result<Option<SessionRow>> {
        Ok(sqlx::query_as("SELECT * FROM verification_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// `created` → `consented` or `declined`, with the consent evidence; false when the session
    /// was not waiting for consent (or has expired).
    pub async fn answer_consent(&self, id: &str, agreed: bool, consent: &str, now: i64) -> Result<bool> {
        let state = if agreed { "consented" } else { "declined" };
        let finished = (!agreed).then_some(now);
        let done = sqlx::query(
            "UPDATE verification_sessions SET state = $1, consent = $2, finished_at = $3 \
             WHERE id = $4 AND state = 'created' AND expires_at > $5",
        )
        .bind(state)
        .bind(consent)
        .bind(finished)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces what a `consented` session sealed (ID_PLUS keeps each accepted card side there
    /// before the liveness challenge), only if it still holds `old`: two card photos taken at
    /// once on two nodes cannot overwrite each other's side. False when the sealed part changed
    /// meanwhile or the session left that step.
    pub async fn reseal_session(&self, id: &str, old: &[u8], new: &[u8], now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE verification_sessions SET sealed = $1 \
             WHERE id = $2 AND state = 'consented' AND sealed = $3 AND expires_at > $4",
        )
        .bind(new)
        .bind(id)
        .bind(old)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces what a finished session sealed: its card photos once they went to the record
    /// (or nowhere), everything once its record is erased. False when no finished session has
    /// this id.
    pub async fn reseal_finished_session(&self, id: &str, new: &[u8]) -> Result<bool> {
        let done = sqlx::query("UPDATE verification_sessions SET sealed = $1 WHERE id = $2 AND state = 'finished'")
            .bind(new)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `consented` → `judging` without a challenge: the session ends before the camera turns to
    /// the face (ID_PLUS out of card attempts). False when it is not at that step.
    pub async fn claim_without_capture(&self, id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE verification_sessions SET state = 'judging' \
             WHERE id = $1 AND state = 'consented' AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `consented` → `capturing` with the challenge; false when another request issued one first
    /// (read the session again for it) or the session is not at that step.
    pub async fn issue_challenge(&self, id: &str, challenge: &str, nonce_hash: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE verification_sessions SET state = 'capturing', challenge = $1, nonce_hash = $2, started_at = $3 \
             WHERE id = $4 AND state = 'consented' AND expires_at > $3",
        )
        .bind(challenge)
        .bind(nonce_hash)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `capturing` → `judging` for the upload that carries the session's nonce; false for any
    /// other upload (a second one, a wrong nonce, an expired session).
    pub async fn claim_upload(&self, id: &str, nonce_hash: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE verification_sessions SET state = 'judging' \
             WHERE id = $1 AND state = 'capturing' AND nonce_hash = $2 AND expires_at > $3",
        )
        .bind(id)
        .bind(nonce_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `judging` → `finished` with the outcome and the record it wrote.
    pub async fn finish_session(&self, id: &str, outcome: &str, record_id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE verification_sessions SET state = 'finished', outcome = $1, record_id = $2, finished_at = $3 \
             WHERE id = $4 AND state = 'judging'",
        )
        .bind(outcome)
        .bind(record_id)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes sessions that ended (or expired) before `before`, with what they sealed.
    pub async fn delete_old_sessions(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM verification_sessions WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Remembers the digests of a session's frames; returns those already seen in another
    /// session (still within their retention). Digests the same session sent twice are not
    /// replays of another session and are kept once.
    pub async fn remember_frame_digests(
        &self,
        session_id: &str,
        digests: &[String],
        expires_at: i64,
    ) -> Result<Vec<String>> {
        let mut replayed = Vec::new();
        let mut tx = self.pool.begin().await?;
        for digest in digests {
            let owner: Option<(String,)> = sqlx::query_as("SELECT session_id FROM frame_digests WHERE digest = $1")
                .bind(digest)
                .fetch_optional(&mut *tx)
                .await?;
            match owner {
                Some((owner,)) if owner != session_id => replayed.push(digest.clone()),
                Some(_) => {}
                None => {
                    sqlx::query("INSERT INTO frame_digests (digest, session_id, expires_at) VALUES ($1, $2, $3)")
                        .bind(digest)
                        .bind(session_id)
                        .bind(expires_at)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(replayed)
    }

    pub async fn forget_frame_digests(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM frame_digests WHERE expires_at < $1").bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    pub async fn queue_callback(&self, session_id: &str, url: &str, access_key_id: &str, body: &str) -> Result<String> {
        let id = new_id("cb");
        let now = now_ms();
        sqlx::query(
            "INSERT INTO callbacks (id, session_id, url, access_key_id, body, attempts, due_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $6)",
        )
        .bind(&id)
        .bind(session_id)
        .bind(url)
        .bind(access_key_id)
        .bind(body)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Callbacks due now, each leased to this node until `lease_until` (so another node skips
    /// it); an attempt is counted as it is leased, so a crash mid-delivery still uses one up.
    pub async fn lease_due_callbacks(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<CallbackRow>> {
        let due: Vec<CallbackRow> = sqlx::query_as(
            "SELECT id, session_id, url, access_key_id, body, attempts, due_at FROM callbacks \
             WHERE delivered_at IS NULL AND due_at <= $1 ORDER BY due_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut leased = Vec::with_capacity(due.len());
        for mut row in due {
            let done = sqlx::query(
                "UPDATE callbacks SET due_at = $1, attempts = attempts + 1 \
                 WHERE id = $2 AND due_at = $3 AND delivered_at IS NULL",
            )
            .bind(lease_until)
            .bind(&row.id)
            .bind(row.due_at)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 1 {
                row.attempts += 1;
                leased.push(row);
            }
        }
        Ok(leased)
    }

    pub async fn callback_delivered(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE callbacks SET delivered_at = $1, last_error = NULL WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or never again when `None` (the callback
    /// stays, undelivered, with its last error, for an operator to see).
    pub async fn callback_failed(&self, id: &str, error: &str, retry_at: Option<i64>) -> Result<()> {
        sqlx::query("UPDATE callbacks SET last_error = $1, due_at = $2 WHERE id = $3")
            .bind(error)
            .bind(retry_at.unwrap_or(i64::MAX))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How a session's callback stands: attempts, delivered, last error.
    pub async fn callback_status(&self, session_id: &str) -> Result<Option<(i64, Option<i64>, Option<String>)>> {
        Ok(sqlx::query_as("SELECT attempts, delivered_at, last_error FROM callbacks WHERE session_id = $1")
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?)
    }
}
