//! The C API's per-frame costs, called as a game would (through the `iw_*`
//! functions): polling an empty queue, draining text packets into the caller's
//! array, and a send returning to the game. Also counts heap allocations on the
//! poll path (there must be none per packet once warmed up).

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CString;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use inworld::client::Session;
use inworld::ffi::*;
use inworld::packet::{
    Actor, ActorKind, Packet, PacketBody, PacketIds, Routing, TextEvent, TextSource,
};

/// Counts allocations, to show the poll path makes none.
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
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

const BATCH: usize = 64;

fn text_packet(i: usize) -> Packet {
    Packet {
        ids: PacketIds {
            packet_id: format!("00000000-0000-0000-0000-{i:012}").into(),
            utterance_id: "11111111-1111-1111-1111-111111111111".into(),
            interaction_id: "22222222-2222-2222-2222-222222222222".into(),
            correlation_id: "".into(),
            conversation_id: "33333333-3333-3333-3333-333333333333".into(),
        },
        routing: Routing {
            source: Actor {
                kind: ActorKind::Character,
                name: "8900b1c9-76f4-4860-9d35-e9bad8a4e390".into(),
            },
            target: Actor {
                kind: ActorKind::Player,
                name: "".into(),
            },
        },
        timestamp_ms: 1_700_000_000_000,
        body: PacketBody::Text(TextEvent {
            text: "Welcome to the Prancing Lantern, traveler! Sit by the fire.".into(),
            is_final: true,
            source: TextSource::Generated,
        }),
    }
}

fn poll(session: *mut iw_session, out: &mut [MaybeUninit<iw_packet>]) -> usize {
    let mut count = 0usize;
    let r = unsafe {
        iw_session_poll(
            session,
            out.as_mut_ptr() as *mut iw_packet,
            out.len(),
            &mut count,
        )
    };
    assert_eq!(r, IW_OK);
    count
}

fn bench_poll(c: &mut Criterion) {
    let session = Session::offline(4096);
    let handle = register_session(session.clone());
    let mut out = vec![MaybeUninit::<iw_packet>::uninit(); BATCH];

    c.bench_function("iw_session_poll (empty queue)", |b| {
        b.iter(|| black_box(poll(handle, &mut out)))
    });

    let packets: Vec<Packet> = (0..BATCH).map(text_packet).collect();
    // Warm up the lent buffers, then count allocations while polling a batch.
    for p in &packets {
        session.inject(p.clone());
    }
    poll(handle, &mut out);
    for p in &packets {
        session.inject(p.clone());
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let n = poll(handle, &mut out);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(n, BATCH);
    eprintln!("heap allocations while polling {BATCH} text packets: {allocations}");
    assert_eq!(allocations, 0, "the poll path allocated");

    let mut group = c.benchmark_group("iw_session_poll (text packets)");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(format!("drain {BATCH}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for p in &packets {
                    session.inject(p.clone());
                }
                let start = Instant::now();
                let n = poll(handle, &mut out);
                total += start.elapsed();
                assert_eq!(n, BATCH);
            }
            total
        })
    });
    group.finish();
    assert_eq!(iw_session_free(handle), IW_OK);
}

