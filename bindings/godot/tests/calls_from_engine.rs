//! What InworldSession does besides talking, over a real session with the
//! local engine's demo tavern, without Godot: feedback (like, dislike with
//! reasons, undo), entity items, and the saved state and the dialog,
//! fetched and continued from, through the extension's `calls` (what the node's methods call) and
//! `events` (what its signals carry).

use std::time::{Duration, Instant};

use inworld::client::{Client, ClientConfig, Continuation, Session, TlsMode};
use inworld::engine::{EngineConfig, RunningEngine, Workspace};
use inworld::packet::Packet;
use inworld_godot::calls;
use inworld_godot::events::{event_of, GameEvent, Speaker};

/// Only catches a hang: a busy machine is slow.
const LIMIT: Duration = Duration::from_secs(120);

/// A session's packets and the events the node makes of them.
struct Drained<'a> {
    session: &'a Session,
    packets: Vec<Packet>,
    events: Vec<GameEvent>,
}

impl<'a> Drained<'a> {
    fn new(session: &'a Session) -> Self {
        Drained {
            session,
            packets: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Drains until `done` finds what it wants among the events; returns it.
    fn until<T>(&mut self, what: &str, done: impl Fn(&GameEvent) -> Option<T>) -> T {
        let start = Instant::now();
        let mut seen = 0;
        loop {
            if let Some(found) = self.events[seen..].iter().find_map(&done) {
                return found;
            }
            seen = self.events.len();
            assert!(
                start.elapsed() < LIMIT,
                "never happened: {what}; events so far: {:?}",
                self.events
            );
            if let Some(packet) = self.session.recv_timeout(Duration::from_millis(50)) {
                self.events.extend(event_of(&packet));
                self.packets.push(packet);
            }
        }
    }

    /// Says `text` and waits for the reply's end; returns its interaction id.
    fn say(&mut self, text: &str) -> String {
        let sent = self.session.send_text(text).unwrap();
        let id = sent.interaction_id.clone();
        self.until(&format!("the end of the reply to {text:?}"), |e| {
            matches!(e, GameEvent::InteractionEnd { interaction_id, .. } if *interaction_id == id)
                .then_some(())
        });
        id
    }

    /// What characters said in the interaction `id`.
    fn said_in(&self, id: &str) -> String {
        self.packets
            .iter()
            .filter(|p| p.ids.interaction_id.as_str() == id)
            .filter_map(|p| match event_of(p) {
                Some(GameEvent::Text {
                    speaker: Speaker::Character(_),
                    text,
                    ..
                }) => Some(text),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The warning_received signals so far.
    fn warnings(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                GameEvent::Warning { message } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }
}

fn tavern() -> (RunningEngine, Client, String) {
    let workspace = Workspace::default_scenes();
    let scene = workspace.scene_names().into_iter().next().unwrap();
    let engine = RunningEngine::start_dedicated(EngineConfig::new(workspace)).unwrap();
    let mut config = ClientConfig::new(
        engine.addr().to_string(),
        scene.clone(),
        engine.credentials().clone(),
    );
    config.tls = TlsMode::Off;
    config.session.user.name = Some("Traveller".into());
    let client = Client::new(config).unwrap();
    (engine, client, scene)
}

fn ready(drained: &mut Drained) {
    drained.until("ready", |e| {
        (*e == GameEvent::ConnectionState { state: "ready" }).then_some(())
    });
}

#[test]
fn feedback_is_recorded_undone_and_refused_by_name() {
    let (engine, client, scene) = tavern();
    let session = client
        .open_session_with(calls::session_config(&client, scene, None))
        .unwrap();
    let mut drained = Drained::new(&session);
    ready(&mut drained);
    let reply = drained.say("a cider, please");

    // like: its request id comes back with the feedback's name.
    let request = session.like(&reply, None).unwrap();
    let name = drained.until("the like recorded", |e| match e {
        GameEvent::FeedbackRecorded {
            request_id,
            feedback_name,
        } if *request_id == request => Some(feedback_name.clone()),
        _ => None,
    });
    assert!(name.contains("/feedbacks/"), "{name}");
    assert!(
        name.contains(&reply),
        "the feedback is on the reply: {name}"
    );

    // undo_feedback(feedback_name)
    let request = session.undo_feedback(&name).unwrap();
    drained.until("the like undone", |e| {
        (*e == GameEvent::FeedbackUndone {
            request_id: request,
        })
        .then_some(())
    });

    // dislike with reasons by the node's names, and a comment.
    let reasons =
        calls::dislike_reasons(&["too_long".to_string(), "repetition".to_string()]).unwrap();
    let request = session
        .dislike(&reply, None, &reasons, "she said it twice")
        .unwrap();
    drained.until("the dislike recorded", |e| match e {
        GameEvent::FeedbackRecorded {
            request_id,
            feedback_name,
        } if *request_id == request && feedback_name.contains("/feedbacks/") => Some(()),
        _ => None,
    });
    // What the node refuses before asking: unknown reasons, a bad name.
    assert!(calls::dislike_reasons(&["boring".to_string()]).is_err());
    assert!(session.undo_feedback("not-a-feedback").is_err());

    // Undoing a feedback the service never made fails there: call_failed.
    let gone = format!(
        "{}/feedbacks/none-such",
        name.rsplit_once("/feedbacks/").unwrap().0
    );
    let request = session.undo_feedback(&gone).unwrap();
    let (call, code) = drained.until("the undo refused", |e| match e {
        GameEvent::CallFailed {
            request_id,
            call,
            grpc_code,
            ..
        } if *request_id == request => Some((*call, *grpc_code)),
        _ => None,
    });
    assert_eq!(call, "undo_feedback");
    assert_ne!(code, 0);
    session.close();
    engine.stop();
}

#[test]
fn items_reach_the_engine_and_refusals_are_warned() {
    let (engine, client, scene) = tavern();
    let session = client
        .open_session_with(calls::session_config(&client, scene, None))
        .unwrap();
    let mut drained = Drained::new(&session);
    ready(&mut drained);

    // As the node's create_or_update_item, items_in_entities and remove_items
    // call them.
    let sword = calls::entity_item(
        "sword-1".into(),
        "Sword".into(),
        "Sharp.".into(),
        vec![("damage".into(), "7".into())],
    );
    session.create_or_update_items(&[sword], &["loot"]).unwrap();
    let how = calls::items_in_entities_how("replace").unwrap();
    session
        .items_in_entities(how, &["sword-1"], &["armoury"])
        .unwrap();
    let how = calls::items_in_entities_how("remove").unwrap();
    session
        .items_in_entities(how, &["sword-1"], &["loot"])
        .unwrap();
    session.remove_items(&["sword-1"]).unwrap();
    assert!(calls::items_in_entities_how("swap").is_err());
    assert!(session.remove_items(&[]).is_err());

    // An item beyond the engine's limits is refused with a warning: the
    // operations reached it, in order, and the valid ones above made none.
    let too_long = calls::entity_item("x".repeat(4096), "Huge".into(), "".into(), vec![]);
    session.create_or_update_items(&[too_long], &[]).unwrap();
    // A reply after it: everything before has been handled.
    drained.say("a cider, please");
    let warnings = drained.warnings();
    let items: Vec<_> = warnings
        .iter()
        .filter(|w| w.contains("entity items"))
        .collect();
    assert_eq!(
        items.len(),
        1,
        "one refusal, for the huge item: {warnings:?}"
    );
    assert!(items[0].contains("refused"), "{items:?}");
    session.close();
    engine.stop();
}

#[test]
fn a_new_session_continues_from_the_saved_state_or_the_dialog() {
    let (engine, client, scene) = tavern();
    let session = client
        .open_session_with(calls::session_config(&client, scene.clone(), None))
        .unwrap();
    let mut drained = Drained::new(&session);
    ready(&mut drained);
    drained.say("a room for the night");

    // request_state → state_received(request_id, state, version)
    let request = session.request_state().unwrap();
    let (state, version) = drained.until("the saved state", |e| match e {
        GameEvent::StateReceived {
            request_id,
            state,
            version,
        } if *request_id == request => Some((state.clone(), version.clone())),
        _ => None,
    });
    assert!(!state.is_empty());
    assert!(!version.is_empty());

    // dialog(), as the node gives it: who said what, by name.
    let dialog: Vec<(&str, String)> = session
        .dialog()
        .into_iter()
        .map(|(talker, text)| (calls::talker_name(talker), text))
        .collect();
    session.close();
    assert_eq!(
        dialog.first(),
        Some(&("player", "a room for the night".to_string())),
        "{dialog:?}"
    );
    assert!(
        dialog.iter().any(|(talker, _)| *talker == "character"),
        "{dialog:?}"
    );

    // open_continuing(state), then open_continuing_dialog(lines): another
    // session (as after a restart of the game) remembers what was said.
    let from_dialog = dialog
        .iter()
        .map(|(talker, text)| (calls::talker_of(talker).unwrap(), text.clone()))
        .collect();
    for continuation in [
        Continuation::SavedState(state),
        Continuation::DialogHistory(from_dialog),
    ] {
        let continued = client
            .open_session_with(calls::session_config(
                &client,
                scene.clone(),
                Some(continuation),
            ))
            .unwrap();
        let mut drained = Drained::new(&continued);
        ready(&mut drained);
        let reply = drained.say("do you remember me?");
        let said = drained.said_in(&reply);
        assert!(
            said.contains("The last thing you told me was: a room for the night"),
            "{said}"
        );
        continued.close();
    }
    engine.stop();
}
