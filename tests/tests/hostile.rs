//! Several hundred hostile inputs against every route, on both stores. None
//! may get a 5xx, any file bytes, or a download counted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header};
use lambda_http::{Body, Response};
use link_tests::{
    BOUNDARY, Call, Store, TEST_KID, TestApp, access, body_bytes, body_json, download, send,
    test_secret, text, upload,
};
use serde_json::json;

const SECRET_BYTES: &[u8] = b"confidential incident report";

link_tests::on_both_stores!(hostile_inputs_get_client_errors);

/// Counts the inputs tried and checks each response.
struct Checker {
    tried: usize,
}

impl Checker {
    fn check(&mut self, label: &str, response: &Response<Body>) {
        self.tried += 1;
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{label}: status {status}");
        let body = body_bytes(response);
        assert!(
            !body.windows(SECRET_BYTES.len()).any(|w| w == SECRET_BYTES),
            "{label}: file bytes in the answer"
        );
        if status != 405 || !body.is_empty() {
            let json = body_json(response);
            assert!(
                json["error"].is_string(),
                "{label}: no error code in {json}"
            );
        }
    }
}

fn segment(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn signed(header: Header, claims: &serde_json::Value, secret: &[u8]) -> String {
    link_tests::hmac_jwt(&header, claims, secret)
}

fn hs256(kid: Option<&str>) -> Header {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(String::from);
    header
}

fn hostile_tokens(genuine: &str, link_id: &str) -> Vec<String> {
    let parts: Vec<&str> = genuine.split('.').collect();
    let (head, payload, signature) = (parts[0], parts[1], parts[2]);
    let far = 4_102_444_800i64;
    let claims = json!({"lid": link_id, "iat": 0, "exp": far});
    let mut tokens: Vec<String> = vec![
        String::new(),
        " ".into(),
        "a".into(),
        "abc".into(),
        ".".into(),
        "..".into(),
        "...".into(),
        "a.b".into(),
        "a.b.c".into(),
        "a.b.c.d".into(),
        format!("{head}.{payload}"),
        format!("{head}.{payload}."),
        format!("{head}..{signature}"),
        format!(".{payload}.{signature}"),
        format!("{payload}.{head}.{signature}"),
        format!("{head}.{payload}.{signature}.{signature}"),
        format!("{head}.{payload}.{}", &signature[..signature.len() - 1]),
        format!("{head}.{payload}.{signature}A"),
        format!("{head}.{payload}.{signature}="),
        format!("{head}.{payload}.{}", signature.to_uppercase()),
        format!("{head} .{payload}.{signature}"),
        format!("{head}.{payload}.{signature}%00"),
        genuine.chars().rev().collect(),
        genuine.repeat(2),
        "x".repeat(1025),
        "x".repeat(5000),
        format!("{}.{}.{}", "a".repeat(600), "b".repeat(600), "c"),
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E".into(),
        "' OR '1'='1".replace(' ', "%20").replace('\'', "%27"),
        "..%2F..%2Fetc%2Fpasswd".into(),
        "%F0%9F%94%91.%F0%9F%94%91.%F0%9F%94%91".into(),
    ];
    for header in [
        json!({"alg": "none"}),
        json!({"alg": "none", "kid": TEST_KID}),
        json!({"alg": "NONE", "kid": TEST_KID}),
        json!({"alg": "nOnE", "kid": TEST_KID}),
        json!({"alg": "HS256"}),
        json!({"alg": "HS256", "kid": "../../etc/passwd"}),
        json!({"alg": "HS256", "kid": ""}),
        json!({"alg": "HS256", "kid": null}),
        json!({"alg": "HS256", "kid": 1}),
        json!({"alg": "HS256", "kid": [TEST_KID]}),
        json!({"alg": "HS256", "kid": "x".repeat(300)}),
        json!({"alg": "HS256", "kid": TEST_KID, "jku": "http://127.0.0.1:1/jwks"}),
        json!({"alg": "HS256", "kid": TEST_KID, "x5u": "http://127.0.0.1:1/cert"}),
        json!({"alg": "HS256", "kid": TEST_KID, "crit": ["exp"]}),
        json!({"alg": "RS256", "kid": TEST_KID}),
        json!({"alg": "ES256", "kid": TEST_KID}),
        json!({"alg": "PS256", "kid": TEST_KID}),
        json!({"alg": "EdDSA", "kid": TEST_KID}),
        json!({"alg": ["HS256"], "kid": TEST_KID}),
        json!({"alg": 256, "kid": TEST_KID}),
        json!({}),
        json!([]),
        json!("HS256"),
        json!(null),
    ] {
        tokens.push(format!("{}.{}.", segment(&header), segment(&claims)));
        tokens.push(format!(
            "{}.{}.{signature}",
            segment(&header),
            segment(&claims)
        ));
    }
    let real = test_secret();
    for algorithm in [Algorithm::HS384, Algorithm::HS512] {
        let mut header = Header::new(algorithm);
        header.kid = Some(TEST_KID.into());
        tokens.push(signed(header, &claims, &real));
    }
    for bad_claims in [
        json!({"lid": link_id, "iat": 0}),
        json!({"lid": link_id, "iat": 0, "exp": "4102444800"}),
        json!({"lid": link_id, "iat": 0, "exp": 4.1e9}),
        json!({"lid": link_id, "iat": 0, "exp": null}),
        json!({"lid": link_id, "iat": 0, "exp": -1}),
        json!({"lid": link_id, "iat": 0, "exp": 0}),
        json!({"lid": link_id, "iat": 0, "exp": far, "nbf": far}),
        json!({"lid": link_id, "iat": 0, "exp": far, "nbf": "0"}),
        json!({"iat": 0, "exp": far}),
        json!({"lid": null, "iat": 0, "exp": far}),
        json!({"lid": 12, "iat": 0, "exp": far}),
        json!({"lid": "' OR 1=1 --", "iat": 0, "exp": far}),
        json!({"lid": "../../links.sqlite3", "iat": 0, "exp": far}),
        json!({"lid": format!("{link_id}#"), "iat": 0, "exp": far}),
        json!({"lid": link_id.to_uppercase(), "iat": 0, "exp": far}),
        json!({"lid": "0".repeat(32), "iat": 0, "exp": far}),
        json!({"lid": "x".repeat(10_000), "iat": 0, "exp": far}),
        json!([link_id]),
    ] {
        // Signed with the real key: only the claims are wrong.
        tokens.push(signed(hs256(Some(TEST_KID)), &bad_claims, &real));
    }
    for secret in [&[0u8; 32][..], b"another-secret-another-secret-xx", &[]] {
        tokens.push(signed(hs256(Some(TEST_KID)), &claims, secret));
    }
    tokens.push(signed(hs256(None), &claims, &real));
    tokens.push(signed(hs256(Some("other-kid")), &claims, &real));
    tokens
}

fn hostile_path_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "../report.pdf",
        "..%2Freport.pdf",
        "%2e%2e%2freport.pdf",
        "..%5Creport.pdf",
        "report.pdf%00",
        "report.pdf%00.txt",
        "REPORT.PDF",
        "report.PDF",
        "report.pdf%20",
        "%20report.pdf",
        "report.pdf.",
        "report.pdf%2F",
        "report.pdf%2F..%2F..",
        "%",
        "%zz",
        "%C0%AE%C0%AE%2F",
        "%FF%FE",
        "report%0D%0ASet-Cookie:%20x=1.pdf",
        "report.pdf%3Fx=1",
        "report.pdf%23x",
        "r%C3%A9port.pdf",
        "%E2%80%AEfdp.pdf",
        "CON",
        "nul.pdf",
        ".",
        "..",
        "%2E%2E",
        "report.pd",
        "eport.pdf",
        "report.pdf.bak",
        "links.sqlite3",
        "signing-keys",
        "%2Fetc%2Fpasswd",
        "C:%5Cwindows%5Cwin.ini",
        "report%09.pdf",
        "report%7F.pdf",
        "%EF%BB%BFreport.pdf",
        "report%E2%80%8B.pdf",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    names.push("a".repeat(300));
    names.push("%41".repeat(300));
    names
}