/// A session to the in-process local engine (no audio, to keep its CPU use low).
fn engine_session() -> (*mut iw_engine, *mut iw_session) {
    unsafe {
        let mut ec = MaybeUninit::<iw_engine_config>::uninit();
        assert_eq!(iw_engine_config_init(ec.as_mut_ptr()), IW_OK);
        let mut ec = ec.assume_init();
        let test = CString::new("test").unwrap();
        ec.scene = test.as_ptr();
        let mut engine = std::ptr::null_mut();
        assert_eq!(iw_engine_start(&ec, &mut engine), IW_OK);
        let mut buf = [0 as std::ffi::c_char; 256];
        let mut len = 0;
        assert_eq!(
            iw_engine_address(engine, buf.as_mut_ptr(), 256, &mut len),
            IW_OK
        );
        let address = CString::new(std::ffi::CStr::from_ptr(buf.as_ptr()).to_bytes()).unwrap();
        assert_eq!(
            iw_engine_scene_name(engine, 0, buf.as_mut_ptr(), 256, &mut len),
            IW_OK
        );
        let scene = CString::new(std::ffi::CStr::from_ptr(buf.as_ptr()).to_bytes()).unwrap();
        let key = CString::new("test-api-key").unwrap();
        let secret = CString::new("test-api-secret").unwrap();
        let mut cc = MaybeUninit::<iw_client_config>::uninit();
        assert_eq!(iw_client_config_init(cc.as_mut_ptr()), IW_OK);
        let mut cc = cc.assume_init();
        cc.host = address.as_ptr();
        cc.tls = IW_TLS_OFF;
        cc.api_key = key.as_ptr();
        cc.api_secret = secret.as_ptr();
        cc.scene = scene.as_ptr();
        cc.capabilities = IW_CAP_DEFAULT & !IW_CAP_AUDIO;
        cc.queue_capacity = 1 << 16;
        let mut client = std::ptr::null_mut();
        assert_eq!(iw_client_new(IW_ABI_VERSION, &cc, &mut client), IW_OK);
        let mut session = std::ptr::null_mut();
        assert_eq!(iw_session_open(client, &mut session), IW_OK);
        assert_eq!(iw_client_free(client), IW_OK);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut state = 0;
        while state != IW_STATE_READY {
            assert!(Instant::now() < deadline, "the session did not get ready");
            std::thread::sleep(Duration::from_millis(5));
            assert_eq!(iw_session_state(session, &mut state), IW_OK);
        }
        (engine, session)
    }
}

/// Polls until the INTERACTION_END of `ids`'s interaction.
fn wait_interaction_end(
    session: *mut iw_session,
    ids: &iw_sent_ids,
    out: &mut [MaybeUninit<iw_packet>],
) {
    let want = unsafe { std::ffi::CStr::from_ptr(ids.interaction_id.as_ptr()) }.to_bytes();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = poll(session, out);
        for p in &out[..n] {
            let p = unsafe { p.assume_init_ref() };
            let id = unsafe {
                std::slice::from_raw_parts(
                    p.ids.interaction_id.ptr as *const u8,
                    p.ids.interaction_id.len,
                )
            };
            if p.kind == IW_PACKET_CONTROL
                && unsafe { p.data.control.action } == IW_CONTROL_INTERACTION_END
                && id == want
            {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no reply");
        if n == 0 {
            std::thread::yield_now();
        }
    }
}

fn bench_send(c: &mut Criterion) {
    let (engine, session) = engine_session();
    let text = CString::new("hello there").unwrap();
    let mut out = vec![MaybeUninit::<iw_packet>::uninit(); 64];
    let mut ids = MaybeUninit::<iw_sent_ids>::uninit();
    assert_eq!(unsafe { iw_sent_ids_init(ids.as_mut_ptr()) }, IW_OK);
    let mut ids = unsafe { ids.assume_init() };
    let mut group = c.benchmark_group("iw_session_send_text");
    group.sample_size(20);
    group.bench_function("to the local engine, reply awaited untimed", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let r = unsafe { iw_session_send_text(session, text.as_ptr(), &mut ids) };
                total += start.elapsed();
                assert_eq!(r, IW_OK);
                // Like a game: wait for the reply's end before the next line (not timed).
                wait_interaction_end(session, &ids, &mut out);
            }
            total
        })
    });
    // What a send costs before it reaches the queue: its four fresh UUIDs.
    group.bench_function("component: 4 x uuid::Uuid::new_v4", |b| {
        b.iter(|| {
            for _ in 0..4 {
                black_box(uuid::Uuid::new_v4().to_string());
            }
        })
    });
    group.finish();
    assert_eq!(iw_session_free(session), IW_OK);
    assert_eq!(iw_engine_free(engine), IW_OK);
}

criterion_group!(benches, bench_poll, bench_send);
criterion_main!(benches);
