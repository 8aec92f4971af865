//! What a creator controls after making links: listing, showing, revoking,
//! the audit trail, restrictions on recipients, and notifications. Each
//! refusal is tried, on the embedded store and on the emulator.

use std::sync::Arc;

use link_tests::{
    CREATOR, Call, SOURCE_IP, Store, TestApp, access, body_bytes, body_json, download, header,
    send, text, upload,
};
use serde_json::{Value, json};
use shared::manage::verify_chain;

link_tests::on_both_stores!(
    listing_pages_newest_first_and_filters,
    another_creators_link_is_not_found,
    revoked_link_is_refused_and_audited,
    revoking_by_label_and_all_spares_the_rest,
    revocation_stops_racing_downloads,
    audit_trail_pages_newest_first_and_exports_a_chain,
    password_is_required_checked_and_locks,
    source_outside_allowed_networks_is_refused,
    link_before_not_before_is_refused,
    recipients_get_separate_links,
    bad_restrictions_are_unprocessable,
    notifications_announce_first_open_and_used_up,
    another_creators_file_cannot_be_linked,
);

const OTHER_CREATOR: &str = "other-key-id";

/// GETs `path` (with an optional `?name=value&...` query) as the creator.
async fn creator_get(test: &TestApp, path: &str) -> (u16, Value) {
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let mut call = Call::new("GET", route).creator();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        call = call.query(name, value);
    }
    let response = send(&test.app, call.build()).await;
    (response.status().as_u16(), body_json(&response))
}

async fn generate(test: &TestApp, file_url: &str, extra: Value) -> Value {
    let mut body = json!({"file_url": file_url, "expire_minutes": 60});
    if let (Some(target), Some(more)) = (body.as_object_mut(), extra.as_object()) {
        for (name, value) in more {
            target.insert(name.clone(), value.clone());
        }
    }
    let response = send(
        &test.app,
        Call::new("POST", "/generate-link")
            .creator()
            .json(&body)
            .build(),
    )
    .await;
    let json = body_json(&response);
    assert_eq!(response.status(), 200, "generate-link failed: {json}");
    json
}

async fn view_with(test: &TestApp, token: &str, password: Option<&str>, ip: &str) -> (u16, Value) {
    let mut call = Call::new("GET", format!("/access/{token}"))
        .param("token", token)
        .source_ip(ip);
    if let Some(password) = password {
        call = call.header("x-link-password", password);
    }
    let response = send(&test.app, call.build()).await;
    (response.status().as_u16(), body_json(&response))
}

async fn download_with(
    test: &TestApp,
    name: &str,
    token: &str,
    password: Option<&str>,
    ip: &str,
) -> (u16, Vec<u8>) {
    let mut call = Call::new("GET", format!("/files/{name}"))
        .param("filename", name)
        .query("token", token)
        .source_ip(ip);
    if let Some(password) = password {
        call = call.header("x-link-password", password);
    }
    let response = send(&test.app, call.build()).await;
    (response.status().as_u16(), body_bytes(&response))
}

