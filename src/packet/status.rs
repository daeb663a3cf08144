//! Inworld's error details: a `grpc-status-details-bin` trailer holding a
//! `google.rpc.Status` whose details are `Any(ai.inworld.common.InworldStatus)`
//! (PROTOCOL.md 4.12). The engine writes them, the client reads them.

use crate::proto::ai::inworld::common::{InworldStatus, ResourceNotFoundDetails};
use crate::proto::google::rpc::Status as RpcStatus;
use prost::Message;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Type URL of the one detail the SDK understands.
pub const INWORLD_STATUS_TYPE_URL: &str = "type.googleapis.com/ai.inworld.common.InworldStatus";

/// Wire `ai.inworld.common.ErrorType` (0 is SESSION_TOKEN_EXPIRED, the proto3 default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ErrorType {
    SessionTokenExpired = 0,
    SessionTokenInvalid = 1,
    SessionResourcesExhausted = 2,
    BillingTokensExhausted = 3,
    AccountDisabled = 4,
    SessionInvalid = 5,
    ResourceNotFound = 6,
    SafetyViolation = 7,
    SessionExpired = 8,
    AudioSessionExpired = 9,
    SessionPaused = 10,
    VersionConflict = 11,
    AudioSessionAlreadyStarted = 12,
}

impl ErrorType {
    pub fn from_wire(value: i32) -> Option<Self> {
        use ErrorType::*;
        Some(match value {
            0 => SessionTokenExpired,
            1 => SessionTokenInvalid,
            2 => SessionResourcesExhausted,
            3 => BillingTokensExhausted,
            4 => AccountDisabled,
            5 => SessionInvalid,
            6 => ResourceNotFound,
            7 => SafetyViolation,
            8 => SessionExpired,
            9 => AudioSessionExpired,
            10 => SessionPaused,
            11 => VersionConflict,
            12 => AudioSessionAlreadyStarted,
            _ => return None,
        })
    }

    /// The wire enum name, e.g. `SESSION_PAUSED`.
    pub fn name(self) -> &'static str {
        use ErrorType::*;
        match self {
            SessionTokenExpired => "SESSION_TOKEN_EXPIRED",
            SessionTokenInvalid => "SESSION_TOKEN_INVALID",
            SessionResourcesExhausted => "SESSION_RESOURCES_EXHAUSTED",
            BillingTokensExhausted => "BILLING_TOKENS_EXHAUSTED",
            AccountDisabled => "ACCOUNT_DISABLED",
            SessionInvalid => "SESSION_INVALID",
            ResourceNotFound => "RESOURCE_NOT_FOUND",
            SafetyViolation => "SAFETY_VIOLATION",
            SessionExpired => "SESSION_EXPIRED",
            AudioSessionExpired => "AUDIO_SESSION_EXPIRED",
            SessionPaused => "SESSION_PAUSED",
            VersionConflict => "VERSION_CONFLICT",
            AudioSessionAlreadyStarted => "AUDIO_SESSION_ALREADY_STARTED",
        }
    }
}

/// Wire `ai.inworld.common.ReconnectionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ReconnectType {
    Undefined = 0,
    NoRetry = 1,
    Immediate = 2,
    Timeout = 3,
}

impl ReconnectType {
    pub fn from_wire(value: i32) -> Self {
        match value {
            1 => ReconnectType::NoRetry,
            2 => ReconnectType::Immediate,
            3 => ReconnectType::Timeout,
            _ => ReconnectType::Undefined,
        }
    }
}

/// The decoded `InworldStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetails {
    /// Raw wire value (see [`ErrorType::from_wire`]; unknown values are kept).
    pub error_type: i32,
    pub reconnect_type: ReconnectType,
    /// When to reconnect (for `Timeout`), if the service said.
    pub reconnect_time: Option<SystemTime>,
    pub max_retries: i32,
    /// For RESOURCE_NOT_FOUND: the missing resource's id.
    pub resource_id: Option<String>,
}

impl ErrorDetails {
    pub fn new(error_type: ErrorType, reconnect_type: ReconnectType) -> Self {
        Self {
            error_type: error_type as i32,
            reconnect_type,
            reconnect_time: None,
            max_retries: 0,
            resource_id: None,
        }
    }

    pub fn error_type(&self) -> Option<ErrorType> {
        ErrorType::from_wire(self.error_type)
    }

    fn to_wire(&self) -> InworldStatus {
        use crate::proto::ai::inworld::common::inworld_status::ErrorDetails as Oneof;
        InworldStatus {
            error_type: self.error_type,
            reconnect_type: self.reconnect_type as i32,
            reconnect_time: self.reconnect_time.map(timestamp_from),
            max_retries: self.max_retries,
            error_details: self.resource_id.as_ref().map(|id| {
                Oneof::ResourceNotFound(ResourceNotFoundDetails {
                    resource_id: id.clone(),
                    resource_type: 1,
                })
            }),
        }
    }

    fn from_wire(status: InworldStatus) -> Self {
        use crate::proto::ai::inworld::common::inworld_status::ErrorDetails as Oneof;
        ErrorDetails {
            error_type: status.error_type,
            reconnect_type: ReconnectType::from_wire(status.reconnect_type),
            reconnect_time: status.reconnect_time.and_then(system_time_from),
            max_retries: status.max_retries,
            resource_id: match status.error_details {
                Some(Oneof::ResourceNotFound(r)) => Some(r.resource_id),
                _ => None,
            },
        }
    }
}

/// A gRPC status carrying `details` the way the SDK reads them.
pub fn status_with_details(
    code: tonic::Code,
    message: impl Into<String>,
    details: &ErrorDetails,
) -> tonic::Status {
    let message = message.into();
    let rpc = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![prost_types::Any {
            type_url: INWORLD_STATUS_TYPE_URL.to_string(),
            value: details.to_wire().encode_to_vec(),
        }],
    };
    tonic::Status::with_details(code, message, rpc.encode_to_vec().into())
}

/// Inworld details of a gRPC status, if it carries any. Like the SDK, every
/// `Any` is read as an `InworldStatus`; the first that decodes wins.
pub fn details_of(status: &tonic::Status) -> Option<ErrorDetails> {
    decode_details(status.details())
}

/// Decodes a `grpc-status-details-bin` value.
pub fn decode_details(bytes: &[u8]) -> Option<ErrorDetails> {
    if bytes.is_empty() {
        return None;
    }
    let rpc = RpcStatus::decode(bytes).ok()?;
    rpc.details.into_iter().find_map(|any| {
        InworldStatus::decode(any.value.as_slice())
            .ok()
            .map(ErrorDetails::from_wire)
    })
}

pub(crate) fn timestamp_from(time: SystemTime) -> prost_types::Timestamp {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    prost_types::Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
    }
}

pub(crate) fn system_time_from(ts: prost_types::Timestamp) -> Option<SystemTime> {
    if ts.seconds < 0 || !(0..1_000_000_000).contains(&ts.nanos) {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::new(ts.seconds as u64, ts.nanos as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_a_tonic_status() {
        let mut details = ErrorDetails::new(ErrorType::SessionPaused, ReconnectType::Immediate);
        details.max_retries = 3;
        details.reconnect_time = Some(UNIX_EPOCH + Duration::from_millis(1_737_540_645_123));
        let status = status_with_details(tonic::Code::FailedPrecondition, "paused", &details);
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert_eq!(details_of(&status), Some(details));
    }

    #[test]
    fn no_details_is_none() {
        assert_eq!(details_of(&tonic::Status::internal("x")), None);
        assert_eq!(decode_details(b"\xff\xff"), None);
    }
}
