//! CPU time of the `/access` and `/files` handlers per request, with the
//! store in memory, so that no I/O is measured.
//!
//! `link-bench criterion [SECONDS]` prints criterion statistics for every
//! case; `link-bench loop CASE COUNT` runs one case COUNT times, for
//! callgrind.
//!
//! Cases: `access` (the whole `/access` handler), `files-inline` (a counted
//! 1 KiB download served in the body), `files-presigned` (a counted download
//! that returns a presigned S3 redirect), `presign` (the S3 store's
//! presigning alone), `presign-sigv4` (the SigV4 query signing call alone),
//! `presign-endpoint` (aws-sdk-s3 endpoint rule resolution, which the
//! SDK's own presigning runs and the store's does not), and
//! `token-verify` (the JWT check alone). Each handler case parses
//! its API Gateway event outside the timed part, as `lambda_http` does
//! before the handler runs.
//!
//! Callgrind counts the whole process, set-up included, so `script/bench`
//! runs `loop` twice with different counts and divides the difference in
//! instructions by the difference in counts.

use std::io::Write;
use std::time::Duration;

use aws_sdk_s3::config::endpoint::ResolveEndpoint;
use criterion::{BatchSize, Criterion};
use link_bench::{BenchApp, BenchError, Bytes1KiB, access_event, bench_app, files_event};
use shared::domain::ObjectRef;
use shared::ports::{Clock, SystemClock};
use tokio::runtime::Runtime;

/// Every case, in the order they are reported.
const CASES: [&str; 7] = [
    "access",
    "files-inline",
    "files-presigned",
    "presign",
    "presign-endpoint",
    "presign-sigv4",
    "token-verify",
];

/// One prepared case: the state and a function that runs one request.
struct Case {
    bench: BenchApp,
    event: Option<String>,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Access,
    Files,
    Presign,
    PresignEndpoint,
    PresignSigv4,
    TokenVerify,
}

fn prepare(runtime: &Runtime, name: &str) -> Result<Case, BenchError> {
    let (delivery, kind) = match name {
        "access" => (Bytes1KiB::Inline, Kind::Access),
        "files-inline" => (Bytes1KiB::Inline, Kind::Files),
        "files-presigned" | "presign" => (
            Bytes1KiB::Presigned,
            if name == "presign" {
                Kind::Presign
            } else {
                Kind::Files
            },
        ),
        "presign-endpoint" => (Bytes1KiB::Inline, Kind::PresignEndpoint),
        "presign-sigv4" => (Bytes1KiB::Inline, Kind::PresignSigv4),
        "token-verify" => (Bytes1KiB::Inline, Kind::TokenVerify),
        other => return Err(format!("unknown case {other:?}; cases: {CASES:?}").into()),
    };
    let bench = runtime.block_on(bench_app(delivery))?;
    let event = match kind {
        Kind::Access => Some(access_event(bench.token.expose())?),
        Kind::Files => Some(files_event(bench.token.expose(), &bench.file_name)?),
        Kind::Presign | Kind::PresignEndpoint | Kind::PresignSigv4 | Kind::TokenVerify => None,
    };
    Ok(Case { bench, event, kind })
}

/// Runs one request of `case` and returns the response status, or 0 for
/// the cases that are not a whole handler.
async fn run_once(case: &Case, request: Option<lambda_http::Request>) -> Result<u16, BenchError> {
    let app = &case.bench.app;
    match (case.kind, request) {
        (Kind::Access, Some(request)) => Ok(access::handle(app, request).await?.status().as_u16()),
        (Kind::Files, Some(request)) => Ok(files::handle(app, request).await?.status().as_u16()),
        (Kind::Presign, _) => {
            let object = ObjectRef {
                bucket: link_bench::BUCKET.to_owned(),
                key: "bench/report.txt".to_owned(),
                version_id: Some("3HL4kqtJlcpXroDTDmjVBH40Nrjfkd".to_owned()),
                etag: None,
            };
            let url = app
                .objects
                .presign_download(
                    &object,
                    "attachment; filename=\"report.txt\"",
                    "text/plain",
                    60,
                )
                .await?;
            if url.is_none() {
                return Err("the object store did not presign".into());
            }
            Ok(0)
        }
        (Kind::PresignEndpoint, _) => {
            let params = aws_sdk_s3::config::endpoint::Params::builder()
                .region("us-east-1")
                .bucket(link_bench::BUCKET)
                .build()?;
            aws_sdk_s3::config::endpoint::DefaultResolver::new()
                .resolve_endpoint(&params)
                .await?;
            Ok(0)
        }
        (Kind::PresignSigv4, _) => {
            presign_sigv4()?;
            Ok(0)
        }
        (Kind::TokenVerify, _) => {
            app.keys
                .get()
                .await?
                .verify(&case.bench.token, SystemClock.now())
                .map_err(|e| format!("token did not verify: {e:?}"))?;
            Ok(0)
        }
        (Kind::Access | Kind::Files, None) => Err("a handler case needs an event".into()),
    }
}

