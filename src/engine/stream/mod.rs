//! One OpenSession stream. A reader handles the client's packets in order
//! (configuration, scene and conversation changes answer at once), and a
//! reply worker streams character replies one after another. Both write to
//! one bounded channel of outbound packets, so a reply in flight never
//! blocks reading, and a cancel or an interruption takes effect mid-reply.

mod ctx;
mod inbound;
mod job;
mod replies;

use crate::engine::connections::StreamGuard;
use crate::engine::limits::MAX_PENDING_REPLIES;
use crate::engine::outbound::{self, session_expired};
use crate::engine::sessions::StoredSession;
use crate::engine::shared::EngineShared;
use crate::protocol::ai::inworld::packets::InworldPacket;
use ctx::StreamCtx;
use job::{Input, ReplyJob};
use replies::speak::{speak, Streamed};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};

/// Serves an OpenSession stream of `session`: returns the packets for the
/// client, produced by tasks of its own until the stream ends. `first` is
/// the client's first packet when it was read already (the response headers
/// waited for it).
pub(crate) fn serve(
    shared: Arc<EngineShared>,
    session: Arc<StoredSession>,
    stopping: watch::Receiver<bool>,
    open: Option<StreamGuard>,
    inbound: Streaming<InworldPacket>,
    first: Option<InworldPacket>,
) -> ReceiverStream<Result<InworldPacket, Status>> {
    let (ctx, rx) = StreamCtx::new(shared, session, stopping, open);
    tokio::spawn(run_stream(ctx, inbound, first));
    ReceiverStream::new(rx)
}

/// Resolves once the flag is true (or its sender is gone).
async fn raised(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|v| *v).await;
}

/// Whether a read error is the client leaving (its stream cancelled, its
/// connection gone) rather than something wrong with what it sent: leaving
/// is normal, and no error to log.
fn client_left(status: &Status) -> bool {
    if status.code() == Code::Cancelled {
        return true;
    }
    // A broken connection: an I/O error under the HTTP/2 error.
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if e.is::<std::io::Error>() {
            return true;
        }
        source = e.source();
    }
    status
        .message()
        .contains("error reading a body from connection")
        || status.message().contains("stream no longer needed")
}

/// Reads the client's packets until the stream ends.
async fn run_stream(
    ctx: Arc<StreamCtx>,
    mut inbound: Streaming<InworldPacket>,
    mut first: Option<InworldPacket>,
) {
    let (jobs, jobs_rx) = mpsc::channel(MAX_PENDING_REPLIES);
    let worker = tokio::spawn(reply_worker(ctx.clone(), jobs_rx));
    let mut stopping = ctx.stopping.clone();
    let mut expired = ctx.session.expired();
    let mut ended = ctx.ended();
    let mut seq = 0u64;
    let mut half_closed = false;
    loop {
        let audio_expiry = inbound::audio::expiry(&ctx);
        let message = tokio::select! {
            biased;
            _ = raised(&mut stopping) => {
                ctx.end_with(Status::unavailable("the engine is stopping")).await;
                break;
            }
            _ = raised(&mut expired) => {
                ctx.fail(session_expired(&ctx.session.id)).await;
                break;
            }
            _ = raised(&mut ended) => break,
            _ = sleep_until(audio_expiry) => {
                ctx.fail(inbound::audio::expired(&ctx)).await;
                break;
            }
            _ = ctx.closed() => break,
            message = async { match first.take() {
                Some(p) => Ok(Some(p)),
                None => inbound.message().await,
            } } => message,
        };
        match message {
            Ok(Some(packet)) => {
                ctx.session.touch();
                ctx.shared.record(&ctx.session.id, &packet);
                seq += 1;
                if let Err(status) = inbound::handle(&ctx, packet, &jobs, seq).await {
                    ctx.fail(status).await;
                    break;
                }
            }
            Ok(None) => {
                half_closed = true;
                break;
            }
            Err(status) if client_left(&status) => {
                log::debug!(
                    "session {}: the client left ({:?}: {})",
                    ctx.session.id,
                    status.code(),
                    status.message()
                );
                break;
            }
            Err(status) => {
                if ctx.shared.client_log.allow() {
                    log::info!(
                        "session {}: bad client message: {}",
                        ctx.session.id,
                        status.message()
                    );
                }
                let code = if status.message().contains("too large") {
                    Code::ResourceExhausted
                } else {
                    status.code()
                };
                ctx.end_with(Status::new(code, status.message().to_string()))
                    .await;
                break;
            }
        }
    }
    drop(jobs);
    inbound::audio::stream_ended(&ctx);
    if half_closed {
        // The client finished sending: let pending replies finish, then end.
        let _ = worker.await;
    } else {
        worker.abort();
    }
    log::debug!("session {}: stream closed", ctx.session.id);
}

/// Sleeps until `at`; forever without one.
async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn reply_worker(ctx: Arc<StreamCtx>, mut jobs: mpsc::Receiver<ReplyJob>) {
    while let Some(job) = jobs.recv().await {
        ctx.shared.busy.reply_may_start(&ctx.session.id).await;
        let planned = {
            let mut memory = ctx.session.memory.lock();
            replies::plan::plan(
                &ctx.shared.workspace,
                &mut memory,
                &job,
                ctx.shared.model.is_some(),
            )
        };
        match planned {
            Err(warning) => {
                if !ctx.send(outbound::warning(&job.ids, &warning)).await {
                    return;
                }
            }
            Ok(plan) => {
                let stt = match &job.input {
                    Input::Speech(t) => Some(t.as_str()),
                    _ => None,
                };
                let streamed = match &ctx.shared.model {
                    Some(model) if plan.ask_model => {
                        replies::ask::ask(&ctx, &job, plan, stt, model).await
                    }
                    _ => speak(&ctx, &job, plan, stt).await,
                };
                match streamed {
                    Streamed::Done => {}
                    Streamed::Failed | Streamed::Closed => return,
                }
            }
        }
    }
}
