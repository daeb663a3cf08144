//! IW1-HMAC-SHA256: the signature that authorises `GenerateToken`.
//!
//! The client signs with [`authorization_header`]; the local engine checks with
//! [`parse_header`] and [`verify`]. The secret never leaves this module in any
//! printable form: [`Credentials`] redacts it in `Debug`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// Scheme word that starts the header.
pub const SCHEME: &str = "IW1-HMAC-SHA256";
/// The gRPC method that is signed, without its leading slash.
pub const GENERATE_TOKEN_METHOD: &str = "ai.inworld.engine.WorldEngine/GenerateToken";

/// An API key and its secret. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub key: String,
    pub secret: String,
}

impl Credentials {
    pub fn new(key: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            secret: secret.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The host string that is signed: the configured `host:port` with the first
/// `:443` removed, as the SDK's `String.replace` does.
pub fn signed_host(host: &str) -> String {
    host.replacen(":443", "", 1)
}

/// The HMAC chain: key `IW1<secret>`, then HMAC-SHA256 over the date-time,
/// the host (without `:443`), the method and the nonce in turn, each result
/// keying the next; the last keys an HMAC of `iw1_request`. Returns the
/// lowercase hex signature.
pub fn signature(secret: &str, datetime: &str, host: &str, nonce: &str) -> String {
    hex::encode(
        final_mac(secret, datetime, &signed_host(host), nonce)
            .finalize()
            .into_bytes(),
    )
}

/// The final MAC of the chain, keyed by k4, ready to finalize or verify.
fn final_mac(secret: &str, datetime: &str, host: &str, nonce: &str) -> HmacSha256 {
    let mut key = format!("IW1{secret}").into_bytes();
    for part in [datetime, host, GENERATE_TOKEN_METHOD, nonce] {
        key = hmac(&key, part.as_bytes()).to_vec();
    }
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(b"iw1_request");
    mac
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// `YYYYMMDDHHMMSS` in UTC, as the header's `DateTime`.
pub fn format_datetime(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y%m%d%H%M%S").to_string()
}

/// 11 lowercase hex characters, as the SDK makes them.
pub fn new_nonce() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)[1..12].to_string()
}

/// The full `authorization` value for a GenerateToken call to `host`, signed now.
pub fn authorization_header(credentials: &Credentials, host: &str) -> String {
    header_at(
        credentials,
        host,
        &format_datetime(chrono::Utc::now()),
        &new_nonce(),
    )
}

/// The header for fixed inputs (tests and reproducible signatures).
pub fn header_at(credentials: &Credentials, host: &str, datetime: &str, nonce: &str) -> String {
    let sig = signature(&credentials.secret, datetime, host, nonce);
    format!(
        "{SCHEME} ApiKey={},DateTime={datetime},Nonce={nonce},Signature={sig}",
        credentials.key
    )
}

/// The four parts of a parsed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub key: String,
    pub datetime: String,
    pub nonce: String,
    pub signature: String,
}

/// Why a header was refused. The messages name the problem, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    Malformed(&'static str),
    UnknownKey,
    BadSignature,
    ClockSkew,
    ReusedNonce,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Malformed(why) => write!(f, "malformed IW1 authorization header: {why}"),
            AuthError::UnknownKey => f.write_str("unknown API key"),
            AuthError::BadSignature => f.write_str("IW1 signature does not match"),
            AuthError::ClockSkew => {
                f.write_str("IW1 DateTime is more than 15 minutes away from the server clock")
            }
            AuthError::ReusedNonce => f.write_str("IW1 nonce was already used"),
        }
    }
}

impl std::error::Error for AuthError {}

/// Parses `IW1-HMAC-SHA256 ApiKey=…,DateTime=…,Nonce=…,Signature=…`.
pub fn parse_header(value: &str) -> Result<SignedRequest, AuthError> {
    let rest = value
        .strip_prefix(SCHEME)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or(AuthError::Malformed("expected the IW1-HMAC-SHA256 scheme"))?;
    let mut parts = [None::<&str>; 4];
    for pair in rest.split(',') {
        let (name, val) = pair
            .split_once('=')
            .ok_or(AuthError::Malformed("expected name=value pairs"))?;
        let slot = match name {
            "ApiKey" => 0,
            "DateTime" => 1,
            "Nonce" => 2,
            "Signature" => 3,
            _ => return Err(AuthError::Malformed("unexpected field")),
        };
        parts[slot] = Some(val);
    }
    let [Some(key), Some(datetime), Some(nonce), Some(signature)] = parts else {
        return Err(AuthError::Malformed(
            "missing ApiKey, DateTime, Nonce or Signature",
        ));
    };
    if datetime.len() != 14 || !datetime.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::Malformed(
            "DateTime must be 14 digits YYYYMMDDHHMMSS",
        ));
    }
    Ok(SignedRequest {
        key: key.to_string(),
        datetime: datetime.to_string(),
        nonce: nonce.to_string(),
        signature: signature.to_string(),
    })
}