/// Signs a GET of one object version for 60 seconds in the query string,
/// the signing step of an S3 presign without the SDK's request pipeline.
fn presign_sigv4() -> Result<(), BenchError> {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    let identity =
        aws_credential_types::Credentials::new("test", "test", None, None, "bench").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(std::time::SystemTime::now())
        .settings(settings)
        .build()?
        .into();
    let request = SignableRequest::new(
        "GET",
        "https://bench-files.s3.us-east-1.amazonaws.com/bench/report.txt\
         ?versionId=3HL4kqtJlcpXroDTDmjVBH40Nrjfkd&response-cache-control=no-store",
        std::iter::empty(),
        SignableBody::UnsignedPayload,
    )?;
    let (instructions, _signature) = sign(request, &params)?.into_parts();
    if instructions.params().is_empty() {
        return Err("SigV4 signing returned no query parameters".into());
    }
    Ok(())
}

fn request_for(case: &Case) -> Result<Option<lambda_http::Request>, BenchError> {
    case.event
        .as_deref()
        .map(link_bench::request_from)
        .transpose()
}

/// Expected status of one request: 200, a 303 redirect for presigned
/// downloads, or 0 for the cases that are not a whole handler.
fn expected_status(name: &str) -> u16 {
    match name {
        "access" | "files-inline" => 200,
        "files-presigned" => 303,
        _ => 0,
    }
}

fn check_once(runtime: &Runtime, name: &str, case: &Case) -> Result<(), BenchError> {
    let status = runtime.block_on(run_once(case, request_for(case)?))?;
    let expected = expected_status(name);
    if status != expected {
        return Err(format!("{name}: status {status}, expected {expected}").into());
    }
    Ok(())
}

/// Runs every case under criterion, measuring each for `seconds`.
///
/// # Errors
///
/// Fails when a case cannot be prepared or a request does not succeed.
pub fn criterion_mode(seconds: u64) -> Result<(), BenchError> {
    link_bench::log_to_sink();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(seconds))
        .without_plots();
    for name in CASES {
        let case = prepare(&runtime, name)?;
        check_once(&runtime, name, &case)?;
        criterion.bench_function(name, |b| {
            b.iter_batched(
                || request_for(&case),
                |request| match request {
                    Ok(request) => runtime.block_on(run_once(&case, request)).is_ok(),
                    Err(_) => false,
                },
                BatchSize::SmallInput,
            );
        });
        // Criterion discards the routine's result, so check once more that
        // a request still succeeds after all the iterations.
        check_once(&runtime, name, &case)?;
    }
    criterion.final_summary();
    Ok(())
}

/// Runs case `name` `count` times and prints a JSON line with the count of
/// failed requests.
///
/// # Errors
///
/// Fails when the case cannot be prepared or any request fails.
pub fn loop_mode(name: &str, count: u64) -> Result<(), BenchError> {
    link_bench::log_to_sink();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let case = prepare(&runtime, name)?;
    let expected = expected_status(name);
    let mut failures = 0u64;
    for _ in 0..count {
        let status = runtime.block_on(run_once(&case, request_for(&case)?))?;
        if status != expected {
            failures += 1;
        }
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{{\"case\":\"{name}\",\"count\":{count},\"failures\":{failures},\"audit_records\":{}}}",
        case.bench.store.audit_records()
    )?;
    if failures > 0 {
        return Err(format!("{failures} of {count} requests failed").into());
    }
    Ok(())
}
