//! The client against the local engine on loopback: open, scene, replies,
//! triggers, narrated actions, character choice, delivery modes, close.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod client_util;

use client_util::*;
use inworld::client::{Error, Session};
use inworld::packet::{ActorKind, ConnectionState, Packet, PacketBody, TextSource};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn open_loads_the_scene_and_lists_characters() {
    let engine = engine();
    let session = Session::open(config_for(&engine)).unwrap();
    let (before, _) = wait_for(&session, "Ready", |p| {
        is_connection(p, ConnectionState::Ready)
    });
    assert!(is_connection(&before[0], ConnectionState::Connecting));
    let status = before
        .iter()
        .find_map(|p| match &p.body {
            PacketBody::SceneStatus(s) => Some(s.clone()),
            _ => None,
        })
        .expect("a scene status before Ready");
    assert_eq!(status.name, SCENE);
    assert_eq!(session.state(), ConnectionState::Ready);
    assert!(session.session_id().is_some_and(|s| !s.is_empty()));
    let characters = session.characters();
    let names: Vec<&str> = characters.iter().map(|c| c.display_name.as_str()).collect();
    assert_eq!(names, ["Alice", "Bob"]);
    assert_eq!(
        characters[0].resource_name,
        "workspaces/test-ws/characters/alice"
    );
    assert!(!characters[0].id.is_empty());
    assert_eq!(
        characters[0].assets.avatar_img,
        "https://example.invalid/alice.png"
    );
    assert_eq!(session.current_character().unwrap(), characters[0]);
    assert_eq!(session.scene().unwrap(), status);
    session.close();
    assert_eq!(session.state(), ConnectionState::Closed);
}

fn has<F: Fn(&PacketBody) -> bool>(packets: &[Packet], f: F) -> bool {
    packets.iter().any(|p| f(&p.body))
}

#[test]
fn text_reply_with_emotion_and_audio_when_asked() {
    let engine = engine();
    let mut config = config_for(&engine);
    config.session.capabilities.emotions = true;
    config.session.capabilities.phonemes = true;
    let (session, _) = open_ready(config);
    // A character's first answer is its greeting; the next one uses our text.
    let greeting = texts(&reply_to(&session, &session.send_text("hi").unwrap())).join(" ");
    assert!(greeting.contains("I am Alice"), "{greeting}");
    let ids = session.send_text("hello there").unwrap();
    assert!(!ids.interaction_id.is_empty() && !ids.packet_id.is_empty());
    assert_ne!(ids.interaction_id, ids.packet_id);
    let reply = reply_to(&session, &ids);
    let texts = texts(&reply);
    assert!(
        texts.iter().any(|t| t.contains("hello there")),
        "reply texts: {texts:?}"
    );
    let alice = session.current_character().unwrap();
    let text = reply
        .iter()
        .find(|p| matches!(&p.body, PacketBody::Text(t) if t.source == TextSource::Generated))
        .expect("generated text");
    assert_eq!(text.routing.source.kind, ActorKind::Character);
    assert_eq!(text.routing.source.name, alice.id);
    assert_eq!(text.ids.conversation_id, ids.conversation_id.as_str());
    assert!(has(&reply, |b| matches!(b, PacketBody::Emotion(_))));
    let audio = reply
        .iter()
        .find_map(|p| match &p.body {
            PacketBody::Audio(a) => Some(a.clone()),
            _ => None,
        })
        .expect("audio when the audio capability is on");
    assert!(!audio.samples.is_empty(), "{:?}", audio.undecoded);
    assert!(!audio.phonemes.is_empty(), "phonemes were asked for");
    session.close();
}

#[test]
fn no_emotion_and_no_audio_when_off() {
    let engine = engine();
    let mut config = config_for(&engine);
    config.session.capabilities.emotions = false;
    config.session.capabilities.audio = false;
    let (session, _) = open_ready(config);
    let ids = session.send_text("hello again").unwrap();
    let reply = reply_to(&session, &ids);
    assert!(!texts(&reply).is_empty());
    assert!(!has(&reply, |b| matches!(b, PacketBody::Emotion(_))));
    assert!(!has(&reply, |b| matches!(b, PacketBody::Audio(_))));
    session.close();
}

#[test]
fn trigger_with_parameters() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    let ids = session.send_trigger("greet", &[("mood", "happy")]).unwrap();
    let reply = reply_to(&session, &ids);
    let texts = texts(&reply);
    assert!(
        texts.iter().any(|t| t.contains("happy")),
        "parameter used in the reply: {texts:?}"
    );
    assert!(
        has(
            &reply,
            |b| matches!(b, PacketBody::Trigger(t) if t.name == "greeted")
        ),
        "the rule's outgoing trigger: {reply:#?}"
    );
    session.close();
}

