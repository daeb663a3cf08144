//! Resource names (`workspaces/<ws>/scenes/<id>`, `.../characters/<id>`,
//! `.../sessions/<id>`, feedback parents) and gRPC status code names: one
//! parser and one table each, for the client and the engine alike.

/// What a scene name may point at: a scene, or a single character (which the
/// service then loads as a one-character scene).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SceneKind {
    Scene,
    Character,
}

/// A parsed `workspaces/<ws>/(scenes|characters)/<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SceneName<'a> {
    pub workspace: &'a str,
    pub kind: SceneKind,
    pub id: &'a str,
}

/// Whether `id` is a workspace, scene or character id: `min` to 61 of
/// `a-z 0-9 - _` (the pattern the Node SDK checks names against).
pub fn is_valid_id(id: &str, min: usize) -> bool {
    (min..=61).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Splits `workspaces/<ws>/<collection>/<rest>`; `rest` may contain slashes.
fn split(name: &str) -> Option<(&str, &str, &str)> {
    let rest = name.strip_prefix("workspaces/")?;
    let (workspace, rest) = rest.split_once('/')?;
    let (collection, rest) = rest.split_once('/')?;
    Some((workspace, collection, rest))
}

impl<'a> SceneName<'a> {
    /// Parses `^workspaces/([a-z0-9-_]{1,61})/(characters|scenes)/([a-z0-9-_]{0,61})$`.
    pub fn parse(name: &'a str) -> Option<Self> {
        let (workspace, collection, id) = split(name)?;
        let kind = match collection {
            "scenes" => SceneKind::Scene,
            "characters" => SceneKind::Character,
            _ => return None,
        };
        (is_valid_id(workspace, 1) && is_valid_id(id, 0)).then_some(SceneName {
            workspace,
            kind,
            id,
        })
    }
}

/// `workspaces/<ws>/scenes/<id>`.
pub fn scene_name(workspace: &str, id: &str) -> String {
    format!("workspaces/{workspace}/scenes/{id}")
}

/// `workspaces/<ws>/characters/<id>`.
pub fn character_name(workspace: &str, id: &str) -> String {
    format!("workspaces/{workspace}/characters/{id}")
}

/// The character id of a `workspaces/<workspace>/characters/<id>` name.
pub fn character_id<'a>(name: &'a str, workspace: &str) -> Option<&'a str> {
    match SceneName::parse(name)? {
        SceneName {
            workspace: ws,
            kind: SceneKind::Character,
            id,
        } if ws == workspace && !id.is_empty() => Some(id),
        _ => None,
    }
}

/// `workspaces/<ws>`: what GenerateToken's `resources` name.
pub fn workspace_name(workspace: &str) -> String {
    format!("workspaces/{workspace}")
}

/// The workspace of a `workspaces/<ws>` name.
pub fn parse_workspace_name(name: &str) -> Option<&str> {
    name.strip_prefix("workspaces/")
        .filter(|ws| !ws.is_empty() && !ws.contains('/'))
}

/// `workspaces/<ws>/sessions/<session id>`: what GetSessionState names.
pub fn session_name(workspace: &str, session_id: &str) -> String {
    format!("workspaces/{workspace}/sessions/{session_id}")
}

/// (workspace, session id) of a `workspaces/<ws>/sessions/<id>` name. Session
/// ids are the service's (ours are `<ws>:<uuid>`), so only `/` is excluded.
pub fn parse_session_name(name: &str) -> Option<(&str, &str)> {
    match split(name)? {
        (ws, "sessions", sid) if !ws.is_empty() && !sid.is_empty() && !sid.contains('/') => {
            Some((ws, sid))
        }
        _ => None,
    }
}

/// The parent a feedback is created under:
/// `workspaces/<ws>/sessions/<session>/interactions/<id>/groups/<group>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedbackParent<'a> {
    pub workspace: &'a str,
    pub session_id: &'a str,
    pub interaction_id: &'a str,
    /// The correlation id of the rated reply, or `default`.
    pub group: &'a str,
}

impl<'a> FeedbackParent<'a> {
    pub fn parse(parent: &'a str) -> Option<Self> {
        let (workspace, "sessions", rest) = split(parent)? else {
            return None;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [session_id, "interactions", interaction_id, "groups", group]
                if !workspace.is_empty()
                    && [session_id, interaction_id, group]
                        .iter()
                        .all(|p| !p.is_empty()) =>
            {
                Some(FeedbackParent {
                    workspace,
                    session_id,
                    interaction_id,
                    group,
                })
            }
            _ => None,
        }
    }

    pub fn to_name(&self) -> String {
        format!(
            "{}/interactions/{}/groups/{}",
            session_name(self.workspace, self.session_id),
            self.interaction_id,
            self.group
        )
    }
}

/// `<parent>/feedbacks/<id>`: the name of a created feedback.
pub fn feedback_name(parent: &FeedbackParent<'_>, id: &str) -> String {
    format!("{}/feedbacks/{id}", parent.to_name())
}

