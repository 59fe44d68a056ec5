//! Reports over periods that reach past `retention.results`: the pruned results come back as one
//! row per check and day from the daily aggregates (so areas, trends and forecasts still see
//! them), and the summary says from when runs are still counted one by one, instead of letting a
//! run count made from what is left pass for the whole period.

use chrono::{DateTime, Utc};

use super::i18n::{Arg, Said, Words};
use crate::store::report::TaskRow;
use crate::store::{Store, StoreError};

/// The kept results of `[from, to)` with the daily aggregates of the days pruned, oldest first.
pub async fn tasks_with_days(
    store: &Store,
    client: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Vec<TaskRow>, bool), StoreError> {
    let mut tasks = store.client_task_days(client, from, to).await?;
    let summarised = !tasks.is_empty();
    tasks.extend(store.client_tasks(client, from, to).await?);
    tasks.sort_by_key(|t| t.at);
    Ok((tasks, summarised))
}

/// The sentence saying runs are counted only from the oldest kept one, when the period has
/// summarised days.
pub async fn summarised_note(
    store: &Store,
    w: &Words,
    client: &str,
    tz: chrono_tz::Tz,
) -> Result<Said, StoreError> {
    let since = store.oldest_host_result(client).await?;
    Ok(match since {
        Some(t) => w.say(
            "history-summarised",
            vec![("since", Arg::Text(w.date(&t.with_timezone(&tz))))],
        ),
        None => w.say("history-summarised-all", vec![]),
    })
}
