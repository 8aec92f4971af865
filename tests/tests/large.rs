//! Files near and over what one Lambda response can carry: served inline up
//! to `MAX_INLINE_DOWNLOAD_BYTES`, above it through a short-lived presigned
//! S3 URL or the embedded store's signed URL, and counted once either way.
//! Large uploads go to a presigned URL with `curl -T` and are finalised by
//! the storage event, the local server, or the fallback on `/access`.

use link_tests::{
    Call, Store, TestApp, body_bytes, body_json, creator_get_json, curl_upload,
    curl_upload_chunked, download, download_hashed, event_with, get_json, header, on_both_stores,
    pattern, post_json, send, sha256_hex, text, write_pattern_file,
};
use serde_json::json;
use shared::domain::LinkId;
use shared::uploads::UPLOAD_FINISH_SECONDS;

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

on_both_stores!(
    sizes_download_byte_exact_and_once,
    presigned_upload_works_with_curl,
    wrong_size_upload_revokes_the_link,
    missed_upload_deadline_expires_the_link,
    upload_that_never_arrives_expires_cleanly,
    inline_limit_boundary_counts_once,
    creator_view_finalises_pending_upload,
);

async fn sizes_download_byte_exact_and_once(store: Store) {
    let mut test = TestApp::new(store).await;
    test.serve().await;
    for (name, len) in [
        ("1b.bin", 1),
        ("4mb.bin", 4_000_000),
        ("5_2mb.bin", 5_200_000),
        ("50mb.bin", 50_000_000),
    ] {
        let bytes = pattern(len);
        let created = link_for(&test, &format!("evidence/{name}"), &bytes, 30).await;
        let (status, view) = get_json(&text(&created, "access_url")).await;
        assert_eq!(status, 200, "{name}: {view}");

        let download_url = text(&view, "download_url");
        let (status, size, sha256) = download_hashed(&download_url).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(size, len as u64, "{name}");
        assert_eq!(sha256, sha256_hex(&bytes), "{name}");
        assert_eq!(stored_downloads(&test, &created).await, 1, "{name}");

        let (again, _, _) = download_hashed(&download_url).await;
        assert_eq!(again, 410, "{name}");
    }
}

