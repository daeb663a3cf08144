//! Audio costs per buffer: voice activity on one 16 ms frame, echo
//! cancellation of one 10 ms frame (with its far-end frame), and the audio
//! thread's read of one 512-frame stereo buffer from the playback stream;
//! with the allocations each makes once warmed up (voice activity and the
//! playback read: none; the echo canceller runs on the runtime, not the
//! audio thread, and its count is printed for the record). And faces: a
//! read of the 52 blendshape weights (no allocation), and the model's cost
//! over a whole utterance.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use inworld::audio::echo::{self, EchoCanceller};
use inworld::audio::face::{speech_face, Expression, NEUTRAL_FACE};
use inworld::audio::playback::{playback, Utterance, VisemeTimeline};
use inworld::audio::visemes::{TimedViseme, Viseme};
use inworld::audio::voice_activity::{self, VoiceActivity, VoiceActivityConfig};
use inworld::audio::voice_gate::{VoiceGate, VoiceGateConfig};
use inworld::client::{AudioFormat, EchoReference};
use std::sync::Arc;
use std::time::Instant;

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

/// A voiced-sounding test signal: harmonics of 150 Hz.
fn tone(n: usize, offset: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let t = (i + offset) as f32 / 16_000.0;
            let v: f32 = (1..8)
                .map(|h| (std::f32::consts::TAU * 150.0 * h as f32 * t).sin() / h as f32)
                .sum();
            (v * 6000.0) as i16
        })
        .collect()
}

fn allocations_per_call(calls: u64, mut f: impl FnMut()) -> f64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..calls {
        f();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / calls as f64
}

fn voice_activity_frame(c: &mut Criterion) {
    let frame = tone(voice_activity::FRAME_SAMPLES, 0);
    let mut va = VoiceActivity::new(VoiceActivityConfig::default());
    va.push(&tone(16_000, 0), |_| {});
    let per_call = allocations_per_call(1000, || {
        va.push(black_box(&frame), |e| {
            black_box(e);
        })
    });
    println!("voice activity: {per_call} allocations per 16 ms frame");
    assert_eq!(per_call, 0.0, "the audio-thread path must not allocate");
    c.bench_function("voice activity, one 16 ms frame", |b| {
        b.iter(|| {
            va.push(black_box(&frame), |e| {
                black_box(e);
            })
        })
    });
}

fn echo_cancellation_frame(c: &mut Criterion) {
    let mut aec = EchoCanceller::new(Duration::from_millis(30)).unwrap();
    let far: [i16; echo::FRAME_SAMPLES] = tone(echo::FRAME_SAMPLES, 0).try_into().unwrap();
    let near: [i16; echo::FRAME_SAMPLES] = tone(echo::FRAME_SAMPLES, 480).try_into().unwrap();
    let mut mic = near;
    for _ in 0..200 {
        aec.far_end(&far);
        mic = near;
        aec.process(&mut mic);
    }
    let per_call = allocations_per_call(200, || {
        aec.far_end(&far);
        mic = near;
        aec.process(&mut mic);
    });
    println!("echo cancellation: {per_call} allocations per 10 ms frame");
    c.bench_function("echo cancellation, one 10 ms frame", |b| {
        b.iter(|| {
            aec.far_end(black_box(&far));
            mic = near;
            aec.process(black_box(&mut mic));
        })
    });
}

/// The session task's hands-free work per 10 ms of 16 kHz microphone audio,
/// echo cancellation and voice detection on (the resampling is the mic
/// pipeline's, measured in benches/mic.rs).
fn voice_gate_10ms(c: &mut Criterion) {
    let mut gate = VoiceGate::new(VoiceGateConfig {
        echo_cancellation: true,
        ..VoiceGateConfig::default()
    })
    .unwrap();
    let far = tone(160, 0);
    let near = tone(160, 480);
    let mut step = || {
        gate.push_far(black_box(&far));
        gate.push_near(black_box(&near), &mut |e| {
            black_box(e);
        });
    };
    for _ in 0..300 {
        step();
    }
    let per_call = allocations_per_call(200, &mut step);
    println!(
        "voice gate (echo cancellation and voice detection): {per_call} allocations per 10 ms"
    );
    c.bench_function("voice gate with echo cancellation, 10 ms", |b| {
        b.iter(&mut step)
    });
}

/// The game's audio thread: one 10 ms push (48 kHz stereo floats) of what it
/// played into the echo reference.
fn echo_reference_push(c: &mut Criterion) {
    let format = AudioFormat {
        rate: 48_000,
        channels: 2,
    };
    let (mut reference, mut drain) = EchoReference::offline(format);
    let played = vec![0.25f32; 2 * 480];
    let per_call = allocations_per_call(50, || {
        reference.push_f32(&played).unwrap();
        drain.drain();
    });
    println!("echo reference: {per_call} allocations per 10 ms push");
    assert_eq!(per_call, 0.0, "the audio-thread path must not allocate");
    c.bench_function("echo reference, push 10 ms of 48 kHz stereo", |b| {
        b.iter(|| {
            black_box(reference.push_f32(black_box(&played)).unwrap());
            drain.drain();
        })
    });
}

