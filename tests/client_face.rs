//! Faces on the playback stream, end to end: a reply from the local engine
//! pulled as an audio callback would, with the face read after each
//! buffer. Its open vowels peak `jawOpen` and its p/b/m peak the lips'
//! press within one buffer of their phonemes' time; a cancel and a
//! barge-in put the mouth at rest. The times compared are positions on the
//! utterance's clock, never the wall clock: a slow machine reads the same
//! faces.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod client_util;

use client_util::*;
use inworld::audio::face::{Blendshape, FaceWeights, MAX_RELEASE};
use inworld::audio::visemes::Viseme;
use inworld::client::{Playback, PlaybackFormat, Session};
use inworld::packet::{Packet, PacketBody};
use std::time::{Duration, Instant};

const BUFFER: usize = 512;
const RATE: u32 = 16_000;

fn session_with(interruptions: bool) -> Session {
    let engine = Box::leak(Box::new(engine_with(|_| {})));
    let mut config = config_for(engine);
    config.session.capabilities.phonemes = true;
    config.session.capabilities.interruptions = interruptions;
    let (session, _) = open_ready(config);
    reply_to(&session, &session.send_text("hi").unwrap());
    session
}

/// An utterance's visemes on its own clock: (utterance id, [(start, viseme)]).
type Timeline = (String, Vec<(Duration, Viseme)>);

/// Each utterance's visemes on its own clock.
fn timelines(reply: &[Packet]) -> Vec<Timeline> {
    let mut out: Vec<Timeline> = Vec::new();
    // Where the next chunk starts in its utterance.
    let mut start = Duration::ZERO;
    for p in reply {
        let PacketBody::Audio(chunk) = &p.body else {
            continue;
        };
        let id = p.ids.utterance_id.to_string();
        if out.last().is_none_or(|(u, _)| *u != id) {
            out.push((id, Vec::new()));
            start = Duration::ZERO;
        }
        let (_, timeline) = out.last_mut().unwrap();
        for v in &chunk.visemes {
            timeline.push((start + v.start_offset, v.viseme));
        }
        start += chunk.duration;
    }
    out
}

