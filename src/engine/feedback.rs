//! The Feedback service: likes and dislikes on interactions (PROTOCOL 4.14).
//! `parent = workspaces/<ws>/sessions/<session>/interactions/<id>/groups/<group>`,
//! and a created feedback is named `parent + "/feedbacks/<id>"`.

use super::shared::Shared;
use crate::protocol::ai::inworld::engine::v1::feedback_server::Feedback;
use crate::protocol::ai::inworld::engine::v1::{
    CreateInteractionFeedbackRequest, DeleteInteractionFeedbackRequest, InteractionFeedback,
};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::{Request, Response, Status};

#[derive(Default)]
pub struct FeedbackStore {
    by_name: Mutex<HashMap<String, InteractionFeedback>>,
}

impl FeedbackStore {
    pub fn len(&self) -> usize {
        self.by_name.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The parts of a feedback parent name.
#[derive(Debug, PartialEq, Eq)]
pub struct Parent<'a> {
    pub workspace: &'a str,
    pub session_id: &'a str,
    pub interaction_id: &'a str,
    pub group: &'a str,
}

pub fn parse_parent(parent: &str) -> Option<Parent<'_>> {
    let parts: Vec<&str> = parent.split('/').collect();
    match parts.as_slice() {
        ["workspaces", ws, "sessions", sid, "interactions", iid, "groups", group]
            if [ws, sid, iid, group].iter().all(|p| !p.is_empty()) =>
        {
            Some(Parent {
                workspace: ws,
                session_id: sid,
                interaction_id: iid,
                group,
            })
        }
        _ => None,
    }
}

pub struct FeedbackService {
    pub(crate) shared: Arc<Shared>,
}

impl FeedbackService {
    fn check_parent<'a>(&self, ws: &str, parent: &'a str) -> Result<Parent<'a>, Status> {
        let p = parse_parent(parent).ok_or_else(|| {
            Status::invalid_argument(format!(
                "feedback parent {parent:?} must be workspaces/<ws>/sessions/<session>/interactions/<id>/groups/<group>"
            ))
        })?;
        if p.workspace != ws {
            return Err(Status::permission_denied(
                "the session token belongs to another workspace",
            ));
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
        self.check_parent(&token.workspace, &req.parent)?;
        let mut feedback = req
            .interaction_feedback
            .ok_or_else(|| Status::invalid_argument("interaction_feedback is missing"))?;
        feedback.name = format!("{}/feedbacks/{}", req.parent, uuid::Uuid::new_v4());
        self.shared
            .feedback
            .by_name
            .lock()
            .insert(feedback.name.clone(), feedback.clone());
        log::debug!("feedback {} (like: {})", feedback.name, feedback.is_like);
        Ok(Response::new(feedback))
    }

    async fn delete_interaction_feedback(
        &self,
        request: Request<DeleteInteractionFeedbackRequest>,
    ) -> Result<Response<()>, Status> {
        let token = self.shared.authorize(request.metadata())?;
        let name = request.into_inner().name;
        let parent = name
            .rsplit_once("/feedbacks/")
            .filter(|(_, id)| !id.is_empty() && !id.contains('/'))
            .map(|(p, _)| p)
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "feedback name {name:?} must be <parent>/feedbacks/<id>"
                ))
            })?;
        let p = parse_parent(parent).ok_or_else(|| {
            Status::invalid_argument(format!("feedback name {name:?} has a malformed parent"))
        })?;
        if p.workspace != token.workspace {
            return Err(Status::permission_denied(
                "the session token belongs to another workspace",
            ));
        }
        match self.shared.feedback.by_name.lock().remove(&name) {
            Some(_) => Ok(Response::new(())),
            None => Err(Status::not_found(format!("feedback {name:?} not found"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_parse() {
        let p = parse_parent("workspaces/w/sessions/w:1/interactions/i/groups/default").unwrap();
        assert_eq!(p.session_id, "w:1");
        assert_eq!(p.group, "default");
        assert!(parse_parent("workspaces/w/sessions/s/interactions/i").is_none());
        assert!(parse_parent("workspaces//sessions/s/interactions/i/groups/g").is_none());
    }
}
