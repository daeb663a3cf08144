//! Speech out, decoded: a reply's audio chunks from the local engine arrive
//! as 16-bit PCM with their format, duration, phonemes and visemes, each
//! tagged with its utterance and interaction; put together, an utterance's
//! chunks are exactly the speech the engine synthesized for its line.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod client_util;

use client_util::*;
use inworld::audio::visemes::viseme_of;
use inworld::engine::speech::{synthesize, SAMPLE_RATE};
use inworld::packet::{AudioChunk, Packet, PacketBody, Viseme};
use std::time::Duration;

/// The utterances of a reply in order: each line, with its audio chunks.
fn utterances(reply: &[Packet]) -> Vec<(String, Vec<&Packet>)> {
    let mut out: Vec<(String, Vec<&Packet>)> = Vec::new();
    for p in reply {
        match &p.body {
            PacketBody::Text(t) => out.push((t.text.to_string(), Vec::new())),
            PacketBody::Audio(_) => {
                let (_, chunks) = out.last_mut().expect("audio after its text");
                chunks.push(p);
            }
            _ => {}
        }
    }
    out
}

fn audio(p: &Packet) -> &AudioChunk {
    match &p.body {
        PacketBody::Audio(a) => a,
        other => panic!("not audio: {other:?}"),
    }
}

#[test]
fn a_replys_speech_arrives_decoded_with_phonemes_and_visemes() {
    let engine = engine();
    let mut config = config_for(&engine);
    config.session.capabilities.phonemes = true;
    let (session, _) = open_ready(config);
    // The first answer is the greeting; the story comes next.
    reply_to(&session, &session.send_text("hi").unwrap());
    let ids = session.send_text("tell me a long story").unwrap();
    let reply = reply_to(&session, &ids);
    let utterances = utterances(&reply);
    assert_eq!(utterances.len(), 5, "{:?}", texts(&reply));

    let mut total = Duration::ZERO;
    let mut chunk_count = 0;
    for (line, chunks) in &utterances {
        assert!(!chunks.is_empty(), "no audio for {line:?}");
        let utterance_id = &chunks[0].ids.utterance_id;
        assert!(!utterance_id.is_empty());
        let mut samples: Vec<i16> = Vec::new();
        let mut line_duration = Duration::ZERO;
        for p in chunks {
            assert_eq!(p.ids.interaction_id, ids.interaction_id.as_str());
            assert_eq!(&p.ids.utterance_id, utterance_id);
            let a = audio(p);
            assert!(a.undecoded.is_none(), "{:?}", a.undecoded);
            assert_eq!((a.sample_rate, a.channels), (SAMPLE_RATE, 1));
            assert!(!a.samples.is_empty());
            assert_eq!(
                a.duration,
                Duration::from_nanos(a.samples.len() as u64 * 1_000_000_000 / SAMPLE_RATE as u64)
            );
            assert!(!a.phonemes.is_empty());
            assert!(a.phonemes.iter().all(|p| p.start_offset < a.duration));
            assert!(
                a.phonemes
                    .windows(2)
                    .all(|w| w[0].start_offset < w[1].start_offset),
                "phonemes in order"
            );
            // Visemes: in order, within the chunk, each where a phoneme
            // starts and of that phoneme's shape, one per change of shape.
            assert!(!a.visemes.is_empty() && a.visemes.len() <= a.phonemes.len());
            assert_eq!(a.visemes[0].start_offset, a.phonemes[0].start_offset);
            for w in a.visemes.windows(2) {
                assert!(w[0].start_offset < w[1].start_offset);
                assert_ne!(w[0].viseme, w[1].viseme);
            }
            for v in &a.visemes {
                assert!(v.start_offset < a.duration);
                let phoneme = a
                    .phonemes
                    .iter()
                    .find(|p| p.start_offset == v.start_offset)
                    .expect("a phoneme where the viseme starts");
                assert_eq!(viseme_of(&phoneme.phoneme), v.viseme);
                assert_ne!(v.viseme, Viseme::Sil, "{:?} has a shape", phoneme.phoneme);
            }
            samples.extend_from_slice(&a.samples);
            line_duration += a.duration;
            chunk_count += 1;
        }
        // The chunks together are the line's speech, sample for sample.
        let whole = synthesize(line);
        let expected: Vec<i16> = whole.wav[44..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert!(samples == expected, "the samples of {line:?}");
        assert_eq!(line_duration.as_micros(), whole.duration.as_micros());
        total += line_duration;
    }
    // Five short sentences: some seconds of speech, in chunks of 100-230 ms.
    assert!(
        total > Duration::from_secs(5) && total < Duration::from_secs(60),
        "{total:?}"
    );
    assert!(
        total / chunk_count < Duration::from_millis(231),
        "{chunk_count} chunks"
    );
    println!(
        "{} utterances, {chunk_count} chunks, {:.2} s of speech",
        utterances.len(),
        total.as_secs_f64()
    );
    session.close();
}

fn audio_count(reply: &[Packet]) -> usize {
    reply
        .iter()
        .filter(|p| matches!(p.body, PacketBody::Audio(_)))
        .count()
}

/// Muted, replies come without speech (text still comes); unmuted, with it.
/// Both controls go out in the one-to-one conversation.
#[test]
fn muted_speech_leaves_audio_out_until_unmuted() {
    let engine = engine_with(|c| c.record = true);
    let (session, _) = open_ready(config_for(&engine));
    let muted = session.mute_speech(true).unwrap();
    assert!(!muted.packet_id.is_empty());
    assert!(!muted.conversation_id.is_empty());
    let reply = reply_to(&session, &session.send_text("hello").unwrap());
    assert!(!texts(&reply).is_empty());
    assert_eq!(audio_count(&reply), 0, "{reply:#?}");
    session.mute_speech(false).unwrap();
    let reply = reply_to(&session, &session.send_text("hello again").unwrap());
    assert!(audio_count(&reply) > 0, "{reply:#?}");
    session.close();
}

/// A reply cancelled after its first line stops there (give or take a line
/// already on its way), and still ends with its INTERACTION_END.
#[test]
fn a_cancelled_reply_stops_and_ends() {
    let engine = engine_with(|c| c.pacing = inworld::engine::Pacing::Human);
    let (session, _) = open_ready(config_for(&engine));
    assert!(matches!(
        session.cancel_responses("", &[]),
        Err(inworld::client::Error::InvalidArgument(_))
    ));
    let ids = session.send_text("tell me a long story").unwrap();
    wait_for(&session, "the story's first line", |p| {
        matches!(p.body, PacketBody::Text(_)) && p.ids.interaction_id == ids.interaction_id.as_str()
    });
    session.cancel_responses(&ids.interaction_id, &[]).unwrap();
    let rest = reply_to(&session, &ids);
    // The story has five lines; cancelled after the first, far fewer come.
    assert!(texts(&rest).len() < 4, "{:?}", texts(&rest));
    session.close();
}