/// Plays the stream out; after each read, the face at the end of what was
/// read (any later instant: the face never runs past the read), with the
/// position on the utterance's clock.
fn play_out(playback: &mut Playback) -> Vec<(String, Duration, FaceWeights)> {
    let mut buffer = vec![0f32; BUFFER];
    let mut faces = Vec::new();
    let deadline = Instant::now() + WAIT;
    let monitor = playback.monitor();
    loop {
        assert!(Instant::now() < deadline, "the stream never played out");
        if playback.read_f32(&mut buffer) == 0 {
            if playback.pending_frames() == 0 {
                return faces;
            }
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let now = monitor.now_playing().expect("playing");
        let at = Duration::from_nanos(now.position_frames * 1_000_000_000 / u64::from(RATE));
        let face = monitor.face_at(Instant::now() + Duration::from_secs(3600));
        assert!(face.iter().all(|w| (0.0..=1.0).contains(w)));
        faces.push((now.utterance.utterance_id.clone(), at, face));
    }
}

/// For every segment of `viseme` (not next to another like it), the face
/// read nearest its peak of `shape` lies within one buffer of the segment.
fn peaks_on(
    viseme: Viseme,
    shape: Blendshape,
    timelines: &[Timeline],
    faces: &[(String, Duration, FaceWeights)],
) -> usize {
    let buffer = Duration::from_nanos(BUFFER as u64 * 1_000_000_000 / u64::from(RATE));
    let margin = Duration::from_millis(60);
    let mut checked = 0;
    for (utterance, timeline) in timelines {
        for (i, (start, v)) in timeline.iter().enumerate() {
            let neighbour = |j: Option<usize>| j.and_then(|j| timeline.get(j)).map(|(_, v)| *v);
            if *v != viseme
                || neighbour(i.checked_sub(1)) == Some(viseme)
                || neighbour(Some(i + 1)) == Some(viseme)
            {
                continue;
            }
            let Some((end, _)) = timeline.get(i + 1) else {
                continue;
            };
            let window = |at: Duration| at + margin >= *start && at <= *end + margin;
            let Some((_, peak, face)) = faces
                .iter()
                .filter(|(u, at, _)| u == utterance && window(*at))
                .max_by(|a, b| a.2[shape as usize].total_cmp(&b.2[shape as usize]))
            else {
                continue;
            };
            assert!(
                *peak + buffer >= *start && *peak <= *end + buffer,
                "{} of {viseme:?} at {start:?}..{end:?} peaks at {peak:?} in {utterance}",
                shape.name()
            );
            assert!(face[shape as usize] > 0.3, "{}", face[shape as usize]);
            checked += 1;
        }
    }
    checked
}

#[test]
fn the_face_follows_the_phonemes_heard() {
    let session = session_with(false);
    let format = PlaybackFormat {
        rate: RATE,
        channels: 1,
    };
    let mut playback = session.open_playback(format, None).unwrap();
    let ids = session.send_text("tell me a long story").unwrap();
    let reply = reply_to(&session, &ids);
    let timelines = timelines(&reply);
    let faces = play_out(&mut playback);
    assert!(faces.len() > 20);
    let open = peaks_on(Viseme::Aa, Blendshape::JawOpen, &timelines, &faces);
    let lips = peaks_on(Viseme::Pp, Blendshape::MouthPressLeft, &timelines, &faces);
    assert!(open >= 3 && lips >= 1, "{open} open vowels, {lips} p/b/m");
    // Played out: at rest (the last read is long over).
    let rest = playback.monitor().face_at(Instant::now() + MAX_RELEASE);
    assert!(rest.iter().all(|w| *w == 0.0), "{rest:?}");
}

/// Reads until a flush silences the stream; then the mouth rests within
/// MAX_RELEASE of the next read, silent, whenever the face is read. True
/// if so; false if that read already plays the reply to a barge-in (a new
/// utterance, never more of the one flushed; the face blends into it from
/// the face as it was, so it does not rest).
fn rests_after_the_flush(playback: &mut Playback) -> bool {
    let mut buffer = vec![0f32; BUFFER];
    let deadline = Instant::now() + WAIT;
    let mut flushed = None;
    while playback.flushes() == 0 {
        assert!(Instant::now() < deadline, "never flushed");
        playback.read_f32(&mut buffer);
        if let Some(now) = playback.now_playing() {
            flushed = Some(now.utterance.utterance_id.clone());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if playback.read_f32(&mut buffer) > 0 {
        let now = playback.now_playing().expect("playing");
        assert_ne!(
            Some(now.utterance.utterance_id.clone()),
            flushed,
            "flushed speech"
        );
        return false;
    }
    let silent_at = Instant::now();
    let face = playback.monitor().face_at(silent_at + MAX_RELEASE);
    assert!(face.iter().all(|w| *w == 0.0), "{face:?}");
    true
}

/// Plays until the mouth is open (so resting is something to see).
fn play_until_the_mouth_moves(playback: &mut Playback) {
    let mut buffer = vec![0f32; BUFFER];
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "the mouth never moved");
        playback.read_f32(&mut buffer);
        let face = playback
            .monitor()
            .face_at(Instant::now() + Duration::from_secs(3600));
        if face[Blendshape::JawOpen as usize] > 0.2 {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_cancel_and_a_barge_in_put_the_mouth_at_rest() {
    let format = PlaybackFormat {
        rate: RATE,
        channels: 1,
    };
    let session = session_with(false);
    let mut playback = session.open_playback(format, None).unwrap();
    let ids = session.send_text("tell me a long story").unwrap();
    play_until_the_mouth_moves(&mut playback);
    session.cancel_responses(&ids.interaction_id, &[]).unwrap();
    assert!(
        rests_after_the_flush(&mut playback),
        "speech after a cancel"
    );

    let session = session_with(true);
    let mut playback = session.open_playback(format, None).unwrap();
    session.send_text("tell me a long story").unwrap();
    play_until_the_mouth_moves(&mut playback);
    session.send_text("wait").unwrap();
    // The reply to "wait" may already be in the stream (a fast engine).
    let _rested = rests_after_the_flush(&mut playback);
}
