//! espeak-ng as the engine's speech synthesizer (the `espeak` feature).
//!
//! libespeak-ng keeps its state in globals and is not thread-safe, so one
//! thread of its own owns it for the whole process (every engine in it
//! shares that thread): replies send it requests over a channel and get the
//! speech back as [`SpeechChunk`]s, made while espeak-ng synthesizes. The
//! phonemes are the ones espeak-ng reports it spoke (its phoneme events, in
//! IPA, as the service names them), placed at the time it reports for each;
//! its 22.05 kHz output is resampled to the 16 kHz of the protocol.

use crate::audio::resample::Resampler;
use crate::engine::scene::Voice;
use crate::engine::speech::{wav_file, SpeechChunk, TimedPhoneme, SAMPLE_RATE};
use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::{c_int, c_short, CString};
use std::sync::{mpsc as std_mpsc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;

/// The declarations of `espeak-ng/speak_lib.h` (API revision 12, espeak-ng
/// 1.49 and later) this module uses.
mod sys {
    use std::ffi::{c_char, c_int, c_short, c_uint, c_void};

    pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
    pub const INITIALIZE_PHONEME_EVENTS: c_int = 0x0001;
    pub const INITIALIZE_PHONEME_IPA: c_int = 0x0002;
    pub const INITIALIZE_DONT_EXIT: c_int = 0x8000;
    pub const CHARS_UTF8: c_uint = 1;
    pub const POS_CHARACTER: c_int = 1;
    pub const EVENT_PHONEME: c_int = 7;
    pub const EVENT_LIST_TERMINATED: c_int = 0;
    pub const PARAMETER_RATE: c_int = 1;
    pub const PARAMETER_PITCH: c_int = 3;
    pub const EE_OK: c_int = 0;

    #[repr(C)]
    pub union EventId {
        pub number: c_int,
        pub name: *const c_char,
        /// Phoneme names: UTF-8, NUL-terminated unless all 8 bytes are used.
        pub string: [c_char; 8],
    }

    #[repr(C)]
    pub struct Event {
        pub kind: c_int,
        pub unique_identifier: c_uint,
        pub text_position: c_int,
        pub length: c_int,
        /// Milliseconds from the start of the synthesized text.
        pub audio_position: c_int,
        pub sample: c_int,
        pub user_data: *mut c_void,
        pub id: EventId,
    }

    pub type SynthCallback =
        unsafe extern "C" fn(wav: *mut c_short, samples: c_int, events: *mut Event) -> c_int;

    #[link(name = "espeak-ng")]
    extern "C" {
        pub fn espeak_Initialize(
            output: c_int,
            buflength: c_int,
            path: *const c_char,
            options: c_int,
        ) -> c_int;
        pub fn espeak_SetSynthCallback(callback: SynthCallback);
        pub fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
        pub fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_int;
        pub fn espeak_Synth(
            text: *const c_void,
            size: usize,
            position: c_uint,
            position_type: c_int,
            end_position: c_uint,
            flags: c_uint,
            unique_identifier: *mut c_uint,
            user_data: *mut c_void,
        ) -> c_int;
    }
}

/// A chunk grows phoneme by phoneme while shorter than this...
const CHUNK_MIN: usize = (SAMPLE_RATE / 10) as usize;
/// ...or while the next phoneme still fits within this; a phoneme longer
/// than that (a pause) is cut here.
const CHUNK_MAX: usize = (SAMPLE_RATE / 5) as usize;
/// The last chunk may take up to this much.
const LAST_CHUNK_MAX: usize = (SAMPLE_RATE as usize) * 230 / 1000;
/// Audio espeak-ng hands over per callback.
const BUFFER_MS: c_int = 50;
/// The phoneme of a pause.
pub(crate) const PAUSE: &str = "_";
/// The voice of a character without one.
pub(crate) const DEFAULT_VOICE: &str = "en-us";

/// One thing to say.
struct Request {
    text: String,
    voice: Voice,
    chunks: mpsc::UnboundedSender<SpeechChunk>,
}

/// The handle to the espeak-ng thread.
#[derive(Debug)]
pub(crate) struct Espeak {
    requests: std_mpsc::Sender<Request>,
}

static ESPEAK: OnceLock<Result<Espeak, String>> = OnceLock::new();

impl Espeak {
    /// The process's espeak-ng thread, started the first time (the error
    /// when espeak-ng cannot start: its data missing).
    pub(crate) fn shared() -> Result<&'static Espeak, String> {
        ESPEAK
            .get_or_init(Espeak::start)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn start() -> Result<Espeak, String> {
        let (requests, rx) = std_mpsc::channel::<Request>();
        let (ready_tx, ready) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("espeak-ng".into())
            .spawn(move || {
                // SAFETY: this thread is the only one that ever calls espeak-ng.
                let rate = unsafe {
                    sys::espeak_Initialize(
                        sys::AUDIO_OUTPUT_SYNCHRONOUS,
                        BUFFER_MS,
                        std::ptr::null(),
                        sys::INITIALIZE_PHONEME_EVENTS
                            | sys::INITIALIZE_PHONEME_IPA
                            | sys::INITIALIZE_DONT_EXIT,
                    )
                };
                if rate <= 0 {
                    let _ = ready_tx.send(Err(
                        "espeak-ng could not start (is espeak-ng-data installed?)".to_string(),
                    ));
                    return;
                }
                // SAFETY: as above; the callback is a plain function.
                unsafe { sys::espeak_SetSynthCallback(on_audio) };
                let _ = ready_tx.send(Ok(()));
                let mut voices = Voices::default();
                while let Ok(request) = rx.recv() {
                    synthesize(&mut voices, rate as u32, request);
                }
            })
            .map_err(|e| format!("cannot start the espeak-ng thread: {e}"))?;
        ready
            .recv()
            .map_err(|_| "the espeak-ng thread died at start".to_string())??;
        Ok(Espeak { requests })
    }

    /// Says `text` in `voice`: the chunks come as espeak-ng makes them, and
    /// the channel closes after the last. Dropping the receiver stops the
    /// synthesis at its next piece.
    pub(crate) fn say(&self, text: &str, voice: &Voice) -> mpsc::UnboundedReceiver<SpeechChunk> {
        let (chunks, rx) = mpsc::unbounded_channel();
        let _ = self.requests.send(Request {
            text: text.to_string(),
            voice: voice.clone(),
            chunks,
        });
        rx
    }
}

/// The voice espeak-ng has set, so it is loaded only when it changes.
#[derive(Default)]
struct Voices {
    current: Option<String>,
    /// Names espeak-ng did not know (warned about once each).
    unknown: Vec<String>,
}

impl Voices {
    fn set(&mut self, voice: &Voice) {
        let wanted = if self.unknown.contains(&voice.name) {
            DEFAULT_VOICE
        } else {
            voice.name.as_str()
        };
        if self.current.as_deref() != Some(wanted) {
            let ok = CString::new(wanted)
                // SAFETY: only the espeak-ng thread calls this.
                .map(|name| unsafe { sys::espeak_SetVoiceByName(name.as_ptr()) } == sys::EE_OK)
                .unwrap_or(false);
            if ok {
                self.current = Some(wanted.to_string());
            } else {
                log::warn!(
                    "espeak-ng has no voice {wanted:?}: speaking with {DEFAULT_VOICE:?} instead"
                );
                self.unknown.push(wanted.to_string());
                if wanted != DEFAULT_VOICE {
                    return self.set(voice);
                }
            }
        }
        // SAFETY: as above. Out-of-range values are clamped by espeak-ng.
        unsafe {
            sys::espeak_SetParameter(sys::PARAMETER_RATE, voice.rate as c_int, 0);
            sys::espeak_SetParameter(sys::PARAMETER_PITCH, voice.pitch as c_int, 0);
        }
    }
}

thread_local! {
    /// The utterance being synthesized (the callback has no other way in).
    static CURRENT: RefCell<Option<Chunker>> = const { RefCell::new(None) };
}

fn synthesize(voices: &mut Voices, rate: u32, request: Request) {
    if request.chunks.is_closed() {
        return;
    }
    voices.set(&request.voice);
    let text = match CString::new(request.text.replace('\0', " ")) {
        Ok(t) => t,
        Err(_) => return,
    };
    CURRENT.with(|c| *c.borrow_mut() = Some(Chunker::new(rate, request.chunks)));
    // SAFETY: the espeak-ng thread; `text` outlives the call (synchronous
    // mode: it returns when all the audio has gone through `on_audio`).
    let status = unsafe {
        sys::espeak_Synth(
            text.as_ptr().cast(),
            text.as_bytes_with_nul().len(),
            0,
            sys::POS_CHARACTER,
            0,
            sys::CHARS_UTF8,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if status != sys::EE_OK {
        log::warn!("espeak-ng could not synthesize a line (error {status})");
    }
    if let Some(mut chunker) = CURRENT.with(|c| c.borrow_mut().take()) {
        chunker.finish();
    }
}

/// espeak-ng's synthesis callback: audio and the events in it. Returns 1 to
/// stop the synthesis (nobody listens any more).
unsafe extern "C" fn on_audio(wav: *mut c_short, samples: c_int, events: *mut sys::Event) -> c_int {
    // No panic may unwind into C.
    std::panic::catch_unwind(|| {
        CURRENT.with(|c| {
            let mut current = c.borrow_mut();
            let Some(chunker) = current.as_mut() else {
                return 1;
            };
            let mut event = events;
            // SAFETY: espeak-ng passes an event list ended by
            // LIST_TERMINATED, and `samples` samples at `wav`, valid for
            // this call.
            unsafe {
                while !event.is_null() && (*event).kind != sys::EVENT_LIST_TERMINATED {
                    if (*event).kind == sys::EVENT_PHONEME {
                        let bytes: &[u8; 8] = &*std::ptr::addr_of!((*event).id.string).cast();
                        let len = bytes.iter().position(|b| *b == 0).unwrap_or(8);
                        if let Ok(name) = std::str::from_utf8(&bytes[..len]) {
                            // A pause has no IPA name: `_`, as espeak-ng
                            // writes it (the mouth at rest).
                            let name = if name.is_empty() { PAUSE } else { name };
                            chunker.phoneme(name, (*event).audio_position);
                        }
                    }
                    event = event.add(1);
                }
                if !wav.is_null() && samples > 0 {
                    chunker.audio(std::slice::from_raw_parts(wav, samples as usize));
                }
            }
            i32::from(chunker.chunks.is_closed())
        })
    })
    .unwrap_or(1)
}

/// Turns espeak-ng's audio and phonemes into chunks of 100 to 230 ms, cut
/// where a phoneme starts (or, inside a phoneme longer than that, after
/// 200 ms), sent as soon as they are complete.
struct Chunker {
    resampler: Resampler,
    scratch: Vec<f32>,
    /// 16 kHz samples not sent yet; the first is sample `base` of the utterance.
    pcm: Vec<i16>,
    base: usize,
    /// Phonemes not sent yet, with their first sample in the utterance.
    phonemes: Vec<(String, usize)>,
    chunks: mpsc::UnboundedSender<SpeechChunk>,
}

impl Chunker {
    fn new(rate: u32, chunks: mpsc::UnboundedSender<SpeechChunk>) -> Chunker {
        Chunker {
            resampler: Resampler::new(rate, SAMPLE_RATE, 1),
            scratch: Vec::new(),
            pcm: Vec::new(),
            base: 0,
            phonemes: Vec::new(),
            chunks,
        }
    }

    fn phoneme(&mut self, name: &str, ms: c_int) {
        let at = (ms.max(0) as usize) * (SAMPLE_RATE as usize / 1000);
        // Never before audio already sent (nor before the one before it).
        let floor = self.phonemes.last().map_or(self.base, |p| p.1);
        self.phonemes.push((name.to_string(), at.max(floor)));
    }

    fn audio(&mut self, samples: &[i16]) {
        self.scratch.clear();
        self.scratch
            .extend(samples.iter().map(|s| f32::from(*s) / 32768.0));
        let (resampler, pcm, scratch) = (&mut self.resampler, &mut self.pcm, &self.scratch);
        resampler.push(scratch, &mut |out| pcm.extend(out.iter().map(to_i16)));
        self.send_ready(false);
    }

    fn finish(&mut self) {
        let pcm = &mut self.pcm;
        self.resampler
            .finish(&mut |out| pcm.extend(out.iter().map(to_i16)));
        self.send_ready(true);
    }

    /// Sends every chunk whose end is known; at the end, all that is left.
    fn send_ready(&mut self, end: bool) {
        loop {
            let available = self.pcm.len();
            if available == 0 || (!end && available < CHUNK_MAX + CHUNK_MIN) {
                return;
            }
            if end && available <= LAST_CHUNK_MAX {
                self.send(available, true);
                return;
            }
            // The latest phoneme start within [min, max] of the chunk's
            // start; else cut at max.
            let cut = self
                .phonemes
                .iter()
                .map(|p| p.1 - self.base)
                .rfind(|at| (CHUNK_MIN..=CHUNK_MAX).contains(at))
                .unwrap_or(CHUNK_MAX);
            self.send(cut, false);
        }
    }

    /// Sends the first `len` samples held, with the phonemes that start in
    /// them (the last chunk: all the phonemes left, none lost).
    fn send(&mut self, len: usize, last: bool) {
        let end = self.base + len;
        let split = if last {
            self.phonemes.len()
        } else {
            self.phonemes.partition_point(|p| p.1 < end)
        };
        let base = self.base;
        let phonemes = self
            .phonemes
            .drain(..split)
            .map(|(name, at)| TimedPhoneme {
                symbol: Cow::Owned(name),
                start: duration_of(at.min(end - 1) - base),
            })
            .collect();
        let wav = wav_file(&self.pcm[..len]);
        self.pcm.drain(..len);
        self.base = end;
        let _ = self.chunks.send(SpeechChunk {
            wav,
            phonemes,
            duration: duration_of(len),
        });
    }
}

fn to_i16(s: &f32) -> i16 {
    (s * 32768.0).clamp(-32768.0, 32767.0) as i16
}

fn duration_of(samples: usize) -> Duration {
    Duration::from_micros(samples as u64 * 1_000_000 / u64::from(SAMPLE_RATE))
}
