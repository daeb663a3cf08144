//! The library's client against the engine's language-model brain: a
//! model failure ends the stream with details the client acts on (it
//! reconnects at the time they say), and the session answers again.
#![cfg(feature = "engine")]

mod client_util;
mod llm_support;

use client_util::*;
use inworld::engine::{Brain, LlmConfig};
use inworld::packet::{ConnectionState, ErrorType, PacketBody, ReconnectionType};
use llm_support::{Answer, LlmServer};

#[test]
fn a_model_failure_reconnects_and_the_next_text_is_answered() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let model = runtime.block_on(LlmServer::start());
    let url = model.url();
    let engine = engine_with(|c| {
        let mut llm = LlmConfig::new(url, "m");
        llm.max_retries = 0;
        c.brain = Brain::Llm(llm);
    });
    let (session, _) = open_ready(config_for(&engine));
    model.answer(Answer::text(&["Hello there."]));
    let reply = reply_to(&session, &session.send_text("hello").unwrap());
    assert_eq!(texts(&reply), ["Hello there."]);

    model.answer(Answer::Status {
        code: 503,
        retry_after: None,
    });
    model.answer_always(Answer::text(&["Back again."]));
    session.send_text("are you there?").unwrap();
    let (_, error) = wait_for(&session, "the error", |p| {
        matches!(p.body, PacketBody::Error(_))
    });
    let PacketBody::Error(error) = error.body else {
        unreachable!()
    };
    assert!(error.will_retry, "{error:?}");
    assert_eq!(error.grpc_code, tonic::Code::Unavailable as i32);
    let details = error.details.expect("Inworld details");
    assert_eq!(details.error_type(), Some(ErrorType::SessionPaused));
    assert_eq!(details.reconnect_type, ReconnectionType::Timeout);
    wait_for(&session, "Reconnecting", |p| {
        is_connection(p, ConnectionState::Reconnecting)
    });
    wait_ready(&session);
    let reply = reply_to(&session, &session.send_text("and now?").unwrap());
    assert_eq!(texts(&reply), ["Back again."]);
    session.close();
}