#[test]
fn narrated_action_gets_a_narrated_reply() {
    let engine = engine();
    let mut config = config_for(&engine);
    config.session.capabilities.narrated_actions = true;
    let (session, _) = open_ready(config);
    let ids = session.send_narrated_action("waves hello").unwrap();
    let reply = reply_to(&session, &ids);
    assert!(
        has(
            &reply,
            |b| matches!(b, PacketBody::NarratedAction{content} if content == "waves back")
        ),
        "{reply:#?}"
    );
    session.close();
}

#[test]
fn task_from_a_rule() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    let ids = session.send_text("any quest for me?").unwrap();
    let reply = reply_to(&session, &ids);
    assert!(
        has(
            &reply,
            |b| matches!(b, PacketBody::Task(t) if t.name == "give_quest")
        ),
        "{reply:#?}"
    );
    session.close();
}

#[test]
fn set_current_character_changes_who_answers() {
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    let first = reply_to(&session, &session.send_text("one").unwrap());
    let alice = session.characters()[0].clone();
    assert!(first.iter().any(|p| p.routing.source.name == alice.id));

    // By display name, while the conversation is active.
    session.set_current_character("Bob").unwrap();
    let bob = session.current_character().unwrap();
    assert_eq!(bob.display_name, "Bob");
    let reply = reply_to(&session, &session.send_text("two").unwrap());
    let speakers: Vec<_> = reply
        .iter()
        .filter(|p| matches!(p.body, PacketBody::Text(_)))
        .map(|p| p.routing.source.name.to_string())
        .collect();
    assert!(
        !speakers.is_empty() && speakers.iter().all(|s| *s == bob.id.as_str()),
        "{speakers:?}"
    );

    // By resource name and by agent id.
    session
        .set_current_character("workspaces/test-ws/characters/alice")
        .unwrap();
    assert_eq!(session.current_character().unwrap(), alice);
    session.set_current_character(bob.id.as_str()).unwrap();
    assert_eq!(session.current_character().unwrap(), bob);
    // An unknown name is "not found" (an empty one is an invalid argument).
    assert!(matches!(
        session.set_current_character("nobody"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        session.set_current_character(""),
        Err(Error::InvalidArgument(_))
    ));
    session.close();
}

#[test]
fn sends_before_ready_are_queued_and_flushed() {
    let engine = engine();
    let session = Session::open(config_for(&engine)).unwrap();
    let ids = session.send_text("early bird").unwrap();
    let reply = reply_to(&session, &ids);
    assert!(!texts(&reply).is_empty(), "{reply:#?}");
    assert!(reply
        .iter()
        .all(|p| p.ids.conversation_id == ids.conversation_id.as_str()));
    session.close();
}

#[test]
fn bad_config_is_rejected() {
    let engine = engine();
    let mut config = config_for(&engine);
    config.session.scene = "workspaces/Test/scenes/x".into();
    assert!(matches!(Session::open(config), Err(Error::InvalidConfig(m)) if m.contains("scene")));
    let mut config = config_for(&engine);
    config.host = String::new();
    assert!(matches!(Session::open(config), Err(Error::InvalidConfig(m)) if m.contains("host")));
    let session = Session::open(config_for(&engine)).unwrap();
    assert!(matches!(
        session.send_text(""),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        session.send_trigger("", &[]),
        Err(Error::InvalidArgument(_))
    ));
    session.close();
    assert_eq!(session.send_text("late"), Err(Error::Closed));
}

#[test]
fn wrong_secret_fails_with_an_error_packet_and_closes() {
    let engine = engine();
    let mut config = config_for(&engine);
    config.auth =
        inworld::client::Auth::ApiKey(inworld::auth::Credentials::new("test-api-key", "wrong"));
    let session = Session::open(config).unwrap();
    let error = error_before_closed(&session);
    assert!(!error.will_retry);
    assert_eq!(error.grpc_code, tonic::Code::Unauthenticated as i32);
    assert_eq!(session.state(), ConnectionState::Closed);
}

#[test]
fn queue_overflow_is_reported_as_a_packet() {
    let engine = engine();
    let mut config = config_for(&engine);
    config.session.queue_capacity = 4;
    let (session, _) = open_ready(config);
    while session.try_recv().is_some() {}
    // A long reply arrives while the game does not poll: the queue fills and
    // the rest is dropped. The pause only leaves the engine time to send; a
    // slow machine just needs another round.
    for _round in 0..20 {
        session.send_text("tell me a long story").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // One sweep of what is queued now, as a game's frame takes it: waiting
        // for more here would, on a slow machine, follow the whole reply as it
        // trickles in. Drops are reported before the next packet that finds
        // room, so a sweep holds the capacity plus the few that arrive during
        // it, and the report comes in this sweep or the next round's.
        let mut drained = Vec::new();
        while let Some(p) = session.try_recv() {
            drained.push(p);
        }
        assert!(
            drained.len() < 64,
            "memory stays bounded: {}",
            drained.len()
        );
        if let Some(at) = drained
            .iter()
            .position(|p| matches!(p.body, PacketBody::Overflow { .. }))
        {
            let PacketBody::Overflow { dropped } = drained[at].body else {
                unreachable!()
            };
            assert!(dropped > 0);
            session.close();
            return;
        }
    }
    panic!("the queue never overflowed with capacity 4");
}

#[test]
fn wakeup_fires_when_packets_arrive() {
    let engine = engine();
    let session = Session::open(config_for(&engine)).unwrap();
    let wakeups = Arc::new(AtomicUsize::new(0));
    let w = wakeups.clone();
    session.set_wakeup(Some(Arc::new(move || {
        w.fetch_add(1, Ordering::SeqCst);
    })));
    // Drain everything queued so far so the next packet is an empty→non-empty change.
    wait_ready(&session);
    while session.try_recv().is_some() {}
    let before = wakeups.load(Ordering::SeqCst);
    let ids = session.send_text("wake me").unwrap();
    reply_to(&session, &ids);
    assert!(wakeups.load(Ordering::SeqCst) > before);
    session.close();
    let after_close = wakeups.load(Ordering::SeqCst);
    session.inject(inworld::packet::Packet {
        ids: Default::default(),
        routing: Default::default(),
        timestamp_ms: 0,
        body: PacketBody::Silence { duration_ms: 1 },
    });
    while session.try_recv().is_some() {}
    session.inject(inworld::packet::Packet {
        ids: Default::default(),
        routing: Default::default(),
        timestamp_ms: 0,
        body: PacketBody::Silence { duration_ms: 2 },
    });
    assert_eq!(wakeups.load(Ordering::SeqCst), after_close);
}

#[test]
fn handler_receives_packets_and_none_run_after_close() {
    use std::sync::atomic::AtomicBool;
    let engine = engine();
    let session = Session::open(config_for(&engine)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Packet>();
    let tx = Mutex::new(tx);
    let close_returned = Arc::new(AtomicBool::new(false));
    let late_calls = Arc::new(AtomicUsize::new(0));
    let (flag, late) = (close_returned.clone(), late_calls.clone());
    session.set_handler(Some(Arc::new(move |p| {
        if flag.load(Ordering::SeqCst) {
            late.fetch_add(1, Ordering::SeqCst);
        }
        let _ = tx.lock().unwrap().send(p);
    })));
    // Ready may already be queued; drain the queue, then wait through the handler.
    let mut ready = false;
    while let Some(p) = session.try_recv() {
        ready |= is_connection(&p, ConnectionState::Ready);
    }
    while !ready {
        let p = rx.recv_timeout(WAIT).expect("packets through the handler");
        ready = is_connection(&p, ConnectionState::Ready);
    }
    let ids = session.send_text("through the handler").unwrap();
    loop {
        let p = rx.recv_timeout(WAIT).expect("reply through the handler");
        if is_interaction_end(&p, &ids) {
            break;
        }
    }
    assert!(
        session.try_recv().is_none(),
        "handler mode bypasses the queue"
    );
    // Close while a long reply streams in: once close returns, the handler
    // never runs again, whatever still arrives.
    session.send_text("tell me a long story").unwrap();
    rx.recv_timeout(WAIT).expect("the reply started");
    session.close();
    close_returned.store(true, Ordering::SeqCst);
    session.inject(inworld::packet::Packet {
        ids: Default::default(),
        routing: Default::default(),
        timestamp_ms: 0,
        body: PacketBody::Silence { duration_ms: 1 },
    });
    // Whatever comes after close is queued (still pollable), never handled.
    let mut after = Vec::new();
    while let Some(p) = session.recv_timeout(Duration::from_millis(300)) {
        after.push(p);
    }
    assert_eq!(late_calls.load(Ordering::SeqCst), 0);
    assert!(after
        .iter()
        .any(|p| is_connection(p, ConnectionState::Closed)));
}

#[test]
fn close_from_inside_the_handler_does_not_deadlock() {
    let engine = engine();
    let session = Session::open(config_for(&engine)).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let done_tx = Mutex::new(done_tx);
    let (s, c) = (session.clone(), calls.clone());
    session.set_handler(Some(Arc::new(move |p| {
        c.fetch_add(1, Ordering::SeqCst);
        if matches!(p.body, PacketBody::Text(_)) {
            s.close();
            let _ = done_tx.lock().unwrap().send(());
        }
    })));
    // The reply surely reaches the handler (earlier packets may have been
    // queued before it was set).
    session.send_text("hi").unwrap();
    done_rx
        .recv_timeout(WAIT)
        .expect("close inside the handler returned");
    let at_close = calls.load(Ordering::SeqCst);
    assert_eq!(session.state(), ConnectionState::Closed);
    session.inject(inworld::packet::Packet {
        ids: Default::default(),
        routing: Default::default(),
        timestamp_ms: 0,
        body: PacketBody::Silence { duration_ms: 1 },
    });
    assert_eq!(calls.load(Ordering::SeqCst), at_close);
    session.close(); // idempotent
}

#[test]
fn offline_session_inject_and_poll() {
    let session = Session::offline(2);
    assert_eq!(session.state(), ConnectionState::Closed);
    assert_eq!(session.send_text("x"), Err(Error::Closed));
    for ms in 0..4 {
        session.inject(inworld::packet::Packet {
            ids: Default::default(),
            routing: Default::default(),
            timestamp_ms: 0,
            body: PacketBody::Silence { duration_ms: ms },
        });
    }
    assert!(matches!(
        session.try_recv().unwrap().body,
        PacketBody::Silence { duration_ms: 0 }
    ));
    assert!(matches!(
        session.try_recv().unwrap().body,
        PacketBody::Silence { duration_ms: 1 }
    ));
    // Drained: the two dropped packets are reported straight away.
    assert_eq!(
        session.try_recv().unwrap().body,
        PacketBody::Overflow { dropped: 2 }
    );
    assert!(session.try_recv().is_none());
}

#[test]
fn continuation_with_a_previous_dialog() {
    let engine = engine();
    let mut config = config_for(&engine);
    config.session.continuation = Some(inworld::client::Continuation::DialogHistory(vec![
        (inworld::client::Talker::Player, "the sky is green".into()),
        (inworld::client::Talker::Character, "How odd.".into()),
    ]));
    let (session, _) = open_ready(config);
    let reply = reply_to(&session, &session.send_text("do you remember?").unwrap());
    let said = texts(&reply).join(" ");
    assert!(said.contains("the sky is green"), "{said}");
    session.close();
}

#[test]
fn open_with_a_token_from_the_games_backend() {
    use inworld::protocol::ai::inworld::engine::{
        world_engine_client::WorldEngineClient, GenerateTokenRequest,
    };
    let engine = engine();
    // What a game's backend does: sign GenerateToken with the secret it keeps.
    let host = engine.addr().to_string();
    let credentials = engine.credentials().clone();
    let access = inworld::client::runtime::handle().unwrap().block_on(async {
        let mut client = WorldEngineClient::connect(format!("http://{host}"))
            .await
            .unwrap();
        let mut request = tonic::Request::new(GenerateTokenRequest {
            key: credentials.key.clone(),
            resources: vec!["workspaces/test-ws".into()],
        });
        request.metadata_mut().insert(
            "authorization",
            inworld::auth::authorization_header(&credentials, &host)
                .parse()
                .unwrap(),
        );
        client.generate_token(request).await.unwrap().into_inner()
    });
    let expiration = access.expiration_time.unwrap();
    let mut config = config_for(&engine);
    config.auth = inworld::client::Auth::Token(inworld::client::SessionToken {
        token: access.token,
        token_type: access.r#type,
        session_id: access.session_id.clone(),
        expires_at: std::time::UNIX_EPOCH + Duration::from_secs(expiration.seconds as u64),
    });
    let (session, _) = open_ready(config);
    assert_eq!(session.session_id().unwrap(), access.session_id);
    let reply = reply_to(&session, &session.send_text("hi").unwrap());
    assert!(!texts(&reply).is_empty());
    session.close();
}

#[test]
fn a_character_resource_name_as_the_scene() {
    let engine = engine();
    let mut config = config_for(&engine);
    config.session.scene = "workspaces/test-ws/characters/carol".into();
    let (session, _) = open_ready(config);
    let characters = session.characters();
    assert_eq!(characters.len(), 1);
    assert_eq!(characters[0].display_name, "Carol");
    let reply = reply_to(&session, &session.send_text("hi carol").unwrap());
    assert!(reply
        .iter()
        .filter(|p| matches!(p.body, PacketBody::Text(_)))
        .all(|p| p.routing.source.name == characters[0].id));
    session.close();
}

#[test]
fn a_burst_of_two_hundred_sends_while_ready_is_accepted() {
    // A game may send many lines or triggers in one frame: the bound on
    // sends not yet gone out leaves room for an ordinary burst.
    let engine = engine();
    let (session, _) = open_ready(config_for(&engine));
    let refused = (0..200)
        .map(|i| session.send_text(&format!("line {i}")))
        .filter(|r| r.is_err())
        .count();
    assert_eq!(refused, 0, "sends refused in a burst");
    session.close();
}
