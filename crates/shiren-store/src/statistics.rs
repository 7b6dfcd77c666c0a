//! Reading the `daily_stats` counters: submissions, passes, failures and comparisons per scene,
//! UTC day and product. They are written only by [`Store::insert_record`], in the record's own
//! transaction, and outlive the records they count (deletion and retention leave them).

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::{Result, Store};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, FromRow)]
pub struct DailyStats {
    pub scene_id: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub product: String,
    pub submissions: i64,
    pub passes: i64,
    pub failures: i64,
    pub comparisons: i64,
}

impl Store {
    /// Daily counters for days `from..=to` (`YYYY-MM-DD`), one row per scene, day and product.
    pub async fn statistics(&self, scene_id: Option<&str>, from_day: &str, to_day: &str) -> Result<Vec<DailyStats>> {
        let (sql, scene) = match scene_id {
            Some(s) => (
                "SELECT scene_id, day, product, submissions, passes, failures, comparisons FROM daily_stats \
                 WHERE day >= $1 AND day <= $2 AND scene_id = $3 ORDER BY scene_id, day, product",
                Some(s),
            ),
            None => (
                "SELECT scene_id, day, product, submissions, passes, failures, comparisons FROM daily_stats \
                 WHERE day >= $1 AND day <= $2 ORDER BY scene_id, day, product",
                None,
            ),
        };
        let mut query = sqlx::query_as(sql).bind(from_day).bind(to_day);
        if let Some(s) = scene {
            query = query.bind(s);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }
}