fn hostile_json_bodies(file_url: &str) -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let urls = [
        "file:///proc/self/environ",
        "file:///etc/passwd",
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://[::ffff:7f00:1]/",
        "http://[::1]/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://2130706433/",
        "http://127.1/",
        "http://0/",
        "http://localhost/",
        "http://metadata.google.internal/",
        "gopher://x/",
        "ftp://example.com/x",
        "data:text/plain,hello",
        "javascript:alert(1)",
        "//evil.example/x",
        "\\\\server\\share\\x",
        "https://own.s3.amazonaws.com@evil.example/x",
        "https://evil.example/x?.s3.amazonaws.com",
        "https://s3.amazonaws.com/",
        "https://s3.amazonaws.com/another-bucket/x",
        "https://another-bucket.s3.amazonaws.com/x",
        "s3://another-bucket/x",
        "s3:///x",
        "s3://",
        "s3://local-files",
        "s3://-bad-/x",
        "S3://another-bucket/x",
        "",
        " ",
    ];
    for url in urls {
        bodies.push(
            json!({"file_url": url, "expire_minutes": 5})
                .to_string()
                .into_bytes(),
        );
    }
    let missing = format!("{}-missing", file_url);
    bodies.push(
        json!({"file_url": missing, "expire_minutes": 5})
            .to_string()
            .into_bytes(),
    );
    for expire in [
        json!(0),
        json!(-1),
        json!(10_081),
        json!(i64::MAX),
        json!(1.5),
        json!(1e3),
        json!("30"),
        json!(true),
        json!(null),
        json!([30]),
        json!({"minutes": 30}),
        json!(18_446_744_073_709_551_615u64),
    ] {
        bodies.push(
            json!({"file_url": file_url, "expire_minutes": expire})
                .to_string()
                .into_bytes(),
        );
    }
    for downloads in [
        json!(0),
        json!(-5),
        json!(101),
        json!("2"),
        json!(2.5),
        json!(false),
    ] {
        bodies.push(
            json!({"file_url": file_url, "expire_minutes": 5, "max_downloads": downloads})
                .to_string()
                .into_bytes(),
        );
    }
    for name in [
        json!("a\r\nb.pdf"),
        json!("../x.pdf"),
        json!(""),
        json!("CON"),
        json!(7),
        json!("x".repeat(300)),
        json!("a\u{202e}b.pdf"),
    ] {
        bodies.push(
            json!({"file_url": file_url, "expire_minutes": 5, "filename": name})
                .to_string()
                .into_bytes(),
        );
    }
    for raw in [
        "".to_owned(),
        "null".to_owned(),
        "[]".to_owned(),
        "\"text\"".to_owned(),
        "42".to_owned(),
        "{".to_owned(),
        "{\"file_url\": }".to_owned(),
        "{'file_url': 'x'}".to_owned(),
        format!("{{\"file_url\": \"{file_url}\", \"expire_minutes\": 5, \"expire_minutes\": 6}}"),
        format!(
            "{{\"file_url\": \"{file_url}\", \"file_url\": \"s3://x/y\", \"expire_minutes\": 5}}"
        ),
        format!("{{\"file_url\": \"{file_url}\", \"expire_minutes\": 5, \"admin\": true}}"),
        format!(
            "{{\"file_url\": \"{file_url}\", \"expire_minutes\": 5, \"creator\": \"someone\"}}"
        ),
        "[".repeat(10_000),
        format!("{{\"a\": \"{}\"}}", "x".repeat(20_000)),
        "\u{feff}{}".to_owned(),
    ] {
        bodies.push(raw.into_bytes());
    }
    bodies.push(vec![0xff, 0xfe, 0x00]);
    bodies
}

