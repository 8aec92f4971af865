//! Inputs that broke comparable services: concurrent downloads of a limited
//! link, forged token headers, and tokens that must not leak.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header};
use link_tests::{
    Store, TEST_KID, TestApp, access, body_bytes, body_json, download, header, test_secret, text,
    upload,
};
use serde_json::json;
use shared::domain::{AuditAction, LinkId};

link_tests::on_both_stores!(
    concurrent_downloads_stop_at_the_limit,
    forged_algorithms_are_rejected,
    tokens_stay_out_of_audit_records,
    hostile_file_names_stay_in_their_header,
    curl_form_file_names_keep_quotes,
    scriptable_files_never_render_inline,
);

async fn concurrent_downloads_stop_at_the_limit(store: Store) {
    let test = TestApp::new(store).await;
    for limit in [1usize, 3] {
        let name = format!("limit-{limit}.bin");
        let created = upload(
            &test.app,
            &name,
            &[9u8; 1024],
            &[("max_downloads", &limit.to_string())],
        )
        .await;
        let token = text(&created, "token");
        let mut tasks = Vec::new();
        for _ in 0..25 {
            let app = test.app.clone();
            let (name, token) = (name.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                download(&app, &name, &token).await.status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap_or_else(|e| panic!("{e}")));
        }
        let ok = statuses.iter().filter(|s| **s == 200).count();
        let gone = statuses.iter().filter(|s| **s == 410).count();
        assert_eq!(ok, limit, "{statuses:?}");
        assert_eq!(gone, 25 - limit, "{statuses:?}");

        let id = LinkId::parse(&text(&created, "link_id")).unwrap_or_else(|| panic!("bad id"));
        let link = test
            .app
            .links
            .get(&id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(link.map(|l| l.downloads as usize), Some(limit));
        let records = test
            .app
            .audit
            .list(&id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let denied = records
            .iter()
            .filter(|r| r.action == AuditAction::Denied)
            .count();
        let served = records
            .iter()
            .filter(|r| r.action == AuditAction::Download)
            .count();
        assert_eq!(denied, 25 - limit);
        assert_eq!(served, limit);
    }
}

fn unsigned(header: &serde_json::Value, claims: &serde_json::Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn signed(algorithm: Algorithm, claims: &serde_json::Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(TEST_KID.into());
    link_tests::hmac_jwt(&header, claims, &test_secret())
}

async fn forged_algorithms_are_rejected(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(&test.app, "a.txt", b"secret bytes", &[]).await;
    let link_id = text(&created, "link_id");
    let claims = json!({"lid": link_id, "iat": 0, "exp": 4_102_444_800i64});
    let genuine = text(&created, "token");
    let genuine_signature = genuine.rsplit('.').next().unwrap_or_default().to_owned();

    let forgeries = [
        unsigned(
            &json!({"alg": "none", "typ": "JWT", "kid": TEST_KID}),
            &claims,
            "",
        ),
        unsigned(&json!({"alg": "None", "kid": TEST_KID}), &claims, ""),
        unsigned(&json!({"alg": "none"}), &claims, &genuine_signature),
        signed(Algorithm::HS512, &claims),
        signed(Algorithm::HS384, &claims),
        unsigned(
            &json!({"alg": "RS256", "typ": "JWT", "kid": TEST_KID}),
            &claims,
            "c2ln",
        ),
        unsigned(
            &json!({"alg": "HS256", "typ": "JWT", "kid": "other"}),
            &claims,
            &genuine_signature,
        ),
        unsigned(
            &json!({"alg": "HS256", "typ": "JWT"}),
            &claims,
            &genuine_signature,
        ),
    ];
    for forged in &forgeries {
        let viewed = access(&test.app, forged, "x").await;
        let status = viewed.status().as_u16();
        assert!((400..500).contains(&status), "{forged}: {status}");
        assert!(body_json(&viewed).get("filename").is_none());
        let fetched = download(&test.app, "a.txt", forged).await;
        assert!((400..500).contains(&fetched.status().as_u16()));
        assert_ne!(body_bytes(&fetched), b"secret bytes");
    }
    // The genuine token still works, so the rejections above were not a
    // broken link.
    assert_eq!(download(&test.app, "a.txt", &genuine).await.status(), 200);
}

async fn tokens_stay_out_of_audit_records(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(&test.app, "a.txt", b"x", &[]).await;
    let token = text(&created, "token");
    let viewed = access(&test.app, &token, "x").await;
    assert_eq!(header(&viewed, "referrer-policy"), "no-referrer");
    assert_eq!(download(&test.app, "a.txt", &token).await.status(), 200);
    assert_eq!(download(&test.app, "a.txt", &token).await.status(), 410);

    let id = LinkId::parse(&text(&created, "link_id")).unwrap_or_else(|| panic!("bad id"));
    let records = test
        .app
        .audit
        .list(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(records.len(), 3);
    let signature = token.rsplit('.').next().unwrap_or_default();
    for record in records {
        let shown = format!("{record:?}");
        assert!(!shown.contains(&token));
        assert!(!shown.contains(signature));
        assert_eq!(record.token_fingerprint.len(), 16);
    }
}

async fn hostile_file_names_stay_in_their_header(store: Store) {
    let test = TestApp::new(store).await;
    let uploaded = upload(&test.app, "source.pdf", b"%PDF-1.7", &[]).await;
    let cases = [
        (
            "report \"q\".pdf",
            "attachment; filename=\"report _q_.pdf\"; filename*=UTF-8''report%20%22q%22.pdf",
        ),
        (
            "rapor ünlü.pdf",
            "attachment; filename=\"rapor _nl_.pdf\"; filename*=UTF-8''rapor%20%C3%BCnl%C3%BC.pdf",
        ),
    ];
    for (name, disposition) in cases {
        let body = json!({"file_url": uploaded["file_url"], "expire_minutes": 5, "filename": name});
        let response = link_tests::send(
            &test.app,
            link_tests::Call::new("POST", "/generate-link")
                .creator()
                .json(&body)
                .build(),
        )
        .await;
        let created = body_json(&response);
        assert_eq!(response.status(), 200, "{created}");
        let encoded = shared::http::encode_path_segment(name);
        let fetched = download(&test.app, &encoded, &text(&created, "token")).await;
        assert_eq!(fetched.status(), 200, "{name}");
        assert_eq!(header(&fetched, "content-disposition"), disposition);
    }
    // A name with URL delimiters gets a download_url that still works.
    let name = "a#b `c`?.txt";
    let body = json!({"file_url": uploaded["file_url"], "expire_minutes": 5, "filename": name});
    let response = link_tests::send(
        &test.app,
        link_tests::Call::new("POST", "/generate-link")
            .creator()
            .json(&body)
            .build(),
    )
    .await;
    let token = text(&body_json(&response), "token");
    let metadata = body_json(&access(&test.app, &token, "x").await);
    let download_url = text(&metadata, "download_url");
    let segment = download_url
        .split("/files/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(segment, "a%23b%20%60c%60%3F.txt");
    assert_eq!(download(&test.app, &segment, &token).await.status(), 200);

    for name in [
        "a\r\nSet-Cookie: x=1.pdf",
        "a\nb.pdf",
        "../../etc/passwd",
        "CON.txt",
    ] {
        let body = json!({"file_url": uploaded["file_url"], "expire_minutes": 5, "filename": name});
        let response = link_tests::send(
            &test.app,
            link_tests::Call::new("POST", "/generate-link")
                .creator()
                .json(&body)
                .build(),
        )
        .await;
        assert_eq!(response.status(), 422, "{name:?}");
        assert_eq!(body_json(&response)["field"], "filename");
    }
}

/// curl, like browsers, sends `"` in a form's file name as `%22`, which
/// must come back as the quote in the stored name and the download header.
async fn curl_form_file_names_keep_quotes(store: Store) {
    let mut test = TestApp::new(store).await;
    let base = test.serve().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("report \"q\".pdf");
    std::fs::write(&path, b"%PDF-1.7").unwrap_or_else(|e| panic!("{e}"));
    let output = std::process::Command::new("curl")
        .args(["-sS", "-H", &format!("x-api-key: {}", link_tests::API_KEY)])
        .arg("-F")
        .arg(format!("file=@{}", path.to_string_lossy()))
        .arg(format!("{base}/upload-file"))
        .output()
        .unwrap_or_else(|e| panic!("running curl failed: {e}"));
    let created: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(created["status"], "uploaded", "{created}");
    assert_eq!(created["filename"], "report \"q\".pdf", "{created}");
    let encoded = shared::http::encode_path_segment("report \"q\".pdf");
    let fetched = download(&test.app, &encoded, &text(&created, "token")).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(
        header(&fetched, "content-disposition"),
        "attachment; filename=\"report _q_.pdf\"; filename*=UTF-8''report%20%22q%22.pdf"
    );
}

async fn scriptable_files_never_render_inline(store: Store) {
    let test = TestApp::new(store).await;
    let files: [(&str, &[u8]); 3] = [
        (
            "image.svg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>",
        ),
        ("page.html", b"<html><script>alert(1)</script></html>"),
        ("feed.xml", b"<?xml version=\"1.0\"?><x/>"),
    ];
    for (name, bytes) in files {
        let created = upload(&test.app, name, bytes, &[]).await;
        let fetched = download(&test.app, name, &text(&created, "token")).await;
        assert_eq!(fetched.status(), 200);
        assert_eq!(header(&fetched, "content-type"), "application/octet-stream");
        assert!(header(&fetched, "content-disposition").starts_with("attachment;"));
        assert_eq!(header(&fetched, "x-content-type-options"), "nosniff");
        assert!(header(&fetched, "content-security-policy").starts_with("sandbox"));
        assert_eq!(body_bytes(&fetched), bytes);
    }
}