fn playback_read(c: &mut Criterion) {
    let (mut writer, mut reader, clock) = playback(2, 48_000);
    writer.begin(Utterance::default());
    let speech = vec![0.25f32; 2 * 512];
    let mut out = vec![0.0f32; 2 * 512];
    for _ in 0..10 {
        writer.write(&speech);
        reader.read(&mut out);
    }
    let mut read = || {
        writer.write(&speech);
        black_box(reader.read(black_box(&mut out)));
    };
    // The writer's side allocates nothing either once begun; counted together.
    let per_call = allocations_per_call(1000, &mut read);
    println!("playback: {per_call} allocations per 512-frame read (with its write)");
    assert_eq!(per_call, 0.0, "the audio-thread path must not allocate");
    assert!(clock.now_playing().is_some());
    c.bench_function(
        "playback, write and read one 512-frame stereo buffer",
        |b| b.iter(&mut read),
    );
    let (_w, mut idle, _clock) = playback(2, 48_000);
    c.bench_function("playback, read 512 frames of silence", |b| {
        b.iter(|| black_box(idle.read(black_box(&mut out))))
    });
}

/// A 5.6 s utterance's visemes as the local engine makes them: 70 and 110 ms
/// apart, every mouth shape.
fn utterance_visemes() -> Vec<TimedViseme> {
    let mut at = 0;
    (0..60)
        .map(|i| {
            let v = TimedViseme {
                viseme: Viseme::ALL[1 + i % 14],
                start_offset: Duration::from_millis(at),
            };
            at += if i % 2 == 0 { 70 } else { 110 };
            v
        })
        .collect()
}

/// Reading the face (52 weights) from another thread while a stream plays,
/// with an expression fading and blinks on; and the model's cost for a
/// whole utterance, read at 60 frames a second and every millisecond.
fn face(c: &mut Criterion) {
    let (mut writer, mut reader, clock) = playback(1, 96_000);
    let timeline = VisemeTimeline::default();
    timeline.store(Arc::new(utterance_visemes()));
    writer.begin_with_visemes(Utterance::default(), timeline);
    writer.write(&vec![0.25f32; 80_000]);
    let mut out = vec![0.0f32; 512];
    for _ in 0..40 {
        reader.read(&mut out);
    }
    clock
        .face_controls()
        .set_expression(Expression::Joy, 1.0, clock.clock_time(Instant::now()));
    clock.face_controls().set_blinks(Some(7));
    let mut read_face = || {
        black_box(clock.face(black_box(16_000)));
    };
    let per_call = allocations_per_call(1000, &mut read_face);
    println!("face: {per_call} allocations per read of 52 weights");
    assert_eq!(per_call, 0.0, "reading the face must not allocate");
    c.bench_function("face, read 52 weights while a stream plays", |b| {
        b.iter(&mut read_face)
    });

    // The first 60 ms of an utterance that follows another: the face blends
    // from the one before, so two speech faces are computed.
    let timeline = VisemeTimeline::default();
    timeline.store(Arc::new(utterance_visemes()));
    writer.begin_with_visemes(Utterance::default(), timeline);
    writer.write(&vec![0.25f32; 16_000]);
    while reader.queued_frames() > 16_000 {
        reader.read(&mut out);
    }
    reader.read(&mut out[..320]);
    let blending_at = Instant::now();
    let mut read_blending = || {
        black_box(clock.face_at(black_box(blending_at), 16_000));
    };
    let per_call = allocations_per_call(1000, &mut read_blending);
    assert_eq!(per_call, 0.0, "reading the face must not allocate");
    c.bench_function(
        "face, read 52 weights blending into the next utterance",
        |b| b.iter(&mut read_blending),
    );

    // The worst case: a burst of 8 ms utterances, read 10 ms at a time, the
    // face read within all their blends: each blends from the one before,
    // so up to 8 speech faces are computed (rare: utterances of a few ms).
    for i in 0..8 {
        let timeline = VisemeTimeline::default();
        timeline.store(Arc::new(vec![TimedViseme {
            viseme: Viseme::ALL[1 + i % 14],
            start_offset: Duration::ZERO,
        }]));
        writer.begin_with_visemes(Utterance::default(), timeline);
        writer.write(&[0.25f32; 128]);
    }
    while reader.queued_frames() > 0 {
        reader.read(&mut out[..160]);
    }
    let chain_at = Instant::now();
    let mut read_chain = || {
        black_box(clock.face_at(black_box(chain_at), 16_000));
    };
    let per_call = allocations_per_call(1000, &mut read_chain);
    assert_eq!(per_call, 0.0, "reading the face must not allocate");
    c.bench_function(
        "face, read 52 weights blending through 8 ms utterances",
        |b| b.iter(&mut read_chain),
    );

    let visemes = utterance_visemes();
    let length_ms = visemes.last().unwrap().start_offset.as_millis() as u64 + 200;
    let mut weights = NEUTRAL_FACE;
    c.bench_function(
        "face, model of a 5.6 s utterance at 60 frames a second",
        |b| {
            b.iter(|| {
                for frame in 0..length_ms * 60 / 1000 {
                    let at = Duration::from_micros(frame * 1_000_000 / 60);
                    speech_face(&visemes, at, None, &mut weights);
                    black_box(&weights);
                }
            })
        },
    );
    c.bench_function("face, model of a 5.6 s utterance every millisecond", |b| {
        b.iter(|| {
            for ms in 0..length_ms {
                speech_face(&visemes, Duration::from_millis(ms), None, &mut weights);
                black_box(&weights);
            }
        })
    });
}

criterion_group! {
    name = audio;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = voice_activity_frame, echo_cancellation_frame, voice_gate_10ms, echo_reference_push,
        playback_read, face
}
criterion_main!(audio);
