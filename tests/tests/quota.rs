//! Plan quotas on both stores: daily and monthly limits, their resets,
//! rejected calls left uncounted, concurrent calls at the edge of a limit,
//! and keys counted apart.

use link_tests::{
    BOUNDARY, CREATOR, Call, Store, TestApp, body_json, header, multipart, send, upload,
};
use serde_json::json;
use shared::App;
use shared::http::ApiError;
use shared::quota::{Period, QuotaExceeded, Tier, Usage, Windows, enforce};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

link_tests::on_both_stores!(
    daily_limit_rejects_until_midnight,
    monthly_limit_spans_days,
    concurrent_calls_stop_at_daily_limit,
    concurrent_calls_stop_at_monthly_limit,
    keys_count_separately,
    listed_tier_sets_the_limits,
);

fn unix(text: &str) -> i64 {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
}

/// Builds an app on `store` whose clock reads `start`, with every key on
/// the free tier unless a test lists it.
async fn app_at(store: Store, start: &str) -> TestApp {
    let mut test = TestApp::new(store).await;
    test.app.config.plans.default_tier = Tier::Free;
    move_clock_to(&test, start);
    test
}

fn move_clock_to(test: &TestApp, instant: &str) {
    let now_ms = shared::ports::Clock::now_ms(test.clock.as_ref());
    let target_ms = unix(instant) * 1000;
    // ManualClock moves in whole seconds and keeps its milliseconds, so
    // round up to land within the target second.
    test.clock
        .advance((target_ms - now_ms + 999).div_euclid(1000));
    let reached = shared::ports::Clock::now(test.clock.as_ref());
    assert_eq!(reached, unix(instant), "clock did not reach {instant}");
}

async fn usage(app: &App, key_id: &str) -> Usage {
    let windows = Windows::at(app.clock.now());
    app.usage
        .usage(key_id, &windows)
        .await
        .unwrap_or_else(|e| panic!("reading usage failed: {e}"))
}

/// Counts one call of `key_id`; `None` when it was counted.
async fn call(app: &App, key_id: &str) -> Option<QuotaExceeded> {
    match enforce(app, key_id).await {
        Ok(()) => None,
        Err(ApiError::QuotaExceeded(rejection)) => Some(rejection),
        Err(other) => panic!("counting a call failed: {other}"),
    }
}

fn upload_request(body: Vec<u8>) -> lambda_http::Request {
    Call::new("POST", "/upload-file")
        .creator()
        .binary(&format!("multipart/form-data; boundary={BOUNDARY}"), body)
        .build()
}

async fn daily_limit_rejects_until_midnight(store: Store) {
    let test = app_at(store, "2026-03-10T08:00:00Z").await;
    let app = &test.app;

    // Uploads and generated links count toward the same quota.
    let first = upload(app, "one.txt", b"first", &[]).await;
    for i in 2..=4 {
        upload(app, &format!("{i}.txt"), b"more", &[]).await;
    }
    let generated = send(
        app,
        Call::new("POST", "/generate-link")
            .creator()
            .json(&json!({"file_url": first["file_url"], "expire_minutes": 5}))
            .build(),
    )
    .await;
    assert_eq!(
        generated.status().as_u16(),
        200,
        "{}",
        body_json(&generated)
    );
    assert_eq!(usage(app, CREATOR).await, Usage { day: 5, month: 5 });

    let rejected = send(app, upload_request(multipart("six.txt", b"six", &[]))).await;
    assert_eq!(rejected.status().as_u16(), 429);
    let body = body_json(&rejected);
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"], "quota_exceeded");
    assert_eq!(body["period"], "day");
    assert_eq!(body["limit"], 5);
    assert_eq!(body["resets_at"], "2026-03-11T00:00:00Z");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("5 creator calls a day"), "{message}");
    assert!(message.contains("free plan"), "{message}");
    let retry_after = 16 * 3600;
    assert_eq!(header(&rejected, "retry-after"), retry_after.to_string());

    // The quota is checked before the body is read, so a malformed request
    // gets the same 429 and does nothing either.
    let malformed = send(app, upload_request(b"not multipart".to_vec())).await;
    assert_eq!(malformed.status().as_u16(), 429);
    let generate = send(
        app,
        Call::new("POST", "/generate-link")
            .creator()
            .json(&json!({}))
            .build(),
    )
    .await;
    assert_eq!(generate.status().as_u16(), 429);
    assert_eq!(usage(app, CREATOR).await, Usage { day: 5, month: 5 });

    move_clock_to(&test, "2026-03-10T23:59:59Z");
    let last_second = call(app, CREATOR).await;
    assert_eq!(last_second.map(|r| r.retry_after), Some(1));

    move_clock_to(&test, "2026-03-11T00:00:00Z");
    upload(app, "next-day.txt", b"next day", &[]).await;
    assert_eq!(usage(app, CREATOR).await, Usage { day: 1, month: 6 });
}

