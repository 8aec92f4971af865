//! Files near and over what one Lambda response can carry: served inline up
//! to `MAX_INLINE_DOWNLOAD_BYTES`, above it through a short-lived presigned
//! S3 URL, and counted once either way.

use link_tests::{Call, Store, TestApp, body_bytes, body_json, download, header, send, text};
use serde_json::json;
use shared::domain::LinkId;

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 7 + i / 251) % 256).unwrap_or(0))
        .collect()
}

async fn link_for(test: &TestApp, key: &str, bytes: &[u8], minutes: i64) -> serde_json::Value {
    test.app
        .objects
        .put(key, bytes.to_vec().into(), "application/octet-stream")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body = json!({
        "file_url": format!("s3://{}/{key}", test.app.objects.bucket()),
        "expire_minutes": minutes,
    });
    let response = send(
        &test.app,
        Call::new("POST", "/generate-link")
            .creator()
            .json(&body)
            .build(),
    )
    .await;
    let created = body_json(&response);
    assert_eq!(response.status(), 200, "{created}");
    created
}

async fn stored_downloads(test: &TestApp, created: &serde_json::Value) -> u32 {
    let id = LinkId::parse(&text(created, "link_id")).unwrap_or_else(|| panic!("bad id"));
    let link = test
        .app
        .links
        .get(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    link.map(|l| l.downloads).unwrap_or(u32::MAX)
}

#[tokio::test]
async fn four_megabytes_are_served_inline_from_s3() {
    let test = TestApp::new(Store::Emulated).await;
    let bytes = pattern(4_000_000);
    let created = link_for(&test, "evidence/4mb.bin", &bytes, 30).await;
    let response = download(&test.app, "4mb.bin", &text(&created, "token")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_bytes(&response), bytes);
    assert_eq!(stored_downloads(&test, &created).await, 1);
}

#[tokio::test]
async fn large_files_redirect_to_short_presigned_url() {
    let test = TestApp::new(Store::Emulated).await;
    for (name, len) in [("5_2mb.bin", 5_200_000), ("50mb.bin", 50_000_000)] {
        let bytes = pattern(len);
        let created = link_for(&test, &format!("evidence/{name}"), &bytes, 10_080).await;
        let token = text(&created, "token");

        let response = download(&test.app, name, &token).await;
        assert_eq!(response.status(), 303, "{name}");
        assert!(body_bytes(&response).is_empty());
        assert_eq!(header(&response, "cache-control"), "no-store");
        let location = header(&response, "location");
        assert!(location.contains("X-Amz-Expires=60&"), "{location}");
        assert!(location.contains("response-content-disposition=attachment"));
        assert!(location.contains(&format!("evidence/{name}")));
        assert!(!location.contains(&token));

        let fetched = reqwest::get(&location)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fetched.status(), 200);
        let served = fetched.bytes().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(served.len(), bytes.len());
        assert!(served.as_ref() == bytes.as_slice());

        assert_eq!(stored_downloads(&test, &created).await, 1);
        assert_eq!(download(&test.app, name, &token).await.status(), 410);
    }
}

#[tokio::test]
async fn presigned_url_never_outlives_the_link() {
    let test = TestApp::new(Store::Emulated).await;
    let created = link_for(&test, "evidence/short.bin", &pattern(5_000_000), 1).await;
    test.clock.advance(45);
    let response = download(&test.app, "short.bin", &text(&created, "token")).await;
    assert_eq!(response.status(), 303);
    let location = header(&response, "location");
    assert!(location.contains("X-Amz-Expires=15&"), "{location}");
}

#[tokio::test]
async fn embedded_store_serves_large_files_inline() {
    let test = TestApp::new(Store::Embedded).await;
    let bytes = pattern(5_200_000);
    let created = link_for(&test, "evidence/big.bin", &bytes, 30).await;
    let response = download(&test.app, "big.bin", &text(&created, "token")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_bytes(&response), bytes);
}
