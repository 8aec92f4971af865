//! The recipient page through the access handler: a browser's `Accept`
//! gets HTML with the status of the JSON response, and every other client
//! keeps the JSON.

use link_tests::{Call, TestApp, body_bytes, download, header, send, text, upload};

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

async fn access_with(
    app: &shared::App,
    token: &str,
    accept: Option<&str>,
) -> (u16, String, String) {
    let mut call = Call::new("GET", format!("/access/{token}")).param("token", token);
    if let Some(accept) = accept {
        call = call.header("accept", accept);
    }
    let response = send(app, call.build()).await;
    let body = String::from_utf8_lossy(&body_bytes(&response)).into_owned();
    (
        response.status().as_u16(),
        header(&response, "content-type"),
        body,
    )
}

#[tokio::test]
async fn browser_gets_page_with_json_status() {
    let test = TestApp::embedded();
    let app = &test.app;
    let created = upload(app, "q3 <report>.pdf", b"%PDF-1.7 bytes", &[]).await;
    let token = text(&created, "token");

    let (status, content_type, html) = access_with(app, &token, Some(BROWSER)).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(html.contains("q3 &lt;report&gt;.pdf"));
    assert!(!html.contains("<report>"));
    assert!(html.contains("1 of 1"));

    for accept in [None, Some("*/*"), Some("application/json")] {
        let (status, content_type, body) = access_with(app, &token, accept).await;
        assert_eq!(status, 200, "Accept {accept:?}");
        assert_eq!(content_type, "application/json", "Accept {accept:?}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(json["downloads_remaining"], 1, "Accept {accept:?}");
    }

    let served = download(app, "q3 <report>.pdf", &token).await;
    assert_eq!(served.status().as_u16(), 200);

    let (status, content_type, html) = access_with(app, &token, Some(BROWSER)).await;
    assert_eq!(status, 410);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(html.contains("Used up"));
    let (status, _, body) = access_with(app, &token, None).await;
    assert_eq!(status, 410);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!(json["error"], "used_up");
}

#[tokio::test]
async fn browser_denials_match_json_statuses() {
    let test = TestApp::embedded();
    let app = &test.app;
    let created = upload(app, "a.txt", b"abc", &[]).await;
    let token = text(&created, "token");
    // A changed character in the middle of the signature breaks it.
    let position = token.rfind('.').unwrap_or_default() + 5;
    let mut forged = token.clone();
    let replacement = if &token[position..=position] == "A" {
        "B"
    } else {
        "A"
    };
    forged.replace_range(position..=position, replacement);

    for (token, code) in [
        (forged.as_str(), "not_found"),
        ("not-a-token", "invalid_parameter"),
    ] {
        let (json_status, _, body) = access_with(app, token, None).await;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(json["error"], code);
        let (html_status, content_type, html) = access_with(app, token, Some(BROWSER)).await;
        assert_eq!(html_status, json_status, "{code}");
        assert_eq!(content_type, "text/html; charset=utf-8", "{code}");
        assert!(
            !html.contains("id=\"download\""),
            "{code} page offers a download"
        );
    }
}

#[tokio::test]
async fn head_with_html_accept_counts_nothing() {
    let test = TestApp::embedded();
    let app = &test.app;
    let created = upload(app, "a.txt", b"abc", &[]).await;
    let token = text(&created, "token");
    let request = Call::new("HEAD", format!("/access/{token}"))
        .param("token", &token)
        .header("accept", BROWSER)
        .build();
    let response = send(app, request).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(body_bytes(&response).is_empty());
    let (_, _, body) = access_with(app, &token, None).await;
    let json = serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default();
    assert_eq!(json["downloads_remaining"], 1);
}

/// Requests `/files/{name}`: a `GET` with `?token=` when `form` is `None`,
/// else a `POST` of the form body. Returns status, content type and body.
async fn files_with(
    app: &shared::App,
    name: &str,
    token: &str,
    form: Option<&str>,
    accept: Option<&str>,
) -> (u16, String, String) {
    let mut call = match form {
        Some(form) => Call::new("POST", format!("/files/{name}")).binary(
            "application/x-www-form-urlencoded",
            form.as_bytes().to_vec(),
        ),
        None => Call::new("GET", format!("/files/{name}")).query("token", token),
    }
    .param("filename", name);
    if let Some(accept) = accept {
        call = call.header("accept", accept);
    }
    let response = send(app, call.build()).await;
    let body = String::from_utf8_lossy(&body_bytes(&response)).into_owned();
    (
        response.status().as_u16(),
        header(&response, "content-type"),
        body,
    )
}

#[tokio::test]
async fn browser_download_refusals_get_the_page() {
    let test = TestApp::embedded();
    let app = &test.app;
    let created = upload(app, "a.txt", b"abc", &[]).await;
    let token = text(&created, "token");
    let (status, _, body) = files_with(app, "a.txt", &token, None, Some(BROWSER)).await;
    assert_eq!((status, body.as_str()), (200, "abc"));

    // Used up, by a GET link and by the form a password page posts.
    let form = format!("token={token}&password=");
    for form in [None, Some(form.as_str())] {
        let (status, content_type, html) =
            files_with(app, "a.txt", &token, form, Some(BROWSER)).await;
        assert_eq!(status, 410, "form {form:?}");
        assert_eq!(content_type, "text/html; charset=utf-8", "form {form:?}");
        assert!(html.contains("Used up"), "form {form:?}: {html}");
        assert!(!html.contains("\"error\""), "form {form:?}");

        for accept in [None, Some("application/json")] {
            let (status, content_type, body) = files_with(app, "a.txt", &token, form, accept).await;
            assert_eq!(status, 410, "form {form:?}, Accept {accept:?}");
            assert_eq!(content_type, "application/json", "Accept {accept:?}");
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            assert_eq!(json["error"], "used_up");
        }
    }
}

#[tokio::test]
async fn browser_download_password_refusals_get_the_page() {
    let test = TestApp::embedded();
    let app = &test.app;
    let created = upload(
        app,
        "a.txt",
        b"abc",
        &[("password", "correct horse battery")],
    )
    .await;
    let token = text(&created, "token");

    // A GET without the password gets the password form, which posts to
    // the access page of the same token.
    let (status, content_type, html) = files_with(app, "a.txt", &token, None, Some(BROWSER)).await;
    assert_eq!(status, 401);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(
        html.contains(&format!("action=\"../access/{token}\"")),
        "{html}"
    );

    let wrong = format!("token={token}&password=wrong+guess");
    let (status, _, html) = files_with(app, "a.txt", &token, Some(&wrong), Some(BROWSER)).await;
    assert_eq!(status, 401);
    assert!(html.contains("That password is not correct."), "{html}");
    for _ in 0..4 {
        files_with(app, "a.txt", &token, Some(&wrong), None).await;
    }
    let right = format!("token={token}&password=correct+horse+battery");
    let (status, content_type, html) =
        files_with(app, "a.txt", &token, Some(&right), Some(BROWSER)).await;
    assert_eq!(status, 423);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(html.contains("Too many wrong passwords"), "{html}");
    let (status, content_type, _) = files_with(app, "a.txt", &token, Some(&right), None).await;
    assert_eq!((status, content_type.as_str()), (423, "application/json"));
}
