//! `linkctl upload`: streams the file as multipart to `/upload-file`, or,
//! above a size threshold, straight to storage through the upload URL that
//! `/upload-url` hands out. Progress goes to stderr, never in `--json` mode.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::stream;
use reqwest::Method;
use reqwest::header::CONTENT_LENGTH;
use reqwest::multipart::{Form, Part};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::LinkOptions;
use crate::api::{Api, Reply};
use crate::commands::{Output, add_link_options, created_lines, read_password, write_stderr};
use crate::failure::{Failure, INVALID, REFUSED, SERVER, USAGE};

const CHUNK_BYTES: usize = 64 * 1024;

/// Transfer settings of `upload`.
pub struct Transfer {
    /// Files larger than this many bytes go through `/upload-url`.
    pub large_threshold: u64,
    /// Send every file through `/upload-url`.
    pub force_large: bool,
    /// Maximum wait for the server to accept a large upload.
    pub wait: Duration,
}

pub async fn upload(
    api: &Api,
    out: &Output,
    path: &Path,
    options: &LinkOptions,
    transfer: &Transfer,
) -> Result<(), Failure> {
    let unreadable =
        |e: std::io::Error| Failure::new(USAGE, format!("cannot read {}: {e}", path.display()));
    let file = tokio::fs::File::open(path).await.map_err(unreadable)?;
    let metadata = file.metadata().await.map_err(unreadable)?;
    if !metadata.is_file() {
        return Err(Failure::new(
            USAGE,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let size = metadata.len();
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| Failure::new(USAGE, format!("{} has no file name", path.display())))?;
    if transfer.force_large || size > transfer.large_threshold {
        return upload_large(api, out, file, &name, size, options, transfer).await;
    }

    let mut form = Form::new();
    if let Some(minutes) = options.expire_minutes {
        form = form.text("expire_minutes", minutes.to_string());
    }
    if let Some(max) = options.max_downloads {
        form = form.text("max_downloads", max.to_string());
    }
    if let Some(label) = &options.label {
        form = form.text("label", label.clone());
    }
    if options.password_stdin {
        form = form.text("password", read_password()?);
    }
    if !options.allow_cidrs.is_empty() {
        form = form.text("allowed_cidrs", options.allow_cidrs.join(","));
    }
    if let Some(time) = &options.not_before {
        form = form.text("not_before", time.clone());
    }
    if options.notify {
        form = form.text("notify", "true");
    }
    let progress = Progress::new(&name, size, out.json);
    let body = reqwest::Body::wrap_stream(read_chunks(file, progress));
    form = form.part("file", Part::stream_with_length(body, size).file_name(name));

    let request = api.request(Method::POST, "/upload-file").multipart(form);
    let reply = api.send(request).await.map_err(|failure| {
        if failure.status == Some(413) {
            too_large(path, size, failure)
        } else {
            failure
        }
    })?;
    out.print(&reply, created_lines);
    Ok(())
}

/// Explains a 413 from `/upload-file`: the file needs the large route.
fn too_large(path: &Path, size: u64, failure: Failure) -> Failure {
    Failure {
        code: INVALID,
        message: format!(
            "{} is {size} bytes, more than the server's upload limit \
             (MAX_UPLOAD_BYTES, 4 MiB by default) allows; send it with \
             `linkctl upload --large` or lower --large-threshold",
            path.display()
        ),
        body: failure.body,
        status: failure.status,
    }
}

/// Sends the file through `/upload-url`. It requests a pending link and a
/// signed upload URL, and streams the file there in chunks, so the file is
/// never whole in memory. Then it waits until the server has accepted the
/// file, and prints the link.
async fn upload_large(
    api: &Api,
    out: &Output,
    file: tokio::fs::File,
    name: &str,
    size: u64,
    options: &LinkOptions,
    transfer: &Transfer,
) -> Result<(), Failure> {
    let mut body = json!({ "filename": name, "size": size });
    if let Some(minutes) = options.expire_minutes {
        body["expire_minutes"] = json!(minutes);
    }
    add_link_options(&mut body, options)?;
    let pending = api
        .send(api.request(Method::POST, "/upload-url").json(&body))
        .await?;
    let field = |name: &str| {
        pending.json[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Failure::new(SERVER, format!("the /upload-url answer has no {name}")))
    };
    let upload_url = field("upload_url")?;
    let link_id = field("link_id")?;
    let method = Method::from_bytes(field("upload_method")?.as_bytes())
        .map_err(|_| Failure::new(SERVER, "the /upload-url answer has a bad upload_method"))?;

    // The upload URL carries its own signature: the API key is not sent.
    let mut request = api
        .unauthenticated(method, &upload_url)
        .header(CONTENT_LENGTH, size);
    if let Some(headers) = pending.json["upload_headers"].as_object() {
        for (header, value) in headers {
            if let Some(value) = value.as_str() {
                request = request.header(header.as_str(), value);
            }
        }
    }
    let progress = Progress::new(name, size, out.json);
    let request = request.body(reqwest::Body::wrap_stream(read_chunks(file, progress)));
    api.send(request).await.map_err(|failure| Failure {
        message: format!(
            "sending the file to its upload URL failed: {}",
            failure.message
        ),
        ..failure
    })?;

    let link = wait_until_landed(api, &link_id, transfer.wait).await?;
    out.print(&link, created_lines);
    Ok(())
}

/// Polls `GET /links/{id}` until the link is no longer `pending`.
// NOTE: no test reaches the timeout branch, because the local server
// finalises an upload before it responds to the PUT.
async fn wait_until_landed(api: &Api, link_id: &str, wait: Duration) -> Result<Reply, Failure> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(200);
    loop {
        let reply = api
            .send(api.request(Method::GET, &format!("/links/{link_id}")))
            .await?;
        match reply.json["state"].as_str() {
            Some("pending") => {}
            Some("active" | "not_yet_available") => return Ok(reply),
            Some(state) => {
                return Err(Failure::new(
                    REFUSED,
                    format!(
                        "the server did not accept the upload: link {link_id} is {state} \
                         (a file whose size differs from the declared one is rejected)"
                    ),
                ));
            }
            None => return Err(Failure::new(SERVER, "the link has no state in the answer")),
        }
        if started.elapsed() >= wait {
            return Err(Failure::new(
                SERVER,
                format!(
                    "the file was sent, but link {link_id} was still pending after {} \
                     seconds; check later with `linkctl show {link_id}` or wait longer \
                     with --wait-seconds",
                    wait.as_secs()
                ),
            ));
        }
        tokio::time::sleep(pause.min(wait.saturating_sub(started.elapsed()))).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Yields the file in chunks, counting the bytes read for the progress
/// report.
fn read_chunks(
    file: tokio::fs::File,
    progress: Progress,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> {
    stream::unfold((file, progress), |(mut file, mut progress)| async move {
        let mut chunk = vec![0u8; CHUNK_BYTES];
        match file.read(&mut chunk).await {
            Ok(0) => {
                progress.finish();
                None
            }
            Ok(read) => {
                chunk.truncate(read);
                progress.advance(read as u64);
                Some((Ok(chunk), (file, progress)))
            }
            Err(e) => Some((Err(e), (file, progress))),
        }
    })
}

/// Upload progress on stderr: a bar on one updating line on a terminal,
/// otherwise a line at each quarter, and nothing in `--json` mode.
struct Progress {
    name: String,
    total: u64,
    sent: u64,
    reported_quarter: u64,
    terminal: bool,
    silent: bool,
    finished: bool,
}

impl Progress {
    fn new(name: &str, total: u64, silent: bool) -> Self {
        Self {
            name: name.to_owned(),
            total,
            sent: 0,
            reported_quarter: 0,
            terminal: std::io::stderr().is_terminal(),
            silent,
            finished: false,
        }
    }

    fn percent(&self) -> u64 {
        (self.sent * 100).checked_div(self.total).unwrap_or(100)
    }

    fn advance(&mut self, bytes: u64) {
        self.sent += bytes;
        if self.silent {
            return;
        }
        if self.terminal {
            let filled = usize::try_from(self.percent() / 5).unwrap_or(20).min(20);
            let _ = std::io::Write::write_all(
                &mut std::io::stderr().lock(),
                format!(
                    "\ruploading {} [{}{}] {}% ({} of {} bytes)",
                    self.name,
                    "#".repeat(filled),
                    " ".repeat(20 - filled),
                    self.percent(),
                    self.sent,
                    self.total
                )
                .as_bytes(),
            );
        } else {
            let quarter = self.percent() / 25;
            if quarter > self.reported_quarter && quarter < 4 {
                self.reported_quarter = quarter;
                write_stderr(&format!(
                    "uploading {}: {}% ({} of {} bytes)",
                    self.name,
                    self.percent(),
                    self.sent,
                    self.total
                ));
            }
        }
        // A client that knows the length may stop reading at the last byte,
        // before the end of the file is seen.
        if self.sent >= self.total {
            self.finish();
        }
    }

    fn finish(&mut self) {
        if self.silent || self.finished {
            return;
        }
        self.finished = true;
        if self.terminal {
            write_stderr("");
        }
        write_stderr(&format!(
            "uploaded {}: {} bytes sent, waiting for the server",
            self.name, self.sent
        ));
    }
}