async fn listing_pages_newest_first_and_filters(store: Store) {
    let test = TestApp::new(store).await;
    let first = upload(&test.app, "a.txt", b"a", &[("label", "INC-1")]).await;
    test.clock.advance(1);
    let second = upload(&test.app, "b.txt", b"b", &[("label", "INC-2")]).await;
    test.clock.advance(1);
    let third = upload(&test.app, "c.txt", b"c", &[("label", "INC-1")]).await;

    let (status, page) = creator_get(&test, "/links?limit=2").await;
    assert_eq!(status, 200, "{page}");
    let ids: Vec<&str> = page["links"]
        .as_array()
        .map(|links| links.iter().filter_map(|l| l["link_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        ids,
        [third["link_id"].as_str(), second["link_id"].as_str()].map(Option::unwrap_or_default)
    );
    let cursor = text(&page, "next_cursor");
    let request = Call::new("GET", "/links")
        .creator()
        .query("limit", "2")
        .query("cursor", &cursor)
        .build();
    let rest = body_json(&send(&test.app, request).await);
    assert_eq!(rest["links"][0]["link_id"], first["link_id"]);
    assert_eq!(rest["links"].as_array().map(Vec::len), Some(1));
    assert!(rest["next_cursor"].is_null());

    let request = Call::new("GET", "/links")
        .creator()
        .query("label", "INC-1")
        .build();
    let labelled = body_json(&send(&test.app, request).await);
    assert_eq!(labelled["links"].as_array().map(Vec::len), Some(2));
    assert!(labelled["links"][0].get("access_url").is_none());

    // State filter: use up the second link.
    let token = text(&second, "token");
    assert_eq!(download(&test.app, "b.txt", &token).await.status(), 200);
    let request = Call::new("GET", "/links")
        .creator()
        .query("state", "used_up")
        .build();
    let used = body_json(&send(&test.app, request).await);
    assert_eq!(used["links"][0]["link_id"], second["link_id"]);
    assert_eq!(used["links"].as_array().map(Vec::len), Some(1));

    // One link, with a working access_url made again from the record.
    let (status, shown) = creator_get(&test, &format!("/links/{}", text(&third, "link_id"))).await;
    assert_eq!(status, 200);
    assert_eq!(shown["state"], "active");
    assert_eq!(shown["label"], "INC-1");
    assert_eq!(shown["downloads_remaining"], 1);
    let again = text(&shown, "access_url");
    let token = again.rsplit('/').next().unwrap_or_default();
    assert_eq!(access(&test.app, token, "curl/8").await.status(), 200);

    for (query, value) in [
        ("limit", "0"),
        ("limit", "x"),
        ("state", "gone"),
        ("cursor", "!!"),
    ] {
        let request = Call::new("GET", "/links")
            .creator()
            .query(query, value)
            .build();
        let response = send(&test.app, request).await;
        assert_eq!(response.status(), 422, "{query}={value}");
        assert_eq!(body_json(&response)["field"], query);
    }
    let request = Call::new("GET", "/links")
        .creator()
        .query("lable", "INC-1")
        .build();
    let typo = send(&test.app, request).await;
    assert_eq!(typo.status(), 422);
    assert_eq!(body_json(&typo)["field"], "query");
    // A cursor this service never made is refused, not followed.
    let forged = shared::manage::encode_cursor("000000000001#ffffffffffffffffffffffffffffffff#x");
    let request = Call::new("GET", "/links")
        .creator()
        .query("cursor", &forged)
        .build();
    assert_eq!(send(&test.app, request).await.status(), 422);
}

async fn another_creators_link_is_not_found(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(&test.app, "a.txt", b"secret", &[]).await;
    let id = text(&created, "link_id");
    for (method, path) in [
        ("GET", format!("/links/{id}")),
        ("DELETE", format!("/links/{id}")),
        ("GET", format!("/links/{id}/audit")),
        ("GET", format!("/links/{id}/audit/export")),
    ] {
        let response = send(
            &test.app,
            Call::new(method, path.clone())
                .creator_id(OTHER_CREATOR)
                .build(),
        )
        .await;
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(body_json(&response)["error"], "not_found");
    }
    let unknown = shared::domain::LinkId::generate();
    let (status, _) = creator_get(&test, &format!("/links/{unknown}")).await;
    assert_eq!(status, 404);
    let (status, body) = creator_get(&test, "/links/..%2F..").await;
    assert_eq!(status, 422, "{body}");

    // The other creator's list is empty and the link still works.
    let request = Call::new("GET", "/links").creator_id(OTHER_CREATOR).build();
    let listed = body_json(&send(&test.app, request).await);
    assert_eq!(listed["links"], json!([]));
    let request = Call::new("POST", "/links/revoke")
        .creator_id(OTHER_CREATOR)
        .json(&json!({"all": true}))
        .build();
    assert_eq!(body_json(&send(&test.app, request).await)["revoked"], 0);
    let token = text(&created, "token");
    assert_eq!(access(&test.app, &token, "curl/8").await.status(), 200);

    // Without an API key the routes are closed.
    let response = send(&test.app, Call::new("GET", "/links").build()).await;
    assert_eq!(response.status(), 401);
}

async fn revoked_link_is_refused_and_audited(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(&test.app, "a.txt", b"data", &[("max_downloads", "3")]).await;
    let (id, token) = (text(&created, "link_id"), text(&created, "token"));
    let response = send(
        &test.app,
        Call::new("DELETE", format!("/links/{id}"))
            .creator()
            .build(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = body_json(&response);
    assert_eq!(body["status"], "revoked");
    assert_eq!(body["state"], "revoked");

    let viewed = access(&test.app, &token, "curl/8").await;
    assert_eq!(viewed.status(), 410);
    assert_eq!(body_json(&viewed)["error"], "revoked");
    let fetched = download(&test.app, "a.txt", &token).await;
    assert_eq!(fetched.status(), 410);
    assert_eq!(body_json(&fetched)["error"], "revoked");

    let (_, trail) = creator_get(&test, &format!("/links/{id}/audit")).await;
    let reasons: Vec<&str> = trail["events"]
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["reason"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(reasons, ["revoked", "revoked"]);
    let (_, shown) = creator_get(&test, &format!("/links/{id}")).await;
    assert_eq!(shown["state"], "revoked");
    assert!(shown.get("access_url").is_none());
}

async fn revoking_by_label_and_all_spares_the_rest(store: Store) {
    let test = TestApp::new(store).await;
    let a = upload(&test.app, "a.txt", b"a", &[("label", "INC-7")]).await;
    let b = upload(&test.app, "b.txt", b"b", &[("label", "INC-7")]).await;
    let c = upload(&test.app, "c.txt", b"c", &[("label", "INC-8")]).await;
    let response = send(
        &test.app,
        Call::new("POST", "/links/revoke")
            .creator()
            .json(&json!({"label": "INC-7"}))
            .build(),
    )
    .await;
    let body = body_json(&response);
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["revoked"], 2);
    for created in [&a, &b] {
        assert_eq!(
            access(&test.app, &text(created, "token"), "t")
                .await
                .status(),
            410
        );
    }
    assert_eq!(
        access(&test.app, &text(&c, "token"), "t").await.status(),
        200
    );

    let response = send(
        &test.app,
        Call::new("POST", "/links/revoke")
            .creator()
            .json(&json!({"all": true}))
            .build(),
    )
    .await;
    assert_eq!(body_json(&response)["link_ids"], json!([c["link_id"]]));
    assert_eq!(
        access(&test.app, &text(&c, "token"), "t").await.status(),
        410
    );

    for bad in [
        json!({}),
        json!({"all": false}),
        json!({"label": "x", "all": true}),
        json!({"labels": "x"}),
    ] {
        let response = send(
            &test.app,
            Call::new("POST", "/links/revoke")
                .creator()
                .json(&bad)
                .build(),
        )
        .await;
        assert_eq!(response.status(), 422, "{bad}");
    }
}

/// Downloads race a revocation: each one either finished before the
/// revocation took effect or is refused, and every download that starts after
/// it is refused.
async fn revocation_stops_racing_downloads(store: Store) {
    let test = Arc::new(TestApp::new(store).await);
    let created = upload(&test.app, "a.txt", b"race", &[("max_downloads", "100")]).await;
    let (id, token) = (text(&created, "link_id"), text(&created, "token"));
    let mut racers = Vec::new();
    for _ in 0..12 {
        let (test, token) = (Arc::clone(&test), token.clone());
        racers.push(tokio::spawn(async move {
            download(&test.app, "a.txt", &token).await.status().as_u16()
        }));
    }
    let response = send(
        &test.app,
        Call::new("DELETE", format!("/links/{id}"))
            .creator()
            .build(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut served = 0;
    for racer in racers {
        let status = racer.await.unwrap_or(0);
        assert!(status == 200 || status == 410, "unexpected {status}");
        served += u32::from(status == 200);
    }
    for _ in 0..5 {
        assert_eq!(download(&test.app, "a.txt", &token).await.status(), 410);
    }
    let (_, shown) = creator_get(&test, &format!("/links/{id}")).await;
    assert_eq!(shown["downloads"], served);
}

async fn audit_trail_pages_newest_first_and_exports_a_chain(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(&test.app, "a.txt", b"data", &[]).await;
    let (id, token) = (text(&created, "link_id"), text(&created, "token"));
    assert_eq!(
        access(&test.app, &token, "MailScanner/2").await.status(),
        200
    );
    test.clock.advance(1);
    assert_eq!(access(&test.app, &token, "Mozilla/5.0").await.status(), 200);
    test.clock.advance(1);
    assert_eq!(download(&test.app, "a.txt", &token).await.status(), 200);
    test.clock.advance(1);
    assert_eq!(download(&test.app, "a.txt", &token).await.status(), 410);

    let (status, page) = creator_get(&test, &format!("/links/{id}/audit?limit=2")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["events"][0]["action"], "denied");
    assert_eq!(page["events"][0]["outcome"], "denied");
    assert_eq!(page["events"][0]["reason"], "used_up");
    assert_eq!(page["events"][1]["action"], "download");
    assert_eq!(page["events"][1]["source_ip"], SOURCE_IP);
    let request = Call::new("GET", format!("/links/{id}/audit"))
        .creator()
        .query("cursor", &text(&page, "next_cursor"))
        .build();
    let rest = body_json(&send(&test.app, request).await);
    assert_eq!(rest["events"][0]["user_agent"], "Mozilla/5.0");
    assert_eq!(rest["events"][1]["user_agent"], "MailScanner/2");
    assert!(rest["next_cursor"].is_null());

    let response = send(
        &test.app,
        Call::new("GET", format!("/links/{id}/audit/export"))
            .creator()
            .build(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/x-ndjson");
    let export = String::from_utf8(body_bytes(&response)).unwrap_or_default();
    assert_eq!(export.lines().count(), 4);
    assert!(!export.contains(&token), "the export holds a raw token");
    assert_eq!(
        verify_chain(&export),
        Ok(header(&response, "x-audit-chain-head"))
    );
    for forged in ["-1", "0", "1000", "abc"] {
        let request = Call::new("GET", format!("/links/{id}/audit"))
            .creator()
            .query("cursor", &shared::manage::encode_cursor(forged))
            .build();
        assert_eq!(send(&test.app, request).await.status(), 422, "{forged}");
    }
    let tampered = export.replacen("MailScanner/2", "Innocent/1", 1);
    assert_eq!(verify_chain(&tampered), Err(1));
}

async fn password_is_required_checked_and_locks(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(
        &test.app,
        "a.txt",
        b"locked data",
        &[
            ("password", "correct horse battery"),
            ("max_downloads", "2"),
        ],
    )
    .await;
    assert_eq!(created["password_protected"], true);
    let token = text(&created, "token");
    let right = Some("correct horse battery");

    let (status, body) = view_with(&test, &token, None, SOURCE_IP).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("password_required"))
    );
    let (status, body) = view_with(&test, &token, Some("wrong one!"), SOURCE_IP).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("wrong_password"))
    );
    let (status, body) = view_with(&test, &token, right, SOURCE_IP).await;
    assert_eq!(status, 200, "{body}");
    let (status, bytes) = download_with(&test, "a.txt", &token, None, SOURCE_IP).await;
    assert_eq!(status, 401);
    assert!(!bytes.windows(6).any(|w| w == b"locked"));
    let (status, bytes) = download_with(&test, "a.txt", &token, right, SOURCE_IP).await;
    assert_eq!((status, bytes.as_slice()), (200, b"locked data".as_slice()));

    // Five wrong passwords in a row lock the link, even for the right one.
    for attempt in 1..=5 {
        let (status, body) = view_with(&test, &token, Some("guess guess"), SOURCE_IP).await;
        let expected = if attempt < 5 { 401 } else { 423 };
        assert_eq!(status, expected, "attempt {attempt}: {body}");
    }
    let (status, body) = view_with(&test, &token, right, SOURCE_IP).await;
    assert_eq!((status, body["error"].as_str()), (423, Some("locked")));
    assert!(text(&body, "retry_at").ends_with('Z'));
    let (status, _) = download_with(&test, "a.txt", &token, right, SOURCE_IP).await;
    assert_eq!(status, 423);

    test.clock.advance(shared::domain::LOCK_SECONDS);
    let (status, bytes) = download_with(&test, "a.txt", &token, right, SOURCE_IP).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, b"locked data");

    // The browser form posts the same fields.
    let form = format!("token={token}&password=correct+horse+battery");
    let request = Call::new("POST", "/files/a.txt")
        .param("filename", "a.txt")
        .binary("application/x-www-form-urlencoded", form.into_bytes())
        .build();
    let response = send(&test.app, request).await;
    assert_eq!(response.status(), 410, "the link is used up by now");

    let (_, trail) = creator_get(
        &test,
        &format!("/links/{}/audit?limit=200", text(&created, "link_id")),
    )
    .await;
    let count = |reason: &str| {
        trail["events"]
            .as_array()
            .map(|e| e.iter().filter(|e| e["reason"] == reason).count())
    };
    assert_eq!(count("wrong_password"), Some(5));
    assert_eq!(count("wrong_password_locked"), Some(1));
    assert_eq!(count("locked"), Some(2));
    assert!(!trail.to_string().contains("correct horse"));
}

async fn source_outside_allowed_networks_is_refused(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(
        &test.app,
        "a.txt",
        b"net",
        &[("allowed_cidrs", "203.0.113.0/24, 2001:db8::/32")],
    )
    .await;
    let token = text(&created, "token");
    for ip in [SOURCE_IP, "203.0.114.1", "2001:db9::1", "not-an-ip"] {
        let (status, body) = view_with(&test, &token, None, ip).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("outside_allowed_network")),
            "{ip}"
        );
        let (status, _) = download_with(&test, "a.txt", &token, None, ip).await;
        assert_eq!(status, 403, "{ip}");
    }
    let (status, _) = view_with(&test, &token, None, "203.0.113.77").await;
    assert_eq!(status, 200);
    let (status, bytes) = download_with(&test, "a.txt", &token, None, "2001:db8::5").await;
    assert_eq!((status, bytes.as_slice()), (200, b"net".as_slice()));
}

async fn link_before_not_before_is_refused(store: Store) {
    let test = TestApp::new(store).await;
    let opens = shared::service::rfc3339(test.clock_now() + 600);
    let created = upload(&test.app, "a.txt", b"later", &[("not_before", &opens)]).await;
    let token = text(&created, "token");
    let (status, body) = view_with(&test, &token, None, SOURCE_IP).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("not_yet_available"))
    );
    assert_eq!(body["available_at"], opens.as_str());
    let (status, _) = download_with(&test, "a.txt", &token, None, SOURCE_IP).await;
    assert_eq!(status, 403);
    let (_, shown) = creator_get(&test, &format!("/links/{}", text(&created, "link_id"))).await;
    assert_eq!(shown["state"], "not_yet_available");

    test.clock.advance(600);
    let (status, bytes) = download_with(&test, "a.txt", &token, None, SOURCE_IP).await;
    assert_eq!((status, bytes.as_slice()), (200, b"later".as_slice()));
}

