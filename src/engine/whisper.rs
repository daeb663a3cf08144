//! whisper.cpp as the engine's recogniser of the player's speech (the
//! `whisper` feature), with a ggml model file the studio gives
//! (`inworld-engine --whisper-model PATH`).
//!
//! Whisper hears a whole stretch of audio at a time, not a stream: an
//! utterance's audio is kept as it comes, and one thread of its own, which
//! owns the model (loaded once, shared by every session of the engines that
//! name the same file), transcribes it again while the player speaks (a
//! partial transcript every [`PARTIAL_EVERY_SAMPLES`] of new speech, over the
//! last [`PARTIAL_WINDOW_SAMPLES`] at most) and all of it at the end (the
//! final one, which answers [`Listening::finish`]). Finals go first: a
//! partial only runs when nobody waits for a final. At most
//! [`MAX_UTTERANCES`] utterances are heard at once; one more is refused
//! (logged, and the session tells its player that nothing was recognised).
//!
//! The model call is behind [`Transcriber`], so the queue is tested without
//! a model's weights.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Weak};
use std::time::Duration;
use tokio::sync::oneshot;

/// The audio's rate (the engine's microphone path resamples to it).
const SAMPLE_RATE: usize = 16_000;
/// New speech between two partial transcripts of one utterance (1 s).
pub(crate) const PARTIAL_EVERY_SAMPLES: usize = SAMPLE_RATE;
/// A partial transcript hears at most the last 30 s (whisper's window).
pub(crate) const PARTIAL_WINDOW_SAMPLES: usize = 30 * SAMPLE_RATE;
/// Utterances heard at once (begun, not yet answered), across sessions.
pub(crate) const MAX_UTTERANCES: usize = 32;
/// A partial pass's encoder context beyond the audio (20 ms steps).
const PARTIAL_CONTEXT_MARGIN: usize = 64;
/// How often the thread looks for new speech while someone speaks.
const SPEECH_POLL: Duration = Duration::from_millis(100);
/// The initial prompt (the scene's phrases) is cut to this many bytes:
/// whisper keeps at most half its text context of it.
const MAX_PROMPT_BYTES: usize = 600;

/// Which transcript a pass makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// While the player speaks: the audio so far.
    Partial,
    /// The utterance is over: all of it.
    Final,
}

/// What turns audio into text: whisper.cpp, or a stand-in in tests.
pub(crate) trait Transcriber: Send + 'static {
    /// The text of `audio` (16 kHz mono), helped by `prompt` (what players
    /// are expected to say; may be empty). A partial pass may give up (an
    /// error) once `urgent` is set: a final transcript is waiting.
    fn transcribe(
        &mut self,
        audio: &[i16],
        prompt: &Arc<str>,
        pass: Pass,
        urgent: &AtomicBool,
    ) -> Result<String, String>;
}

/// whisper.cpp's and ggml's log lines, at debug level.
unsafe extern "C" fn log_line(
    _level: whisper_rs::whisper_rs_sys::ggml_log_level,
    text: *const std::ffi::c_char,
    _: *mut std::ffi::c_void,
) {
    if !text.is_null() && log::log_enabled!(target: "whisper.cpp", log::Level::Debug) {
        // SAFETY: whisper.cpp passes a NUL-terminated line, valid for the call.
        let line = unsafe { std::ffi::CStr::from_ptr(text) }.to_string_lossy();
        let line = line.trim_end();
        if !line.is_empty() {
            log::debug!(target: "whisper.cpp", "{line}");
        }
    }
}

/// whisper.cpp's abort callback: gives up a partial pass once a final one
/// waits.
unsafe extern "C" fn give_up_when_urgent(urgent: *mut std::ffi::c_void) -> bool {
    // SAFETY: the pointer is the `AtomicBool` lent to `full`, which outlives it.
    unsafe { (*(urgent as *const AtomicBool)).load(Ordering::Acquire) }
}

/// A whisper.cpp model and the state it decodes with.
struct WhisperModel {
    context: whisper_rs::WhisperContext,
    state: whisper_rs::WhisperState,
    threads: i32,
    /// The audio as whisper takes it (kept for its room).
    samples: Vec<f32>,
    /// The last prompt and its tokens (one per scene: made once).
    prompt: (Arc<str>, Vec<std::ffi::c_int>),
}

