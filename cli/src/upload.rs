//! `linkctl upload`: streams the file as multipart to `/upload-file`,
//! reporting progress on stderr.

use std::io::IsTerminal;
use std::path::Path;

use futures_util::stream;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use tokio::io::AsyncReadExt;

use crate::LinkOptions;
use crate::api::Api;
use crate::commands::{Output, created_lines, read_password, write_stderr};
use crate::failure::{Failure, INVALID, USAGE};

const CHUNK_BYTES: usize = 64 * 1024;

pub async fn upload(
    api: &Api,
    out: &Output,
    path: &Path,
    options: &LinkOptions,
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
    let body = reqwest::Body::wrap_stream(read_chunks(file, Progress::new(&name, size)));
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

/// Explains a 413: the server has no route for larger uploads.
fn too_large(path: &Path, size: u64, failure: Failure) -> Failure {
    Failure {
        code: INVALID,
        message: format!(
            "{} is {size} bytes, more than the server's upload limit \
             (MAX_UPLOAD_BYTES, 4 MiB by default) allows, and the server has no \
             route for larger uploads; put the file into the bucket another way \
             and run `linkctl link s3://BUCKET/KEY --expire-minutes N`",
            path.display()
        ),
        body: failure.body,
        status: failure.status,
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

/// Upload progress on stderr: one updating line on a terminal, otherwise a
/// line at each quarter.
struct Progress {
    name: String,
    total: u64,
    sent: u64,
    reported_quarter: u64,
    terminal: bool,
}

impl Progress {
    fn new(name: &str, total: u64) -> Self {
        Self {
            name: name.to_owned(),
            total,
            sent: 0,
            reported_quarter: 0,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn percent(&self) -> u64 {
        (self.sent * 100).checked_div(self.total).unwrap_or(100)
    }

    fn advance(&mut self, bytes: u64) {
        self.sent += bytes;
        if self.terminal {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr().lock(),
                format!(
                    "\ruploading {}: {}% ({} of {} bytes)",
                    self.name,
                    self.percent(),
                    self.sent,
                    self.total
                )
                .as_bytes(),
            );
            return;
        }
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

    fn finish(&mut self) {
        if self.terminal {
            write_stderr("");
        }
        write_stderr(&format!(
            "uploaded {}: {} bytes sent, waiting for the server",
            self.name, self.sent
        ));
    }
}
