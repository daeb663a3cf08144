//! The Feedback service: likes and dislikes on interactions. A feedback is
//! created under `workspaces/<ws>/sessions/<session>/interactions/<id>/groups/<group>`
//! and named `<parent>/feedbacks/<id>`.

use super::shared::EngineShared;
use crate::protocol::ai::inworld::engine::v1::feedback_server::Feedback;
use crate::protocol::ai::inworld::engine::v1::{
    CreateInteractionFeedbackRequest, DeleteInteractionFeedbackRequest, InteractionFeedback,
};
use crate::protocol::names::{feedback_name, parse_feedback_name, FeedbackParent};
use prost::Message;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Feedbacks the engine keeps in all; beyond, new ones are refused.
const MAX_FEEDBACKS: usize = 10_000;
/// One feedback, as encoded: bytes.
const MAX_FEEDBACK_BYTES: usize = 8 * 1024;

pub(crate) struct FeedbackService {
    pub shared: Arc<EngineShared>,
}

fn other_workspace() -> Status {
    Status::permission_denied("the session token belongs to another workspace")
}

impl FeedbackService {
    fn check_parent<'a>(&self, ws: &str, parent: &'a str) -> Result<FeedbackParent<'a>, Status> {
        let p = FeedbackParent::parse(parent).ok_or_else(|| {
            Status::invalid_argument(format!(
                "feedback parent {parent:?} must be workspaces/<ws>/sessions/<session>/interactions/<id>/groups/<group>"
            ))
        })?;
        if p.workspace != ws {
            return Err(other_workspace());
        }
        if self.shared.sessions.get(p.session_id).is_none() {
            return Err(Status::not_found(format!(
                "session {:?} not found",
                p.session_id
            )));
        }
        Ok(p)
    }
}

#[tonic::async_trait]
impl Feedback for FeedbackService {
    async fn create_interaction_feedback(
        &self,
        request: Request<CreateInteractionFeedbackRequest>,
    ) -> Result<Response<InteractionFeedback>, Status> {
        let token = self.shared.authorize(request.metadata())?;
        let req = request.into_inner();
        let parent = self.check_parent(&token.workspace, &req.parent)?;
        let mut feedback = req
            .interaction_feedback
            .ok_or_else(|| Status::invalid_argument("interaction_feedback is missing"))?;
        if feedback.encoded_len() > MAX_FEEDBACK_BYTES {
            return Err(Status::invalid_argument(format!(
                "a feedback may take at most {MAX_FEEDBACK_BYTES} bytes"
            )));
        }
        feedback.name = feedback_name(&parent, &uuid::Uuid::new_v4().to_string());
        if !self.shared.feedback.insert(feedback.clone(), MAX_FEEDBACKS) {
            return Err(Status::resource_exhausted(format!(
                "the engine keeps at most {MAX_FEEDBACKS} feedbacks"
            )));
        }
        log::debug!("feedback {} (like: {})", feedback.name, feedback.is_like);
        Ok(Response::new(feedback))
    }

    async fn delete_interaction_feedback(
        &self,
        request: Request<DeleteInteractionFeedbackRequest>,
    ) -> Result<Response<()>, Status> {
        let token = self.shared.authorize(request.metadata())?;
        let name = request.into_inner().name;
        let (parent, _) = parse_feedback_name(&name).ok_or_else(|| {
            Status::invalid_argument(format!(
                "feedback name {name:?} must be workspaces/<ws>/sessions/<session>/interactions/<id>/groups/<group>/feedbacks/<id>"
            ))
        })?;
        if parent.workspace != token.workspace {
            return Err(other_workspace());
        }
        if self.shared.feedback.remove(&name) {
            Ok(Response::new(()))
        } else {
            Err(Status::not_found(format!("feedback {name:?} not found")))
        }
    }
}
