//! One session over raw tonic clients: handshake, replies, capabilities,
//! speech, conversations, characters, cancel, ping.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod engine_support;
mod speech_support;

use engine_support::*;
use inworld::engine::{Pacing, Workspace};
use inworld::protocol::ai::inworld::packets::*;

#[tokio::test(flavor = "multi_thread")]
async fn text_gets_a_streamed_reply_with_ids_routing_and_speech() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_all()).await;
    let alice = r.agents[0].clone();
    let sent = text(&r.conversation, "tell me a long story");
    let player_ids = sent.packet_id.clone().unwrap();
    r.stream.send(sent).await;
    let reply = r.stream.reply().await;

    let lines = texts(&reply);
    assert_eq!(lines.len(), 5, "one TEXT per sentence: {lines:?}");
    assert_eq!(lines[0], "It began on a cold morning.");
    for p in &reply {
        let ids = p.packet_id.as_ref().unwrap();
        assert_eq!(ids.interaction_id, player_ids.interaction_id);
        assert_eq!(ids.conversation_id, r.conversation);
        assert!(!ids.utterance_id.is_empty());
        assert_eq!(source_name(p), alice);
        let routing = p.routing.as_ref().unwrap();
        assert_eq!(
            routing.source.as_ref().unwrap().r#type,
            actor::Type::Agent as i32
        );
        assert_eq!(
            routing.target.as_ref().unwrap().r#type,
            actor::Type::Player as i32
        );
    }
    // Emotion once (fallback mood or rule), audio per utterance, silences between.
    assert_eq!(
        count(&reply, |b| matches!(b, inworld_packet::Packet::Emotion(_))),
        0
    );
    let audio: Vec<&DataChunk> = reply
        .iter()
        .filter_map(|p| match &p.packet {
            Some(inworld_packet::Packet::DataChunk(d))
                if d.r#type == data_chunk::DataType::Audio as i32 =>
            {
                Some(d)
            }
            _ => None,
        })
        .collect();
    // Each utterance's speech comes as one or more chunks of its own.
    let spoken: std::collections::BTreeSet<&str> = reply
        .iter()
        .filter(|p| matches!(&p.packet, Some(inworld_packet::Packet::DataChunk(d)) if d.r#type == data_chunk::DataType::Audio as i32))
        .map(|p| p.packet_id.as_ref().unwrap().utterance_id.as_str())
        .collect();
    assert_eq!(spoken.len(), 5);
    let silences = count(
        &reply,
        |b| matches!(b, inworld_packet::Packet::DataChunk(d) if d.r#type == data_chunk::DataType::Silence as i32),
    );
    assert_eq!(silences, 4);

    // The phoneme timings agree with the audio they come with.
    for chunk in audio {
        let Some(data_chunk::Data::Chunk(wav)) = &chunk.data else {
            panic!("audio bytes")
        };
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 16_000);
        let samples = (wav.len() - 44) / 2;
        let duration_ns = samples as i64 * 1_000_000_000 / 16_000;
        assert!(!chunk.additional_phoneme_info.is_empty());
        let mut last = -1i64;
        for ph in &chunk.additional_phoneme_info {
            let o = ph.start_offset.expect("start_offset always set");
            let at = o.seconds * 1_000_000_000 + o.nanos as i64;
            assert!(
                at > last && at < duration_ns,
                "phoneme at {at} ns of {duration_ns}"
            );
            assert!(!ph.phoneme.is_empty());
            last = at;
        }
    }
    // A PING follows the reply; answer it.
    let ping = r.stream.packet().await;
    let Some(inworld_packet::Packet::LatencyReport(LatencyReportEvent {
        report: Some(latency_report_event::Report::PingPong(pp)),
    })) = &ping.packet
    else {
        panic!("expected a PING, got {ping:?}")
    };
    assert_eq!(pp.r#type, ping_pong_report::Type::Ping as i32);
    let pong = build(
        Some(from_player()),
        ids(""),
        inworld_packet::Packet::LatencyReport(LatencyReportEvent {
            report: Some(latency_report_event::Report::PingPong(PingPongReport {
                r#type: ping_pong_report::Type::Pong as i32,
                ping_packet_id: ping.packet_id.clone(),
                ping_timestamp: pp.ping_timestamp,
            })),
        }),
    );
    r.stream.send(pong).await;
    // The stream goes on after the PONG.
    r.stream.send(text(&r.conversation, "hello")).await;
    assert!(!texts(&r.stream.reply().await).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn capabilities_decide_what_a_reply_carries() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    r.stream
        .send(trigger(&r.conversation, "greet", &[("mood", "sleepy")]))
        .await;
    let reply = r.stream.reply().await;
    assert_eq!(
        texts(&reply),
        ["Well met, Tester!", "You look sleepy today."]
    );
    assert_eq!(
        count(&reply, |b| matches!(
            b,
            inworld_packet::Packet::DataChunk(_)
        )),
        0
    );
    assert_eq!(
        count(&reply, |b| matches!(b, inworld_packet::Packet::Emotion(_))),
        0
    );
    // Triggers the rule emits arrive regardless.
    assert!(reply.iter().any(|p| matches!(&p.packet,
        Some(inworld_packet::Packet::Custom(c)) if c.name == "greeted" && c.r#type == custom_event::Type::Trigger as i32)));

    // The quest rule: a task and a narrated action, only with that capability.
    r.stream.send(text(&r.conversation, "any quest?")).await;
    let reply = r.stream.reply().await;
    assert!(reply.iter().any(|p| matches!(&p.packet,
        Some(inworld_packet::Packet::Custom(c)) if c.name == "give_quest" && c.r#type == custom_event::Type::Task as i32)));
    assert_eq!(
        count(&reply, |b| matches!(b, inworld_packet::Packet::Action(_))),
        0
    );

    let mut r = ready(&engine, caps_all()).await;
    r.stream.send(text(&r.conversation, "any quest?")).await;
    let reply = r.stream.reply().await;
    assert!(reply.iter().any(|p| matches!(&p.packet,
        Some(inworld_packet::Packet::Action(ActionEvent { action: Some(action_event::Action::NarratedAction(n)), .. })) if n.content == "hands over a folded map")));
    let emotion = reply
        .iter()
        .find_map(|p| match &p.packet {
            Some(inworld_packet::Packet::Emotion(e)) => Some(*e),
            _ => None,
        })
        .expect("emotion with the capability");
    assert_eq!(emotion.behavior, emotion_event::SpaffCode::Interest as i32);

    // Audio without the phoneme capability: speech, but no phoneme timings.
    let caps = inworld::protocol::ai::inworld::engine::configuration::CapabilitiesConfiguration {
        phoneme_info: false,
        ..caps_all()
    };
    let mut r = ready(&engine, caps).await;
    r.stream.send(text(&r.conversation, "any quest?")).await;
    let reply = r.stream.reply().await;
    let chunks: Vec<_> = reply
        .iter()
        .filter_map(|p| match &p.packet {
            Some(inworld_packet::Packet::DataChunk(d))
                if d.r#type == data_chunk::DataType::Audio as i32 =>
            {
                Some(d)
            }
            _ => None,
        })
        .collect();
    assert!(!chunks.is_empty(), "audio with the audio capability");
    assert!(chunks.iter().all(|d| d.additional_phoneme_info.is_empty()));
}

#[tokio::test(flavor = "multi_thread")]
async fn mute_removes_audio_until_unmuted() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_all()).await;
    let audio = |reply: &[InworldPacket]| {
        count(
            reply,
            |b| matches!(b, inworld_packet::Packet::DataChunk(d) if d.r#type == data_chunk::DataType::Audio as i32),
        )
    };
    r.stream
        .send(control(
            &r.conversation,
            control_event::Action::TtsPlaybackMute,
        ))
        .await;
    r.stream.send(text(&r.conversation, "hello")).await;
    let reply = r.stream.reply().await;
    assert!(!texts(&reply).is_empty());
    assert_eq!(audio(&reply), 0);
    r.stream
        .until(|p| matches!(p.packet, Some(inworld_packet::Packet::LatencyReport(_))))
        .await;
    r.stream
        .send(control(
            &r.conversation,
            control_event::Action::TtsPlaybackUnmute,
        ))
        .await;
    r.stream.send(text(&r.conversation, "hello")).await;
    assert!(audio(&r.stream.reply().await) > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audio_session_is_answered_like_speech() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    r.stream
        .send(control(
            &r.conversation,
            control_event::Action::AudioSessionStart,
        ))
        .await;
    let speech = inworld::engine::speech::synthesize("hello there");
    for chunk in speech.wav.chunks(5 * 1024) {
        r.stream
            .send(audio_chunk(&r.conversation, chunk.to_vec()))
            .await;
    }
    r.stream
        .send(control(
            &r.conversation,
            control_event::Action::AudioSessionEnd,
        ))
        .await;
    let mut reply = r.stream.reply().await;
    // What was recognised while it was heard (if the detector took it for
    // speech): beginnings of the transcript, not final.
    while let Some((text, false)) = recognised(&reply[0]) {
        assert!("hello from the microphone".starts_with(&text), "{text}");
        reply.remove(0);
    }
    let stt = &reply[0];
    assert_eq!(
        recognised(stt),
        Some(("hello from the microphone".to_string(), true)),
        "the final recognised text first: {stt:?}"
    );
    assert_eq!(
        stt.routing
            .as_ref()
            .unwrap()
            .source
            .as_ref()
            .unwrap()
            .r#type,
        actor::Type::Player as i32
    );
    let interaction = &stt.packet_id.as_ref().unwrap().interaction_id;
    assert!(!interaction.is_empty());
    assert!(reply[1..]
        .iter()
        .all(|p| &p.packet_id.as_ref().unwrap().interaction_id == interaction));
    assert!(
        !texts(&reply[1..]).is_empty(),
        "a character answers the speech"
    );

    // Silence is heard as nothing.
    r.stream
        .send(control(
            &r.conversation,
            control_event::Action::AudioSessionStart,
        ))
        .await;
    r.stream
        .send(audio_chunk(
            &r.conversation,
            inworld::engine::speech::wav_file(&[0; 1600]),
        ))
        .await;
    r.stream
        .send(control(
            &r.conversation,
            control_event::Action::AudioSessionEnd,
        ))
        .await;
    let warning = r.stream.packet().await;
    assert!(is_control(&warning, control_event::Action::Warning));
}

/// The player's recognised speech in `p`: its text and whether it is final.
fn recognised(p: &InworldPacket) -> Option<(String, bool)> {
    match &p.packet {
        Some(inworld_packet::Packet::Text(t))
            if t.source_type == text_event::SourceType::SpeechToText as i32 =>
        {
            Some((t.text.clone(), t.r#final))
        }
        _ => None,
    }
}

fn audio_session_start(
    conversation: &str,
    mode: audio_session_start_payload::MicrophoneMode,
) -> InworldPacket {
    let mut p = control(conversation, control_event::Action::AudioSessionStart);
    let Some(inworld_packet::Packet::Control(c)) = &mut p.packet else {
        unreachable!()
    };
    c.payload_structured = Some(control_event::PayloadStructured::AudioSessionStart(
        AudioSessionStartPayload {
            mode: mode as i32,
            understanding_mode: audio_session_start_payload::UnderstandingMode::Full as i32,
        },
    ));
    p
}

/// Two sentences with a pause, as a microphone sends them: 100 ms chunks.
fn two_sentences(conversation: &str) -> Vec<InworldPacket> {
    let mut mic = vec![0i16; 8_000];
    mic.extend(speech_support::speak(
        "Good evening, what do you recommend?",
    ));
    mic.extend(vec![0i16; 24_000]);
    mic.extend(speech_support::speak("I would like a room for the night."));
    mic.extend(vec![0i16; 24_000]);
    mic.chunks(1_600)
        .map(|c| audio_chunk(conversation, speech_support::bytes_of(c)))
        .collect()
}

/// The packets up to the `n`th INTERACTION_END, as one list per interaction
/// (in the order the interactions began).
async fn interactions(stream: &mut Stream, n: usize) -> Vec<Vec<InworldPacket>> {
    let mut groups: Vec<(String, Vec<InworldPacket>)> = Vec::new();
    let mut ended = 0;
    while ended < n {
        let p = stream.packet().await;
        ended += usize::from(is_interaction_end(&p));
        let id = p.packet_id.as_ref().unwrap().interaction_id.clone();
        match groups.iter_mut().find(|(g, _)| *g == id) {
            Some((_, packets)) => packets.push(p),
            None => groups.push((id, vec![p])),
        }
    }
    groups.into_iter().map(|(_, packets)| packets).collect()
}

/// A ready session that opened an audio session in `mode` and sent the two
/// sentences in it (the engine comes along, to keep it running).
async fn two_sentences_in(
    mode: audio_session_start_payload::MicrophoneMode,
) -> (inworld::engine::RunningEngine, Ready) {
    let engine = test_engine();
    let r = ready(&engine, caps_text()).await;
    let c = r.conversation.clone();
    r.stream.send(audio_session_start(&c, mode)).await;
    for chunk in two_sentences(&c) {
        r.stream.send(chunk).await;
    }
    (engine, r)
}

/// Checks one answer to speech: partial texts growing towards the
/// transcript, the final text, then a character's reply, all under one
/// interaction id.
fn check_answer_to_speech(reply: &[InworldPacket]) {
    let transcript = "hello from the microphone";
    let finals = reply
        .iter()
        .position(|p| matches!(recognised(p), Some((_, true))))
        .unwrap_or_else(|| panic!("a final recognised text: {reply:?}"));
    let partials: Vec<String> = reply[..finals]
        .iter()
        .filter_map(recognised)
        .map(|(text, is_final)| {
            assert!(!is_final);
            text
        })
        .collect();
    assert!(!partials.is_empty(), "partial texts first: {reply:?}");
    for pair in partials.windows(2) {
        assert!(
            pair[1].starts_with(&pair[0]) && pair[1].len() > pair[0].len(),
            "{partials:?}"
        );
    }
    assert!(transcript.starts_with(partials.last().unwrap().as_str()));
    assert_eq!(recognised(&reply[finals]).unwrap().0, transcript);
    let interaction = &reply[finals].packet_id.as_ref().unwrap().interaction_id;
    assert!(reply.iter().all(|p| {
        recognised(p).is_none() || &p.packet_id.as_ref().unwrap().interaction_id == interaction
    }));
    assert!(
        !texts(&reply[finals + 1..]).is_empty(),
        "a character answers: {reply:?}"
    );
}

/// Open mic: each sentence is answered when the player stops, while the
/// audio session is still open; its end adds nothing.
#[tokio::test(flavor = "multi_thread")]
async fn open_mic_speech_is_answered_when_the_player_stops() {
    let (_engine, mut r) =
        two_sentences_in(audio_session_start_payload::MicrophoneMode::OpenMic).await;
    let c = r.conversation.clone();
    // Both answers come before the session ends, each its own interaction.
    let answers = interactions(&mut r.stream, 2).await;
    assert_eq!(answers.len(), 2, "{answers:?}");
    for answer in &answers {
        check_answer_to_speech(answer);
    }
    r.stream
        .send(control(&c, control_event::Action::AudioSessionEnd))
        .await;
    // Nothing more: a text's answer is the next thing on the stream.
    r.stream.send(text(&c, "hello")).await;
    let next = r.stream.reply().await;
    assert!(
        next.iter()
            .all(|p| recognised(p).is_none() && !is_control(p, control_event::Action::Warning)),
        "{next:?}"
    );
}

/// Push to talk: the player may pause; only the session's end answers.
#[tokio::test(flavor = "multi_thread")]
async fn push_to_talk_is_answered_at_the_end_of_the_audio_session() {
    let (_engine, mut r) =
        two_sentences_in(audio_session_start_payload::MicrophoneMode::ExpectAudioEnd).await;
    let c = r.conversation.clone();
    r.stream
        .send(control(&c, control_event::Action::AudioSessionEnd))
        .await;
    // Both sentences, pause included, are one answer.
    let answers = interactions(&mut r.stream, 1).await;
    assert_eq!(answers.len(), 1, "{answers:?}");
    check_answer_to_speech(&answers[0]);
    // Exactly one answer: the next text's reply has no recognised speech.
    r.stream.send(text(&c, "hello")).await;
    let next = r.stream.reply().await;
    assert!(next.iter().all(|p| recognised(p).is_none()), "{next:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_character_conversations_take_turns() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    let (alice, bob) = (r.agents[0].clone(), r.agents[1].clone());
    let group = uuid::Uuid::new_v4().to_string();
    r.stream
        .send(conversation_update(&group, &[&alice, &bob], true))
        .await;
    let event = r.stream.packet().await;
    let e = conversation_event(&event).unwrap();
    assert_eq!(e.participants.len(), 3);
    assert_eq!(event.packet_id.as_ref().unwrap().conversation_id, group);

    let mut speakers = Vec::new();
    for _ in 0..3 {
        r.stream.send(text(&group, "hi all")).await;
        let reply = r.stream.reply().await;
        let speaking: std::collections::HashSet<String> = reply.iter().map(source_name).collect();
        assert_eq!(speaking.len(), 1, "one character per turn");
        speakers.push(speaking.into_iter().next().unwrap());
    }
    assert_eq!(speakers, [alice.clone(), bob.clone(), alice.clone()]);
    r.stream
        .send(trigger(&group, "inworld.conversation.next_turn", &[]))
        .await;
    let reply = r.stream.reply().await;
    assert_eq!(source_name(&reply[0]), bob);

    // Updating participants answers UPDATED, with the same id.
    r.stream
        .send(conversation_update(&group, &[&bob], true))
        .await;
    let event = r.stream.packet().await;
    assert_eq!(
        conversation_event(&event).unwrap().event_type,
        conversation_event_payload::ConversationEventType::Updated as i32
    );
    r.stream.send(text(&group, "hi")).await;
    assert_eq!(source_name(&r.stream.reply().await[0]), bob);
}

#[tokio::test(flavor = "multi_thread")]
async fn addressed_turn_taking_lets_the_named_character_answer() {
    let engine = start(test_config(Workspace::default_scenes()));
    let t = token_for(&engine, "demo").await;
    let mut s = try_open(&engine, &t.token, &t.session_id).await.unwrap();
    s.send(configuration(caps_text(), None)).await;
    s.send(load_scene("workspaces/demo/scenes/tavern")).await;
    let status = s.packet().await;
    let agents = scene_status(&status).unwrap().agents.clone();
    assert_eq!(agents.len(), 3);
    let all: Vec<&str> = agents.iter().map(|a| a.agent_id.as_str()).collect();
    let conv = "tavern-talk";
    s.send(conversation_update(conv, &all, true)).await;
    s.packet().await;
    s.send(text(conv, "Finn, sing us a song!")).await;
    let reply = s.reply().await;
    let finn = agents.iter().find(|a| a.given_name == "Finn").unwrap();
    assert_eq!(source_name(&reply[0]), finn.agent_id);
    assert!(texts(&reply).iter().any(|l| l.contains("lantern burns")));
}

async fn token_for(
    engine: &inworld::engine::RunningEngine,
    ws: &str,
) -> inworld::protocol::ai::inworld::engine::AccessToken {
    let mut client =
        inworld::protocol::ai::inworld::engine::world_engine_client::WorldEngineClient::new(
            channel(engine).await,
        );
    let host = engine.addr().to_string();
    client
        .generate_token(signed(
            token_request(ws, engine.credentials()),
            engine.credentials(),
            &host,
        ))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn characters_load_and_unload_with_full_scene_status() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    r.stream
        .send(load_characters("workspaces/test-ws/characters/carol"))
        .await;
    let status = r.stream.packet().await;
    let status = scene_status(&status).expect("scene status");
    let names: Vec<&str> = status
        .agents
        .iter()
        .map(|a| a.brain_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "workspaces/test-ws/characters/alice",
            "workspaces/test-ws/characters/bob",
            "workspaces/test-ws/characters/carol"
        ]
    );
    assert_eq!(status.scene_name, SCENE);
    assert_eq!(status.agents[0].agent_id, r.agents[0], "agent ids are kept");
    let carol = status.agents[2].agent_id.clone();
    let unload = build(
        Some(player_to_world()),
        ids(""),
        inworld_packet::Packet::Mutation(MutationEvent {
            mutation: Some(mutation_event::Mutation::UnloadCharacters(
                UnloadCharacters {
                    agents: vec![Agent {
                        agent_id: carol,
                        ..Default::default()
                    }],
                },
            )),
        }),
    );
    r.stream.send(unload).await;
    let status = r.stream.packet().await;
    assert_eq!(scene_status(&status).unwrap().agents.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_a_reply_mid_stream() {
    let mut config = test_config(Workspace::test_scenes());
    config.pacing = Pacing::Human;
    let engine = start(config);
    let mut r = ready(&engine, caps_text()).await;
    let sent = text(&r.conversation, "a long story please");
    let interaction = sent.packet_id.as_ref().unwrap().interaction_id.clone();
    r.stream.send(sent).await;
    let first = r
        .stream
        .until(|p| matches!(p.packet, Some(inworld_packet::Packet::Text(_))))
        .await;
    assert_eq!(texts(&first).len(), 1);
    let cancel = build(
        Some(from_player()),
        ids(""),
        inworld_packet::Packet::Mutation(MutationEvent {
            mutation: Some(mutation_event::Mutation::CancelResponses(CancelResponses {
                interaction_id: interaction,
                utterance_id: vec![],
            })),
        }),
    );
    r.stream.send(cancel).await;
    let rest = r.stream.reply().await;
    assert!(
        texts(&rest).len() <= 1,
        "cancelled after at most one more line: {:?}",
        texts(&rest)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conversations_beyond_the_limit_evict_the_oldest() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    let alice = r.agents[0].clone();
    for n in 0..inworld::engine::limits::MAX_CONVERSATIONS {
        r.stream
            .send(conversation_update(&format!("c{n}"), &[&alice], true))
            .await;
    }
    let packets = r
        .stream
        .until(|p| {
            conversation_event(p).is_some_and(|e| {
                e.event_type == conversation_event_payload::ConversationEventType::Evicted as i32
            })
        })
        .await;
    let evicted = packets.last().unwrap();
    assert_eq!(
        evicted.packet_id.as_ref().unwrap().conversation_id,
        r.conversation
    );
    // The evicted conversation is unknown now: a warning, not a reply.
    let last = format!("c{}", inworld::engine::limits::MAX_CONVERSATIONS - 1);
    r.stream
        .until(|p| p.packet_id.as_ref().unwrap().conversation_id == last)
        .await;
    r.stream.send(text(&r.conversation, "still there?")).await;
    let warning = r.stream.packet().await;
    assert!(is_control(&warning, control_event::Action::Warning));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_interruptions_new_input_cuts_off_the_reply_in_flight() {
    let mut config = test_config(Workspace::test_scenes());
    config.pacing = Pacing::Human;
    let engine = start(config);
    let mut caps = caps_text();
    caps.interruptions = true;
    let mut r = ready(&engine, caps).await;
    let long = text(&r.conversation, "a long story please");
    let long_interaction = long.packet_id.as_ref().unwrap().interaction_id.clone();
    r.stream.send(long).await;
    r.stream
        .until(|p| matches!(p.packet, Some(inworld_packet::Packet::Text(_))))
        .await;
    let short = text(&r.conversation, "any quest?");
    let short_interaction = short.packet_id.as_ref().unwrap().interaction_id.clone();
    r.stream.send(short).await;
    let cut = r.stream.reply().await;
    assert_eq!(
        cut.last()
            .unwrap()
            .packet_id
            .as_ref()
            .unwrap()
            .interaction_id,
        long_interaction
    );
    assert!(
        texts(&cut).len() <= 1,
        "the story was cut off: {:?}",
        texts(&cut)
    );
    // The client is told, before the story's end, that the rest is cancelled.
    let cancel = &cut[cut.len() - 2];
    match &cancel.packet {
        Some(inworld_packet::Packet::Mutation(MutationEvent {
            mutation: Some(mutation_event::Mutation::CancelResponses(c)),
        })) => assert_eq!(c.interaction_id, long_interaction),
        other => panic!("a CancelResponses before the end, not {other:?}"),
    }
    let next = r.stream.reply().await;
    assert!(next
        .iter()
        .all(|p| p.packet_id.as_ref().unwrap().interaction_id == short_interaction));
    assert_eq!(
        texts(&next),
        ["Take this map.", "The cave is to the north."]
    );
}

/// Speech streams as chunks of about 100-230 ms, each a WAV file of its own
/// with the phonemes that start in it. Before, an utterance was one chunk:
/// a 2,000-character line came as one 4.6 MB chunk, over a client's 4 MiB
/// receive limit.
#[tokio::test(flavor = "multi_thread")]
async fn speech_streams_in_short_chunks_each_with_its_phonemes() {
    let engine = test_engine();
    let mut r = ready(&engine, caps_all()).await;
    r.stream.send(text(&r.conversation, "hello")).await;
    r.stream.reply().await; // the greeting
                            // Alice's fallback says the text back: one utterance of about 5 minutes.
    let line = "abcdefg hijklmn ".repeat(250);
    r.stream.send(text(&r.conversation, &line)).await;
    let reply = r.stream.reply().await;
    // "Alice here." and "You said: ...": the chunks of the long utterance.
    let said = reply
        .iter()
        .filter(|p| matches!(&p.packet, Some(inworld_packet::Packet::Text(_))))
        .nth(1)
        .expect("two utterances");
    let utterance = &said.packet_id.as_ref().unwrap().utterance_id;
    let chunks: Vec<&DataChunk> = reply
        .iter()
        .filter(|p| &p.packet_id.as_ref().unwrap().utterance_id == utterance)
        .filter_map(|p| match &p.packet {
            Some(inworld_packet::Packet::DataChunk(d))
                if d.r#type == data_chunk::DataType::Audio as i32 =>
            {
                Some(d)
            }
            _ => None,
        })
        .collect();
    assert!(chunks.len() > 1000, "{} chunks", chunks.len());
    let mut longest_ms = 0;
    let mut largest = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let Some(data_chunk::Data::Chunk(wav)) = &chunk.data else {
            panic!("audio bytes")
        };
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 16_000);
        assert_eq!(
            u16::from_le_bytes(wav[22..24].try_into().unwrap()),
            1,
            "mono"
        );
        assert_eq!(
            u16::from_le_bytes(wav[34..36].try_into().unwrap()),
            16,
            "16-bit"
        );
        let data_len = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
        assert_eq!(data_len, wav.len() - 44, "a complete WAV file");
        let duration_ms = data_len / 2 * 1000 / 16_000;
        assert!(duration_ms <= 230, "chunk {i}: {duration_ms} ms");
        if i + 1 < chunks.len() {
            assert!(duration_ms >= 100, "chunk {i}: {duration_ms} ms");
        }
        longest_ms = longest_ms.max(duration_ms);
        largest = largest.max(wav.len());
        let phonemes = &chunk.additional_phoneme_info;
        assert!(!phonemes.is_empty(), "chunk {i} has no phoneme");
        let first = phonemes[0].start_offset.unwrap();
        assert_eq!(
            (first.seconds, first.nanos),
            (0, 0),
            "cut where a phoneme starts"
        );
        for ph in phonemes {
            let o = ph.start_offset.unwrap();
            let at_ms = (o.seconds * 1000 + o.nanos as i64 / 1_000_000) as usize;
            assert!(at_ms < duration_ms, "phoneme inside its chunk");
        }
    }
    println!(
        "{} chunks, longest {longest_ms} ms, largest {largest} bytes",
        chunks.len()
    );
    assert!(largest < 8 * 1024);
}

/// The error type and reconnection the status carries.
fn inworld_error(status: &tonic::Status) -> (i32, inworld::protocol::status::ReconnectionType) {
    let details = inworld::protocol::status::details_of(status).expect("Inworld details");
    (details.error_type, details.reconnect_type)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audio_session_without_audio_expires_and_ends_the_stream() {
    use inworld::protocol::status::{ErrorType, ReconnectionType};
    let mut config = test_config(Workspace::test_scenes());
    config.audio_session_idle_timeout = std::time::Duration::from_millis(200);
    let engine = start(config);
    let mut r = ready(&engine, caps_text()).await;
    r.stream
        .send(control(
            &r.conversation,
            control_event::Action::AudioSessionStart,
        ))
        .await;
    r.stream
        .send(audio_chunk(
            &r.conversation,
            inworld::engine::speech::wav_file(&[0; 1600]),
        ))
        .await;
    // No more audio: the stream ends with the audio session's expiry, which
    // the client may answer by reconnecting at once.
    let status = r.stream.error().await;
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("audio session expired"),
        "{status:?}"
    );
    assert_eq!(
        inworld_error(&status),
        (
            ErrorType::AudioSessionExpired as i32,
            ReconnectionType::Immediate
        )
    );

    // The session goes on on a new stream, and its audio session is gone:
    // a new one starts without complaint and is heard.
    let mut again = try_open(&engine, &r.token, &r.session_id)
        .await
        .expect("reopen");
    again.send(configuration(caps_text(), None)).await;
    again.send(load_scene(SCENE)).await;
    assert!(scene_status(&again.packet().await).is_some());
    again
        .send(conversation_update(&r.conversation, &[&r.agents[0]], true))
        .await;
    assert!(conversation_event(&again.packet().await).is_some());
    again
        .send(control(
            &r.conversation,
            control_event::Action::AudioSessionEnd,
        ))
        .await;
    let warning = again.packet().await;
    assert!(
        is_control(&warning, control_event::Action::Warning),
        "the expired audio session is not this stream's: {warning:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_audio_session_start_on_a_stream_is_refused_as_the_service_does() {
    use inworld::protocol::status::ErrorType;
    let engine = test_engine();
    let mut r = ready(&engine, caps_text()).await;
    for _ in 0..2 {
        r.stream
            .send(control(
                &r.conversation,
                control_event::Action::AudioSessionStart,
            ))
            .await;
    }
    let status = r.stream.error().await;
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert_eq!(
        inworld_error(&status).0,
        ErrorType::AudioSessionAlreadyStarted as i32
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audio_session_left_open_by_a_lost_stream_does_not_block_the_next() {
    let engine = test_engine();
    let r = ready(&engine, caps_text()).await;
    r.stream
        .send(control(
            &r.conversation,
            control_event::Action::AudioSessionStart,
        ))
        .await;
    // The audio session is open; the stream goes away (a reconnect).
    let Ready {
        stream,
        session_id,
        token,
        agents,
        conversation,
    } = r;
    drop(stream);
    let mut again = try_open(&engine, &token, &session_id)
        .await
        .expect("reopen");
    again.send(configuration(caps_text(), None)).await;
    again.send(load_scene(SCENE)).await;
    assert!(scene_status(&again.packet().await).is_some());
    again
        .send(conversation_update(&conversation, &[&agents[0]], true))
        .await;
    assert!(conversation_event(&again.packet().await).is_some());
    // The client starts its audio session again, as after any reconnect.
    again
        .send(control(
            &conversation,
            control_event::Action::AudioSessionStart,
        ))
        .await;
    let speech = inworld::engine::speech::synthesize("hello there");
    for chunk in speech.wav.chunks(5 * 1024) {
        again.send(audio_chunk(&conversation, chunk.to_vec())).await;
    }
    again
        .send(control(
            &conversation,
            control_event::Action::AudioSessionEnd,
        ))
        .await;
    let reply = again.reply().await;
    assert!(
        reply
            .iter()
            .all(|p| !is_control(p, control_event::Action::Warning)),
        "no warning about an audio session already open: {reply:?}"
    );
    assert!(!texts(&reply).is_empty(), "the speech is answered");
}