impl WhisperModel {
    fn load(model: &Path) -> Result<WhisperModel, String> {
        let shown = model.display();
        if !model.is_file() {
            return Err(format!(
                "whisper model {shown}: no such file (give a ggml model file, e.g. ggml-tiny.en.bin)"
            ));
        }
        check_model_file(model).map_err(|e| format!("whisper model {shown}: {e}"))?;
        // whisper.cpp's and ggml's log lines go to the `log` crate at debug
        // level, not stderr (a partial pass given up is "an error" to it).
        // SAFETY: a function that lives as long as the process, no data.
        unsafe {
            whisper_rs::whisper_rs_sys::whisper_log_set(Some(log_line), std::ptr::null_mut());
            whisper_rs::whisper_rs_sys::ggml_log_set(Some(log_line), std::ptr::null_mut());
        }
        let context = whisper_rs::WhisperContext::new_with_params(
            model,
            whisper_rs::WhisperContextParameters::default(),
        )
        .map_err(|e| {
            format!("whisper model {shown}: whisper.cpp could not load it as a ggml whisper model ({e})")
        })?;
        let state = context
            .create_state()
            .map_err(|e| format!("whisper model {shown}: no decoding state ({e})"))?;
        // Half the cores (ggml's threads wait for each other spinning: more
        // threads than free cores is slower, and the engine needs some).
        let threads =
            std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 4)) as i32;
        Ok(WhisperModel {
            context,
            state,
            threads,
            samples: Vec::new(),
            prompt: (Arc::from(""), Vec::new()),
        })
    }
}

impl Transcriber for WhisperModel {
    fn transcribe(
        &mut self,
        audio: &[i16],
        prompt: &Arc<str>,
        pass: Pass,
        urgent: &AtomicBool,
    ) -> Result<String, String> {
        if self.prompt.0 != *prompt {
            // At most one token a byte: room for all (whisper.cpp keeps the
            // last half context of them).
            let tokens = self
                .context
                .tokenize(prompt, prompt.len() + 1)
                .map_err(|e| format!("the prompt: {e}"))?;
            self.prompt = (prompt.clone(), tokens);
        }
        // Under a second whisper.cpp hears nothing: padded with silence.
        const MIN_SAMPLES: usize = SAMPLE_RATE + SAMPLE_RATE / 10;
        self.samples.clear();
        self.samples.resize(audio.len().max(MIN_SAMPLES), 0.0);
        whisper_rs::convert_integer_to_float_audio(audio, &mut self.samples[..audio.len()])
            .map_err(|e| e.to_string())?;
        let mut params =
            whisper_rs::FullParams::new(whisper_rs::SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.threads);
        // Its default language is English. (Not set here: whisper-rs's
        // setters of strings leak a copy each call; the prompt goes in as
        // tokens for the same reason.)
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        // Each pass stands alone: no text carried over from the last one.
        params.set_no_context(true);
        params.set_no_timestamps(true);
        params.set_single_segment(pass == Pass::Partial);
        // Bounded: a player says some 3 words (4 tokens) a second; past
        // that is the model repeating itself.
        let seconds = audio.len() / SAMPLE_RATE + 1;
        params.set_max_tokens((8 + 6 * seconds).min(224) as i32);
        params.set_suppress_blank(true);
        // No "[Music]" or "(laughs)" in what the player said.
        params.set_suppress_nst(true);
        params.set_tokens(&self.prompt.1);
        if pass == Pass::Partial {
            // A partial's encoder hears the utterance, not a whole 30 s
            // window (each step of its context is 20 ms): several times
            // faster, as whisper.cpp's streaming example does. Not the
            // final's: cut short, tiny.en repeats itself.
            let context = (self.samples.len() / 320 + PARTIAL_CONTEXT_MARGIN).min(1500);
            params.set_audio_ctx(context as i32);
            // SAFETY: the callback only reads the flag, which lives until
            // `full` returns.
            unsafe {
                params.set_abort_callback(Some(give_up_when_urgent));
                params.set_abort_callback_user_data(urgent as *const AtomicBool as *mut _);
            }
        }
        self.state
            .full(params, &self.samples)
            .map_err(|e| e.to_string())?;
        let mut text = String::new();
        for segment in self.state.as_iter() {
            if let Ok(s) = segment.to_str_lossy() {
                text.push_str(&s);
            }
        }
        Ok(text.trim().to_string())
    }
}

