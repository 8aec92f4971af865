//! Plan quotas per API key: calls a day and calls a month, counted by the
//! product itself.
//!
//! | tier | calls a day | calls a month |
//! |---|---|---|
//! | `free` | 5 | 50 |
//! | `developer` | 20 | 500 |
//! | `professional` | 200 | 5,000 |
//! | `enterprise` | 100,000 | 1,000,000 |
//!
//! An API Gateway usage plan enforces one quota period only, and the plans in
//! `template.yaml` enforce the daily one. The product counts both periods, so
//! the monthly limit holds on AWS and both limits hold where no gateway runs
//! (the local server, `cargo lambda watch`).
//!
//! Every creator call is counted by [`enforce`] after the API key check and
//! before the handler does any other work, so a call that later fails (a bad
//! parameter, a missing object) still counts, as it does at the gateway. The
//! day and the month are UTC calendar periods taken from the injected clock.
//! One call is counted in both periods or in neither, in one atomic step of
//! the store: a DynamoDB `TransactWriteItems` with a condition per counter,
//! or one SQLite transaction. A call over either limit gets 429
//! `quota_exceeded` and is not counted, so a client that keeps retrying does
//! not push its next window's count up.
//!
//! The tier of a key comes from `API_KEY_TIERS` (`KEYID=tier,...`); keys not
//! listed get `DEFAULT_TIER` (default `free`). KEYID is the API Gateway key
//! id, or the `key-<16 hex>` id that [`crate::http::api_key_id`] derives from
//! a key in `API_KEYS`.

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use time::{Date, Month, OffsetDateTime};

use crate::App;
use crate::config::ConfigError;
use crate::http::ApiError;
use crate::ports::StoreError;
use crate::service::rfc3339;

/// Plan tier of an API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// 5 calls a day, 50 a month.
    Free,
    /// 20 calls a day, 500 a month.
    Developer,
    /// 200 calls a day, 5,000 a month.
    Professional,
    /// 100,000 calls a day, 1,000,000 a month.
    Enterprise,
}

impl Tier {
    /// Every tier, cheapest first.
    pub const ALL: [Self; 4] = [
        Self::Free,
        Self::Developer,
        Self::Professional,
        Self::Enterprise,
    ];

    /// Parses a tier name, ignoring ASCII case.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|tier| tier.name().eq_ignore_ascii_case(text.trim()))
    }

    /// Returns the name used in configuration and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Developer => "developer",
            Self::Professional => "professional",
            Self::Enterprise => "enterprise",
        }
    }

    /// Returns the tier's call limits.
    pub fn limits(self) -> Limits {
        match self {
            Self::Free => Limits { day: 5, month: 50 },
            Self::Developer => Limits {
                day: 20,
                month: 500,
            },
            Self::Professional => Limits {
                day: 200,
                month: 5_000,
            },
            Self::Enterprise => Limits {
                day: 100_000,
                month: 1_000_000,
            },
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Maximum number of creator calls per period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Calls per UTC day.
    pub day: u64,
    /// Calls per UTC calendar month.
    pub month: u64,
}

impl Limits {
    /// Returns the limit of `period`.
    pub fn of(self, period: Period) -> u64 {
        match period {
            Period::Day => self.day,
            Period::Month => self.month,
        }
    }
}

/// Tier of every API key: the listed ones and a default for the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plans {
    /// Tier per key id, from `API_KEY_TIERS`.
    pub tiers: HashMap<String, Tier>,
    /// Tier of a key id not in `tiers`, from `DEFAULT_TIER`.
    pub default_tier: Tier,
}

/// Maximum length of a key id in `API_KEY_TIERS`, in characters. API
/// Gateway key ids have 10 characters and local ids 20.
const MAX_KEY_ID_CHARS: usize = 128;

impl Plans {
    /// Parses `API_KEY_TIERS` (`KEYID=tier,KEYID=tier`) and `DEFAULT_TIER`.
    /// Either may be absent: no listed keys, and `free` for the rest.
    ///
    /// # Errors
    ///
    /// Names the variable when an entry lacks `=`, a key id is empty, has
    /// characters other than ASCII letters, digits, `-` and `_`, or is
    /// listed twice, or a tier is not one of the four.
    pub fn parse(
        api_key_tiers: Option<&str>,
        default_tier: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let default_tier = match default_tier {
            None => Tier::Free,
            Some(text) => Tier::parse(text).ok_or_else(|| ConfigError {
                name: "DEFAULT_TIER",
                message: format!("{text:?} is not a tier; use one of {}", tier_names()),
            })?,
        };
        let mut tiers = HashMap::new();
        let entries = api_key_tiers
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
        for entry in entries {
            let invalid = |message: String| ConfigError {
                name: "API_KEY_TIERS",
                message,
            };
            let Some((id, tier)) = entry.split_once('=') else {
                return Err(invalid(format!("entry {entry:?} is not KEYID=tier")));
            };
            let id = id.trim();
            let valid_id = !id.is_empty()
                && id.chars().count() <= MAX_KEY_ID_CHARS
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_id {
                return Err(invalid(format!(
                    "key id {id:?} must be 1 to {MAX_KEY_ID_CHARS} ASCII letters, digits, - or _"
                )));
            }
            let tier = Tier::parse(tier).ok_or_else(|| {
                invalid(format!(
                    "tier {:?} of key id {id} is not a tier; use one of {}",
                    tier.trim(),
                    tier_names()
                ))
            })?;
            if tiers.insert(id.to_owned(), tier).is_some() {
                return Err(invalid(format!("key id {id} is listed twice")));
            }
        }
        Ok(Self {
            tiers,
            default_tier,
        })
    }

