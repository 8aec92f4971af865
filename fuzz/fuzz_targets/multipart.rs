//! Feeds arbitrary bodies to the upload parser. No input may panic, and an
//! accepted upload must hold a valid, non-empty file within the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::domain::FileName;
use shared::multipart::parse_upload;

const LIMIT: u64 = 4096;

fuzz_target!(|data: &[u8]| {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    let body = bytes::Bytes::copy_from_slice(data);
    let content_type = "multipart/form-data; boundary=XyZ";
    let result = runtime.block_on(parse_upload(Some(content_type), body, LIMIT));
    if let Ok(upload) = result {
        assert!(!upload.bytes.is_empty());
        assert!(upload.bytes.len() as u64 <= LIMIT);
        let name = upload.file_name.as_str();
        assert_eq!(FileName::parse(name).map(|n| n.as_str().to_owned()), Ok(name.to_owned()));
    }
});