fn part(name: &str, file_name: Option<&str>, data: &[u8]) -> Vec<u8> {
    let mut out =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").into_bytes();
    if let Some(file_name) = file_name {
        out.extend_from_slice(format!("; filename=\"{file_name}\"").as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

fn close(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn hostile_uploads() -> Vec<(String, Vec<u8>)> {
    let multipart = format!("multipart/form-data; boundary={BOUNDARY}");
    let file = part("file", Some("a.txt"), b"x");
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("multipart/form-data".into(), close(file.clone())),
        (
            "multipart/form-data; boundary=other".into(),
            close(file.clone()),
        ),
        ("text/plain".into(), close(file.clone())),
        ("application/json".into(), b"{}".to_vec()),
        (multipart.clone(), Vec::new()),
        (multipart.clone(), b"garbage".to_vec()),
        (multipart.clone(), file.clone()),
        (multipart.clone(), close(Vec::new())),
        (multipart.clone(), close(part("other", Some("a.txt"), b"x"))),
        (multipart.clone(), close(part("file", None, b"x"))),
        (multipart.clone(), close(part("file", Some("a.txt"), b""))),
        (
            multipart.clone(),
            close([file.clone(), file.clone()].concat()),
        ),
        (
            multipart.clone(),
            close([file.clone(), part("admin", None, b"true")].concat()),
        ),
    ];
    for file_name in [
        "",
        ".",
        "..",
        "../../etc/passwd",
        "/etc/passwd",
        "a\\b.txt",
        "CON",
        "lpt1.txt",
        "name.",
        " name",
        "a\u{202e}b.txt",
        "a\u{0007}b.txt",
    ] {
        cases.push((
            multipart.clone(),
            close(part("file", Some(file_name), b"x")),
        ));
    }
    cases.push((
        multipart.clone(),
        close(part("file", Some(&"a".repeat(300)), b"x")),
    ));
    for (field, value) in [
        ("expire_minutes", "abc"),
        ("expire_minutes", "0"),
        ("expire_minutes", "-1"),
        ("expire_minutes", "1e3"),
        ("expire_minutes", "1.5"),
        ("expire_minutes", "99999999999999999999"),
        ("expire_minutes", ""),
        ("max_downloads", "0"),
        ("max_downloads", "101"),
        ("max_downloads", "two"),
    ] {
        cases.push((
            multipart.clone(),
            close([file.clone(), part(field, None, value.as_bytes())].concat()),
        ));
    }
    cases.push((
        multipart.clone(),
        close(
            [
                file.clone(),
                part("max_downloads", None, b"1"),
                part("max_downloads", None, b"9"),
            ]
            .concat(),
        ),
    ));
    cases.push((
        multipart,
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\r\nX-Injected: 1\"\r\n\r\nx\r\n--{BOUNDARY}--\r\n").into_bytes(),
    ));
    cases
}

async fn hostile_inputs_get_client_errors(store: Store) {
    let test = TestApp::new(store).await;
    let created = upload(
        &test.app,
        "report.pdf",
        SECRET_BYTES,
        &[("max_downloads", "2")],
    )
    .await;
    let token = text(&created, "token");
    let link_id = text(&created, "link_id");
    let file_url = text(&created, "file_url");
    let mut checker = Checker { tried: 0 };

    for hostile in hostile_tokens(&token, &link_id) {
        let label = format!("token {:.40}", hostile);
        checker.check(&label, &access(&test.app, &hostile, "hostile").await);
        checker.check(&label, &download(&test.app, "report.pdf", &hostile).await);
    }
    for name in hostile_path_names() {
        checker.check(
            &format!("name {name:.40}"),
            &download(&test.app, &name, &token).await,
        );
    }
    for body in hostile_json_bodies(&file_url) {
        let label = format!("body {:.60}", String::from_utf8_lossy(&body));
        let request = Call::new("POST", "/generate-link")
            .creator()
            .binary("application/json", body)
            .build();
        checker.check(&label, &send(&test.app, request).await);
    }
    for (content_type, body) in hostile_uploads() {
        let label = format!(
            "upload {content_type} {:.60}",
            String::from_utf8_lossy(&body)
        );
        let request = Call::new("POST", "/upload-file")
            .creator()
            .binary(&content_type, body)
            .build();
        checker.check(&label, &send(&test.app, request).await);
    }
    for method in ["PUT", "DELETE", "PATCH", "TRACE"] {
        for path in ["/generate-link", "/upload-file"] {
            let request = Call::new(method, path).creator().build();
            checker.check(&format!("{method} {path}"), &send(&test.app, request).await);
        }
        let request = Call::new(method, "/files/report.pdf")
            .param("filename", "report.pdf")
            .query("token", &token)
            .build();
        checker.check(&format!("{method} /files"), &send(&test.app, request).await);
        let request = Call::new(method, format!("/access/{token}"))
            .param("token", &token)
            .build();
        checker.check(
            &format!("{method} /access"),
            &send(&test.app, request).await,
        );
    }
    eprintln!("hostile inputs tried: {}", checker.tried);
    assert!(
        checker.tried >= 300,
        "only {} hostile inputs",
        checker.tried
    );

    // Nothing above used a download: both are still there.
    let metadata = body_json(&access(&test.app, &token, "x").await);
    assert_eq!(metadata["downloads_remaining"], 2);
    for _ in 0..2 {
        let fetched = download(&test.app, "report.pdf", &token).await;
        assert_eq!(fetched.status(), 200);
        assert_eq!(body_bytes(&fetched), SECRET_BYTES);
    }
}