async fn recipients_get_separate_links(store: Store) {
    let test = TestApp::new(store).await;
    let uploaded = upload(&test.app, "report.pdf", b"%PDF-1.7", &[]).await;
    let created = generate(
        &test,
        &text(&uploaded, "file_url"),
        json!({"label": "INC-9", "recipients": [
            {"label": "legal", "max_downloads": 2},
            {"label": "auditor"},
        ]}),
    )
    .await;
    let recipients = created["recipients"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(recipients.len(), 2);
    assert_eq!(recipients[0]["token"], created["token"]);
    assert_eq!(recipients[0]["recipient"], "legal");
    assert_eq!(recipients[0]["label"], "INC-9");
    assert_eq!(recipients[0]["max_downloads"], 2);
    assert_eq!(recipients[1]["recipient"], "auditor");
    assert_eq!(recipients[1]["label"], "INC-9");
    assert_eq!(recipients[1]["max_downloads"], 1);
    assert_ne!(recipients[0]["link_id"], recipients[1]["link_id"]);

    let legal = text(&recipients[0], "token");
    let auditor = text(&recipients[1], "token");
    let auditor_id = text(&recipients[1], "link_id");
    let response = send(
        &test.app,
        Call::new("DELETE", format!("/links/{auditor_id}"))
            .creator()
            .build(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        download(&test.app, "report.pdf", &auditor).await.status(),
        410
    );
    assert_eq!(
        download(&test.app, "report.pdf", &legal).await.status(),
        200
    );
    assert_eq!(
        download(&test.app, "report.pdf", &legal).await.status(),
        200
    );
    assert_eq!(
        download(&test.app, "report.pdf", &legal).await.status(),
        410
    );

    let (_, trail) = creator_get(&test, &format!("/links/{auditor_id}/audit")).await;
    assert_eq!(trail["events"].as_array().map(Vec::len), Some(1));

    // The request's label groups every recipient link.
    let (_, listed) = creator_get(&test, "/links?label=INC-9").await;
    assert_eq!(listed["links"].as_array().map(Vec::len), Some(2));
    let (_, shown) = creator_get(&test, &format!("/links/{auditor_id}")).await;
    assert_eq!(shown["recipient"], "auditor");
}

async fn bad_restrictions_are_unprocessable(store: Store) {
    let test = TestApp::new(store).await;
    let uploaded = upload(&test.app, "a.txt", b"x", &[]).await;
    let file_url = text(&uploaded, "file_url");
    for (extra, field) in [
        (json!({"password": "short"}), "password"),
        (json!({"allowed_cidrs": ["10.0.0.0/33"]}), "allowed_cidrs"),
        (json!({"allowed_cidrs": "10.0.0.0/8"}), "allowed_cidrs"),
        (json!({"not_before": "soon"}), "not_before"),
        (json!({"not_before": "2999-01-01T00:00:00Z"}), "not_before"),
        (json!({"label": ""}), "label"),
        (json!({"label": "a\u{0007}b"}), "label"),
        (json!({"notify": "yes"}), "notify"),
        (json!({"recipients": []}), "recipients"),
        (json!({"recipients": [{"max_downloads": 0}]}), "recipients"),
        (json!({"recipients": [{"name": "x"}]}), "recipients"),
    ] {
        let mut body = json!({"file_url": file_url, "expire_minutes": 60});
        if let (Some(target), Some(more)) = (body.as_object_mut(), extra.as_object()) {
            target.extend(more.clone());
        }
        let response = send(
            &test.app,
            Call::new("POST", "/generate-link")
                .creator()
                .json(&body)
                .build(),
        )
        .await;
        let json = body_json(&response);
        assert_eq!(response.status(), 422, "{extra}: {json}");
        assert_eq!(json["field"], field, "{extra}");
    }
    let request = Call::new("GET", "/links").creator().build();
    let listed = body_json(&send(&test.app, request).await);
    assert_eq!(
        listed["links"].as_array().map(Vec::len),
        Some(1),
        "only the upload's link"
    );
}

/// Notifications go through the app's notifier. The embedded store writes
/// them to a file. On the emulator a recorder takes the notifier's place,
/// because moto's event bus cannot be read back.
async fn notifications_announce_first_open_and_used_up(store: Store) {
    let mut test = TestApp::new(store).await;
    let recorder = Arc::new(link_tests::RecordingNotifier::default());
    let file = match store {
        Store::Embedded => test.notifications_file(),
        Store::Emulated => {
            test.app.notifier = Some(recorder.clone());
            None
        }
    };
    let created = upload(
        &test.app,
        "a.txt",
        b"n",
        &[("notify", "true"), ("label", "INC-3")],
    )
    .await;
    let token = text(&created, "token");
    for _ in 0..3 {
        assert_eq!(access(&test.app, &token, "t").await.status(), 200);
    }
    assert_eq!(download(&test.app, "a.txt", &token).await.status(), 200);
    let quiet = upload(&test.app, "b.txt", b"q", &[]).await;
    assert_eq!(
        access(&test.app, &text(&quiet, "token"), "t")
            .await
            .status(),
        200
    );

    let notices: Vec<Value> = match file {
        Some(path) => std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect(),
        None => recorder.notices(),
    };
    let events: Vec<&str> = notices.iter().filter_map(|n| n["event"].as_str()).collect();
    assert_eq!(events, ["first_opened", "used_up"]);
    assert_eq!(notices[0]["link_id"], created["link_id"]);
    assert_eq!(notices[0]["label"], "INC-3");
    assert_eq!(notices[0]["creator"], CREATOR);
    assert!(!Value::Array(notices.clone()).to_string().contains(&token));
}

/// The EventBridge notifier speaks the real wire protocol to the emulator's
/// event bus.
#[tokio::test]
async fn eventbridge_notifier_puts_events_on_the_emulator() {
    use shared::notify::{EventBridgeNotifier, Kind, Notice, Notifier};
    let sdk = link_tests::emulator_sdk_config();
    let bus = format!("links-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    shared::adapters::aws_json::JsonApi::eventbridge(&sdk)
        .call("CreateEventBus", &json!({ "Name": bus }))
        .await
        .unwrap_or_else(|e| panic!("creating bus failed: {e:?}"));

    let test = TestApp::embedded();
    let created = upload(&test.app, "a.txt", b"e", &[]).await;
    let link = test
        .app
        .links
        .get(
            &shared::domain::LinkId::parse(&text(&created, "link_id"))
                .unwrap_or_else(|| panic!("id")),
        )
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("link missing"));

    let notifier = EventBridgeNotifier::new(&sdk, &bus);
    let notice = Notice::new(&link, Kind::FirstOpened, 0);
    let sent = notifier.send(Kind::FirstOpened, &notice).await;
    assert!(sent.is_ok(), "{sent:?}");
    let missing = EventBridgeNotifier::new(&sdk, "no-such-bus-anywhere");
    let refused = missing.send(Kind::UsedUp, &notice).await;
    assert!(refused.is_err(), "a bus that does not exist must fail");
}

/// A recipient's view shows a link's id and file name, so the upload's
/// `file_url` can be rebuilt. Another creator who does so gets the same 422
/// as for a missing object, even after the owner revoked every link. The
/// owner may still make new links.
async fn another_creators_file_cannot_be_linked(store: Store) {
    let test = TestApp::new(store).await;
    let uploaded = upload(&test.app, "secret.txt", b"owner only", &[]).await;
    let file_url = text(&uploaded, "file_url");
    let request = Call::new("POST", "/links/revoke")
        .creator()
        .json(&json!({"all": true}))
        .build();
    assert_eq!(send(&test.app, request).await.status(), 200);

    let body = json!({"file_url": file_url, "expire_minutes": 60});
    let stolen = send(
        &test.app,
        Call::new("POST", "/generate-link")
            .creator_id(OTHER_CREATOR)
            .json(&body)
            .build(),
    )
    .await;
    let refusal = body_json(&stolen);
    assert_eq!(stolen.status(), 422, "{refusal}");
    assert_eq!(refusal["field"], "file_url");
    assert_eq!(refusal["message"], "file_url names no existing object");

    let again = generate(&test, &file_url, json!({})).await;
    assert_eq!(again["filename"], "secret.txt");
}

#[tokio::test]
async fn malformed_form_password_is_rejected_without_counting() {
    let test = TestApp::embedded();
    let created = upload(
        &test.app,
        "a.txt",
        b"form data",
        &[("password", "correct horse battery")],
    )
    .await;
    let token = text(&created, "token");
    let post = |form: &'static str| {
        Call::new("POST", format!("/access/{token}"))
            .param("token", &token)
            .binary(
                "application/x-www-form-urlencoded",
                form.as_bytes().to_vec(),
            )
            .build()
    };

    // More attempts than the five wrong passwords that lock a link.
    for form in [
        "password=%zz",
        "password=ab%4",
        "password=%FF",
        "password=x%+1",
    ]
    .repeat(2)
    {
        let response = send(&test.app, post(form)).await;
        let body = body_json(&response);
        assert_eq!(response.status(), 422, "{form}: {body}");
        assert_eq!(body["error"], "invalid_parameter", "{form}: {body}");
        assert_eq!(body["field"], "password", "{form}: {body}");
    }
    let response = send(&test.app, post("password=correct+horse+battery")).await;
    let body = body_json(&response);
    assert_eq!(response.status(), 200, "{body}");
    assert_eq!(body["downloads_remaining"], 1);
}

/// Keys in a Secrets Manager secret are read by their first use, not when
/// the app is built, and a failed read is tried again by the next use.
#[tokio::test]
async fn signing_key_secret_is_read_lazily() {
    use shared::keys::{Keys, KeysError};
    let sdk = link_tests::emulator_sdk_config();
    let id = format!("keys-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let keys = Keys::from_secret(sdk.clone(), id.clone());

    // The secret does not exist yet: building read nothing, and the first
    // use fails.
    let missing = keys.get().await.map(|_| ());
    assert!(
        matches!(missing, Err(KeysError::Secret { .. })),
        "{missing:?}"
    );

    let text = shared::token::encode_key_entry(link_tests::TEST_KID, &link_tests::test_secret());
    shared::adapters::aws_json::JsonApi::secrets_manager(&sdk)
        .call("CreateSecret", &json!({ "Name": id, "SecretString": text }))
        .await
        .unwrap_or_else(|e| panic!("creating secret failed: {e:?}"));
    let ring = keys
        .get()
        .await
        .unwrap_or_else(|e| panic!("second read failed: {e}"));
    let link_id = shared::domain::LinkId::generate();
    let token = ring
        .sign(&link_id, 0, 4_102_444_800)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        link_tests::test_keys().verify(&token, 1),
        Ok(link_id),
        "the secret's key signs as the configured one does"
    );
}

/// A secret whose text is not a keyring is rejected at first use, with the
/// secret's id and no key material in the error.
#[tokio::test]
async fn invalid_signing_key_secret_is_rejected() {
    use shared::keys::{Keys, KeysError};
    let sdk = link_tests::emulator_sdk_config();
    let id = format!("keys-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    shared::adapters::aws_json::JsonApi::secrets_manager(&sdk)
        .call(
            "CreateSecret",
            &json!({ "Name": id, "SecretString": "k1:c2hvcnQ" }),
        )
        .await
        .unwrap_or_else(|e| panic!("creating secret failed: {e:?}"));
    let keys = Keys::from_secret(sdk.clone(), id.clone());
    let error = keys.get().await.map(|_| ()).err();
    assert!(
        matches!(error, Some(KeysError::Invalid { .. })),
        "{error:?}"
    );
    let message = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains(&id), "{message}");
    assert!(!message.contains("c2hvcnQ"), "{message}");
}
