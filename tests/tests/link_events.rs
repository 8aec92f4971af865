//! The link-events function on the emulated S3 and DynamoDB, driven by the
//! sample events in `events/` with their placeholders filled in.

use link_tests::{
    Call, Store, TestApp, body_json, download_hashed, event_with, get_json, pattern, send,
    sha256_hex, text,
};
use shared::domain::LinkId;

async fn put(test: &TestApp, key: &str, bytes: &[u8]) {
    test.app
        .objects
        .put(key, bytes.to_vec().into(), "application/pdf")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn inbox_drop_gets_a_link_owned_by_its_creator() {
    let mut test = TestApp::new(Store::Emulated).await;
    test.serve().await;
    let bytes = pattern(20_000);
    let key = "inbox/key-0a1b2c/2025/INC-7 report.pdf";
    put(&test, key, &bytes).await;

    let event = event_with(
        "link-events-inbox",
        &[
            ("REPLACE_WITH_BUCKET", test.app.objects.bucket()),
            ("REPLACE_WITH_KEY", key),
        ],
    );
    let result = link_events::handle(&test.app, event)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = &result["results"][0];
    assert_eq!(outcome["outcome"], "link_created", "{result}");
    assert!(!result.to_string().contains("token"), "{result}");

    let id = LinkId::parse(&text(outcome, "link_id")).unwrap_or_else(|| panic!("{result}"));
    let link = test
        .app
        .links
        .get(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let link = link.unwrap_or_else(|| panic!("no link {id}"));
    assert_eq!(link.creator, "key-0a1b2c");
    assert_eq!(link.file_name, "INC-7 report.pdf");
    assert_eq!(link.sha256, sha256_hex(&bytes));
    assert_eq!(link.max_downloads, 1);
    let lifetime = link.expires_at - link.created_at;
    assert_eq!(
        lifetime,
        i64::from(test.app.config.default_expire_minutes) * 60
    );

    // The owner reads the link back and it serves the dropped bytes once.
    let request = Call::new("GET", format!("/links/{id}"))
        .creator_id("key-0a1b2c")
        .build();
    let response = send(&test.app, request).await;
    let detail = body_json(&response);
    assert_eq!(response.status(), 200, "{detail}");
    let (status, view) = get_json(&text(&detail, "access_url")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["downloads_remaining"], 1);
    let download_url = text(&view, "download_url");
    let (status, size, served) = download_hashed(&download_url).await;
    assert_eq!(status, 200);
    assert_eq!(size, 20_000);
    assert_eq!(served, sha256_hex(&bytes));
    let (again, _, _) = download_hashed(&download_url).await;
    assert_eq!(again, 410);
}

#[tokio::test]
async fn objects_outside_inbox_and_pending_are_ignored() {
    let test = TestApp::new(Store::Emulated).await;
    for (bucket, key) in [
        (test.app.objects.bucket(), "uploads/x/report.pdf"),
        (test.app.objects.bucket(), "inbox/report.pdf"),
        ("another-bucket", "inbox/key-1/report.pdf"),
    ] {
        let event = event_with(
            "link-events-inbox",
            &[("REPLACE_WITH_BUCKET", bucket), ("REPLACE_WITH_KEY", key)],
        );
        let result = link_events::handle(&test.app, event)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            result["results"][0]["outcome"], "ignored",
            "{key}: {result}"
        );
    }
}

#[tokio::test]
async fn direct_invocation_returns_the_generate_link_answer() {
    let mut test = TestApp::new(Store::Emulated).await;
    let base = test.serve().await;
    let bytes = pattern(12_345);
    put(&test, "exports/audit.pdf", &bytes).await;

    let event = event_with(
        "link-events-direct",
        &[
            ("REPLACE_WITH_BUCKET", test.app.objects.bucket()),
            ("REPLACE_WITH_KEY", "exports/audit.pdf"),
        ],
    );
    let created = link_events::handle(&test.app, event)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created["status"], "success", "{created}");
    assert_eq!(created["filename"], "audit.pdf");
    assert_eq!(created["size"], 12_345);
    assert_eq!(created["max_downloads"], 2);
    assert_eq!(created["sha256"], sha256_hex(&bytes).as_str());
    let access_url = text(&created, "access_url");
    assert!(
        access_url.starts_with(&format!("{base}/access/")),
        "{access_url}"
    );

    let (status, view) = get_json(&access_url).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["downloads_remaining"], 2);

    let (status, size, served) = download_hashed(&text(&view, "download_url")).await;
    assert_eq!(status, 200);
    assert_eq!(size, 12_345);
    assert_eq!(served, sha256_hex(&bytes));
    let (status, view) = get_json(&access_url).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["downloads_remaining"], 1);
}

#[tokio::test]
async fn direct_invocation_errors_carry_the_api_code() {
    let test = TestApp::new(Store::Emulated).await;
    let event = event_with(
        "link-events-direct",
        &[
            ("REPLACE_WITH_BUCKET", test.app.objects.bucket()),
            ("REPLACE_WITH_KEY", "exports/missing.pdf"),
        ],
    );
    let error = link_events::handle(&test.app, event).await.err();
    let diagnostic = error.map(lambda_runtime::Diagnostic::from);
    let error_type = diagnostic.as_ref().map(|d| d.error_type.as_str());
    assert_eq!(error_type, Some("invalid_parameter"), "{diagnostic:?}");

    let unknown = serde_json::json!({"hello": "world"});
    let error = link_events::handle(&test.app, unknown).await.err();
    let diagnostic = error.map(lambda_runtime::Diagnostic::from);
    let error_type = diagnostic.as_ref().map(|d| d.error_type.as_str());
    assert_eq!(error_type, Some("unrecognised_event"));
}

#[tokio::test]
async fn direct_invocation_reports_bad_input_before_missing_base_url() {
    let mut test = TestApp::new(Store::Emulated).await;
    test.app.config.public_base_url = None;
    let bucket = test.app.objects.bucket().to_owned();
    let invoke = |bucket: &str, key: &str| serde_json::json!({"bucket": bucket, "key": key, "expire_minutes": 60});
    let message =
        |error: Option<link_events::EventError>| error.map(|e| e.to_string()).unwrap_or_default();

    let error = link_events::handle(&test.app, invoke(&bucket, "exports/missing.pdf")).await;
    let text = message(error.err());
    assert!(text.contains("names no existing object"), "{text}");

    let error = link_events::handle(&test.app, invoke("someone-elses-bucket", "a.pdf")).await;
    let text = message(error.err());
    assert!(text.starts_with("invalid_parameter: file_url"), "{text}");
    assert!(!text.contains("PUBLIC_BASE_URL"), "{text}");

    // With good input, the missing setting is what remains to report, and
    // no link is made.
    put(&test, "exports/audit.pdf", b"%PDF").await;
    let error = link_events::handle(&test.app, invoke(&bucket, "exports/audit.pdf")).await;
    let text = message(error.err());
    assert!(text.contains("PUBLIC_BASE_URL must be set"), "{text}");
    let request = Call::new("GET", "/links").creator_id("link-events").build();
    let listed = body_json(&send(&test.app, request).await);
    assert_eq!(listed["links"], serde_json::json!([]), "{listed}");
}
