//! Speech out through the pull stream: a reply from the local engine, pulled
//! as an audio callback would, in the game's format (48 kHz stereo float,
//! 22.05 kHz mono 16-bit) plays exactly the reply's speech, resampled; the
//! stream names the utterance heard and its viseme at the position played;
//! a stream per character plays only that character; cancelled responses
//! and barge-in silence it at the next read.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod client_util;

use client_util::*;
use inworld::audio::visemes::Viseme;
use inworld::client::{Playback, PlaybackFormat, SentIds, Session};
use inworld::packet::{AudioChunk, Packet, PacketBody};
use inworld::protocol::ai::inworld::packets::inworld_packet;
use std::time::{Duration, Instant};

const BUFFER: usize = 512;

fn audio(p: &Packet) -> Option<&AudioChunk> {
    match &p.body {
        PacketBody::Audio(a) => Some(a),
        _ => None,
    }
}

/// A ready session, greeted (so the next reply is the one asked for).
fn session_with(adjust: impl FnOnce(&mut inworld::client::ClientConfig)) -> Session {
    let engine = Box::leak(Box::new(engine_with(|c| c.record = true)));
    let mut config = config_for(engine);
    config.session.capabilities.phonemes = true;
    adjust(&mut config);
    let (session, _) = open_ready(config);
    reply_to(&session, &session.send_text("hi").unwrap());
    session
}

/// The utterances of a reply's speech, in order: (utterance id, chunks).
fn utterances(reply: &[Packet]) -> Vec<(String, Vec<&AudioChunk>)> {
    let mut out: Vec<(String, Vec<&AudioChunk>)> = Vec::new();
    for p in reply {
        if let Some(a) = audio(p) {
            let id = p.ids.utterance_id.to_string();
            match out.last_mut() {
                Some((last, chunks)) if *last == id => chunks.push(a),
                _ => out.push((id, vec![a])),
            }
        }
    }
    out
}

/// The viseme a chunk list shows `at` into the utterance, unless `at` is
/// within a millisecond of a change (where rounding may differ).
fn viseme_at(chunks: &[&AudioChunk], at: Duration) -> Option<Viseme> {
    let mut start = Duration::ZERO;
    let mut timeline = Vec::new();
    for c in chunks {
        for v in &c.visemes {
            timeline.push((start + v.start_offset, v.viseme));
        }
        start += c.duration;
    }
    let near = |t: Duration| t.abs_diff(at) < Duration::from_millis(1);
    if timeline.iter().any(|(t, _)| near(*t)) {
        return None;
    }
    Some(
        timeline
            .iter()
            .take_while(|(t, _)| *t <= at)
            .last()
            .map_or(Viseme::Sil, |(_, v)| *v),
    )
}

/// What reading a stream to its end heard.
#[derive(Default)]
struct Heard {
    speech_frames: u64,
    /// Utterance ids in the order heard.
    utterances: Vec<String>,
    interactions: Vec<String>,
    visemes_checked: usize,
}

/// Reads the stream in 512-frame buffers until it has played everything
/// (nothing pending and a silent read); checks the clock on the way.
fn play_out(
    playback: &mut Playback,
    float: bool,
    utterances: &[(String, Vec<&AudioChunk>)],
) -> Heard {
    let format = playback.format();
    let channels = usize::from(format.channels);
    let mut f = vec![0f32; BUFFER * channels];
    let mut i = vec![0i16; BUFFER * channels];
    let mut heard = Heard::default();
    let mut last_position = None;
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "the stream never played out");
        let n = if float {
            playback.read_f32(&mut f)
        } else {
            playback.read_i16(&mut i)
        };
        if n == 0 {
            if playback.pending_frames() == 0 {
                return heard;
            }
            // The session (its playback worker) feeds the rest as it plays.
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        if float {
            assert!(
                f[n * channels..].iter().all(|s| *s == 0.0),
                "silence after speech"
            );
        } else {
            assert!(i[n * channels..].iter().all(|s| *s == 0));
        }
        heard.speech_frames += n as u64;
        let now = playback.now_playing().expect("speech is playing");
        let id = now.utterance.utterance_id.clone();
        if heard.utterances.last() != Some(&id) {
            heard.utterances.push(id.clone());
            last_position = None;
        }
        if heard.interactions.last() != Some(&now.utterance.interaction_id) {
            heard
                .interactions
                .push(now.utterance.interaction_id.clone());
        }
        assert!(
            last_position.is_none_or(|p| now.position_frames > p),
            "the position advances"
        );
        last_position = Some(now.position_frames);
        // The viseme at the position heard is the speech's viseme there.
        let chunks = &utterances
            .iter()
            .find(|(u, _)| *u == id)
            .expect("an utterance of the reply")
            .1;
        let at = Duration::from_nanos(now.position_frames * 1_000_000_000 / u64::from(format.rate));
        if let Some(expected) = viseme_at(chunks, at) {
            assert_eq!(now.viseme(format.rate), expected, "at {at:?} into {id}");
            assert_eq!(playback.viseme(), expected);
            heard.visemes_checked += 1;
        }
    }
}

