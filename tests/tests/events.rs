//! The sample API Gateway events in `events/` fed to the real handlers, as
//! `cargo lambda invoke --data-file` would feed them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use link_tests::{Store, TestApp, body_bytes, body_json, event, event_text, header, text};
use sha2::{Digest, Sha256};
use shared::domain::{AuditAction, LinkId};

/// The eight bytes every PNG file starts with.
const PNG_SIGNATURE: [u8; 8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

async fn upload_event_round_trips_png(store: Store) {
    let test = TestApp::new(store).await;
    let response = upload_file::handle(&test.app, event("upload-file", "")).await;
    let response = response.unwrap_or_else(|e| panic!("{e}"));
    let created = body_json(&response);
    assert_eq!(response.status(), 200, "{created}");
    assert_eq!(created["filename"], "pixel.png");
    assert_eq!(created["max_downloads"], 2);
    assert!(text(&created, "access_url").starts_with("https://links.example.test/v1/access/"));
    let token = text(&created, "token");

    // The gateway sends binary bodies base64-encoded; the handler must
    // respond with a binary body so that it goes back base64-encoded too.
    for accept in ["image/png", "*/*"] {
        let mut raw: serde_json::Value =
            serde_json::from_str(&event_text("files", &token)).unwrap_or_default();
        raw["pathParameters"]["filename"] = "pixel.png".into();
        raw["path"] = "/files/pixel.png".into();
        raw["headers"]["accept"] = accept.into();
        let request =
            lambda_http::request::from_str(&raw.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let response = files::handle(&test.app, request)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), 200, "{accept}");
        assert!(matches!(response.body(), lambda_http::Body::Binary(_)));
        let bytes = body_bytes(&response);
        assert_eq!(bytes[..8], PNG_SIGNATURE);
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            text(&created, "sha256")
        );
    }
}

async fn all_byte_values_survive_base64_event(store: Store) {
    let test = TestApp::new(store).await;
    let bytes: Vec<u8> = (0..65_536)
        .map(|i| u8::try_from(i % 256).unwrap_or(0))
        .collect();
    let mut raw: serde_json::Value =
        serde_json::from_str(&event_text("upload-file", "")).unwrap_or_default();
    let multipart = link_tests::multipart("all.bin", &bytes, &[]);
    raw["headers"]["content-type"] =
        format!("multipart/form-data; boundary={}", link_tests::BOUNDARY).into();
    raw["headers"]["content-length"] = multipart.len().to_string().into();
    raw["body"] = STANDARD.encode(&multipart).into();
    raw["isBase64Encoded"] = true.into();
    let request =
        lambda_http::request::from_str(&raw.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let response = upload_file::handle(&test.app, request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let created = body_json(&response);
    assert_eq!(response.status(), 200, "{created}");
    assert_eq!(created["size"], 65_536);
    assert_eq!(created["sha256"], hex::encode(Sha256::digest(&bytes)));
    let fetched = link_tests::download(&test.app, "all.bin", &text(&created, "token")).await;
    assert_eq!(body_bytes(&fetched), bytes);
}

async fn access_event_records_gateway_source_ip(store: Store) {
    let test = TestApp::new(store).await;
    let created = link_tests::upload(&test.app, "a.txt", b"x", &[]).await;
    let token = text(&created, "token");
    let mut raw: serde_json::Value =
        serde_json::from_str(&event_text("access", &token)).unwrap_or_default();
    raw["headers"]["x-forwarded-for"] = "10.9.9.9".into();
    raw["multiValueHeaders"]["x-forwarded-for"] = serde_json::json!(["10.9.9.9"]);
    let request =
        lambda_http::request::from_str(&raw.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let response = access::handle(&test.app, request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "referrer-policy"), "no-referrer");
    assert!(
        text(&body_json(&response), "download_url")
            .starts_with("https://links.example.test/v1/files/a.txt?token=")
    );

    let gateway_ip = raw["requestContext"]["identity"]["sourceIp"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let id = LinkId::parse(&text(&created, "link_id")).unwrap_or_else(|| panic!("bad id"));
    let records = test
        .app
        .audit
        .list(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].action, AuditAction::View);
    assert_eq!(records[0].source_ip, gateway_ip);
    assert_ne!(records[0].source_ip, "10.9.9.9");
}

#[tokio::test]
async fn generate_link_event_then_access_and_files_events() {
    let test = TestApp::embedded();
    let pdf = b"%PDF-1.7\nsample report\n%%EOF\n".to_vec();
    test.app
        .objects
        .put("samples/report.pdf", pdf.clone().into(), "application/pdf")
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let response = generate_link::handle(&test.app, event("generate-link", ""))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let created = body_json(&response);
    assert_eq!(response.status(), 200, "{created}");
    assert_eq!(created["status"], "success");
    assert_eq!(created["filename"], "report.pdf");
    let token = text(&created, "token");

    let viewed = access::handle(&test.app, event("access", &token))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(viewed.status(), 200);
    assert_eq!(body_json(&viewed)["downloads_remaining"], 1);

    let fetched = files::handle(&test.app, event("files", &token))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fetched.status(), 200);
    assert_eq!(body_bytes(&fetched), pdf);

    let again = files::handle(&test.app, event("files-bearer", &token))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.status(), 410);
}

