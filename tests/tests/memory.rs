//! Heap use of the local server while a file within the request limit goes
//! up through `/upload-file` and comes back inline through `/files`, on
//! both stores: the process must never hold a second copy of the file.
//!
//! The requests come from `curl`, another process, so the heap counted here
//! is the server's (and the emulator clients'). The counting allocator counts
//! the whole process, so this binary has one test, which runs the stores
//! one after the other.

use link_tests::{API_KEY, Store, TestApp, sha256_hex, write_pattern_file};
use peak_alloc::PeakAlloc;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// Size of the test file: just under the default `MAX_UPLOAD_BYTES`
/// (4 MiB) and `MAX_INLINE_DOWNLOAD_BYTES` (4 MiB).
const FILE_BYTES: u64 = 4_000_000;

/// Heap growth allowed on top of one copy of the file, in bytes: buffers
/// of the HTTP server, the multipart parser and the store clients, which
/// do not grow with the file.
const ALLOWANCE: usize = 1_500_000;

/// Runs `curl` with `args` and returns what it printed on stdout.
fn curl(args: &[&str]) -> String {
    let output = std::process::Command::new("curl")
        .arg("-sS")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running curl failed: {e}"));
    assert!(
        output.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_text(value: &serde_json::Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no text field {field} in {value}"))
        .to_owned()
}

/// Runs `step` and returns how far the heap grew above its size at the
/// start, at the worst moment.
async fn peak_growth<F: std::future::Future<Output = T>, T>(step: F) -> (T, usize) {
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let result = step.await;
    (result, HEAP.peak_usage().saturating_sub(before))
}

async fn round_trip_holds_one_copy(store: Store) {
    let mut test = TestApp::new(store).await;
    let base = test.serve().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("scan.bin");
    let sha256 = write_pattern_file(&path, FILE_BYTES);
    let path_text = path.to_string_lossy().into_owned();
    let one_copy = usize::try_from(FILE_BYTES).unwrap_or(usize::MAX);

    let upload_url = format!("{base}/upload-file");
    let form_file = format!("file=@{path_text}");
    let key_header = format!("x-api-key: {API_KEY}");
    let (created, upload_growth) = peak_growth(async {
        tokio::task::spawn_blocking(move || {
            curl(&["-H", &key_header, "-F", &form_file, &upload_url])
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    })
    .await;
    let created: serde_json::Value =
        serde_json::from_str(&created).unwrap_or_else(|e| panic!("{e}: {created}"));
    assert_eq!(created["status"], "uploaded", "{store:?}: {created}");
    eprintln!("{store:?}: upload of {one_copy} bytes grew the heap by {upload_growth} bytes");
    assert!(
        upload_growth < one_copy + ALLOWANCE,
        "{store:?}: the upload grew the heap by {upload_growth} bytes for a file of {one_copy}"
    );

    let access_url = json_text(&created, "access_url");
    let view = tokio::task::spawn_blocking(move || curl(&[&access_url]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let view: serde_json::Value =
        serde_json::from_str(&view).unwrap_or_else(|e| panic!("{e}: {view}"));
    let download_url = json_text(&view, "download_url");
    let copy = dir.path().join("copy.bin");
    let copy_text = copy.to_string_lossy().into_owned();
    let (status, download_growth) = peak_growth(async {
        tokio::task::spawn_blocking(move || {
            curl(&["-o", &copy_text, "-w", "%{http_code}", &download_url])
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    })
    .await;
    assert_eq!(status, "200", "{store:?}");
    eprintln!("{store:?}: download of {one_copy} bytes grew the heap by {download_growth} bytes");
    let served = std::fs::read(&copy).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served.len() as u64, FILE_BYTES, "{store:?}");
    assert_eq!(sha256_hex(&served), sha256, "{store:?}");
    assert!(
        download_growth < one_copy + ALLOWANCE,
        "{store:?}: the download grew the heap by {download_growth} bytes for a file of {one_copy}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_round_trip_holds_one_copy() {
    round_trip_holds_one_copy(Store::Embedded).await;
    round_trip_holds_one_copy(Store::Emulated).await;
}