/// Asks `/upload-url` for a link to a file of `size` bytes.
async fn upload_url(base: &str, name: &str, size: u64) -> serde_json::Value {
    let (status, created) = post_json(
        &format!("{base}/upload-url"),
        &json!({"filename": name, "size": size, "content_type": "application/gzip",
                "expire_minutes": 120, "max_downloads": 1}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    created
}

/// Delivers the storage event for `key`, as EventBridge or S3 would, on
/// the emulated store; the local server finalises by itself.
async fn deliver_event(test: &TestApp, store: Store, key: &str) -> Option<serde_json::Value> {
    if matches!(store, Store::Embedded) {
        return None;
    }
    let encoded: String = key
        .split('/')
        .map(|segment| {
            percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("/");
    let event = event_with(
        "link-events-pending",
        &[
            ("REPLACE_WITH_BUCKET", test.app.objects.bucket()),
            ("REPLACE_WITH_KEY", &encoded),
        ],
    );
    Some(
        link_events::handle(&test.app, event)
            .await
            .unwrap_or_else(|e| panic!("link-events failed: {e}")),
    )
}

fn pending_key(created: &serde_json::Value) -> String {
    format!(
        "pending/{}/{}",
        text(created, "link_id"),
        text(created, "filename")
    )
}

async fn presigned_upload_works_with_curl(store: Store) {
    let mut test = TestApp::new(store).await;
    let base = test.serve().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("dump.tar.gz");
    let sha256 = write_pattern_file(&path, 3_000_123);

    let created = upload_url(&base, "dump 2025.tar.gz", 3_000_123).await;
    assert_eq!(created["status"], "pending");
    assert_eq!(created["upload_method"], "PUT");
    assert_eq!(created["upload_headers"], json!({}));
    let url = text(&created, "upload_url");
    let lowered = url.to_ascii_lowercase();
    assert!(!lowered.contains("x-amz-checksum"), "{url}");
    assert!(!lowered.contains("x-amz-sdk-checksum"), "{url}");

    let access_url = text(&created, "access_url");
    let (status, body) = get_json(&access_url).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "pending");

    let (status, answer) = curl_upload(&path, &url);
    assert_eq!(status, 200, "{answer}");
    if let Some(result) = deliver_event(&test, store, &pending_key(&created)).await {
        assert_eq!(result["results"][0]["outcome"], "finalised", "{result}");
    }

    let (status, view) = get_json(&access_url).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["sha256"], sha256.as_str());
    assert_eq!(view["size"], 3_000_123);
    assert_eq!(view["content_type"], "application/gzip");
    let (status, size, served) = download_hashed(&text(&view, "download_url")).await;
    assert_eq!(status, 200);
    assert_eq!(size, 3_000_123);
    assert_eq!(served, sha256);
    assert_eq!(stored_downloads(&test, &created).await, 1);

    // The bytes left pending/ for uploads/, and the URL cannot add more.
    let bucket = test.app.objects.bucket().to_owned();
    let pending = test
        .app
        .objects
        .describe(&bucket, &pending_key(&created))
        .await;
    assert!(matches!(pending, Ok(None)), "{pending:?}");
}

/// A body one byte shorter or longer than the declared size revokes the
/// link and leaves no object. A chunked body, sent without its length, is
/// tried on the local server's URL only, because S3 requires the length.
async fn wrong_size_upload_revokes_the_link(store: Store) {
    let mut test = TestApp::new(store).await;
    let base = test.serve().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut cases = vec![(99, false), (101, false)];
    if matches!(store, Store::Embedded) {
        cases.push((101, true));
    }
    for (size, chunked) in cases {
        let case = format!("{size} bytes, chunked: {chunked}");
        let path = dir.path().join(format!("wrong-{size}.bin"));
        write_pattern_file(&path, size);
        let created = upload_url(&base, "wrong.bin", 100).await;
        let url = text(&created, "upload_url");
        let (status, answer) = if chunked {
            curl_upload_chunked(&path, &url)
        } else {
            curl_upload(&path, &url)
        };
        match store {
            Store::Embedded => {
                assert_eq!(status, 422, "{case}: {answer}");
                assert!(answer.contains("the link is revoked"), "{case}: {answer}");
            }
            Store::Emulated => {
                assert_eq!(status, 200, "{case}: {answer}");
                let result = deliver_event(&test, store, &pending_key(&created)).await;
                let result = result.unwrap_or_default();
                assert_eq!(
                    result["results"][0]["outcome"], "rejected",
                    "{case}: {result}"
                );
                assert_eq!(result["results"][0]["reason"], "size_mismatch", "{case}");
            }
        }
        let (status, body) = get_json(&text(&created, "access_url")).await;
        assert_eq!(status, 410, "{case}: {body}");
        assert_eq!(body["error"], "revoked", "{case}");
        let bucket = test.app.objects.bucket().to_owned();
        for key in [
            pending_key(&created),
            pending_key(&created).replacen("pending/", "uploads/", 1),
        ] {
            let stored = test.app.objects.describe(&bucket, &key).await;
            assert!(matches!(stored, Ok(None)), "{case}: {key}: {stored:?}");
        }
    }
}

async fn missed_upload_deadline_expires_the_link(store: Store) {
    let mut test = TestApp::new(store).await;
    let base = test.serve().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("late.bin");
    write_pattern_file(&path, 1000);

    let created = upload_url(&base, "late.bin", 1000).await;
    let url_minutes = i64::from(test.app.config.upload_url_minutes);
    test.clock.advance(url_minutes * 60 + UPLOAD_FINISH_SECONDS);
    let (status, body) = get_json(&text(&created, "access_url")).await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"], "expired");

    // The URL itself still works in real time here, so the late object
    // arrives, and the finaliser deletes it.
    let (status, answer) = curl_upload(&path, &text(&created, "upload_url"));
    match store {
        Store::Embedded => assert_eq!(status, 410, "{answer}"),
        Store::Emulated => {
            assert_eq!(status, 200, "{answer}");
            let result = deliver_event(&test, store, &pending_key(&created)).await;
            let result = result.unwrap_or_default();
            assert_eq!(result["results"][0]["outcome"], "rejected", "{result}");
            assert_eq!(result["results"][0]["reason"], "expired");
        }
    }
    let bucket = test.app.objects.bucket().to_owned();
    let pending = test
        .app
        .objects
        .describe(&bucket, &pending_key(&created))
        .await;
    assert!(matches!(pending, Ok(None)), "{pending:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_link_is_finalised_on_access() {
    let mut test = TestApp::new(Store::Emulated).await;
    let base = test.serve().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("a.bin");
    let sha256 = write_pattern_file(&path, 70_000);

    let created = upload_url(&base, "a.bin", 70_000).await;
    let (status, answer) = curl_upload(&path, &text(&created, "upload_url"));
    assert_eq!(status, 200, "{answer}");
    // No storage event: the first view finalises the upload.
    let (status, view) = get_json(&text(&created, "access_url")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["sha256"], sha256.as_str());
    // A late duplicate event changes nothing.
    let result = deliver_event(&test, Store::Emulated, &pending_key(&created)).await;
    let result = result.unwrap_or_default();
    assert_eq!(
        result["results"][0]["outcome"], "already_finalised",
        "{result}"
    );
    let (status, size, served) = download_hashed(&text(&view, "download_url")).await;
    assert_eq!((status, size), (200, 70_000));
    assert_eq!(served, sha256);
}

/// `GET /links/{id}` finalises its creator's pending upload once the object
/// has arrived, with no storage event and no `/access` request, and counts
/// no view or download.
async fn creator_view_finalises_pending_upload(store: Store) {
    let mut test = TestApp::new(store).await;
    let base = test.serve().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("b.bin");
    let sha256 = write_pattern_file(&path, 70_000);

    let created = upload_url(&base, "b.bin", 70_000).await;
    let link_url = format!("{base}/links/{}", text(&created, "link_id"));
    let (status, shown) = creator_get_json(&link_url).await;
    assert_eq!(
        (status, shown["state"].as_str()),
        (200, Some("pending")),
        "{shown}"
    );

    let (status, answer) = curl_upload(&path, &text(&created, "upload_url"));
    assert_eq!(status, 200, "{answer}");
    let (status, shown) = creator_get_json(&link_url).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["state"], "active", "{shown}");
    assert_eq!(shown["sha256"], sha256.as_str());
    assert_eq!(shown["downloads"], 0);
    assert_eq!(shown["downloads_remaining"], 1);
    assert_eq!(stored_downloads(&test, &created).await, 0);
    let (status, trail) = creator_get_json(&format!("{link_url}/audit")).await;
    assert_eq!(status, 200, "{trail}");
    let events = trail["events"].as_array().cloned().unwrap_or_default();
    assert!(
        events
            .iter()
            .all(|e| e["action"] != "view" && e["action"] != "download"),
        "{trail}"
    );

    let final_key = pending_key(&created).replacen("pending/", "uploads/", 1);
    let bucket = test.app.objects.bucket().to_owned();
    let stored = test.app.objects.describe(&bucket, &final_key).await;
    assert!(matches!(stored, Ok(Some(_))), "{stored:?}");
}

/// Fetches `url` without following redirects.
async fn get_no_redirect(url: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url} failed: {e}"))
}

/// Returns the `Location` of a `/files` redirect for a link made by
/// [`link_for`].
async fn redirect_target(base: &str, name: &str, created: &serde_json::Value) -> String {
    let url = format!("{base}/files/{name}?token={}", text(created, "token"));
    let response = get_no_redirect(&url).await;
    assert_eq!(response.status().as_u16(), 303, "{name}");
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location for {name}"))
        .to_owned()
}

/// Returns the value of the query parameter `name` in `url`, still encoded.
fn query_value<'a>(url: &'a str, name: &str) -> &'a str {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// Expects the embedded store's download route to reject `url` with 403.
async fn assert_signed_url_rejected(url: &str, case: &str) {
    let response = get_no_redirect(url).await;
    assert_eq!(response.status().as_u16(), 403, "{case}: {url}");
    let body: serde_json::Value = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{case}: no JSON: {e}"));
    assert_eq!(body["error"], "invalid_signed_url", "{case}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_signed_url_resists_tampering() {
    let mut test = TestApp::new(Store::Embedded).await;
    let base = test.serve().await;
    let first_bytes = pattern(5_000_000);
    let first = link_for(&test, "evidence/first.bin", &first_bytes, 30).await;
    let second = link_for(&test, "evidence/second.bin", &pattern(5_000_001), 30).await;
    let url = redirect_target(&base, "first.bin", &first).await;
    let other_url = redirect_target(&base, "second.bin", &second).await;
    assert!(url.starts_with(&format!("{base}/local-objects/download?")));
    assert_eq!(stored_downloads(&test, &first).await, 1);

    // The URL lives at most 60 seconds of real time.
    let expires: i64 = query_value(&url, "expires")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let now = shared::ports::Clock::now(&shared::ports::SystemClock);
    assert!(expires > now, "{url}");
    assert!(expires <= now + 60, "{url}");
    assert!(
        query_value(&url, "disposition").starts_with("attachment%3B%20filename%3D%22first.bin%22"),
        "{url}"
    );

    // Another object's key, a later expiry, another type or disposition,
    // or the other URL's signature each break the signature.
    let first_key = query_value(&url, "key");
    let other_key = query_value(&other_url, "key");
    let cases = [
        ("another key", url.replace(first_key, other_key)),
        (
            "a later expiry",
            url.replace(
                &format!("expires={expires}"),
                &format!("expires={}", expires + 3600),
            ),
        ),
        (
            "another content type",
            url.replace(
                &format!("type={}", query_value(&url, "type")),
                "type=text%2Fhtml",
            ),
        ),
        (
            "another disposition",
            url.replace(
                &format!("disposition={}", query_value(&url, "disposition")),
                "disposition=inline",
            ),
        ),
        (
            "the other URL's signature",
            url.replace(query_value(&url, "sig"), query_value(&other_url, "sig")),
        ),
        ("no signature", url.replace("&sig=", "&signature=")),
    ];
    for (case, forged) in &cases {
        assert_ne!(forged, &url, "{case}: nothing was changed");
        assert_signed_url_rejected(forged, case).await;
    }

    // The genuine URL serves the exact bytes. Fetching it again within its
    // lifetime serves them again without counting.
    for attempt in 0..2 {
        let response = get_no_redirect(&url).await;
        assert_eq!(response.status().as_u16(), 200, "attempt {attempt}");
        let served = response.bytes().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            served.as_ref() == first_bytes.as_slice(),
            "attempt {attempt}"
        );
    }
    assert_eq!(stored_downloads(&test, &first).await, 1);

    // Bytes written under the same key later are not the pinned object.
    test.app
        .objects
        .put(
            "evidence/first.bin",
            pattern(5_000_000)
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .into(),
            "application/octet-stream",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let replaced = get_no_redirect(&url).await;
    assert_eq!(replaced.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_signed_url_refused_after_expiry() {
    let mut test = TestApp::new(Store::Embedded).await;
    let base = test.serve().await;
    let created = link_for(&test, "evidence/brief.bin", &pattern(5_000_000), 1).await;
    // Two seconds of the link are left, so the URL lives two seconds.
    test.clock.advance(58);
    let url = redirect_target(&base, "brief.bin", &created).await;
    let expires: i64 = query_value(&url, "expires")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let now = shared::ports::Clock::now(&shared::ports::SystemClock);
    assert!(expires <= now + 2, "{url}");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_signed_url_rejected(&url, "expired").await;
    assert_eq!(stored_downloads(&test, &created).await, 1);
}

#[tokio::test]
async fn presigned_s3_url_names_type_and_disposition() {
    let test = TestApp::new(Store::Emulated).await;
    let created = link_for(&test, "evidence/report.pdf", &pattern(4_200_000), 30).await;
    let response = download(&test.app, "report.pdf", &text(&created, "token")).await;
    assert_eq!(response.status(), 303);
    let location = header(&response, "location");
    assert!(
        location.contains("response-content-type=application%2Fpdf"),
        "{location}"
    );
    assert!(
        location
            .contains("response-content-disposition=attachment%3B%20filename%3D%22report.pdf%22"),
        "{location}"
    );
    assert!(location.contains("X-Amz-Expires=60&"), "{location}");
    assert!(location.contains("/evidence/report.pdf?"), "{location}");
    assert_eq!(stored_downloads(&test, &created).await, 1);

    // NOTE: the emulator (moto 5.2.1) neither applies the response-*
    // overrides nor checks presigned signatures, so the headers S3 would
    // send and its refusal of an altered URL are checked on the URL only.
    let fetched = reqwest::get(&location)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fetched.status(), 200);
    let served = fetched.bytes().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(served.as_ref() == pattern(4_200_000).as_slice());
    assert_eq!(stored_downloads(&test, &created).await, 1);
}

async fn upload_that_never_arrives_expires_cleanly(store: Store) {
    let mut test = TestApp::new(store).await;
    let base = test.serve().await;
    let created = upload_url(&base, "never.bin", 5_000).await;
    let access_url = text(&created, "access_url");
    let (status, body) = get_json(&access_url).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "pending");

    let url_minutes = i64::from(test.app.config.upload_url_minutes);
    test.clock.advance(url_minutes * 60 + UPLOAD_FINISH_SECONDS);
    let (status, body) = get_json(&access_url).await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"], "expired");
    let files_url = format!("{base}/files/never.bin?token={}", text(&created, "token"));
    let (status, body) = get_json(&files_url).await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"], "expired");

    // A late storage event for the key finds nothing to keep.
    let key = pending_key(&created);
    let outcome = shared::uploads::finalise_upload(&test.app, &key)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome, shared::uploads::Finalised::Rejected("expired"));
    let bucket = test.app.objects.bucket().to_owned();
    for key in [key.clone(), key.replacen("pending/", "uploads/", 1)] {
        let stored = test.app.objects.describe(&bucket, &key).await;
        assert!(matches!(stored, Ok(None)), "{key}: {stored:?}");
    }
    let id = LinkId::parse(&text(&created, "link_id")).unwrap_or_else(|| panic!("bad id"));
    let link = test
        .app
        .links
        .get(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("link record missing"));
    assert_eq!(link.status(test.clock_now()), "expired");
    assert_eq!(link.downloads, 0);
}

