//! Verification scenes: the `scenes` table. A scene's settings are JSON whose shape the service
//! owns; deleting a scene only marks it, because its records and statistics outlive it until
//! their retention ends.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::{Result, Store, new_id, now_ms};

#[derive(Debug, Clone, Serialize, Deserialize, FromRow)]
pub struct SceneRow {
    pub id: String,
    pub name: String,
    /// The scene's settings as JSON; the service owns their shape.
    pub config: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The scene's number for the vendor facades (Alibaba SceneId, Tencent RuleId).
    pub alias: Option<i64>,
}

/// How often a scene's creation retries when another node took the same alias at once.
const ALIAS_ATTEMPTS: usize = 5;

impl Store {
    pub async fn create_scene(&self, name: &str, config: &str) -> Result<SceneRow> {
        let now = now_ms();
        let scene = SceneRow {
            id: new_id("sc"),
            name: name.to_string(),
            config: config.to_string(),
            created_at: now,
            updated_at: now,
            alias: None,
        };
        // The next alias is taken in the INSERT itself; two nodes creating scenes at once can
        // take the same one, and the unique index refuses the second, which then tries again.
        let mut attempt = 0;
        let alias: i64 = loop {
            attempt += 1;
            let inserted = sqlx::query_scalar(
                "INSERT INTO scenes (id, name, config, created_at, updated_at, deleted_at, alias) \
                 VALUES ($1, $2, $3, $4, $5, NULL, (SELECT COALESCE(MAX(alias), 1000000) + 1 FROM scenes)) \
                 RETURNING alias",
            )
            .bind(&scene.id)
            .bind(&scene.name)
            .bind(&scene.config)
            .bind(scene.created_at)
            .bind(scene.updated_at)
            .fetch_one(&self.pool)
            .await;
            match inserted {
                Ok(alias) => break alias,
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() && attempt < ALIAS_ATTEMPTS => continue,
                Err(e) => return Err(e.into()),
            }
        };
        Ok(SceneRow { alias: Some(alias), ..scene })
    }

    /// The live scene with this alias.
    pub async fn scene_by_alias(&self, alias: i64) -> Result<Option<SceneRow>> {
        Ok(sqlx::query_as("SELECT * FROM scenes WHERE alias = $1 AND deleted_at IS NULL")
            .bind(alias)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn scene(&self, id: &str) -> Result<Option<SceneRow>> {
        Ok(sqlx::query_as("SELECT * FROM scenes WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn list_scenes(&self) -> Result<Vec<SceneRow>> {
        Ok(sqlx::query_as("SELECT * FROM scenes WHERE deleted_at IS NULL ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn update_scene(&self, id: &str, name: &str, config: &str) -> Result<Option<SceneRow>> {
        let done = sqlx::query(
            "UPDATE scenes SET name = $1, config = $2, updated_at = $3 WHERE id = $4 AND deleted_at IS NULL",
        )
        .bind(name)
        .bind(config)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.scene(id).await
    }

    /// Marks a scene deleted; its records and statistics stay until their retention ends.
    pub async fn delete_scene(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE scenes SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