/// Frames the reply's speech makes at `rate`: each utterance resampled
/// whole.
fn frames_at(rate: u32, utterances: &[(String, Vec<&AudioChunk>)]) -> u64 {
    utterances
        .iter()
        .map(|(_, chunks)| {
            let frames: u64 = chunks.iter().map(|c| c.samples.len() as u64).sum();
            (frames * u64::from(rate)).div_ceil(u64::from(chunks[0].sample_rate))
        })
        .sum()
}

fn long_story(session: &Session) -> (SentIds, Vec<Packet>) {
    let ids = session.send_text("tell me a long story").unwrap();
    let reply = reply_to(session, &ids);
    (ids, reply)
}

#[test]
fn a_reply_plays_at_48_khz_stereo_float_with_its_ids_and_visemes() {
    let session = session_with(|_| {});
    let format = PlaybackFormat {
        rate: 48_000,
        channels: 2,
    };
    let mut playback = session.open_playback(format, None).unwrap();
    let (ids, reply) = long_story(&session);
    let utterances = utterances(&reply);
    assert_eq!(utterances.len(), 5);
    let heard = play_out(&mut playback, true, &utterances);
    assert_eq!(heard.speech_frames, frames_at(48_000, &utterances));
    let spoken: Vec<String> = utterances.iter().map(|(u, _)| u.clone()).collect();
    assert_eq!(heard.utterances, spoken, "every utterance, in order");
    assert_eq!(heard.interactions, vec![ids.interaction_id.clone()]);
    assert!(heard.visemes_checked > 20, "{}", heard.visemes_checked);
    // Played out: silence, nothing playing.
    let mut buffer = [1.0f32; 2 * BUFFER];
    assert_eq!(playback.read_f32(&mut buffer), 0);
    assert!(buffer.iter().all(|s| *s == 0.0));
    assert!(playback.now_playing().is_none());
    assert_eq!(playback.viseme(), Viseme::Sil);
    assert_eq!(playback.flushes(), 0);
}

#[test]
fn a_reply_plays_at_22_khz_mono_16_bit() {
    let session = session_with(|_| {});
    let format = PlaybackFormat {
        rate: 22_050,
        channels: 1,
    };
    let mut playback = session.open_playback(format, None).unwrap();
    let (_, reply) = long_story(&session);
    let utterances = utterances(&reply);
    let heard = play_out(&mut playback, false, &utterances);
    assert_eq!(heard.speech_frames, frames_at(22_050, &utterances));
}

