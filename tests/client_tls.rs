//! TLS: the engine serves a self-signed certificate (rcgen); the client
//! trusts it through `extra_root_certs_pem`, and refuses it otherwise.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod client_util;

use client_util::*;
use inworld::client::{Session, TlsMode};

fn certificate() -> (Vec<u8>, Vec<u8>) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    (
        certified.cert.pem().into_bytes(),
        certified.signing_key.serialize_pem().into_bytes(),
    )
}

#[test]
fn tls_with_an_extra_root_certificate() {
    let (cert, key) = certificate();
    let engine = engine_with(|c| c.tls = Some((cert.clone(), key)));
    let mut config = config_for(&engine);
    config.tls = TlsMode::On;
    config.extra_root_certs_pem = cert;
    let (session, _) = open_ready(config);
    let reply = reply_to(&session, &session.send_text("over tls").unwrap());
    assert!(!texts(&reply).is_empty(), "{reply:#?}");
    session.close();
}

#[test]
fn an_untrusted_certificate_fails_cleanly() {
    let (cert, key) = certificate();
    let engine = engine_with(|c| c.tls = Some((cert, key)));
    let mut config = config_for(&engine);
    config.tls = TlsMode::On;
    config.reconnect.max_attempts = 0;
    let session = Session::open(config).unwrap();
    let error = error_before_closed(&session);
    assert!(!error.will_retry);
    assert!(
        error.message.to_lowercase().contains("certificate"),
        "the error names the certificate problem: {error:?}"
    );
    assert!(session.characters().is_empty());
}