async fn inline_limit_boundary_counts_once(store: Store) {
    let test = TestApp::new(store).await;
    let limit = test.app.config.max_inline_download_bytes;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    for (name, len, status) in [("at.bin", limit, 200), ("above.bin", limit + 1, 303)] {
        let bytes = pattern(len);
        let created = link_for(&test, &format!("evidence/{name}"), &bytes, 30).await;
        let response = download(&test.app, name, &text(&created, "token")).await;
        assert_eq!(response.status(), status, "{name}");
        if status == 200 {
            assert!(body_bytes(&response) == bytes, "{name}");
        } else {
            assert!(body_bytes(&response).is_empty(), "{name}");
            assert!(!header(&response, "location").is_empty(), "{name}");
        }
        assert_eq!(stored_downloads(&test, &created).await, 1, "{name}");
    }
}

/// Returns `url` with the first `from` in its query replaced by `to`.
fn tampered(url: &str, from: &str, to: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .unwrap_or_else(|| panic!("no query: {url}"));
    assert!(query.contains(from), "{from} not in {url}");
    format!("{base}?{}", query.replacen(from, to, 1))
}

#[tokio::test]
async fn presigned_get_rejects_tampered_or_expired() {
    let test = TestApp::new(Store::Emulated).await;
    let bytes = pattern(2048);
    let info = test
        .app
        .objects
        .put(
            "evidence/signed.bin",
            bytes.clone().into(),
            "application/octet-stream",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let presign = |ttl: u64| {
        let objects = test.app.objects.clone();
        let object = info.object.clone();
        async move {
            objects
                .presign_download(
                    &object,
                    "attachment; filename=\"r e.bin\"",
                    "text/plain",
                    ttl,
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("the S3 store did not presign"))
                .expose()
                .to_owned()
        }
    };

    let url = presign(60).await;
    let fetched = reqwest::get(&url).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fetched.status(), 200, "{url}");
    // The emulator ignores the response-* overrides, so the URL is checked.
    let parsed = reqwest::Url::parse(&url).unwrap_or_else(|e| panic!("{e}"));
    let overrides: Vec<(String, String)> = parsed
        .query_pairs()
        .into_owned()
        .filter(|(name, _)| name.starts_with("response-"))
        .collect();
    assert_eq!(
        overrides,
        [
            ("response-cache-control", "no-store"),
            (
                "response-content-disposition",
                "attachment; filename=\"r e.bin\""
            ),
            ("response-content-type", "text/plain"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
    );
    let served = fetched.bytes().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(served.as_ref() == bytes.as_slice());

    for bad in [
        tampered(
            &url,
            "response-content-type=text%2Fplain",
            "response-content-type=text%2Fhtml",
        ),
        tampered(&url, "X-Amz-Expires=60", "X-Amz-Expires=600"),
        url.replacen("evidence/signed.bin", "evidence/other.bin", 1),
    ] {
        let response = reqwest::get(&bad).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), 403, "{bad}");
    }

    let short = presign(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = reqwest::get(&short).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 403, "expired URL was accepted");
}