    /// Returns the tier of `key_id`.
    pub fn tier_for(&self, key_id: &str) -> Tier {
        self.tiers.get(key_id).copied().unwrap_or(self.default_tier)
    }
}

fn tier_names() -> String {
    Tier::ALL.map(Tier::name).join(", ")
}

/// Quota period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// UTC calendar day.
    Day,
    /// UTC calendar month.
    Month,
}

impl Period {
    /// Returns the name used in the `period` field of a 429 response.
    pub fn name(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
        }
    }
}

/// One counting window of one period, such as the day 2026-03-14.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// The period the window belongs to.
    pub period: Period,
    /// Name of the counter: `day#YYYY-MM-DD` or `month#YYYY-MM`.
    pub counter: String,
    /// Unix seconds at which the window ends and the next one starts.
    pub resets_at: i64,
}

/// The day and month windows that contain one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Windows {
    /// The UTC day.
    pub day: Window,
    /// The UTC calendar month.
    pub month: Window,
}

impl Windows {
    /// Returns the windows that contain `now` (Unix seconds). Times outside
    /// the range the `time` crate represents are clamped into it.
    pub fn at(now: i64) -> Self {
        let instant = OffsetDateTime::from_unix_timestamp(now).unwrap_or(if now < 0 {
            OffsetDateTime::UNIX_EPOCH
        } else {
            OffsetDateTime::new_utc(Date::MAX, time::Time::MIDNIGHT)
        });
        let date = instant.date();
        let next_day = date.next_day().unwrap_or(Date::MAX);
        let (year, month) = match date.month() {
            Month::December => (date.year() + 1, Month::January),
            other => (date.year(), other.next()),
        };
        let next_month = Date::from_calendar_date(year, month, 1).unwrap_or(Date::MAX);
        let midnight = |day: Date| day.midnight().assume_utc().unix_timestamp();
        Self {
            day: Window {
                period: Period::Day,
                counter: format!(
                    "day#{:04}-{:02}-{:02}",
                    date.year(),
                    u8::from(date.month()),
                    date.day()
                ),
                resets_at: midnight(next_day),
            },
            month: Window {
                period: Period::Month,
                counter: format!("month#{:04}-{:02}", date.year(), u8::from(date.month())),
                resets_at: midnight(next_month),
            },
        }
    }

    /// Returns the window of `period`.
    pub fn of(&self, period: Period) -> &Window {
        match period {
            Period::Day => &self.day,
            Period::Month => &self.month,
        }
    }
}

/// Calls counted so far in the current windows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Calls in the current day.
    pub day: u64,
    /// Calls in the current month.
    pub month: u64,
}

/// Result of counting one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    /// The call was counted in both periods.
    Counted,
    /// The limit of this period is reached, and the call was counted in
    /// neither. When both are reached it is the month, because a call can
    /// succeed again only once the month resets.
    Exceeded(Period),
}

/// Call counters per API key and window.
#[async_trait]
pub trait UsageCounter: Send + Sync {
    /// Counts one call of `key_id` in both windows in one atomic step, unless
    /// either count has reached its limit, in which case nothing is counted.
    ///
    /// # Errors
    ///
    /// Returns the store's failure; then the call may or may not be counted.
    async fn count_call(
        &self,
        key_id: &str,
        windows: &Windows,
        limits: Limits,
    ) -> Result<Charge, StoreError>;

    /// Reads the counts of `key_id` in both windows, zero where none exists.
    ///
    /// # Errors
    ///
    /// Returns the store's failure.
    async fn usage(&self, key_id: &str, windows: &Windows) -> Result<Usage, StoreError>;
}

/// A creator call rejected because its key's quota for a period is used up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// Tier of the key.
    pub tier: Tier,
    /// The period whose limit is reached.
    pub period: Period,
    /// Calls the tier allows in that period.
    pub limit: u64,
    /// Unix seconds at which the period's window ends.
    pub resets_at: i64,
    /// Whole seconds from the rejection until `resets_at`, at least 1.
    pub retry_after: i64,
}

impl QuotaExceeded {
    /// Returns the message of the 429 response.
    pub fn message(&self) -> String {
        format!(
            "the {tier} plan allows {limit} creator calls a {period} and this API key has \
             used them; the quota resets at {resets_at}",
            tier = self.tier,
            limit = self.limit,
            period = self.period.name(),
            resets_at = rfc3339(self.resets_at),
        )
    }
}