/// The page's password form as the gateway passes it: a URL-encoded POST
/// to `/access/{token}` that returns the page with a download form.
#[tokio::test]
async fn password_form_event_opens_the_page() {
    let test = TestApp::embedded();
    test.app
        .objects
        .put(
            "samples/report.pdf",
            b"report".to_vec().into(),
            "application/pdf",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut raw: serde_json::Value =
        serde_json::from_str(&event_text("generate-link", "")).unwrap_or_default();
    raw["body"] = serde_json::json!({
        "file_url": "s3://local-files/samples/report.pdf",
        "expire_minutes": 30,
        "password": "correct horse battery",
    })
    .to_string()
    .into();
    let request =
        lambda_http::request::from_str(&raw.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let response = generate_link::handle(&test.app, request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let created = body_json(&response);
    assert_eq!(response.status(), 200, "{created}");
    let token = text(&created, "token");

    let opened = access::handle(&test.app, event("access-password", &token))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let page = String::from_utf8(body_bytes(&opened)).unwrap_or_default();
    assert_eq!(opened.status(), 200, "{page}");
    assert_eq!(header(&opened, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&opened, "cache-control"), "no-store");
    assert!(
        page.contains("action=\"https://links.example.test/v1/files/report.pdf\""),
        "{page}"
    );
    assert!(page.contains("name=\"password\" value=\"correct horse battery\""));

    let mut wrong: serde_json::Value =
        serde_json::from_str(&event_text("access-password", &token)).unwrap_or_default();
    wrong["body"] = "password=not+the+one".into();
    let request =
        lambda_http::request::from_str(&wrong.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let refused = access::handle(&test.app, request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let page = String::from_utf8(body_bytes(&refused)).unwrap_or_default();
    assert_eq!(refused.status(), 401);
    assert!(page.contains("That password is not correct."), "{page}");
}

#[tokio::test]
async fn bearer_event_downloads_once() {
    let test = TestApp::embedded();
    test.app
        .objects
        .put(
            "samples/report.pdf",
            b"report".to_vec().into(),
            "application/pdf",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let response = generate_link::handle(&test.app, event("generate-link", ""))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = text(&body_json(&response), "token");
    let fetched = files::handle(&test.app, event("files-bearer", &token))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fetched.status(), 200);
    assert_eq!(body_bytes(&fetched), b"report");
}

link_tests::on_both_stores!(
    upload_event_round_trips_png,
    all_byte_values_survive_base64_event,
    access_event_records_gateway_source_ip,
);

#[tokio::test]
async fn links_events_list_and_revoke_the_creators_link() {
    let test = TestApp::embedded();
    let pdf = b"%PDF-1.7\nsample report\n%%EOF\n".to_vec();
    test.app
        .objects
        .put("samples/report.pdf", pdf.into(), "application/pdf")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let response = generate_link::handle(&test.app, event("generate-link", ""))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let created = body_json(&response);
    let (id, token) = (text(&created, "link_id"), text(&created, "token"));

    let listed = links::handle(&test.app, event("links-list", ""))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.status(), 200);
    let listed = body_json(&listed);
    assert_eq!(listed["links"][0]["link_id"], id.as_str());
    assert_eq!(listed["links"][0]["state"], "active");

    let revoke = event_text("links-revoke", "").replace("REPLACE_WITH_LINK_ID", &id);
    let revoke = lambda_http::request::from_str(&revoke)
        .unwrap_or_else(|e| panic!("events/links-revoke.json is not a gateway event: {e}"));
    let revoked = links::handle(&test.app, revoke)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(revoked.status(), 200);
    assert_eq!(body_json(&revoked)["state"], "revoked");

    let viewed = access::handle(&test.app, event("access", &token))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(viewed.status(), 410);
}

/// The `/upload-url` sample makes a pending link and an upload URL; the link
/// gets 409 until the bytes arrive.
#[tokio::test]
async fn upload_url_event_makes_a_pending_link() {
    let test = TestApp::embedded();
    let response = upload_url::handle(&test.app, event("upload-url", ""))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 200);
    let created = body_json(&response);
    assert_eq!(created["filename"], "disk-image.tar.gz");
    assert!(
        text(&created, "upload_url").starts_with("http"),
        "{created}"
    );
    let viewed = access::handle(&test.app, event("access", &text(&created, "token")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(viewed.status(), 409);
}
