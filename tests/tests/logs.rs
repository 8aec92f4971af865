//! Log lines carry token fingerprints, never tokens. Alone in its own
//! test binary, because it installs the process-wide log subscriber.

use link_tests::{TestApp, access, download, text, upload};

/// A log sink that keeps every line in memory.
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_fingerprints_not_tokens() {
    let capture = Capture::default();
    let sink = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    // This test is alone in its binary and installs the process-wide
    // subscriber. A per-thread one missed lines at times, while other tests
    // of the same binary ran without a subscriber on other threads.
    tracing::subscriber::set_global_default(subscriber)
        .unwrap_or_else(|e| panic!("setting the log subscriber failed: {e}"));

    let test = TestApp::embedded();
    let created = upload(&test.app, "a.txt", b"x", &[]).await;
    let token = text(&created, "token");
    assert_eq!(access(&test.app, &token, "x").await.status(), 200);
    assert_eq!(download(&test.app, "a.txt", &token).await.status(), 200);
    assert_eq!(download(&test.app, "a.txt", &token).await.status(), 410);
    let forged = format!("{token}x");
    assert_eq!(access(&test.app, &forged, "x").await.status(), 404);

    // A direct invocation of link-events returns a token, which its own
    // log lines must not carry either.
    test.app
        .objects
        .put("exports/b.txt", b"y".to_vec().into(), "text/plain")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let direct = serde_json::json!({"bucket": test.app.objects.bucket(),
        "key": "exports/b.txt", "expire_minutes": 5, "max_downloads": 1});
    let direct = link_events::handle(&test.app, direct)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let direct_token = text(&direct, "token");

    let logs = capture
        .0
        .lock()
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let logs = logs.unwrap_or_default();
    let signature = token.rsplit('.').next().unwrap_or_default();
    assert!(logs.contains("denied"), "{logs}");
    assert!(logs.contains(&text(&created, "link_id")));
    assert!(
        !logs.contains(signature),
        "a token signature reached the log"
    );
    assert!(!logs.contains("local-test-key"));
    assert!(
        logs.contains(&text(&direct, "link_id")),
        "the direct invocation logged no link id: {logs}"
    );
    let direct_signature = direct_token.rsplit('.').next().unwrap_or_default();
    assert!(
        !logs.contains(direct_signature),
        "a link-events token signature reached the log"
    );
    // The refusal of the forged token names it by its fingerprint.
    let fingerprint = shared::secret::RawToken::new(forged.as_str()).fingerprint();
    assert!(logs.contains(&fingerprint), "{logs}");
    assert!(!logs.contains(&forged));
}