async fn monthly_limit_spans_days(store: Store) {
    let test = app_at(store, "2026-03-01T10:00:00Z").await;
    let app = &test.app;
    // Ten days of five calls use up the month's 50. Two more attempts a day
    // are rejected and must count nowhere. On the tenth day both limits are
    // reached, and the rejection names the month, whose reset comes later.
    for day in 1..=10 {
        move_clock_to(&test, &format!("2026-03-{day:02}T10:00:00Z"));
        for _ in 0..5 {
            assert_eq!(call(app, CREATOR).await, None, "day {day}");
        }
        let expected = if day < 10 { Period::Day } else { Period::Month };
        for _ in 0..2 {
            let rejection = call(app, CREATOR).await;
            assert_eq!(rejection.map(|r| r.period), Some(expected), "day {day}");
        }
    }
    assert_eq!(usage(app, CREATOR).await, Usage { day: 5, month: 50 });

    move_clock_to(&test, "2026-03-11T10:00:00Z");
    let rejection = call(app, CREATOR)
        .await
        .unwrap_or_else(|| panic!("the 51st call of the month was counted"));
    assert_eq!(rejection.period, Period::Month);
    assert_eq!(rejection.limit, 50);
    assert_eq!(rejection.resets_at, unix("2026-04-01T00:00:00Z"));
    assert_eq!(
        rejection.retry_after,
        unix("2026-04-01T00:00:00Z") - unix("2026-03-11T10:00:00Z")
    );
    assert_eq!(usage(app, CREATOR).await, Usage { day: 0, month: 50 });

    move_clock_to(&test, "2026-03-31T23:59:59Z");
    let rejection = call(app, CREATOR).await;
    assert_eq!(rejection.map(|r| r.period), Some(Period::Month));

    move_clock_to(&test, "2026-04-01T00:00:00Z");
    assert_eq!(call(app, CREATOR).await, None);
    assert_eq!(usage(app, CREATOR).await, Usage { day: 1, month: 1 });
}

/// Starts `count` calls of `key_id` at once and returns the rejections.
async fn concurrent_calls(app: &App, key_id: &str, count: usize) -> Vec<Option<QuotaExceeded>> {
    let mut tasks = Vec::new();
    for _ in 0..count {
        let app = app.clone();
        let key_id = key_id.to_owned();
        tasks.push(tokio::spawn(async move { call(&app, &key_id).await }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap_or_else(|e| panic!("{e}")));
    }
    outcomes
}

async fn concurrent_calls_stop_at_daily_limit(store: Store) {
    let test = app_at(store, "2026-05-20T12:00:00Z").await;
    let key_id = "key-concurrent-day";
    let mut app = test.app.clone();
    app.config
        .plans
        .tiers
        .insert(key_id.to_owned(), Tier::Developer);

    let outcomes = concurrent_calls(&app, key_id, 30).await;
    let counted = outcomes.iter().filter(|o| o.is_none()).count();
    let rejected_for_day = outcomes
        .iter()
        .filter(|o| o.as_ref().map(|r| r.period) == Some(Period::Day))
        .count();
    assert_eq!(counted, 20);
    assert_eq!(rejected_for_day, 10);
    assert_eq!(usage(&app, key_id).await, Usage { day: 20, month: 20 });
}

async fn concurrent_calls_stop_at_monthly_limit(store: Store) {
    let test = app_at(store, "2026-06-01T09:00:00Z").await;
    let app = &test.app;
    for day in 1..=9 {
        move_clock_to(&test, &format!("2026-06-{day:02}T09:00:00Z"));
        for _ in 0..5 {
            assert_eq!(call(app, CREATOR).await, None, "day {day}");
        }
    }
    move_clock_to(&test, "2026-06-10T09:00:00Z");
    for _ in 0..2 {
        assert_eq!(call(app, CREATOR).await, None);
    }
    // 47 calls so far: three are left in the month and five in the day.
    move_clock_to(&test, "2026-06-11T09:00:00Z");
    let outcomes = concurrent_calls(app, CREATOR, 8).await;
    let counted = outcomes.iter().filter(|o| o.is_none()).count();
    let rejected_for_month = outcomes
        .iter()
        .filter(|o| o.as_ref().map(|r| r.period) == Some(Period::Month))
        .count();
    assert_eq!(counted, 3);
    assert_eq!(rejected_for_month, 5);
    assert_eq!(usage(app, CREATOR).await, Usage { day: 3, month: 50 });
}

async fn keys_count_separately(store: Store) {
    let test = app_at(store, "2026-07-04T15:30:00Z").await;
    let app = &test.app;
    for _ in 0..5 {
        assert_eq!(call(app, "key-a").await, None);
    }
    assert!(call(app, "key-a").await.is_some());
    for _ in 0..5 {
        assert_eq!(call(app, "key-b").await, None);
    }
    assert_eq!(usage(app, "key-a").await, Usage { day: 5, month: 5 });
    assert_eq!(usage(app, "key-b").await, Usage { day: 5, month: 5 });
    assert_eq!(usage(app, "key-c").await, Usage { day: 0, month: 0 });
}

async fn listed_tier_sets_the_limits(store: Store) {
    let mut test = app_at(store, "2026-08-15T00:00:00Z").await;
    test.app.config.plans.default_tier = Tier::Professional;
    test.app
        .config
        .plans
        .tiers
        .insert("key-developer".to_owned(), Tier::Developer);
    let app = &test.app;

    for _ in 0..20 {
        assert_eq!(call(app, "key-developer").await, None);
    }
    let rejection = call(app, "key-developer").await;
    assert_eq!(rejection.as_ref().map(|r| r.limit), Some(20));
    assert_eq!(rejection.map(|r| r.tier), Some(Tier::Developer));

    // An unlisted key gets DEFAULT_TIER, here professional with 200 a day.
    for _ in 0..21 {
        assert_eq!(call(app, "key-unlisted").await, None);
    }
    assert_eq!(
        usage(app, "key-unlisted").await,
        Usage { day: 21, month: 21 }
    );
}