#[tokio::test]
async fn presigned_put_rejects_tampered_or_expired() {
    let test = TestApp::new(Store::Emulated).await;
    let client = reqwest::Client::new();
    let put = |url: String| {
        let client = client.clone();
        async move {
            client
                .put(url)
                .body(vec![7u8; 1000])
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .status()
        }
    };
    let presign = |key: &'static str, ttl: u64| {
        let objects = test.app.objects.clone();
        async move {
            let upload = objects
                .presign_upload(key, 1000, ttl)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(upload.method, "PUT");
            assert!(upload.headers.is_empty());
            upload.url.expose().to_owned()
        }
    };

    let url = presign("pending/signed/a b.bin", 60).await;
    assert_eq!(put(url.clone()).await, 200, "{url}");
    let stored = test
        .app
        .objects
        .describe(test.app.objects.bucket(), "pending/signed/a b.bin")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored.map(|info| info.size), Some(1000));

    let forged = url.replacen("pending/signed/a%20b.bin", "pending/signed/c.bin", 1);
    assert_ne!(forged, url);
    assert_eq!(put(forged).await, 403);
    assert_eq!(
        put(tampered(&url, "X-Amz-Expires=60", "X-Amz-Expires=61")).await,
        403
    );

    let short = presign("pending/signed/late.bin", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(put(short).await, 403, "expired URL was accepted");
    let late = test
        .app
        .objects
        .describe(test.app.objects.bucket(), "pending/signed/late.bin")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(late.is_none());
}