#[test]
fn a_characters_stream_plays_only_that_character() {
    let session = session_with(|_| {});
    let format = PlaybackFormat {
        rate: 16_000,
        channels: 1,
    };
    let mut bobs = session.open_playback(format, Some("Bob")).unwrap();
    let mut everyone = session.open_playback(format, None).unwrap();
    // Alice answers: Bob's stream stays silent.
    let (_, alice) = long_story(&session);
    let heard = play_out(&mut everyone, true, &utterances(&alice));
    assert!(heard.speech_frames > 0);
    assert_eq!(bobs.pending_frames(), 0);
    assert_eq!(bobs.read_f32(&mut [0.0; BUFFER]), 0);
    // Bob answers: his stream plays him.
    session.set_current_character("bob").unwrap();
    let greeting = session.send_text("hello bob").unwrap();
    let bob = reply_to(&session, &greeting);
    let heard = play_out(&mut bobs, true, &utterances(&bob));
    assert_eq!(heard.speech_frames, frames_at(16_000, &utterances(&bob)));
    assert_eq!(heard.interactions, vec![greeting.interaction_id.clone()]);
    // Unknown characters and formats are refused.
    assert!(session.open_playback(format, Some("nobody")).is_err());
    for (rate, channels) in [(7_999, 1), (192_001, 1), (48_000, 0), (48_000, 3)] {
        assert!(session
            .open_playback(PlaybackFormat { rate, channels }, None)
            .is_err());
    }
}

/// Reads until a flush has happened (the call reached the session's task
/// and its playback worker); then nothing of `cancelled` plays: the very
/// next read is silent, or already plays a newer reply (the answer to an
/// interruption can be on its way by then). When no newer reply comes
/// (`newer_reply` false) nothing is left.
fn silenced_at_the_next_read(playback: &mut Playback, cancelled: &str, newer_reply: bool) {
    let mut buffer = vec![0f32; BUFFER * usize::from(playback.format().channels)];
    let deadline = Instant::now() + WAIT;
    while playback.flushes() == 0 {
        assert!(Instant::now() < deadline, "never flushed");
        playback.read_f32(&mut buffer);
        std::thread::sleep(Duration::from_millis(1));
    }
    let played = playback.read_f32(&mut buffer);
    match playback.now_playing() {
        Some(now) => assert_ne!(
            now.utterance.interaction_id.as_str(),
            cancelled,
            "the cancelled reply still plays"
        ),
        None => {
            assert_eq!(played, 0, "silent within one buffer");
            if !newer_reply {
                assert_eq!(playback.pending_frames(), 0);
            }
        }
    }
}

#[test]
fn cancelling_the_responses_silences_their_speech() {
    let session = session_with(|_| {});
    let format = PlaybackFormat {
        rate: 48_000,
        channels: 2,
    };
    let mut playback = session.open_playback(format, None).unwrap();
    let (ids, _) = long_story(&session);
    // It starts playing...
    let mut buffer = vec![0f32; 2 * BUFFER];
    first_speech(&mut playback, &mut buffer);
    assert!(playback.pending_frames() > 0);
    // ... and the game cancels it.
    session.cancel_responses(&ids.interaction_id, &[]).unwrap();
    silenced_at_the_next_read(&mut playback, &ids.interaction_id, false);
}

