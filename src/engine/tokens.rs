//! GenerateToken's IW1 check and the session tokens it issues.
//!
//! A token is 32 random bytes (hex), bound to one workspace, and expires
//! after the configured TTL. Nonces of accepted requests are kept
//! for the 15-minute skew window so a replayed header is refused.

use crate::auth::{self, AuthError, Credentials};
use parking_lot::Mutex;
use rand::RngCore;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

/// How far a request's DateTime may be from the server clock.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// A session token the engine issued. A token opens any session of its
/// workspace: a client that refreshes its token keeps its session id.
#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    pub workspace: String,
    pub expires: Instant,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenError {
    Missing,
    Malformed,
    Unknown,
    Expired,
}

impl TokenError {
    pub fn message(self) -> &'static str {
        match self {
            TokenError::Missing => "missing authorization metadata (expected `Bearer <token>`)",
            TokenError::Malformed => "authorization metadata must be `Bearer <token>`",
            TokenError::Unknown => "unknown session token",
            TokenError::Expired => "session token expired",
        }
    }
}

pub(crate) struct Tokens {
    credentials: Vec<Credentials>,
    ttl: Duration,
    /// Unexpired tokens at most.
    max_live: usize,
    issued: Mutex<HashMap<String, IssuedToken>>,
    nonces: Mutex<HashMap<(String, String), Instant>>,
}

impl Tokens {
    pub fn new(credentials: Vec<Credentials>, ttl: Duration) -> Self {
        Self {
            credentials,
            ttl,
            max_live: usize::MAX,
            issued: Mutex::new(HashMap::new()),
            nonces: Mutex::new(HashMap::new()),
        }
    }

    /// Checks an IW1 `authorization` value signed for `host` (the request's `:authority`).
    /// Returns the API key.
    pub fn verify_signed(&self, header: &str, host: &str) -> Result<String, AuthError> {
        let request = auth::parse_header(header)?;
        let creds = self
            .credentials
            .iter()
            .find(|c| c.key == request.key)
            .ok_or(AuthError::UnknownKey)?;
        let when = auth::parse_datetime(&request.datetime)
            .ok_or(AuthError::Malformed("DateTime is not a valid date"))?;
        let now = chrono::Utc::now();
        if (now - when).abs() > chrono::Duration::from_std(MAX_SKEW).expect("15 min fits") {
            return Err(AuthError::ClockSkew);
        }
        auth::verify(&request, &creds.secret, host)?;
        let mut nonces = self.nonces.lock();
        let key = (request.key.clone(), request.nonce.clone());
        if nonces.contains_key(&key) {
            return Err(AuthError::ReusedNonce);
        }
        nonces.insert(key, Instant::now());
        Ok(request.key)
    }

    /// At most `max_live` unexpired tokens at once.
    pub fn with_limit(mut self, max_live: usize) -> Self {
        self.max_live = max_live;
        self
    }

    /// Issues a token for `workspace`; returns it and its expiry, or `Err`
    /// with the bound when as many unexpired tokens are out.
    pub fn issue(&self, workspace: &str) -> Result<(String, SystemTime), usize> {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let mut issued = self.issued.lock();
        if issued.len() >= self.max_live {
            let now = Instant::now();
            if issued.values().filter(|t| t.expires > now).count() >= self.max_live {
                return Err(self.max_live);
            }
        }
        issued.insert(
            token.clone(),
            IssuedToken {
                workspace: workspace.to_string(),
                expires: Instant::now() + self.ttl,
            },
        );
        Ok((token, SystemTime::now() + self.ttl))
    }

    /// Checks an `authorization: Bearer <token>` value.
    pub fn check_bearer(&self, header: Option<&str>) -> Result<IssuedToken, TokenError> {
        let header = header.ok_or(TokenError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .filter(|t| !t.is_empty())
            .ok_or(TokenError::Malformed)?;
        let info = self
            .issued
            .lock()
            .get(token)
            .cloned()
            .ok_or(TokenError::Unknown)?;
        if info.expires <= Instant::now() {
            return Err(TokenError::Expired);
        }
        Ok(info)
    }

    /// Forgets expired tokens and nonces older than the skew window.
    pub fn purge(&self) {
        let now = Instant::now();
        // Keep expired tokens a while so their use reports "expired", not "unknown".
        self.issued
            .lock()
            .retain(|_, t| t.expires + Duration::from_secs(3600) > now);
        self.nonces
            .lock()
            .retain(|_, at| now.duration_since(*at) < 2 * MAX_SKEW);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(vec![Credentials::new("k", "s")], Duration::from_millis(50))
    }

    #[test]
    fn signed_requests_are_checked() {
        let t = tokens();
        let creds = Credentials::new("k", "s");
        let header = auth::authorization_header(&creds, "127.0.0.1:1");
        assert_eq!(t.verify_signed(&header, "127.0.0.1:1").unwrap(), "k");
        assert_eq!(
            t.verify_signed(&header, "127.0.0.1:1"),
            Err(AuthError::ReusedNonce)
        );
        let header = auth::authorization_header(&creds, "127.0.0.1:1");
        assert_eq!(
            t.verify_signed(&header, "127.0.0.1:2"),
            Err(AuthError::BadSignature)
        );
        let other = auth::authorization_header(&Credentials::new("x", "s"), "h");
        assert_eq!(t.verify_signed(&other, "h"), Err(AuthError::UnknownKey));
        let old = auth::header_at(&creds, "h", "20200101000000", "0123456789a");
        assert_eq!(t.verify_signed(&old, "h"), Err(AuthError::ClockSkew));
    }

    #[test]
    fn bearer_tokens_expire() {
        let t = tokens();
        let (token, _) = t.issue("w").unwrap();
        let info = t.check_bearer(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(info.workspace, "w");
        assert_eq!(t.check_bearer(None).unwrap_err(), TokenError::Missing);
        assert_eq!(
            t.check_bearer(Some(&token)).unwrap_err(),
            TokenError::Malformed
        );
        assert_eq!(
            t.check_bearer(Some("Bearer nope")).unwrap_err(),
            TokenError::Unknown
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            t.check_bearer(Some(&format!("Bearer {token}")))
                .unwrap_err(),
            TokenError::Expired
        );
    }
}
