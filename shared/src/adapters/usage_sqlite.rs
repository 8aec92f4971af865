//! Call counters of the embedded store, in their own SQLite file
//! `usage.sqlite3` beside the link database.
//!
//! One call is counted in one `BEGIN IMMEDIATE` transaction that reads both
//! counters, checks the limits and increments both. `IMMEDIATE` takes
//! SQLite's write lock before the read, so two server processes sharing the
//! folder cannot both read the same count. WAL mode and a busy timeout let
//! the second process wait for the lock instead of failing.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::adapters::embedded::create_private_dir;
use crate::ports::StoreError;
use crate::quota::{Charge, Limits, Period, Usage, UsageCounter, Windows};

/// Name of the counter database under `DATA_DIR`.
pub const USAGE_FILE: &str = "usage.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS usage (
    key_id TEXT NOT NULL,
    counter TEXT NOT NULL,
    calls INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, counter)
);
";

/// Call counters in SQLite.
#[derive(Clone)]
pub struct SqliteUsage {
    connection: Arc<Mutex<Connection>>,
}

fn sqlite_error(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::new(operation, e)
}

impl SqliteUsage {
    /// Opens (creating if needed) [`USAGE_FILE`] under `data_dir`.
    ///
    /// # Errors
    ///
    /// Fails when the folder or database cannot be created or opened.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        create_private_dir(data_dir)?;
        let connection = Connection::open(data_dir.join(USAGE_FILE))
            .map_err(sqlite_error("open usage sqlite"))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sqlite_error("set busy timeout"))?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite_error("enable wal"))?;
        connection
            .pragma_update(None, "cache_size", -super::embedded::SQLITE_CACHE_KIB)
            .map_err(sqlite_error("set cache size"))?;
        connection
            .execute_batch(SCHEMA)
            .map_err(sqlite_error("create usage schema"))?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    async fn with<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut guard = connection
                .lock()
                .map_err(|_| StoreError::new(operation, "sqlite connection mutex poisoned"))?;
            work(&mut guard).map_err(sqlite_error(operation))
        })
        .await
        .map_err(|e| StoreError::new(operation, e))?
    }
}

fn read_calls(
    connection: &Connection,
    key_id: &str,
    counter: &str,
) -> Result<u64, rusqlite::Error> {
    let calls: Option<i64> = connection
        .query_row(
            "SELECT calls FROM usage WHERE key_id = ?1 AND counter = ?2",
            params![key_id, counter],
            |row| row.get(0),
        )
        .optional()?;
    Ok(calls.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
}

#[async_trait]
impl UsageCounter for SqliteUsage {
    async fn count_call(
        &self,
        key_id: &str,
        windows: &Windows,
        limits: Limits,
    ) -> Result<Charge, StoreError> {
        let key_id = key_id.to_owned();
        let windows = windows.clone();
        self.with("sqlite count call", move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let month = read_calls(&transaction, &key_id, &windows.month.counter)?;
            let day = read_calls(&transaction, &key_id, &windows.day.counter)?;
            // The month comes first: when both are used up, only the month's
            // reset lets a call through again.
            if month >= limits.month {
                return Ok(Charge::Exceeded(Period::Month));
            }
            if day >= limits.day {
                return Ok(Charge::Exceeded(Period::Day));
            }
            for window in [&windows.day, &windows.month] {
                transaction.execute(
                    "INSERT INTO usage (key_id, counter, calls, expires_at) \
                     VALUES (?1, ?2, 1, ?3) \
                     ON CONFLICT (key_id, counter) DO UPDATE SET calls = calls + 1",
                    params![key_id, window.counter, window.resets_at],
                )?;
            }
            // A counter whose window ended a day or more ago is never read
            // again, even by a process whose clock runs somewhat behind.
            transaction.execute(
                "DELETE FROM usage WHERE key_id = ?1 AND expires_at <= ?2",
                params![key_id, windows.day.resets_at - 2 * 86_400],
            )?;
            transaction.commit()?;
            Ok(Charge::Counted)
        })
        .await
    }

    async fn usage(&self, key_id: &str, windows: &Windows) -> Result<Usage, StoreError> {
        let key_id = key_id.to_owned();
        let windows = windows.clone();
        self.with("sqlite read usage", move |connection| {
            Ok(Usage {
                day: read_calls(connection, &key_id, &windows.day.counter)?,
                month: read_calls(connection, &key_id, &windows.month.counter)?,
            })
        })
        .await
    }
}