/// The CANCEL_RESPONSES packets the engine received, as (interaction id).
fn cancels_received(
    engine_packets: &[(
        String,
        inworld::protocol::ai::inworld::packets::InworldPacket,
    )],
) -> Vec<String> {
    engine_packets
        .iter()
        .filter_map(|(_, p)| match &p.packet {
            Some(inworld_packet::Packet::Mutation(m)) => match &m.mutation {
                Some(inworld::protocol::ai::inworld::packets::mutation_event::Mutation::CancelResponses(c)) => {
                    Some(c.interaction_id.clone())
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn the_player_talking_over_a_character_silences_it_with_interruptions_on() {
    let engine = engine_with(|c| c.record = true);
    let mut config = config_for(&engine);
    config.session.capabilities.interruptions = true;
    let (session, _) = open_ready(config);
    reply_to(&session, &session.send_text("hi").unwrap());
    let format = PlaybackFormat {
        rate: 44_100,
        channels: 2,
    };
    let mut playback = session.open_playback(format, None).unwrap();
    let (story, _) = long_story(&session);
    let mut buffer = vec![0f32; 2 * BUFFER];
    first_speech(&mut playback, &mut buffer);
    // The player says something while Alice tells her story.
    let interruption = session.send_text("wait").unwrap();
    silenced_at_the_next_read(&mut playback, &story.interaction_id, true);
    // The rest of the story was cancelled, as the SDK cancels it.
    let deadline = Instant::now() + WAIT;
    while !cancels_received(&engine.received_packets()).contains(&story.interaction_id) {
        assert!(
            Instant::now() < deadline,
            "no CancelResponses for the story"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The answer to the interruption plays.
    let answer = reply_to(&session, &interruption);
    let heard = play_out(&mut playback, true, &utterances(&answer));
    assert_eq!(
        heard.interactions,
        vec![interruption.interaction_id.clone()]
    );
}

#[test]
fn without_interruptions_the_character_finishes() {
    let session = session_with(|_| {});
    let format = PlaybackFormat {
        rate: 48_000,
        channels: 1,
    };
    let mut playback = session.open_playback(format, None).unwrap();
    let (story, story_reply) = long_story(&session);
    let mut buffer = vec![0f32; BUFFER];
    let first = first_speech(&mut playback, &mut buffer);
    let next = session.send_text("and then?").unwrap();
    let next_reply = reply_to(&session, &next);
    // Both replies play, whole, one after the other.
    let mut all = utterances(&story_reply);
    all.extend(utterances(&next_reply));
    let heard = play_out(&mut playback, true, &all);
    assert_eq!(heard.speech_frames + first as u64, frames_at(48_000, &all));
    assert_eq!(
        heard.interactions,
        vec![story.interaction_id.clone(), next.interaction_id.clone()]
    );
    assert_eq!(playback.flushes(), 0);
}

#[test]
fn a_dropped_stream_and_a_closed_session_end_cleanly() {
    let session = session_with(|_| {});
    let format = PlaybackFormat {
        rate: 48_000,
        channels: 2,
    };
    let dropped = session.open_playback(format, None).unwrap();
    let mut kept = session.open_playback(format, None).unwrap();
    drop(dropped);
    long_story(&session);
    let mut buffer = vec![0f32; 2 * BUFFER];
    first_speech(&mut kept, &mut buffer);
    session.close();
    // Reads after the session closed play what was queued, then silence.
    let deadline = Instant::now() + WAIT;
    while kept.read_f32(&mut buffer) > 0 {
        assert!(Instant::now() < deadline);
    }
    assert!(session.open_playback(format, None).is_err());
}

/// The service's own CancelResponses (the engine sends one when newer input
/// cuts a reply off, with interruptions on) flushes the speech it holds: a
/// trigger is not a barge-in on the client's side, so only the service's
/// packet can silence the story here.
#[test]
fn the_services_cancel_silences_the_speech_it_holds() {
    let engine = engine_with(|c| c.pacing = inworld::engine::Pacing::Human);
    let mut config = config_for(&engine);
    config.session.capabilities.interruptions = true;
    let (session, _) = open_ready(config);
    reply_to(&session, &session.send_text("hi").unwrap());
    let playback = session
        .open_playback(
            PlaybackFormat {
                rate: 16_000,
                channels: 1,
            },
            None,
        )
        .unwrap();
    let story = session.send_text("tell me a long story").unwrap();
    wait_for(&session, "the story's first speech", |p| {
        audio(p).is_some() && p.ids.interaction_id == story.interaction_id.as_str()
    });
    session.send_trigger("greet", &[]).unwrap();
    wait_for(&session, "the service's cancel", |p| {
        matches!(&p.body, PacketBody::CancelResponses { interaction_id, .. }
            if *interaction_id == story.interaction_id.as_str())
    });
    // The playback worker flushes after the packet reaches the game; speech
    // still on its way to the worker is dropped there, so the stream can be
    // empty before the flush is counted: wait for both.
    let deadline = Instant::now() + WAIT;
    while playback.flushes() == 0 {
        assert!(Instant::now() < deadline, "the stream was never flushed");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Nothing was read: only the flush empties the stream.
    while playback.pending_frames() > 0 {
        assert!(Instant::now() < deadline, "the story's speech was kept");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(playback.flushes(), 1);
}
