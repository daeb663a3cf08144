//! Voice latency on loopback against the local engine (zero pacing): from
//! the end of the player's speech (push to talk: `end_audio_session`
//! returning) to the first sample of the reply readable from the pull
//! stream (48 kHz stereo float), as p50/p95/max. The speech is the
//! engine's own synthesized voice at 16 kHz, pushed through an
//! `AudioInput` before the end.
//!
//! Run: `cargo bench --bench voice_latency` (release profile).

use inworld::client::{
    runtime, AudioFormat, AudioSessionConfig, ClientConfig, MicrophoneMode, PlaybackFormat, Session,
};
use inworld::engine::{EngineConfig, RunningEngine, Workspace};
use inworld::packet::{ConnectionState, PacketBody};
use std::time::{Duration, Instant};

const WARMUP: usize = 3;
const ROUNDS: usize = 30;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful.
    let quick = std::env::args().any(|a| a == "--test");
    let rounds = if quick { 2 } else { ROUNDS };
    let warmup = if quick { 1 } else { WARMUP };

    let engine = RunningEngine::start(
        EngineConfig::new(Workspace::test_scenes()),
        &runtime::handle().unwrap(),
    )
    .unwrap();
    let config = ClientConfig::new(
        engine.addr().to_string(),
        "workspaces/test-ws/scenes/test-scene",
        engine.credentials().clone(),
    );
    let session = Session::open(config).unwrap();
    loop {
        let p = session
            .recv_timeout(Duration::from_secs(20))
            .expect("session becomes Ready");
        match p.body {
            PacketBody::Connection(c) if c.state == ConnectionState::Ready => break,
            PacketBody::Error(e) => panic!("{e:?}"),
            _ => {}
        }
    }
    let mut input = session
        .audio_input(AudioFormat {
            rate: 16_000,
            channels: 1,
        })
        .unwrap();
    let mut playback = session
        .open_playback(
            PlaybackFormat {
                rate: 48_000,
                channels: 2,
            },
            None,
        )
        .unwrap();
    let speech = inworld::engine::speech::synthesize("hello there");
    let samples = inworld::audio::wav::decode(&speech.wav).unwrap().samples;
    let mut buffer = vec![0f32; 2 * 512];

    let mut latencies = Vec::with_capacity(rounds);
    for round in 0..warmup + rounds {
        session
            .start_audio_session(AudioSessionConfig {
                mode: MicrophoneMode::PushToTalk,
                ..AudioSessionConfig::default()
            })
            .unwrap();
        // The speech, 10 ms at a time, as a microphone gives it (the ring
        // holds a second: wait when it is full).
        for piece in samples.chunks(160) {
            let mut rest = piece;
            while !rest.is_empty() {
                let taken = input.push_i16(rest).unwrap();
                rest = &rest[taken..];
                if !rest.is_empty() {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        session.end_audio_session().unwrap();
        let ended = Instant::now();
        // The audio callback, spinning: the first buffer with speech.
        let deadline = ended + Duration::from_secs(30);
        while playback.read_f32(&mut buffer) == 0 {
            assert!(Instant::now() < deadline, "no reply to the speech");
            std::hint::spin_loop();
        }
        let latency = ended.elapsed();
        if round >= warmup {
            latencies.push(latency);
        }
        // Play the reply out (it may still be arriving), and let it end.
        let mut quiet = 0;
        while quiet < 100 {
            if playback.read_f32(&mut buffer) == 0 && playback.pending_frames() == 0 {
                quiet += 1;
                std::thread::sleep(Duration::from_millis(1));
            } else {
                quiet = 0;
            }
        }
        while session.try_recv().is_some() {}
    }
    latencies.sort();
    println!(
        "voice latency, end of speech to the first reply sample in the pull stream \
         (48 kHz stereo, zero pacing, {rounds} rounds): p50 {:?}, p95 {:?}, max {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.last().unwrap()
    );
    session.close();
}
