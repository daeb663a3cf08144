//! The voice loop with the real speech parts, on loopback against the local
//! engine (zero pacing): the player's speech (espeak-ng, made at start,
//! 16 kHz, pushed through an `AudioInput`; push to talk) is recognised by
//! PocketSphinx (with the scene's phrases), answered by the language-model
//! brain (the tests' OpenAI-compatible server, `tests/llm_support`,
//! streaming its answer at once) and spoken by espeak-ng. From the end of
//! the player's speech (`end_audio_session` returning) to the first reply
//! sample readable from the pull stream (48 kHz stereo float): p50/p95/max,
//! and each stage's share of the median round:
//! - recognition: end of speech → the model's server reads the request
//!   (PocketSphinx's final text, then planning, the prompt, the HTTP
//!   request; the final text reaches the client about then too, printed);
//! - model's first sentence: → the reply's first text at the client (the
//!   stream read, its first sentence cut out and sent);
//! - synthesis and transport: → the first sample readable (espeak-ng's
//!   first chunk, the wire, decoding and resampling in the library).
//!
//! Then the language model's first-sentence latency for a streamed text
//! reply (a model writing a word every 10 ms): from the request at the
//! model's server to the first sentence's text packet at the client, and to
//! the reply's end, p50/p95.
//!
//! Run: `cargo bench --features espeak,pocketsphinx --bench real_voice_loop`.

#[path = "../tests/llm_support/mod.rs"]
mod llm_support;

use inworld::client::{
    runtime, AudioFormat, AudioSessionConfig, ClientConfig, MicrophoneMode, PlaybackFormat, Session,
};
use inworld::engine::{
    Brain, EngineConfig, LlmConfig, RecognizerKind, RunningEngine, SynthesizerKind, Workspace,
};
use inworld::packet::{ConnectionState, ControlAction, PacketBody, TextSource};
use llm_support::{Answer, LlmServer};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WARMUP: usize = 2;
const ROUNDS: usize = 20;
/// No rule of the test scene matches it: the model answers.
const SAID: &str = "Where can I find the old mill?";
const ANSWER: &[&str] = &[
    "[emotion=JOY] ",
    "Down by ",
    "the river. ",
    "Mind the ",
    "geese.",
];