/// The parent and id of a `<parent>/feedbacks/<id>` name.
pub fn parse_feedback_name(name: &str) -> Option<(FeedbackParent<'_>, &str)> {
    let (parent, id) = name.rsplit_once("/feedbacks/")?;
    if id.is_empty() || id.contains('/') {
        return None;
    }
    Some((FeedbackParent::parse(parent)?, id))
}

/// gRPC status codes and their names, as grpc-js prints them.
const CODE_NAMES: [(tonic::Code, &str); 17] = {
    use tonic::Code::*;
    [
        (Ok, "OK"),
        (Cancelled, "CANCELLED"),
        (Unknown, "UNKNOWN"),
        (InvalidArgument, "INVALID_ARGUMENT"),
        (DeadlineExceeded, "DEADLINE_EXCEEDED"),
        (NotFound, "NOT_FOUND"),
        (AlreadyExists, "ALREADY_EXISTS"),
        (PermissionDenied, "PERMISSION_DENIED"),
        (ResourceExhausted, "RESOURCE_EXHAUSTED"),
        (FailedPrecondition, "FAILED_PRECONDITION"),
        (Aborted, "ABORTED"),
        (OutOfRange, "OUT_OF_RANGE"),
        (Unimplemented, "UNIMPLEMENTED"),
        (Internal, "INTERNAL"),
        (Unavailable, "UNAVAILABLE"),
        (DataLoss, "DATA_LOSS"),
        (Unauthenticated, "UNAUTHENTICATED"),
    ]
};

/// The name of a gRPC status code, e.g. `FAILED_PRECONDITION`.
pub fn code_name(code: tonic::Code) -> &'static str {
    CODE_NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("UNKNOWN", |(_, n)| n)
}

/// The gRPC status code of a name, e.g. `FAILED_PRECONDITION`.
pub fn code_from_name(name: &str) -> Option<tonic::Code> {
    CODE_NAMES.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_names_follow_the_sdk_pattern() {
        let s = SceneName::parse("workspaces/test-ws/scenes/test-scene").unwrap();
        assert_eq!(
            (s.workspace, s.kind, s.id),
            ("test-ws", SceneKind::Scene, "test-scene")
        );
        assert_eq!(
            SceneName::parse("workspaces/w/characters/c_1")
                .unwrap()
                .kind,
            SceneKind::Character
        );
        assert!(SceneName::parse("workspaces/w/scenes/").is_some());
        for bad in [
            "",
            "workspaces//scenes/x",
            "workspaces/W/scenes/x",
            "workspaces/w/other/x",
            "workspaces/w/scenes/x/y",
            "scenes/x",
        ] {
            assert!(SceneName::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(
            character_id("workspaces/w/characters/bob", "w"),
            Some("bob")
        );
        assert_eq!(character_id("workspaces/x/characters/bob", "w"), None);
        assert_eq!(character_id("workspaces/w/scenes/bob", "w"), None);
    }

    #[test]
    fn session_and_workspace_names() {
        assert_eq!(parse_workspace_name("workspaces/w"), Some("w"));
        assert_eq!(parse_workspace_name("workspaces/w/x"), None);
        assert_eq!(parse_workspace_name("workspaces/"), None);
        let name = session_name("w", "w:1");
        assert_eq!(parse_session_name(&name), Some(("w", "w:1")));
        assert_eq!(parse_session_name("workspaces/w/sessions/"), None);
        assert_eq!(parse_session_name("workspaces/w/scenes/s"), None);
    }

    #[test]
    fn feedback_parents_parse_and_print() {
        let text = "workspaces/w/sessions/w:1/interactions/i/groups/default";
        let p = FeedbackParent::parse(text).unwrap();
        assert_eq!((p.session_id, p.group), ("w:1", "default"));
        assert_eq!(p.to_name(), text);
        assert!(FeedbackParent::parse("workspaces/w/sessions/s/interactions/i").is_none());
        assert!(FeedbackParent::parse("workspaces//sessions/s/interactions/i/groups/g").is_none());
        let name = feedback_name(&p, "f1");
        assert_eq!(name, format!("{text}/feedbacks/f1"));
        assert_eq!(parse_feedback_name(&name), Some((p, "f1")));
        assert_eq!(parse_feedback_name(&format!("{text}/feedbacks/")), None);
        assert_eq!(parse_feedback_name(&format!("{text}/feedbacks/a/b")), None);
        assert_eq!(parse_feedback_name("workspaces/w/feedbacks/f1"), None);
    }

    #[test]
    fn code_names_go_both_ways() {
        for (code, name) in CODE_NAMES {
            assert_eq!(code_name(code), name);
            assert_eq!(code_from_name(name), Some(code));
        }
        assert_eq!(code_from_name("NOPE"), None);
    }
}
