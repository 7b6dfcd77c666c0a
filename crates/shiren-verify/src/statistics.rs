//! Statistics (数据统计): per scene and day, submissions, passes, failures, pass rate and face
//! comparisons, for the last 7 or 30 days or a custom range of at most 180 days. The counters
//! outlive records, which retention deletes.

use serde::{Deserialize, Serialize};
use shiren_calendar::Date;
use shiren_store::{DailyStats, Store};

use crate::error::{Error, ErrorCode, echo};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    pub scene_id: Option<String>,
    /// `7d` (default), `30d` or `custom` with `from` and `to` (`YYYY-MM-DD`, at most 180 days).
    pub range: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayStats {
    pub scene_id: String,
    pub day: String,
    pub submissions: i64,
    pub passes: i64,
    pub failures: i64,
    /// passes / submissions, 0 when there were none.
    pub pass_rate: f64,
    pub comparisons: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Statistics {
    pub from: String,
    pub to: String,
    pub days: Vec<DayStats>,
    pub totals: DayStats,
}

fn sum_days<'a>(rows: impl IntoIterator<Item = &'a DailyStats>, scene: &str, day: &str) -> DayStats {
    let mut s = DayStats {
        scene_id: scene.into(),
        day: day.into(),
        submissions: 0,
        passes: 0,
        failures: 0,
        pass_rate: 0.0,
        comparisons: 0,
    };
    for r in rows {
        s.submissions += r.submissions;
        s.passes += r.passes;
        s.failures += r.failures;
        s.comparisons += r.comparisons;
    }
    if s.submissions > 0 {
        s.pass_rate = s.passes as f64 / s.submissions as f64;
    }
    s
}

/// The days a query covers, `today` being the current UTC day.
fn range(query: &StatsQuery, today: Date) -> Result<(Date, Date), Error> {
    let bad = |m: &str| Error::new(ErrorCode::InvalidRange, m);
    let back = |days: i64| Date::from_unix_days(today.to_unix_days() - days).ok_or_else(|| bad("out of the calendar"));
    match query.range.as_deref().unwrap_or("7d") {
        "7d" => Ok((back(6)?, today)),
        "30d" => Ok((back(29)?, today)),
        "custom" => {
            let day = |text: Option<&str>, which: &str| {
                text.and_then(|t| Date::parse(t).ok())
                    .ok_or_else(|| bad(&format!("custom range needs {which}=YYYY-MM-DD")))
            };
            let (from, to) = (day(query.from.as_deref(), "from")?, day(query.to.as_deref(), "to")?);
            if to < from {
                return Err(bad("to is before from"));
            }
            if to.to_unix_days() - from.to_unix_days() + 1 > 180 {
                return Err(bad("a custom range covers at most 180 days"));
            }
            Ok((from, to))
        }
        other => Err(bad(&format!("range {}: use 7d, 30d or custom", echo(other)))),
    }
}

pub async fn statistics(store: &Store, query: &StatsQuery) -> Result<Statistics, Error> {
    let today = Date::from_unix_days(shiren_store::now_ms().div_euclid(shiren_calendar::MS_PER_DAY))
        .ok_or_else(|| Error::internal("the clock is outside the calendar"))?;
    let (from, to) = range(query, today)?;
    let (from, to) = (from.to_string(), to.to_string());
    let rows = store.statistics(query.scene_id.as_deref(), &from, &to).await?;
    // One entry per scene and day with any activity, products summed (rows come sorted by scene
    // and day, so each entry's rows are adjacent).
    let days = rows
        .chunk_by(|a, b| a.scene_id == b.scene_id && a.day == b.day)
        .map(|same| sum_days(same, &same[0].scene_id, &same[0].day))
        .collect();
    let totals = sum_days(&rows, query.scene_id.as_deref().unwrap_or("*"), "*");
    Ok(Statistics { from, to, days, totals })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let today = Date::parse("2026-03-01").unwrap();
        let q = |range: &str, from: Option<&str>, to: Option<&str>| StatsQuery {
            range: Some(range.into()),
            from: from.map(Into::into),
            to: to.map(Into::into),
            ..StatsQuery::default()
        };
        let (from, to) = range(&q("7d", None, None), today).unwrap();
        assert_eq!((from.to_string(), to.to_string()), ("2026-02-23".into(), "2026-03-01".into()));
        assert!(range(&q("custom", Some("2026-01-01"), Some("2026-06-29")), today).is_ok());
        assert_eq!(
            range(&q("custom", Some("2026-01-01"), Some("2026-06-30")), today).unwrap_err().code,
            ErrorCode::InvalidRange
        );
        assert_eq!(
            range(&q("custom", Some("2026-02-30"), Some("2026-03-01")), today).unwrap_err().code,
            ErrorCode::InvalidRange
        );
        assert_eq!(range(&q("1y", None, None), today).unwrap_err().code, ErrorCode::InvalidRange);
    }
}
