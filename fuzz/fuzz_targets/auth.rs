//! The IW1-HMAC-SHA256 authorization header: any value parses or is refused,
//! and a parsed one verifies (or not) without panicking. A header made by
//! `authorization_header` always parses back to what was signed.
#![no_main]

use inworld::auth::{self, Credentials};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(request) = auth::parse_header(&text) {
        let _ = auth::parse_datetime(&request.datetime);
        let _ = auth::verify(&request, "test-api-secret", "127.0.0.1:50051");
    }
    // The fuzzer's text as key and host: signing and parsing agree.
    let (key, host) = text.split_once('\0').unwrap_or((&text, "host"));
    if !key.is_empty() && !key.contains([',', ' ', '=']) && !key.chars().any(char::is_control) {
        let creds = Credentials::new(key, "secret");
        let header = auth::authorization_header(&creds, host);
        let request = auth::parse_header(&header).expect("our own header parses");
        assert_eq!(request.key, key);
        auth::verify(&request, "secret", host).expect("our own signature verifies");
    }
});
