//! Inworld's error details: a `grpc-status-details-bin` trailer holding a
//! `google.rpc.Status` whose details are `Any(ai.inworld.common.InworldStatus)`.
//! The engine writes them, the client reads them. The Node SDK decodes every
//! `Any` in that list as an `InworldStatus` whatever its type URL, so nothing
//! else may go there.

pub use super::ai::inworld::common::{ErrorType, ReconnectionType};
use super::ai::inworld::common::{InworldStatus, ResourceNotFoundDetails, ResourceType};
use super::google::rpc::Status as RpcStatus;
use prost::Message;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Type URL of the one detail the SDK understands.
pub const INWORLD_STATUS_TYPE_URL: &str = "type.googleapis.com/ai.inworld.common.InworldStatus";

/// The decoded `InworldStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ErrorDetails {
    /// Raw wire value of an [`ErrorType`] (unknown values are kept as they came).
    pub error_type: i32,
    #[cfg_attr(feature = "serde", serde(serialize_with = "reconnect_name"))]
    pub reconnect_type: ReconnectionType,
    /// When to reconnect (for `Timeout`), if the service said.
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_ms::time"))]
    pub reconnect_time: Option<SystemTime>,
    pub max_retries: i32,
    /// For RESOURCE_NOT_FOUND: the missing resource's id.
    pub resource_id: Option<String>,
}

#[cfg(feature = "serde")]
fn reconnect_name<S: serde::Serializer>(r: &ReconnectionType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.as_str_name())
}

impl ErrorDetails {
    pub fn new(error_type: ErrorType, reconnect_type: ReconnectionType) -> Self {
        Self {
            error_type: error_type as i32,
            reconnect_type,
            reconnect_time: None,
            max_retries: 0,
            resource_id: None,
        }
    }

    /// The error type, if this library knows the value.
    pub fn error_type(&self) -> Option<ErrorType> {
        ErrorType::try_from(self.error_type).ok()
    }

    fn to_wire(&self) -> InworldStatus {
        use super::ai::inworld::common::inworld_status::ErrorDetails as Oneof;
        InworldStatus {
            error_type: self.error_type,
            reconnect_type: self.reconnect_type as i32,
            reconnect_time: self.reconnect_time.map(timestamp_from),
            max_retries: self.max_retries,
            error_details: self.resource_id.as_ref().map(|id| {
                Oneof::ResourceNotFound(ResourceNotFoundDetails {
                    resource_id: id.clone(),
                    resource_type: ResourceType::Conversation as i32,
                })
            }),
        }
    }

    fn from_wire(status: InworldStatus) -> Self {
        use super::ai::inworld::common::inworld_status::ErrorDetails as Oneof;
        ErrorDetails {
            error_type: status.error_type,
            reconnect_type: ReconnectionType::try_from(status.reconnect_type)
                .unwrap_or(ReconnectionType::Undefined),
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

pub fn timestamp_from(time: SystemTime) -> prost_types::Timestamp {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    prost_types::Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
    }
}

pub fn system_time_from(ts: prost_types::Timestamp) -> Option<SystemTime> {
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
        let mut details = ErrorDetails::new(ErrorType::SessionPaused, ReconnectionType::Immediate);
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
