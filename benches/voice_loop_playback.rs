//! Does an open playback stream hold up the session's task? A voice loop in
//! real time against the local engine (in this process, zero pacing): an
//! audio thread pushes 10 ms of 48 kHz stereo microphone audio every 10 ms
//! into an open audio session and reads 10 ms of the pull stream every
//! 10 ms, while the game sends a line whose reply is several seconds of
//! speech. Printed for rounds without a playback stream, then with a
//! 48 kHz stereo one: the delay from the send to the reply's
//! INTERACTION_END reaching the game, the delay to its first audio chunk,
//! and the microphone frames dropped (the task did not drain the ring in
//! time), which should be 0.
//!
//! Run it in both profiles and compare:
//! `cargo bench --bench voice_loop_playback` (release) and
//! `cargo bench --bench voice_loop_playback --profile dev` (debug).
//! `VOICE_LOOP_ROUNDS=N` changes the rounds per mode (default 6).

use inworld::client::{
    runtime, AudioFormat, AudioSessionConfig, ClientConfig, MicrophoneMode, Playback,
    PlaybackFormat, Session,
};
use inworld::engine::{EngineConfig, RunningEngine, Workspace};
use inworld::packet::{ConnectionState, ControlAction, PacketBody};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// 10 ms at 48 kHz.
const FRAMES: usize = 480;
const FORMAT: PlaybackFormat = PlaybackFormat {
    rate: 48_000,
    channels: 2,
};
/// Answered by the test scene's fallback line, which repeats it: about six
/// seconds of speech.
const LINE: &str = "tell me about the weather on the road to the northern village tonight";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// What the audio thread shares with the game's loop.
struct AudioThread {
    stop: AtomicBool,
    /// The stream the audio callback reads, when one is open.
    playback: Mutex<Option<Playback>>,
    /// Frames of the microphone the ring did not take.
    refused: AtomicU64,
    /// The input's count of frames dropped (refused, or not sent).
    dropped: AtomicU64,
    /// Pushes made late (more than 10 ms after they were due): this
    /// thread itself fell behind, so the run says nothing.
    late: AtomicU64,
}

/// The game's audio callback: every 10 ms, push 10 ms of microphone audio
/// and read 10 ms of the stream.
fn audio_thread(shared: Arc<AudioThread>, mut input: inworld::client::AudioInput) {
    let mic: Vec<f32> = (0..FRAMES)
        .flat_map(|i| {
            // Quiet room noise: not speech, so the engine does not answer it.
            let v = 0.001 * ((i * 7919 % 97) as f32 / 97.0 - 0.5);
            [v, v]
        })
        .collect();
    let mut out = vec![0f32; FRAMES * 2];
    let mut due = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) {
        let taken = input.push_f32(&mic).unwrap_or(FRAMES);
        shared
            .refused
            .fetch_add((FRAMES - taken) as u64, Ordering::Relaxed);
        shared
            .dropped
            .store(input.dropped_frames(), Ordering::Relaxed);
        if let Some(playback) = shared.playback.lock().unwrap().as_mut() {
            playback.read_f32(&mut out);
        }
        due += Duration::from_millis(10);
        let now = Instant::now();
        if now > due + Duration::from_millis(10) {
            shared.late.fetch_add(1, Ordering::Relaxed);
            due = now;
        } else if due > now {
            std::thread::sleep(due - now);
        }
    }
}

struct Round {
    end: Duration,
    first_audio: Duration,
    speech: Duration,
}

/// Sends the line and waits for its reply's end; then lets the stream
/// play it out, so that rounds do not overlap.
fn round(session: &Session, shared: &AudioThread) -> Round {
    let sent_at = Instant::now();
    let ids = session.send_text(LINE).unwrap();
    let mut first_audio = None;
    let mut samples = 0u64;
    let deadline = sent_at + Duration::from_secs(120);
    let end = loop {
        let packet = session
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the reply ends");
        if packet.ids.interaction_id.as_str() != ids.interaction_id {
            if let PacketBody::SendFailed(f) = &packet.body {
                eprintln!("reported: {f:?}");
            }
            continue;
        }
        match &packet.body {
            PacketBody::Audio(chunk) => {
                first_audio.get_or_insert_with(|| sent_at.elapsed());
                samples += chunk.samples.len() as u64 / u64::from(chunk.channels.max(1));
            }
            PacketBody::Control(c) if c.action == ControlAction::InteractionEnd => {
                break sent_at.elapsed();
            }
            _ => {}
        }
    };
    // Play it out (in real time, by the audio thread).
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared
        .playback
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|p| p.pending_frames() > 0)
    {
        assert!(Instant::now() < deadline, "the stream never played out");
        std::thread::sleep(Duration::from_millis(20));
    }
    while session.try_recv().is_some() {}
    Round {
        end,
        first_audio: first_audio.expect("the reply has speech"),
        speech: Duration::from_secs_f64(samples as f64 / 16_000.0),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let rounds = std::env::var("VOICE_LOOP_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1 } else { 6 });

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
            .recv_timeout(Duration::from_secs(60))
            .expect("session becomes Ready");
        match p.body {
            PacketBody::Connection(c) if c.state == ConnectionState::Ready => break,
            PacketBody::Error(e) => panic!("{e:?}"),
            _ => {}
        }
    }
    let input = session
        .audio_input(AudioFormat {
            rate: 48_000,
            channels: 2,
        })
        .unwrap();
    session
        .start_audio_session(AudioSessionConfig {
            mode: MicrophoneMode::PushToTalk,
            ..AudioSessionConfig::default()
        })
        .unwrap();
    let shared = Arc::new(AudioThread {
        stop: AtomicBool::new(false),
        playback: Mutex::new(None),
        refused: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        late: AtomicU64::new(0),
    });
    let audio = std::thread::spawn({
        let shared = shared.clone();
        move || audio_thread(shared, input)
    });
    // A warm-up round, then the measured ones.
    round(&session, &shared);

    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    for with_stream in [false, true] {
        if with_stream {
            *shared.playback.lock().unwrap() = Some(session.open_playback(FORMAT, None).unwrap());
        }
        let refused_before = shared.refused.load(Ordering::Relaxed);
        let dropped_before = shared.dropped.load(Ordering::Relaxed);
        let late_before = shared.late.load(Ordering::Relaxed);
        let mut results: Vec<Round> = (0..rounds).map(|_| round(&session, &shared)).collect();
        let refused = shared.refused.load(Ordering::Relaxed) - refused_before;
        let dropped = shared.dropped.load(Ordering::Relaxed) - dropped_before;
        let late = shared.late.load(Ordering::Relaxed) - late_before;
        results.sort_by_key(|r| r.end);
        let ends: Vec<Duration> = results.iter().map(|r| r.end).collect();
        let mut firsts: Vec<Duration> = results.iter().map(|r| r.first_audio).collect();
        firsts.sort();
        println!(
            "{profile}, {}: send to INTERACTION_END p50 {:.1?}, max {:.1?}; to the first \
             audio chunk p50 {:.1?}; reply speech {:.2?}; microphone frames refused {refused}, dropped {dropped}; \
             late audio callbacks {late} ({rounds} rounds)",
            if with_stream {
                "48 kHz stereo stream open"
            } else {
                "no playback stream"
            },
            percentile(&ends, 0.5),
            ends.last().unwrap(),
            percentile(&firsts, 0.5),
            results[0].speech,
        );
    }
    shared.stop.store(true, Ordering::Relaxed);
    audio.join().unwrap();
    let _ = session.end_audio_session();
    session.close();
}
