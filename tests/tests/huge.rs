//! A 1 GiB file up through a presigned URL and down through a signed one,
//! on both stores: byte-exact by SHA-256 and counted once. The file is made
//! from a fixed pattern in a temporary folder that is removed afterwards.
//!
//! These tests take minutes and need about 3 GB of free disk and memory, so
//! they are ignored by `cargo test`; `script/test` runs them as their own
//! step with `cargo test -p link-tests --test huge -- --ignored`.

use link_tests::{
    Store, TestApp, curl_upload, download_hashed, event_with, get_json, post_json, text,
    write_pattern_file,
};
use serde_json::json;
use shared::domain::LinkId;

const GIB: u64 = 1 << 30;

async fn gigabyte_round_trip(store: Store) {
    let mut test = TestApp::new(store).await;
    let base = test.serve().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("disk.img");
    let sha256 = write_pattern_file(&path, GIB);

    let (status, created) = post_json(
        &format!("{base}/upload-url"),
        &json!({"filename": "disk.img", "size": GIB, "expire_minutes": 60}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let (status, answer) = curl_upload(&path, &text(&created, "upload_url"));
    assert_eq!(status, 200, "{answer}");
    std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));

    if matches!(store, Store::Emulated) {
        let key = format!("pending/{}/disk.img", text(&created, "link_id"));
        let event = event_with(
            "link-events-pending",
            &[
                ("REPLACE_WITH_BUCKET", test.app.objects.bucket()),
                ("REPLACE_WITH_KEY", &key),
            ],
        );
        let result = link_events::handle(&test.app, event)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(result["results"][0]["outcome"], "finalised", "{result}");
    }

    let (status, view) = get_json(&text(&created, "access_url")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["sha256"], sha256.as_str());
    let download_url = text(&view, "download_url");
    let (status, size, served) = download_hashed(&download_url).await;
    assert_eq!(status, 200);
    assert_eq!(size, GIB);
    assert_eq!(served, sha256);

    let id = LinkId::parse(&text(&created, "link_id")).unwrap_or_else(|| panic!("bad id"));
    let link = test
        .app
        .links
        .get(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(link.map(|l| l.downloads), Some(1));
    let (again, _, _) = download_hashed(&download_url).await;
    assert_eq!(again, 410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "1 GiB: run by script/test as its own step"]
async fn gigabyte_round_trip_on_embedded_store() {
    gigabyte_round_trip(Store::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "1 GiB: run by script/test as its own step"]
async fn gigabyte_round_trip_on_emulated_store() {
    gigabyte_round_trip(Store::Emulated).await;
}