/// Parses a header `DateTime` into UTC.
pub fn parse_datetime(datetime: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::NaiveDateTime::parse_from_str(datetime, "%Y%m%d%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

/// Checks a parsed request's signature against `secret` for `host` (the
/// request's `:authority`), in constant time.
pub fn verify(request: &SignedRequest, secret: &str, host: &str) -> Result<(), AuthError> {
    let given = hex::decode(&request.signature).map_err(|_| AuthError::BadSignature)?;
    // verify_slice compares in constant time.
    final_mac(
        secret,
        &request.datetime,
        &signed_host(host),
        &request.nonce,
    )
    .verify_slice(&given)
    .map_err(|_| AuthError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATETIME: &str = "20250122103045";
    const NONCE: &str = "0123456789a";

    fn creds() -> Credentials {
        Credentials::new("test-api-key", "test-api-secret")
    }

    #[test]
    fn vector_1_production_host() {
        let host = "api-engine.inworld.ai:443";
        assert_eq!(signed_host(host), "api-engine.inworld.ai");
        let k = |n: usize| {
            let mut key = b"IW1test-api-secret".to_vec();
            for part in [
                DATETIME,
                "api-engine.inworld.ai",
                GENERATE_TOKEN_METHOD,
                NONCE,
            ]
            .iter()
            .take(n)
            {
                key = hmac(&key, part.as_bytes()).to_vec();
            }
            hex::encode(key)
        };
        assert_eq!(
            k(1),
            "63973312616e03d1a63582bee46413a1119d360ff068d0a8d992a881ee935868"
        );
        assert_eq!(
            k(2),
            "5dbdc7bc6baf4dbdc87d9a436d7e78b0baa38c2ce3dcb677e5b8682c7342b829"
        );
        assert_eq!(
            k(3),
            "15c042f0cfff4b044a8c1be34ecfbd63a1820faef805c35af0f5fb089339870a"
        );
        assert_eq!(
            k(4),
            "3b108e58cabd8821ad68b1e4905ba926a1ef92c9dd2e942be7481fa2c80d4f7a"
        );
        assert_eq!(
            signature("test-api-secret", DATETIME, host, NONCE),
            "7bbd82236eda059c3272360dcf59c21d9c824495d929193cc94324e9466c9396"
        );
        assert_eq!(
            header_at(&creds(), host, DATETIME, NONCE),
            "IW1-HMAC-SHA256 ApiKey=test-api-key,DateTime=20250122103045,Nonce=0123456789a,\
             Signature=7bbd82236eda059c3272360dcf59c21d9c824495d929193cc94324e9466c9396"
        );
    }

    #[test]
    fn vector_2_local_host() {
        assert_eq!(signed_host("127.0.0.1:50051"), "127.0.0.1:50051");
        assert_eq!(
            signature("test-api-secret", DATETIME, "127.0.0.1:50051", NONCE),
            "2ce04616cd42710d88b2698b02c7b2602dc852537287c7a23c14ac7c2a6e85ad"
        );
    }

    #[test]
    fn parse_and_verify_round_trip() {
        let header = header_at(&creds(), "127.0.0.1:50051", DATETIME, NONCE);
        let req = parse_header(&header).unwrap();
        assert_eq!(req.key, "test-api-key");
        assert_eq!(req.nonce, NONCE);
        assert_eq!(verify(&req, "test-api-secret", "127.0.0.1:50051"), Ok(()));
        assert_eq!(
            verify(&req, "other-secret", "127.0.0.1:50051"),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            verify(&req, "test-api-secret", "127.0.0.1:50052"),
            Err(AuthError::BadSignature)
        );
        let mut tampered = req.clone();
        tampered.signature = "zz".into();
        assert_eq!(
            verify(&tampered, "test-api-secret", "127.0.0.1:50051"),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "Bearer abc",
            "IW1-HMAC-SHA256 ApiKey=k",
            "IW1-HMAC-SHA256 ApiKey=k,DateTime=2025,Nonce=n,Signature=s",
            "IW1-HMAC-SHA256 ApiKey=k,DateTime=20250122103045,Nonce=n,Signature=s,Extra=1",
        ] {
            assert!(
                matches!(parse_header(bad), Err(AuthError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn nonce_and_datetime_shapes() {
        let n = new_nonce();
        assert_eq!(n.len(), 11);
        assert!(n
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let t = parse_datetime(DATETIME).unwrap();
        assert_eq!(format_datetime(t), DATETIME);
    }

    #[test]
    fn debug_redacts_secret() {
        assert!(!format!("{:?}", creds()).contains("test-api-secret"));
    }
}
