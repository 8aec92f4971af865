//! The whole life of a link through the real handlers, on the embedded
//! store and on DynamoDB and S3 in the emulator.

use link_tests::{
    Call, Store, TestApp, access, body_bytes, body_json, download, header, send, text, upload,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use shared::domain::{AuditAction, LinkId};

link_tests::on_both_stores!(
    upload_view_download_then_gone,
    scanner_views_leave_download_available,
    expired_link_is_gone_everywhere,
    wrong_file_name_is_refused_without_counting,
    forged_tokens_are_not_found,
    malformed_tokens_are_unprocessable,
    creator_routes_need_an_api_key,
    invalid_parameters_name_the_field,
    generated_link_serves_existing_object,
    missing_object_is_unprocessable,
    every_byte_value_round_trips,
    head_and_options_never_count,
    bearer_header_is_accepted,
    range_request_gets_whole_file_once,
    revoked_link_is_refused_everywhere,
    ambiguous_tokens_are_unprocessable,
);

fn png_like(len: usize) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    bytes.extend((0..len).map(|i| u8::try_from((i * 31 + 7) % 256).unwrap_or(0)));
    bytes
}

async fn upload_view_download_then_gone(store: Store) {
    let test = TestApp::new(store).await;
    let bytes = png_like(20_000);
    let created = upload(&test.app, "diagram.png", &bytes, &[]).await;
    assert_eq!(created["status"], "uploaded");
    assert_eq!(created["filename"], "diagram.png");
    assert_eq!(created["size"], bytes.len());
    assert_eq!(created["sha256"], hex::encode(Sha256::digest(&bytes)));
    let token = text(&created, "token");
    assert_eq!(
        text(&created, "access_url"),
        format!("https://links.example.test/v1/access/{token}")
    );
    assert!(text(&created, "expires_at").ends_with('Z'));

    let viewed = access(&test.app, &token, "curl/8").await;
    assert_eq!(viewed.status(), 200);
    assert_eq!(header(&viewed, "referrer-policy"), "no-referrer");
    let metadata = body_json(&viewed);
    assert_eq!(metadata["filename"], "diagram.png");
    assert_eq!(metadata["size"], bytes.len());
    assert_eq!(metadata["sha256"], created["sha256"]);
    assert_eq!(metadata["content_type"], "image/png");
    assert_eq!(metadata["downloads_remaining"], 1);
    assert_eq!(
        text(&metadata, "download_url"),
        format!("https://links.example.test/v1/files/diagram.png?token={token}")
    );

    let first = download(&test.app, "diagram.png", &token).await;
    assert_eq!(first.status(), 200);
    assert_eq!(body_bytes(&first), bytes);
    assert_eq!(header(&first, "content-type"), "image/png");
    assert_eq!(
        header(&first, "content-disposition"),
        "attachment; filename=\"diagram.png\"; filename*=UTF-8''diagram.png"
    );
    assert_eq!(header(&first, "x-content-type-options"), "nosniff");
    assert_eq!(header(&first, "cache-control"), "no-store");
    assert!(header(&first, "content-security-policy").contains("sandbox"));

    let second = download(&test.app, "diagram.png", &token).await;
    assert_eq!(second.status(), 410);
    assert_eq!(body_json(&second)["error"], "used_up");
    assert!(body_bytes(&second).len() < 200);
}

async fn scanner_views_leave_download_available(store: Store) {
    let test = TestApp::new(store).await;
    let bytes = png_like(512);
    let created = upload(&test.app, "report.pdf", &bytes, &[]).await;
    let token = text(&created, "token");
    let agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0; Pro) SafeLinks",
    ];
    for agent in agents {
        let response = access(&test.app, &token, agent).await;
        assert_eq!(response.status(), 200, "{agent}");
        assert_eq!(body_json(&response)["downloads_remaining"], 1, "{agent}");
    }
    let first = download(&test.app, "report.pdf", &token).await;
    assert_eq!(first.status(), 200);
    assert_eq!(body_bytes(&first), bytes);
    let second = download(&test.app, "report.pdf", &token).await;
    assert_eq!(second.status(), 410);

    let id = LinkId::parse(&text(&created, "link_id")).unwrap_or_else(|| panic!("bad link id"));
    let records = test
        .app
        .audit
        .list(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let count = |action| records.iter().filter(|r| r.action == action).count();
    assert_eq!(count(AuditAction::View), 3);
    assert_eq!(count(AuditAction::Download), 1);
    assert_eq!(count(AuditAction::Denied), 1);
    assert!(records.iter().all(|r| r.source_ip == link_tests::SOURCE_IP));
    assert!(records.iter().any(|r| r.user_agent.starts_with("Slackbot")));
    for record in &records {
        assert!(!record.token_fingerprint.is_empty());
        assert!(!token.contains(&record.token_fingerprint));
    }
}

