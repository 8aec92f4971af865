//! Feeds arbitrary text to file-name checks. An accepted name must parse to
//! itself again, and the headers and URLs built from it must stay intact.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::domain::FileName;
use shared::http::{content_disposition, encode_path_segment};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(name) = FileName::parse(text) else {
        return;
    };
    let again = FileName::parse(name.as_str()).map(|n| n.as_str().to_owned());
    assert_eq!(again, Ok(name.as_str().to_owned()));

    let header = content_disposition(name.as_str());
    let bytes = header.as_bytes();
    assert!(bytes.starts_with(b"attachment; filename=\""));
    assert!(!bytes.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
    assert_eq!(bytes.iter().filter(|b| **b == b'"').count(), 2);

    let segment = encode_path_segment(name.as_str());
    assert!(
        segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%'))
    );
});