#[tokio::test]
async fn password_page_allows_redirect_to_store() {
    let test = TestApp::new(Store::Emulated).await;
    let limit = usize::try_from(test.app.config.max_inline_download_bytes).unwrap_or(usize::MAX);
    let mut opened = Vec::new();
    for (name, len) in [("small.bin", 16), ("big.bin", limit + 1)] {
        let key = format!("evidence/{name}");
        test.app
            .objects
            .put(&key, pattern(len).into(), "application/octet-stream")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let body = json!({
            "file_url": format!("s3://{}/{key}", test.app.objects.bucket()),
            "expire_minutes": 30,
            "password": "correct horse battery",
        });
        let call = Call::new("POST", "/generate-link").creator().json(&body);
        let response = send(&test.app, call.build()).await;
        let created = body_json(&response);
        assert_eq!(response.status(), 200, "{created}");
        let token = text(&created, "token");
        let page = Call::new("POST", format!("/access/{token}"))
            .param("token", &token)
            .header("accept", "text/html")
            .binary(
                "application/x-www-form-urlencoded",
                b"password=correct+horse+battery".to_vec(),
            )
            .build();
        let response = send(&test.app, page).await;
        assert_eq!(response.status(), 200, "{name}");
        opened.push((name, token, header(&response, "content-security-policy")));
    }
    let emulator = std::env::var("TEST_EMULATOR_URL").unwrap_or_default();
    let origin = emulator.trim_end_matches('/');
    let (_, _, small_policy) = &opened[0];
    assert!(
        small_policy.contains("form-action 'self';"),
        "{small_policy}"
    );
    let (_, token, big_policy) = &opened[1];
    assert!(
        big_policy.contains(&format!("form-action 'self' {origin};")),
        "{big_policy}"
    );

    // The response to the form's POST redirects into that origin.
    let form = format!("token={token}&password=correct+horse+battery");
    let request = Call::new("POST", "/files/big.bin")
        .param("filename", "big.bin")
        .binary("application/x-www-form-urlencoded", form.into_bytes())
        .build();
    let response = send(&test.app, request).await;
    assert_eq!(response.status(), 303);
    let location = header(&response, "location");
    assert!(location.starts_with(&format!("{origin}/")), "{location}");
}