async fn expired_link_is_gone_everywhere(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(&test.app, "a.txt", b"secret", &[("expire_minutes", "1")]).await;
    let token = text(&created, "token");
    assert_eq!(access(&test.app, &token, "x").await.status(), 200);

    test.clock.advance(60);

    let viewed = access(&test.app, &token, "x").await;
    assert_eq!(viewed.status(), 410);
    assert_eq!(body_json(&viewed)["error"], "expired");
    let fetched = download(&test.app, "a.txt", &token).await;
    assert_eq!(fetched.status(), 410);
    assert_ne!(body_bytes(&fetched), b"secret");
    let id = LinkId::parse(&text(&created, "link_id")).unwrap_or_else(|| panic!("bad link id"));
    let records = test
        .app
        .audit
        .list(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let expired = records
        .iter()
        .filter(|r| r.reason.as_deref() == Some("expired"))
        .count();
    assert_eq!(expired, 2);
}

async fn wrong_file_name_is_refused_without_counting(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(&test.app, "a.txt", b"data", &[]).await;
    let token = text(&created, "token");
    let wrong = download(&test.app, "b.txt", &token).await;
    assert_eq!(wrong.status(), 404);
    let traversal = download(&test.app, "..%2F..%2Fetc%2Fpasswd", &token).await;
    assert_eq!(traversal.status(), 422);
    let remaining = body_json(&access(&test.app, &token, "x").await)["downloads_remaining"].clone();
    assert_eq!(remaining, 1);
    assert_eq!(download(&test.app, "a.txt", &token).await.status(), 200);
}

async fn forged_tokens_are_not_found(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(&test.app, "a.txt", b"data", &[]).await;
    let token = text(&created, "token");
    let id = LinkId::parse(&text(&created, "link_id")).unwrap_or_else(|| panic!("bad link id"));

    let other_keys = shared::token::Keyring::random();
    let foreign = other_keys
        .sign(&id, 0, 9_999_999_999)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    parts[2] = parts[2].chars().rev().collect();
    let tampered = parts.join(".");

    for forged in [foreign.expose().to_owned(), tampered] {
        let viewed = access(&test.app, &forged, "x").await;
        assert_eq!(viewed.status(), 404);
        assert!(body_json(&viewed).get("filename").is_none());
        let fetched = download(&test.app, "a.txt", &forged).await;
        assert_eq!(fetched.status(), 404);
        assert_ne!(body_bytes(&fetched), b"data");
    }
    assert_eq!(download(&test.app, "a.txt", &token).await.status(), 200);
}

async fn malformed_tokens_are_unprocessable(store: Store) {
    let test = TestApp::new(store).await;
    for token in ["abc", "a.b", "%3Cscript%3E", "a.b.c!", &"x".repeat(5000)] {
        let viewed = access(&test.app, token, "x").await;
        assert_eq!(viewed.status(), 422, "{token:.20}");
        assert_eq!(body_json(&viewed)["field"], "token");
        let fetched = download(&test.app, "a.txt", token).await;
        assert_eq!(fetched.status(), 422);
    }
    let request = Call::new("GET", "/files/a.txt")
        .param("filename", "a.txt")
        .build();
    let missing = send(&test.app, request).await;
    assert_eq!(missing.status(), 422);
    assert_eq!(body_json(&missing)["field"], "token");
}

async fn creator_routes_need_an_api_key(store: Store) {
    let test = TestApp::new(store).await;
    let body = json!({"file_url": "s3://x/y", "expire_minutes": 5});
    let anonymous = send(
        &test.app,
        Call::new("POST", "/generate-link").json(&body).build(),
    )
    .await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(body_json(&anonymous)["error"], "missing_api_key");

    let wrong = Call::new("POST", "/generate-link")
        .header("x-api-key", "not-the-key")
        .json(&body)
        .build();
    assert_eq!(send(&test.app, wrong).await.status(), 403);

    let upload = Call::new("POST", "/upload-file")
        .binary(
            &format!("multipart/form-data; boundary={}", link_tests::BOUNDARY),
            link_tests::multipart("a.txt", b"x", &[]),
        )
        .build();
    assert_eq!(send(&test.app, upload).await.status(), 401);

    // Without a gateway the handler checks x-api-key against API_KEYS.
    let keyed = Call::new("POST", "/upload-file")
        .header("x-api-key", "local-test-key")
        .binary(
            &format!("multipart/form-data; boundary={}", link_tests::BOUNDARY),
            link_tests::multipart("a.txt", b"x", &[]),
        )
        .build();
    assert_eq!(send(&test.app, keyed).await.status(), 200);
}

async fn invalid_parameters_name_the_field(store: Store) {
    let test = TestApp::new(store).await;
    let own = format!("s3://{}/k", test.app.objects.bucket());
    let cases = [
        (json!({"expire_minutes": 5}), "file_url"),
        (json!({"file_url": own}), "expire_minutes"),
        (
            json!({"file_url": own, "expire_minutes": 0}),
            "expire_minutes",
        ),
        (
            json!({"file_url": own, "expire_minutes": 10_081}),
            "expire_minutes",
        ),
        (
            json!({"file_url": own, "expire_minutes": "30"}),
            "expire_minutes",
        ),
        (
            json!({"file_url": own, "expire_minutes": 1.5}),
            "expire_minutes",
        ),
        (
            json!({"file_url": own, "expire_minutes": -5}),
            "expire_minutes",
        ),
        (json!({"file_url": 7, "expire_minutes": 5}), "file_url"),
        (
            json!({"file_url": own, "expire_minutes": 5, "max_downloads": 0}),
            "max_downloads",
        ),
        (
            json!({"file_url": own, "expire_minutes": 5, "extra": true}),
            "body",
        ),
        (
            json!({"file_url": "http://169.254.169.254/latest/meta-data/", "expire_minutes": 5}),
            "file_url",
        ),
        (
            json!({"file_url": "file:///proc/self/environ", "expire_minutes": 5}),
            "file_url",
        ),
        (
            json!({"file_url": "s3://another-bucket/k", "expire_minutes": 5}),
            "file_url",
        ),
    ];
    for (body, field) in cases {
        let response = send(
            &test.app,
            Call::new("POST", "/generate-link")
                .creator()
                .json(&body)
                .build(),
        )
        .await;
        assert_eq!(response.status(), 422, "{body}");
        let error = body_json(&response);
        assert_eq!(error["field"], field, "{body}");
        assert_eq!(error["error"], "invalid_parameter");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(field))
        );
    }
    let broken = Call::new("POST", "/generate-link")
        .creator()
        .binary("application/json", b"{\"file_url\": ".to_vec())
        .build();
    let response = send(&test.app, broken).await;
    assert_eq!(response.status(), 400);
    assert_eq!(body_json(&response)["error"], "invalid_json");

    let repeated = format!(r#"{{"file_url": "{own}", "expire_minutes": 5, "expire_minutes": 6}}"#);
    let duplicate = Call::new("POST", "/generate-link")
        .creator()
        .binary("application/json", repeated.into_bytes())
        .build();
    let response = send(&test.app, duplicate).await;
    assert_eq!(response.status(), 422);
    assert!(
        body_json(&response)["message"]
            .as_str()
            .is_some_and(|m| m.contains("expire_minutes"))
    );
}