/// Checks that `path` is laid out as a ggml whisper model, every size in
/// it within the file, before whisper.cpp reads it: its loader trusts the
/// sizes it reads, and a C++ exception it throws on a damaged file would
/// abort the process (Rust cannot catch one).
fn check_model_file(path: &Path) -> Result<(), String> {
    use std::io::{BufReader, Read, Seek, SeekFrom};
    const MAGIC: u32 = 0x6767_6d6c;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    let mut file = BufReader::new(file);
    let truncated = || "not a ggml whisper model (cut short)".to_string();
    let word = |file: &mut BufReader<std::fs::File>| -> Result<u32, String> {
        let mut b = [0u8; 4];
        file.read_exact(&mut b).map_err(|_| truncated())?;
        Ok(u32::from_le_bytes(b))
    };
    if word(&mut file).ok() != Some(MAGIC) {
        return Err("not a ggml whisper model (its first bytes are not ggml's)".into());
    }
    let mut hparams = [0u32; 11];
    for h in &mut hparams {
        *h = word(&mut file)?;
    }
    let [n_vocab, audio_ctx, audio_state, audio_head, audio_layer, text_ctx, text_state, text_head, text_layer, n_mels, _ftype] =
        hparams;
    let within = |v: u32, max: u32| (1..=max).contains(&v);
    if !(within(n_vocab, 1 << 20)
        && within(audio_ctx, 1 << 14)
        && within(text_ctx, 1 << 14)
        && within(audio_state, 1 << 13)
        && within(text_state, 1 << 13)
        && within(audio_head, 256)
        && within(text_head, 256)
        && within(audio_layer, 256)
        && within(text_layer, 256)
        && within(n_mels, 1024))
    {
        return Err(format!(
            "not a ggml whisper model (implausible sizes {hparams:?})"
        ));
    }
    let skip = |file: &mut BufReader<std::fs::File>, bytes: u64| -> Result<(), String> {
        let at = file.stream_position().map_err(|e| e.to_string())?;
        if at + bytes > size {
            return Err(truncated());
        }
        file.seek(SeekFrom::Current(bytes as i64))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let (filters, fft) = (word(&mut file)?, word(&mut file)?);
    if !within(filters, 1024) || !within(fft, 1 << 14) {
        return Err(format!(
            "not a ggml whisper model (a {filters} x {fft} mel filter bank)"
        ));
    }
    skip(&mut file, 4 * u64::from(filters) * u64::from(fft))?;
    let tokens = word(&mut file)?;
    if tokens > n_vocab {
        return Err(format!(
            "not a ggml whisper model ({tokens} tokens of {n_vocab})"
        ));
    }
    for _ in 0..tokens {
        let len = word(&mut file)?;
        skip(&mut file, u64::from(len))?;
    }
    let mut tensors = 0;
    while file.stream_position().map_err(|e| e.to_string())? < size {
        let (dims, name_len, kind) = (word(&mut file)?, word(&mut file)?, word(&mut file)?);
        if !(1..=4).contains(&dims) || !within(name_len, 1024) {
            return Err(format!("tensor {tensors}: not a ggml tensor header"));
        }
        // Bytes per block and elements per block of the types whisper.cpp writes.
        let (block_bytes, block) = match kind {
            0 => (4, 1),
            1 | 30 => (2, 1),
            2 => (18, 32),
            3 => (20, 32),
            6 => (22, 32),
            7 => (24, 32),
            8 => (34, 32),
            other => return Err(format!("tensor {tensors}: type {other} is not supported")),
        };
        let mut elements = 1u64;
        let mut first = 0;
        for d in 0..dims {
            let n = word(&mut file)?;
            if n == 0 || n > 1 << 24 {
                return Err(format!("tensor {tensors}: a dimension of {n}"));
            }
            if d == 0 {
                first = n;
            }
            elements = elements.saturating_mul(u64::from(n));
        }
        if first % block != 0 {
            return Err(format!(
                "tensor {tensors}: rows of {first} in blocks of {block}"
            ));
        }
        skip(&mut file, u64::from(name_len))?;
        skip(&mut file, elements / u64::from(block) * block_bytes)?;
        tensors += 1;
    }
    if tensors == 0 {
        return Err("not a ggml whisper model (no tensors)".into());
    }
    Ok(())
}

/// The models loaded, by path: engines naming the same file share one.
static LOADED: Mutex<Option<HashMap<PathBuf, Weak<Whisper>>>> = Mutex::new(None);

/// The handle to a recogniser thread.
#[derive(Debug)]
pub(crate) struct Whisper {
    messages: std_mpsc::Sender<Message>,
    next_id: AtomicU64,
    /// Utterances begun and not yet answered or given up.
    live: Arc<AtomicUsize>,
    /// A final transcript is waiting (a partial pass gives up).
    urgent: Arc<AtomicBool>,
}

impl Whisper {
    /// The recogniser with the model at `model`, loaded now unless an
    /// engine of this process already has it (the error names the path).
    pub(crate) fn shared(model: &Path) -> Result<Arc<Whisper>, String> {
        let mut loaded = LOADED.lock();
        let loaded = loaded.get_or_insert_with(HashMap::new);
        loaded.retain(|_, w| w.strong_count() > 0);
        if let Some(whisper) = loaded.get(model).and_then(Weak::upgrade) {
            return Ok(whisper);
        }
        let path = model.to_path_buf();
        let whisper = Arc::new(Whisper::start(move || WhisperModel::load(&path))?);
        loaded.insert(model.to_path_buf(), Arc::downgrade(&whisper));
        Ok(whisper)
    }

    /// Starts the thread, which makes its transcriber with `make` (the
    /// error when it cannot).
    pub(crate) fn start<T: Transcriber>(
        make: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Result<Whisper, String> {
        let (messages, rx) = std_mpsc::channel::<Message>();
        let (ready_tx, ready) = std_mpsc::channel();
        let live = Arc::new(AtomicUsize::new(0));
        let urgent = Arc::new(AtomicBool::new(false));
        let (queue_live, queue_urgent) = (live.clone(), urgent.clone());
        std::thread::Builder::new()
            .name("whisper".into())
            .spawn(move || match make() {
                Ok(transcriber) => {
                    let _ = ready_tx.send(Ok(()));
                    Queue::new(transcriber, queue_live, queue_urgent).run(rx);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| format!("cannot start the whisper thread: {e}"))?;
        ready
            .recv()
            .map_err(|_| "the whisper thread died at start".to_string())??;
        Ok(Whisper {
            messages,
            next_id: AtomicU64::new(0),
            live,
            urgent,
        })
    }

    /// Starts hearing one utterance, helped by `prompt` (the scene's
    /// phrases, or empty). Refused (its text empty) when
    /// [`MAX_UTTERANCES`] are being heard already.
    pub(crate) fn listen(self: &Arc<Self>, prompt: &Arc<str>) -> Listening {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let admitted = self
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_UTTERANCES).then_some(n + 1)
            })
            .is_ok();
        if !admitted {
            log::warn!(
                "whisper: {MAX_UTTERANCES} utterances are being recognised already: utterance {id} is not heard (its player is told nothing was recognised)"
            );
            return Listening {
                recogniser: self.clone(),
                utterance: None,
                shown: String::new(),
                finished: false,
            };
        }
        let utterance = Arc::new(Utterance {
            id,
            prompt: prompt.clone(),
            audio: Mutex::new(Vec::new()),
            partial: Mutex::new(String::new()),
        });
        if self
            .messages
            .send(Message::Begin(utterance.clone()))
            .is_err()
        {
            // The thread is gone (it only ends when every handle is).
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
        Listening {
            recogniser: self.clone(),
            utterance: Some(utterance),
            shown: String::new(),
            finished: false,
        }
    }
}

/// The scene's phrases as whisper's initial prompt, cut to a bound.
pub(crate) fn prompt_of(phrases: &[String]) -> Arc<str> {
    let mut prompt = String::new();
    for phrase in phrases {
        // whisper.cpp takes C strings.
        let phrase = phrase.trim().trim_matches('\0');
        if phrase.is_empty() || phrase.contains('\0') {
            continue;
        }
        if prompt.len() + phrase.len() + 2 > MAX_PROMPT_BYTES {
            break;
        }
        if !prompt.is_empty() {
            prompt.push(' ');
        }
        prompt.push_str(phrase);
        if !phrase.ends_with(['.', '?', '!']) {
            prompt.push('.');
        }
    }
    prompt.into()
}

/// One utterance's audio and its latest partial transcript, shared by the
/// session (which adds audio) and the thread (which reads it).
#[derive(Debug)]
struct Utterance {
    id: u64,
    prompt: Arc<str>,
    audio: Mutex<Vec<i16>>,
    partial: Mutex<String>,
}

enum Message {
    Begin(Arc<Utterance>),
    /// The utterance is over: its text goes to `text`.
    End {
        id: u64,
        text: oneshot::Sender<String>,
    },
    /// Nobody waits for it any more.
    Drop {
        id: u64,
    },
}

/// One utterance being recognised.
#[derive(Debug)]
pub(crate) struct Listening {
    recogniser: Arc<Whisper>,
    /// `None` when refused.
    utterance: Option<Arc<Utterance>>,
    /// The partial text last handed out.
    shown: String,
    finished: bool,
}

impl Listening {
    /// More of the utterance's audio (16 kHz mono).
    pub(crate) fn push(&mut self, samples: &[i16]) {
        if let Some(u) = &self.utterance {
            u.audio.lock().extend_from_slice(samples);
        }
    }

    /// The text recognised so far, when it changed since last asked.
    pub(crate) fn partial(&mut self) -> Option<String> {
        let now = self.utterance.as_ref()?.partial.lock().clone();
        if now.is_empty() || now == self.shown {
            return None;
        }
        self.shown = now.clone();
        Some(now)
    }

    /// The utterance is over: its text (empty when nothing was recognised).
    pub(crate) fn finish(mut self) -> oneshot::Receiver<String> {
        let (text, rx) = oneshot::channel();
        self.finished = true;
        match &self.utterance {
            Some(u) => {
                // A dead thread drops `text`: the receiver then reads as empty.
                let _ = self
                    .recogniser
                    .messages
                    .send(Message::End { id: u.id, text });
                self.recogniser.urgent.store(true, Ordering::Release);
            }
            None => {
                let _ = text.send(String::new());
            }
        }
        rx
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let (false, Some(u)) = (self.finished, &self.utterance) {
            let _ = self.recogniser.messages.send(Message::Drop { id: u.id });
        }
    }
}

/// An utterance the thread knows of.
struct Pending {
    utterance: Arc<Utterance>,
    /// Set when the utterance is over.
    end: Option<oneshot::Sender<String>>,
    /// Samples heard by the last partial pass.
    partial_at: usize,
}

/// The utterances being heard, in the order they began, and the
/// transcriber they share.
struct Queue<T> {
    transcriber: T,
    pending: VecDeque<Pending>,
    live: Arc<AtomicUsize>,
    urgent: Arc<AtomicBool>,
    /// A copy of the audio a pass works on (so the session can add more
    /// meanwhile); its room is kept.
    audio: Vec<i16>,
}

impl<T: Transcriber> Queue<T> {
    fn new(transcriber: T, live: Arc<AtomicUsize>, urgent: Arc<AtomicBool>) -> Queue<T> {
        Queue {
            transcriber,
            pending: VecDeque::new(),
            live,
            urgent,
            audio: Vec::new(),
        }
    }

    fn run(mut self, messages: std_mpsc::Receiver<Message>) {
        loop {
            // Everything asked so far, then the most urgent pass. (Cleared
            // first: an utterance that ends meanwhile sets it again.)
            self.urgent.store(false, Ordering::Release);
            loop {
                match messages.try_recv() {
                    Ok(m) => self.apply(m),
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => return,
                }
            }
            if self.final_pass() || self.partial_pass() {
                continue;
            }
            // Nothing due: wait for a message, looking at the speakers'
            // audio now and then.
            let message = if self.pending.is_empty() {
                messages.recv().map_err(|_| ())
            } else {
                match messages.recv_timeout(SPEECH_POLL) {
                    Ok(m) => Ok(m),
                    Err(std_mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(()),
                }
            };
            match message {
                Ok(m) => self.apply(m),
                Err(()) => return,
            }
        }
    }

    fn apply(&mut self, message: Message) {
        match message {
            Message::Begin(utterance) => self.pending.push_back(Pending {
                utterance,
                end: None,
                partial_at: 0,
            }),
            Message::End { id, text } => {
                if let Some(p) = self.pending.iter_mut().find(|p| p.utterance.id == id) {
                    p.end = Some(text);
                }
            }
            Message::Drop { id } => {
                if let Some(i) = self.pending.iter().position(|p| p.utterance.id == id) {
                    self.pending.remove(i);
                    self.live.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }

    /// Transcribes the first utterance that is over, if any.
    fn final_pass(&mut self) -> bool {
        let Some(i) = self.pending.iter().position(|p| p.end.is_some()) else {
            return false;
        };
        let Some(Pending { utterance, end, .. }) = self.pending.remove(i) else {
            return false;
        };
        self.audio.clear();
        self.audio.extend_from_slice(&utterance.audio.lock());
        let text = if self.audio.is_empty() {
            String::new()
        } else {
            self.transcriber
                .transcribe(&self.audio, &utterance.prompt, Pass::Final, &self.urgent)
                .unwrap_or_else(|e| {
                    log::warn!(
                        "whisper: utterance {} ({} samples) not recognised: {e}",
                        utterance.id,
                        self.audio.len()
                    );
                    String::new()
                })
        };
        self.live.fetch_sub(1, Ordering::AcqRel);
        if let Some(end) = end {
            let _ = end.send(text);
        }
        true
    }

    /// Transcribes the audio so far of the utterance that waited longest
    /// for one, when it has [`PARTIAL_EVERY_SAMPLES`] of new speech.
    fn partial_pass(&mut self) -> bool {
        let due = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.end.is_none())
            .map(|(i, p)| (i, p.utterance.audio.lock().len(), p.partial_at))
            .filter(|(_, len, at)| *len >= at + PARTIAL_EVERY_SAMPLES)
            .max_by_key(|(_, len, at)| len - at);
        let Some((i, _, _)) = due else {
            return false;
        };
        let utterance = self.pending[i].utterance.clone();
        let before = self.pending[i].partial_at;
        {
            let audio = utterance.audio.lock();
            let from = audio.len().saturating_sub(PARTIAL_WINDOW_SAMPLES);
            self.audio.clear();
            self.audio.extend_from_slice(&audio[from..]);
            self.pending[i].partial_at = audio.len();
        }
        match self.transcriber.transcribe(
            &self.audio,
            &utterance.prompt,
            Pass::Partial,
            &self.urgent,
        ) {
            Ok(text) => *utterance.partial.lock() = text,
            Err(e) => {
                log::debug!("whisper: utterance {}: no partial: {e}", utterance.id);
                if self.urgent.load(Ordering::Acquire) {
                    // Given up for a final: due again once finals are done.
                    if let Some(p) = self
                        .pending
                        .iter_mut()
                        .find(|p| p.utterance.id == utterance.id)
                    {
                        p.partial_at = before;
                    }
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each pass: the samples heard, which pass, the prompt (or how it ended).
    type Calls = Arc<Mutex<Vec<(usize, Pass, String)>>>;

    /// Says how much audio it heard; can be made to wait or fail.
    struct Counting {
        calls: Calls,
        /// Each pass says it began, then waits to be let through.
        gate: Option<(std_mpsc::Sender<()>, std_mpsc::Receiver<()>)>,
        /// Partial passes last until a final one is waiting (a slow model).
        slow_partials: bool,
    }

    impl Transcriber for Counting {
        fn transcribe(
            &mut self,
            audio: &[i16],
            prompt: &Arc<str>,
            pass: Pass,
            urgent: &AtomicBool,
        ) -> Result<String, String> {
            if self.slow_partials && pass == Pass::Partial {
                if let Some((began, _)) = &self.gate {
                    let _ = began.send(());
                }
                let start = std::time::Instant::now();
                while !urgent.load(Ordering::Acquire) {
                    assert!(start.elapsed() < Duration::from_secs(60), "never urgent");
                    std::thread::sleep(Duration::from_millis(5));
                }
                self.calls
                    .lock()
                    .push((audio.len(), pass, "gave up".into()));
                return Err("gave up".into());
            }
            if let Some((began, gate)) = &self.gate {
                let _ = began.send(());
                let _ = gate.recv_timeout(Duration::from_secs(60));
            }
            self.calls
                .lock()
                .push((audio.len(), pass, prompt.to_string()));
            if audio.first() == Some(&-1) {
                return Err("refused".into());
            }
            Ok(format!("{} samples", audio.len()))
        }
    }

    fn counting() -> (Arc<Whisper>, Calls) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let c = calls.clone();
        let whisper = Whisper::start(move || {
            Ok(Counting {
                calls: c,
                gate: None,
                slow_partials: false,
            })
        })
        .unwrap();
        (Arc::new(whisper), calls)
    }

    fn final_text(l: Listening) -> String {
        l.finish().blocking_recv().unwrap_or_default()
    }

    /// Waits (generously: only a hang fails) for `done`.
    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !done() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "waited a minute for {what}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn the_final_transcript_hears_the_whole_utterance() {
        let (whisper, calls) = counting();
        let prompt = prompt_of(&["Hello there".into(), "A room for the night?".into()]);
        let mut l = whisper.listen(&prompt);
        for _ in 0..10 {
            l.push(&[7; 320]);
        }
        assert_eq!(final_text(l), "3200 samples");
        let calls = calls.lock();
        let last = calls.last().unwrap();
        assert_eq!((last.0, last.1), (3200, Pass::Final));
        assert_eq!(last.2, "Hello there. A room for the night?");
        assert_eq!(whisper.live.load(Ordering::Acquire), 0);
    }

    #[test]
    fn partials_come_while_the_player_speaks_each_second_of_speech() {
        let (whisper, calls) = counting();
        let mut l = whisper.listen(&prompt_of(&[]));
        l.push(&vec![1; PARTIAL_EVERY_SAMPLES - 1]);
        // Under a second of speech: no partial pass.
        std::thread::sleep(SPEECH_POLL * 3);
        assert!(calls.lock().is_empty());
        assert_eq!(l.partial(), None);
        l.push(&[1]);
        wait_for("a partial", || l.partial().is_some());
        assert_eq!(l.shown, format!("{PARTIAL_EVERY_SAMPLES} samples"));
        // Not handed out twice.
        assert_eq!(l.partial(), None);
        l.push(&vec![1; PARTIAL_EVERY_SAMPLES]);
        wait_for("a second partial", || l.partial().is_some());
        assert_eq!(l.shown, format!("{} samples", 2 * PARTIAL_EVERY_SAMPLES));
        assert_eq!(
            final_text(l),
            format!("{} samples", 2 * PARTIAL_EVERY_SAMPLES)
        );
        let passes: Vec<Pass> = calls.lock().iter().map(|c| c.1).collect();
        assert_eq!(passes, [Pass::Partial, Pass::Partial, Pass::Final]);
    }

    #[test]
    fn a_partial_hears_only_the_last_window() {
        let (whisper, calls) = counting();
        let mut l = whisper.listen(&prompt_of(&[]));
        l.push(&vec![1; PARTIAL_WINDOW_SAMPLES + 5 * SAMPLE_RATE]);
        wait_for("a partial", || l.partial().is_some());
        assert_eq!(
            calls.lock()[0],
            (PARTIAL_WINDOW_SAMPLES, Pass::Partial, String::new())
        );
        assert_eq!(
            final_text(l),
            format!("{} samples", PARTIAL_WINDOW_SAMPLES + 5 * SAMPLE_RATE)
        );
    }

    #[test]
    fn finals_go_before_partials_in_the_order_utterances_began() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (open, gate) = std_mpsc::channel();
        let (began, began_rx) = std_mpsc::channel();
        let c = calls.clone();
        let whisper = Arc::new(
            Whisper::start(move || {
                Ok(Counting {
                    calls: c,
                    gate: Some((began, gate)),
                    slow_partials: false,
                })
            })
            .unwrap(),
        );
        let prompt = prompt_of(&[]);
        // One utterance busy in a partial pass (held at the gate) ...
        let mut speaking = whisper.listen(&prompt);
        speaking.push(&vec![1; PARTIAL_EVERY_SAMPLES]);
        began_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        // ... while three others end, and the speaker has more to hear.
        let ended: Vec<_> = [100, 200, 300]
            .into_iter()
            .map(|n| {
                let mut l = whisper.listen(&prompt);
                l.push(&vec![1; n]);
                l.finish()
            })
            .collect();
        speaking.push(&vec![1; 2 * PARTIAL_EVERY_SAMPLES]);
        for _ in 0..5 {
            open.send(()).unwrap();
        }
        let texts: Vec<String> = ended
            .into_iter()
            .map(|rx| rx.blocking_recv().unwrap())
            .collect();
        assert_eq!(texts, ["100 samples", "200 samples", "300 samples"]);
        wait_for("the speaker's partial", || calls.lock().len() >= 5);
        let order: Vec<(usize, Pass)> = calls.lock().iter().map(|c| (c.0, c.1)).collect();
        assert_eq!(
            order,
            [
                (PARTIAL_EVERY_SAMPLES, Pass::Partial),
                (100, Pass::Final),
                (200, Pass::Final),
                (300, Pass::Final),
                (3 * PARTIAL_EVERY_SAMPLES, Pass::Partial),
            ]
        );
        drop(speaking);
        wait_for("the dropped utterance to be let go", || {
            whisper.live.load(Ordering::Acquire) == 0
        });
    }

    #[test]
    fn a_final_cuts_a_slow_partial_pass_short() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let c = calls.clone();
        let (open, gate) = std_mpsc::channel();
        let (began, began_rx) = std_mpsc::channel();
        let whisper = Arc::new(
            Whisper::start(move || {
                Ok(Counting {
                    calls: c,
                    gate: Some((began, gate)),
                    slow_partials: true,
                })
            })
            .unwrap(),
        );
        let prompt = prompt_of(&[]);
        let mut speaking = whisper.listen(&prompt);
        speaking.push(&vec![1; PARTIAL_EVERY_SAMPLES]);
        began_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        open.send(()).unwrap();
        let mut other = whisper.listen(&prompt);
        other.push(&[1; 40]);
        // The partial pass would last for ever; the final ends it.
        assert_eq!(final_text(other), "40 samples");
        let whisper_calls = calls.clone();
        let calls = calls.lock();
        assert_eq!(
            calls[0],
            (PARTIAL_EVERY_SAMPLES, Pass::Partial, "gave up".into())
        );
        assert_eq!((calls[1].0, calls[1].1), (40, Pass::Final));
        drop(calls);
        // The final pass said it began too: not the retry awaited below.
        began_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        // Given up for the final, the partial is tried again after it ...
        began_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        // ... and given up again for the speaker's own final.
        open.send(()).unwrap();
        assert_eq!(
            final_text(speaking),
            format!("{PARTIAL_EVERY_SAMPLES} samples")
        );
        let calls = whisper_calls.lock();
        assert_eq!(calls.len(), 4, "{calls:?}");
        assert_eq!(calls[2].2, "gave up");
        assert_eq!(calls[3].1, Pass::Final);
    }

    #[test]
    fn utterances_beyond_the_bound_are_refused_and_come_back_empty() {
        let (whisper, calls) = counting();
        let prompt = prompt_of(&[]);
        let mut heard: Vec<Listening> = (0..MAX_UTTERANCES)
            .map(|_| whisper.listen(&prompt))
            .collect();
        let mut refused = whisper.listen(&prompt);
        assert!(refused.utterance.is_none());
        refused.push(&[1; 100]);
        assert_eq!(refused.partial(), None);
        assert_eq!(final_text(refused), "");
        // Once one is answered, there is room again.
        let first = heard.remove(0);
        let mut l = heard.remove(0);
        drop(first);
        l.push(&[1; 50]);
        assert_eq!(final_text(l), "50 samples");
        let mut again = whisper.listen(&prompt);
        assert!(again.utterance.is_some());
        again.push(&[1; 10]);
        assert_eq!(final_text(again), "10 samples");
        drop(heard);
        wait_for("every utterance let go", || {
            whisper.live.load(Ordering::Acquire) == 0
        });
        assert_eq!(calls.lock().len(), 2);
    }

    #[test]
    fn a_failed_pass_gives_an_empty_transcript_and_the_thread_goes_on() {
        let (whisper, _) = counting();
        let prompt = prompt_of(&[]);
        let mut l = whisper.listen(&prompt);
        l.push(&[-1; 10]);
        assert_eq!(final_text(l), "");
        let mut l = whisper.listen(&prompt);
        assert_eq!(final_text(whisper.listen(&prompt)), "");
        l.push(&[2; 10]);
        assert_eq!(final_text(l), "10 samples");
    }

    #[test]
    fn a_transcriber_that_cannot_start_is_an_error() {
        let e = Whisper::start(|| Err::<Counting, _>("no model".to_string())).unwrap_err();
        assert_eq!(e, "no model");
    }

    #[test]
    fn the_prompt_is_bounded_and_made_of_sentences() {
        assert_eq!(
            &*prompt_of(&["hi".into(), " ".into(), "bye!".into()]),
            "hi. bye!"
        );
        let many: Vec<String> = (0..200).map(|i| format!("phrase number {i}")).collect();
        let p = prompt_of(&many);
        assert!(p.len() <= MAX_PROMPT_BYTES, "{}", p.len());
        assert!(p.ends_with('.'));
    }

    #[test]
    fn a_missing_model_is_an_error_naming_its_path() {
        let e = Whisper::shared(Path::new("/nonexistent/ggml-tiny.en.bin")).unwrap_err();
        assert!(e.contains("/nonexistent/ggml-tiny.en.bin"), "{e}");
        assert!(e.contains("no such file"), "{e}");
    }

    /// A ggml whisper header: magic, `hparams`, a mel filter bank's size.
    fn header(hparams: &[u32], filters: u32, fft: u32) -> Vec<u8> {
        let mut b = 0x6767_6d6c_u32.to_le_bytes().to_vec();
        for w in hparams.iter().chain([&filters, &fft]) {
            b.extend(w.to_le_bytes());
        }
        b
    }

    #[test]
    fn a_file_that_is_not_a_model_is_an_error_naming_its_path() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("empty.bin", &b""[..]),
            ("text.bin", &b"not a model at all, just words\n"[..]),
            // whisper's magic, then nothing it needs.
            ("truncated.bin", &b"lmggtruncated"[..]),
            // A header of plausible sizes, then too little.
            (
                "short.bin",
                &header(&[51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1], 80, 201),
            ),
            // Sizes no model has.
            ("huge.bin", &header(&[u32::MAX; 11], 80, 201)),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let e = Whisper::shared(&path).unwrap_err();
            assert!(e.contains(&path.display().to_string()), "{e}");
            assert!(e.contains("not a ggml whisper model"), "{e}");
        }
        let e = Whisper::shared(dir.path()).unwrap_err();
        assert!(e.contains("no such file"), "{e}");
    }
}