/// Counts one creator call of `key_id` against its tier's daily and monthly
/// quotas. Every creator handler calls this right after the API key check.
///
/// # Errors
///
/// 429 [`ApiError::QuotaExceeded`] when either quota is used up (the call is
/// then not counted); 500 when the counter store fails.
pub async fn enforce(app: &App, key_id: &str) -> Result<(), ApiError> {
    let tier = app.config.plans.tier_for(key_id);
    let limits = tier.limits();
    let now = app.clock.now();
    let windows = Windows::at(now);
    match app.usage.count_call(key_id, &windows, limits).await? {
        Charge::Counted => {
            tracing::debug!(key_id, tier = tier.name(), "creator call counted");
            Ok(())
        }
        Charge::Exceeded(period) => {
            let resets_at = windows.of(period).resets_at;
            let rejection = QuotaExceeded {
                tier,
                period,
                limit: limits.of(period),
                resets_at,
                retry_after: (resets_at - now).max(1),
            };
            tracing::warn!(
                key_id,
                tier = tier.name(),
                period = period.name(),
                limit = rejection.limit,
                resets_at = %rfc3339(resets_at),
                "quota exceeded"
            );
            Err(ApiError::QuotaExceeded(rejection))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(text: &str) -> i64 {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(OffsetDateTime::unix_timestamp)
            .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
    }

    #[test]
    fn windows_name_the_utc_day_and_month() {
        let windows = Windows::at(unix("2026-03-14T23:59:59Z"));
        assert_eq!(windows.day.counter, "day#2026-03-14");
        assert_eq!(windows.month.counter, "month#2026-03");
        assert_eq!(windows.day.resets_at, unix("2026-03-15T00:00:00Z"));
        assert_eq!(windows.month.resets_at, unix("2026-04-01T00:00:00Z"));
    }

    #[test]
    fn december_resets_in_january() {
        let windows = Windows::at(unix("2026-12-31T12:00:00Z"));
        assert_eq!(windows.day.resets_at, unix("2027-01-01T00:00:00Z"));
        assert_eq!(windows.month.resets_at, unix("2027-01-01T00:00:00Z"));
        assert_eq!(windows.month.counter, "month#2026-12");
    }

    #[test]
    fn midnight_starts_a_new_day() {
        let before = Windows::at(unix("2026-02-28T23:59:59Z"));
        let after = Windows::at(unix("2026-03-01T00:00:00Z"));
        assert_eq!(before.day.counter, "day#2026-02-28");
        assert_eq!(after.day.counter, "day#2026-03-01");
        assert_eq!(after.month.counter, "month#2026-03");
        assert_eq!(before.month.resets_at, unix("2026-03-01T00:00:00Z"));
    }

    #[test]
    fn tiers_have_the_plan_limits() {
        let limits: Vec<(u64, u64)> = Tier::ALL
            .iter()
            .map(|tier| (tier.limits().day, tier.limits().month))
            .collect();
        assert_eq!(
            limits,
            vec![(5, 50), (20, 500), (200, 5_000), (100_000, 1_000_000)]
        );
    }

    #[test]
    fn plans_parse_listed_keys_and_default() {
        let plans = Plans::parse(
            Some(" abc123=developer, key-00ff=Enterprise ,"),
            Some("professional"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plans.tier_for("abc123"), Tier::Developer);
        assert_eq!(plans.tier_for("key-00ff"), Tier::Enterprise);
        assert_eq!(plans.tier_for("other"), Tier::Professional);
    }

    #[test]
    fn unlisted_keys_default_to_free() {
        let plans = Plans::parse(None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plans.tier_for("any"), Tier::Free);
    }

    #[test]
    fn bad_tier_config_is_rejected() {
        let cases: [(Option<&str>, Option<&str>, &str, &str); 7] = [
            (Some("abc=gold"), None, "API_KEY_TIERS", "\"gold\""),
            (Some("abc"), None, "API_KEY_TIERS", "KEYID=tier"),
            (Some("=free"), None, "API_KEY_TIERS", "key id"),
            (Some("a b=free"), None, "API_KEY_TIERS", "key id"),
            (
                Some("abc=free,abc=developer"),
                None,
                "API_KEY_TIERS",
                "twice",
            ),
            (None, Some("platinum"), "DEFAULT_TIER", "\"platinum\""),
            (None, Some("free,developer"), "DEFAULT_TIER", "not a tier"),
        ];
        for (tiers, default, name, fragment) in cases {
            let error = Plans::parse(tiers, default).err();
            let Some(error) = error else {
                panic!("{tiers:?} / {default:?} was accepted");
            };
            assert_eq!(error.name, name, "{tiers:?} / {default:?}");
            assert!(
                error.message.contains(fragment),
                "{:?} lacks {fragment:?}",
                error.message
            );
        }
    }

    #[test]
    fn rejection_message_names_limit_and_reset() {
        let rejection = QuotaExceeded {
            tier: Tier::Free,
            period: Period::Month,
            limit: 50,
            resets_at: unix("2026-04-01T00:00:00Z"),
            retry_after: 10,
        };
        assert_eq!(
            rejection.message(),
            "the free plan allows 50 creator calls a month and this API key has used them; \
             the quota resets at 2026-04-01T00:00:00Z"
        );
    }
}