async fn generated_link_serves_existing_object(store: Store) {
    let test = TestApp::new(store).await;
    let bytes = png_like(4096);
    let uploaded = upload(&test.app, "evidence.png", &bytes, &[]).await;
    let body = json!({
        "file_url": uploaded["file_url"],
        "expire_minutes": 30,
        "max_downloads": 2,
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
    assert_eq!(created["status"], "success");
    assert_eq!(created["filename"], "evidence.png");
    assert_eq!(created["sha256"], uploaded["sha256"]);
    assert_eq!(created["max_downloads"], 2);
    let token = text(&created, "token");
    assert_ne!(token, text(&uploaded, "token"));
    for _ in 0..2 {
        let fetched = download(&test.app, "evidence.png", &token).await;
        assert_eq!(fetched.status(), 200);
        assert_eq!(body_bytes(&fetched), bytes);
    }
    assert_eq!(
        download(&test.app, "evidence.png", &token).await.status(),
        410
    );
}

async fn missing_object_is_unprocessable(store: Store) {
    let test = TestApp::new(store).await;
    let body = json!({
        "file_url": format!("s3://{}/uploads/none/missing.pdf", test.app.objects.bucket()),
        "expire_minutes": 30,
    });
    let response = send(
        &test.app,
        Call::new("POST", "/generate-link")
            .creator()
            .json(&body)
            .build(),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert_eq!(body_json(&response)["field"], "file_url");
}

async fn every_byte_value_round_trips(store: Store) {
    let test = TestApp::new(store).await;
    let bytes: Vec<u8> = (0..65_536)
        .map(|i| u8::try_from(i % 256).unwrap_or(0))
        .collect();
    let created = upload(&test.app, "all.bin", &bytes, &[]).await;
    assert_eq!(created["size"], 65_536);
    assert_eq!(created["sha256"], hex::encode(Sha256::digest(&bytes)));
    let fetched = download(&test.app, "all.bin", &text(&created, "token")).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(body_bytes(&fetched), bytes);
}

async fn head_and_options_never_count(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(&test.app, "a.txt", b"data", &[]).await;
    let token = text(&created, "token");
    for method in ["HEAD", "OPTIONS", "HEAD"] {
        let request = Call::new(method, "/files/a.txt")
            .param("filename", "a.txt")
            .query("token", &token)
            .build();
        let response = send(&test.app, request).await;
        assert!(response.status().is_success(), "{method}");
        assert!(body_bytes(&response).is_empty(), "{method}");
    }
    let put = Call::new("PUT", "/files/a.txt")
        .param("filename", "a.txt")
        .query("token", &token)
        .build();
    let refused = send(&test.app, put).await;
    assert_eq!(refused.status(), 405);
    assert_eq!(header(&refused, "allow"), "GET, HEAD, POST, OPTIONS");
    // A POST that is not a form is rejected before anything is counted.
    let post = Call::new("POST", "/files/a.txt")
        .param("filename", "a.txt")
        .query("token", &token)
        .build();
    assert_eq!(send(&test.app, post).await.status(), 415);
    assert_eq!(download(&test.app, "a.txt", &token).await.status(), 200);
}

async fn range_request_gets_whole_file_once(store: Store) {
    let test = TestApp::new(store).await;
    let bytes = png_like(4096);
    let created = upload(&test.app, "a.png", &bytes, &[("max_downloads", "2")]).await;
    let token = text(&created, "token");
    let request = Call::new("GET", "/files/a.png")
        .param("filename", "a.png")
        .query("token", &token)
        .header("range", "bytes=0-0")
        .build();
    let response = send(&test.app, request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "accept-ranges"), "none");
    assert_eq!(body_bytes(&response), bytes);
    let metadata = body_json(&access(&test.app, &token, "x").await);
    assert_eq!(metadata["downloads_remaining"], 1);
}

async fn revoked_link_is_refused_everywhere(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(&test.app, "a.txt", b"data", &[("max_downloads", "3")]).await;
    let token = text(&created, "token");
    assert_eq!(download(&test.app, "a.txt", &token).await.status(), 200);
    let id = LinkId::parse(&text(&created, "link_id")).unwrap_or_else(|| panic!("bad id"));
    let revoked = test
        .app
        .links
        .revoke(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(revoked);

    let viewed = access(&test.app, &token, "x").await;
    assert_eq!(viewed.status(), 410);
    assert_eq!(body_json(&viewed)["error"], "revoked");
    let fetched = download(&test.app, "a.txt", &token).await;
    assert_eq!(fetched.status(), 410);
    assert_eq!(body_json(&fetched)["error"], "revoked");
    let head = Call::new("HEAD", "/files/a.txt")
        .param("filename", "a.txt")
        .query("token", &token)
        .build();
    assert_eq!(send(&test.app, head).await.status(), 410);

    let records = test
        .app
        .audit
        .list(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let refusals = records
        .iter()
        .filter(|r| r.reason.as_deref() == Some("revoked"))
        .count();
    assert_eq!(refusals, 3);
    let unknown = LinkId::generate();
    let missing = test
        .app
        .links
        .revoke(&unknown)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!missing);
}

async fn bearer_header_is_accepted(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(&test.app, "a.txt", b"data", &[]).await;
    let token = text(&created, "token");
    let request = Call::new("GET", "/files/a.txt")
        .param("filename", "a.txt")
        .header("authorization", &format!("Bearer {token}"))
        .build();
    let response = send(&test.app, request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_bytes(&response), b"data");
}

async fn ambiguous_tokens_are_unprocessable(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(&test.app, "a.txt", b"data", &[]).await;
    let token = text(&created, "token");
    let both = Call::new("GET", "/files/a.txt")
        .param("filename", "a.txt")
        .query("token", &token)
        .header("authorization", &format!("Bearer {token}"))
        .build();
    let basic = Call::new("GET", "/files/a.txt")
        .param("filename", "a.txt")
        .query("token", &token)
        .header("authorization", "Basic Zm9vOmJhcg==")
        .build();
    let empty = Call::new("GET", "/files/a.txt")
        .param("filename", "a.txt")
        .header("authorization", "Bearer ")
        .build();
    for request in [both, basic, empty] {
        let response = send(&test.app, request).await;
        assert_eq!(response.status(), 422);
        assert_eq!(body_json(&response)["field"], "token");
    }
    let remaining = body_json(&access(&test.app, &token, "x").await)["downloads_remaining"].clone();
    assert_eq!(remaining, 1);
}
