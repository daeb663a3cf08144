//! Microphone in, from the game's audio thread: one 10 ms push (48 kHz
//! stereo floats, and 16-bit) into the input's ring, timed; and the heap
//! allocations of pushes through the C API into a live session whose task
//! drains, resamples and sends them (there must be none once warmed up).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use inworld::client::{runtime, AudioFormat, AudioInput, ClientConfig, Session};
use inworld::engine::{EngineConfig, RunningEngine, Workspace};
use inworld::ffi::*;
use inworld::packet::{ConnectionState, PacketBody};

/// Counts the allocations of the thread that makes them (the runtime's
/// threads allocate for packets; the audio thread must not).
struct Counting;
thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}
fn count() {
    // `try_with`: a thread being torn down has no counter any more.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const RATE: u32 = 48_000;
/// 10 ms at 48 kHz.
const FRAMES: usize = 480;

fn tone_f32() -> Vec<f32> {
    (0..FRAMES)
        .flat_map(|i| {
            let v = 0.5 * (2.0 * std::f32::consts::PI * 300.0 * i as f32 / RATE as f32).sin();
            [v, v]
        })
        .collect()
}

fn bench_push(c: &mut Criterion) {
    let format = AudioFormat {
        rate: RATE,
        channels: 2,
    };
    let floats = tone_f32();
    let shorts: Vec<i16> = floats.iter().map(|v| (v * 32767.0) as i16).collect();
    let (mut input, mut drain) = AudioInput::offline(format);
    // Each push lands in a ring with room (as with a task that keeps up):
    // the ring is emptied between pushes, outside the timing.
    c.bench_function("AudioInput::push_f32 (10 ms, 48 kHz stereo)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                black_box(input.push_f32(black_box(&floats)).unwrap());
                total += start.elapsed();
                drain.drain();
            }
            total
        })
    });
    c.bench_function("AudioInput::push_i16 (10 ms, 48 kHz stereo)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                black_box(input.push_i16(black_box(&shorts)).unwrap());
                total += start.elapsed();
                drain.drain();
            }
            total
        })
    });
}

/// Pushes through the C API into a live session, paced a little faster than
/// real time, counting this thread's allocations; prints the pushes' times.
fn c_pushes_allocate_nothing(_: &mut Criterion) {
    let quick = std::env::args().any(|a| a == "--test");
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
    let handle = register_session(session.clone());
    let mut input = std::ptr::null_mut();
    unsafe {
        assert_eq!(iw_audio_input_open(handle, RATE, 2, &mut input), IW_OK);
        assert_eq!(
            iw_session_start_audio_session(
                handle,
                IW_MIC_OPEN_MIC,
                IW_UNDERSTANDING_FULL,
                std::ptr::null_mut()
            ),
            IW_OK
        );
    }
    let floats = tone_f32();
    let push = |times: &mut Vec<Duration>| {
        let mut accepted = 0usize;
        let start = Instant::now();
        let r = unsafe { iw_audio_input_push_f32(input, floats.as_ptr(), FRAMES, &mut accepted) };
        times.push(start.elapsed());
        assert_eq!(r, IW_OK);
        // The task drains every 20 ms; 8 ms between 10 ms pushes keeps up.
        std::thread::sleep(Duration::from_millis(8));
    };
    let rounds = if quick { 20 } else { 500 };
    // Room for every time up front: the measurement must not allocate either.
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..10 {
        push(&mut times);
    }
    times.clear();
    let before = allocations();
    for _ in 0..rounds {
        push(&mut times);
    }
    let allocated = allocations() - before;
    times.sort();
    let mut dropped = 0u64;
    unsafe {
        assert_eq!(iw_audio_input_dropped(input, &mut dropped), IW_OK);
        assert_eq!(iw_audio_input_free(input), IW_OK);
        assert_eq!(iw_session_free(handle), IW_OK);
    }
    eprintln!(
        "iw_audio_input_push_f32 (10 ms, 48 kHz stereo) into a live session, {rounds} pushes: \
         median {:?}, p99 {:?}, max {:?}; heap allocations on the audio thread: {allocated}; \
         frames dropped: {dropped}",
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        times[times.len() - 1],
    );
    assert_eq!(allocated, 0, "the push path allocated");
}

criterion_group!(benches, bench_push, c_pushes_allocate_nothing);
criterion_main!(benches);