/// `text` spoken by espeak-ng (US English), as 16 kHz mono 16-bit samples.
fn speak(text: &str) -> Vec<i16> {
    let mut espeak = Command::new("espeak-ng")
        .args(["-v", "en-us", "--stdout", text])
        .stdout(Stdio::piped())
        .spawn()
        .expect("espeak-ng is installed");
    let out = Command::new("sox")
        .args(["-D", "-t", "wav", "-", "-r", "16000", "-c", "1", "-b", "16"])
        .args(["-e", "signed", "-t", "raw", "-"])
        .stdin(espeak.stdout.take().unwrap())
        .output()
        .expect("sox is installed");
    assert!(espeak.wait().unwrap().success() && out.status.success());
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// One round's times from the end of speech.
#[derive(Clone, Copy)]
struct Round {
    recognised: Duration,
    asked: Duration,
    replied: Duration,
    first_sample: Duration,
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --bench` (CI) runs one round.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { ROUNDS };
    let warmup = if quick { 0 } else { WARMUP };

    let handle = runtime::handle().unwrap();
    let model = handle.block_on(LlmServer::start());
    model.answer_always(Answer::text(ANSWER));
    let mut config = EngineConfig::new(Workspace::test_scenes());
    config.synthesizer = SynthesizerKind::Espeak;
    config.recognizer = RecognizerKind::PocketSphinx;
    config.brain = Brain::Llm(LlmConfig::new(model.url(), "bench-model"));
    config.workspace.speech.phrases = vec![
        SAID.to_string(),
        "What do you sell here?".to_string(),
        "Hello there.".to_string(),
    ];
    let engine = RunningEngine::start(config, &handle).unwrap();
    let session = Session::open(ClientConfig::new(
        engine.addr().to_string(),
        "workspaces/test-ws/scenes/test-scene",
        engine.credentials().clone(),
    ))
    .unwrap();
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
    let mut samples = vec![0i16; 4_000];
    samples.extend(speak(SAID));
    samples.extend(vec![0i16; 4_000]);
    let mut buffer = vec![0f32; 2 * 512];

    let mut measured = Vec::with_capacity(rounds);
    for round in 0..warmup + rounds {
        session
            .start_audio_session(AudioSessionConfig {
                mode: MicrophoneMode::PushToTalk,
                ..AudioSessionConfig::default()
            })
            .unwrap();
        // The start goes out before the first audio.
        std::thread::sleep(Duration::from_millis(50));
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
        // Let the library send all of it before the end is timed.
        std::thread::sleep(Duration::from_millis(300));
        // Partial texts so far are not what is timed.
        while session.try_recv().is_some() {}
        let asked_before = model.requests().len();
        session.end_audio_session().unwrap();
        let ended = Instant::now();
        let deadline = ended + Duration::from_secs(60);
        let (mut recognised, mut replied) = (None, None);
        let first_sample = loop {
            assert!(Instant::now() < deadline, "no reply to the speech");
            while let Some(p) = session.try_recv() {
                match &p.body {
                    PacketBody::Text(t) if t.source == TextSource::SpeechToText && t.is_final => {
                        recognised.get_or_insert(ended.elapsed());
                    }
                    PacketBody::Text(t) if t.source == TextSource::Generated => {
                        replied.get_or_insert(ended.elapsed());
                    }
                    _ => {}
                }
            }
            if playback.read_f32(&mut buffer) > 0 {
                break ended.elapsed();
            }
            std::hint::spin_loop();
        };
        // The packets read after the first sample still tell their time
        // (received before it, or as good as).
        while let Some(p) = session.try_recv() {
            match &p.body {
                PacketBody::Text(t) if t.source == TextSource::SpeechToText && t.is_final => {
                    recognised.get_or_insert(first_sample);
                }
                PacketBody::Text(t) if t.source == TextSource::Generated => {
                    replied.get_or_insert(first_sample);
                }
                _ => {}
            }
        }
        let requests = model.requests();
        assert_eq!(requests.len(), asked_before + 1, "the model answered");
        let asked = requests[asked_before]
            .received
            .saturating_duration_since(ended);
        if round >= warmup {
            measured.push(Round {
                recognised: recognised.unwrap_or(first_sample),
                asked,
                replied: replied.unwrap_or(first_sample),
                first_sample,
            });
        }
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
    measured.sort_by_key(|r| r.first_sample);
    let latencies: Vec<Duration> = measured.iter().map(|r| r.first_sample).collect();
    let median = measured[measured.len() / 2];
    let share = |d: Duration| 100.0 * d.as_secs_f64() / median.first_sample.as_secs_f64();
    println!(
        "real voice loop (PocketSphinx, LLM brain on the test server answering at once, \
         espeak-ng; zero pacing; {rounds} rounds): end of speech to the first reply sample \
         p50 {:?}, p95 {:?}, max {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.last().unwrap()
    );
    let stages = [
        ("recognition (to the model's request)", median.asked),
        (
            "model's first sentence",
            median.replied.saturating_sub(median.asked),
        ),
        (
            "synthesis and transport",
            median.first_sample.saturating_sub(median.replied),
        ),
    ];
    let stages: Vec<String> = stages
        .iter()
        .map(|(name, d)| format!("{name} {d:?} ({:.0}%)", share(*d)))
        .collect();
    println!(
        "median round {:?}: {} (the final text at the client: {:?})",
        median.first_sample,
        stages.join(", "),
        median.recognised
    );

    // A streamed text reply: a word every 10 ms.
    let mut words: Vec<String> = vec!["[emotion=INTEREST] ".into()];
    for sentence in [
        "The mill burned down years ago.",
        "Nobody goes there after dark.",
        "Some say the miller still walks the weir.",
    ] {
        words.extend(sentence.split(' ').map(|w| format!("{w} ")));
    }
    let words: Vec<&str> = words.iter().map(|w| w.as_str()).collect();
    model.answer_always(Answer::text(&words).slow(Duration::from_millis(10)));
    let (mut first, mut whole) = (Vec::new(), Vec::new());
    for round in 0..warmup + rounds {
        let asked_before = model.requests().len();
        session.send_text("Tell me about the mill.").unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut first_text = None;
        let ended = loop {
            let p = session
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("the reply ends");
            match &p.body {
                PacketBody::Text(t) if t.source == TextSource::Generated => {
                    first_text.get_or_insert(Instant::now());
                }
                PacketBody::Control(c) if c.action == ControlAction::InteractionEnd => {
                    break Instant::now();
                }
                _ => {}
            }
        };
        let asked = model.requests()[asked_before].received;
        if round >= warmup {
            first.push(first_text.expect("a sentence").duration_since(asked));
            whole.push(ended.duration_since(asked));
        }
        while playback.read_f32(&mut buffer) > 0 || playback.pending_frames() > 0 {}
    }
    first.sort();
    whole.sort();
    println!(
        "LLM streamed reply (a word every 10 ms, 3 sentences, {rounds} rounds): request at the \
         model's server to the first sentence's text at the client p50 {:?}, p95 {:?}; to the \
         reply's end p50 {:?}, p95 {:?}",
        percentile(&first, 0.5),
        percentile(&first, 0.95),
        percentile(&whole, 0.5),
        percentile(&whole, 0.95),
    );
    session.close();
}
