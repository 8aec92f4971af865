//! Creates the links the benchmarks use, through the service's own
//! `create_link`, and writes one `TOKEN<TAB>FILE_NAME` line per link.
//!
//! ```text
//! link-bench fixture embedded DATA_DIR COUNT MAX_DOWNLOADS OUT_FILE
//! link-bench fixture aws TABLE BUCKET COUNT MAX_DOWNLOADS OUT_FILE
//! ```
//!
//! Each link points at one 1 KiB text file, `bench/report.txt`, stored first.
//! The `aws` form creates the table and the bucket when they are missing.
//! It reads the endpoint and the fake credentials from the standard AWS
//! variables, which `script/bench` points at the emulator on 127.0.0.1.

use std::io::Write;

use bytes::Bytes;
use link_bench::{BenchError, SIGNING_KEYS, SIGNING_KEYS_SECRET, config_from};
use serde_json::json;
use shared::App;
use shared::service::{self, LinkRequest};

/// Key of the file every link points at.
const KEY: &str = "bench/report.txt";

async fn prepare_aws(table: &str, bucket: &str) -> Result<(), BenchError> {
    let sdk = shared::adapters::sdk::AwsSettings::from_env()?;
    if sdk.endpoint_url().is_none() {
        return Err("set AWS_ENDPOINT_URL to the emulator; the fixture never talks to AWS".into());
    }
    let dynamo = sdk.dynamodb();
    let tables = dynamo.list_tables().send().await?;
    if !tables.table_names().iter().any(|name| name == table) {
        shared::adapters::dynamo::create_table(&dynamo, table).await?;
    }
    let s3 = sdk.s3();
    if s3.head_bucket().bucket(bucket).send().await.is_err() {
        s3.create_bucket().bucket(bucket).send().await?;
    }
    // The functions read their keys from this secret, as deployed.
    let secrets = shared::adapters::aws_json::JsonApi::secrets_manager(&sdk);
    let secret = secrets
        .call(
            "GetSecretValue",
            &json!({ "SecretId": SIGNING_KEYS_SECRET }),
        )
        .await;
    if secret.is_err() {
        secrets
            .call(
                "CreateSecret",
                &json!({ "Name": SIGNING_KEYS_SECRET, "SecretString": SIGNING_KEYS }),
            )
            .await?;
    }
    Ok(())
}

async fn create_links(app: &App, count: u64, max_downloads: i64) -> Result<String, BenchError> {
    let body = Bytes::from(
        "benchmark file, 1 KiB of text\n"
            .repeat(40)
            .into_bytes()
            .into_iter()
            .take(1024)
            .collect::<Vec<u8>>(),
    );
    app.objects.put(KEY, body, "text/plain").await?;
    let file_url = format!("s3://{}/{KEY}", app.objects.bucket());
    let mut lines = String::new();
    for _ in 0..count {
        let request = LinkRequest {
            file_url: file_url.clone(),
            expire_minutes: 24 * 60,
            max_downloads: Some(max_downloads),
            filename: None,
            options: shared::options::LinkOptions::default(),
        };
        let created = service::create_link(app, "bench", request)
            .await
            .map_err(|e| format!("create_link failed: {e}"))?;
        lines.push_str(created.token.expose());
        lines.push('\t');
        lines.push_str(&created.link.file_name);
        lines.push('\n');
    }
    Ok(lines)
}

/// Runs the fixture command with the arguments that follow `fixture`.
///
/// # Errors
///
/// Fails on bad arguments, or when the store or a link cannot be created.
pub async fn run(args: &[&str]) -> Result<(), BenchError> {
    let (pairs, rest) = match args[..] {
        ["embedded", data_dir, ref rest @ ..] => (vec![("DATA_DIR", data_dir)], rest),
        ["aws", table, bucket, ref rest @ ..] => {
            prepare_aws(table, bucket).await?;
            (vec![("LINK_TABLE", table), ("FILE_BUCKET", bucket)], rest)
        }
        _ => return Err(usage()),
    };
    let [count, max_downloads, out_file] = rest[..] else {
        return Err(usage());
    };
    let mut pairs = pairs;
    pairs.push(("MAX_DOWNLOADS_LIMIT", "1000000"));
    let app = App::from_config(config_from(&pairs)?).await?;
    let lines = create_links(&app, count.parse()?, max_downloads.parse()?).await?;
    std::fs::File::create(out_file)?.write_all(lines.as_bytes())?;
    Ok(())
}

fn usage() -> BenchError {
    "usage: link-bench fixture embedded DATA_DIR COUNT MAX_DOWNLOADS OUT_FILE | \
     link-bench fixture aws TABLE BUCKET COUNT MAX_DOWNLOADS OUT_FILE"
        .into()
}
