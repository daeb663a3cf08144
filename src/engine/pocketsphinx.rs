//! PocketSphinx as the engine's recogniser of the player's speech (the
//! `pocketsphinx` feature): the library Debian 12 ships (5prealpha) with
//! its US English acoustic model, language model and dictionary.
//!
//! A decoder is large (its models) and decodes one utterance at a time, so
//! one thread of its own owns it for the whole process: utterances are
//! decoded in the order they start, the first one live as its audio comes,
//! the others' audio held until their turn. Partial hypotheses are posted as
//! they change; the final one answers [`Listening::finish`].

use parking_lot::Mutex;
use std::ffi::{c_char, CStr, CString};
use std::sync::{mpsc as std_mpsc, Arc, OnceLock};
use tokio::sync::oneshot;

/// The declarations of `pocketsphinx.h` and sphinxbase's `cmd_ln.h`
/// (5prealpha) this module uses.
mod sys {
    use std::ffi::{c_char, c_int};

    #[repr(C)]
    pub struct Decoder {
        _private: [u8; 0],
    }
    #[repr(C)]
    pub struct Config {
        _private: [u8; 0],
    }
    #[repr(C)]
    pub struct ArgDefinition {
        _private: [u8; 0],
    }

    #[link(name = "pocketsphinx")]
    extern "C" {
        pub fn ps_args() -> *const ArgDefinition;
        pub fn ps_init(config: *mut Config) -> *mut Decoder;
        pub fn ps_free(decoder: *mut Decoder) -> c_int;
        pub fn ps_start_utt(decoder: *mut Decoder) -> c_int;
        pub fn ps_process_raw(
            decoder: *mut Decoder,
            data: *const i16,
            samples: usize,
            no_search: c_int,
            full_utt: c_int,
        ) -> c_int;
        pub fn ps_end_utt(decoder: *mut Decoder) -> c_int;
        pub fn ps_get_hyp(decoder: *mut Decoder, best_score: *mut i32) -> *const c_char;
        pub fn ps_set_lm_file(
            decoder: *mut Decoder,
            name: *const c_char,
            path: *const c_char,
        ) -> c_int;
        pub fn ps_set_search(decoder: *mut Decoder, name: *const c_char) -> c_int;
        pub fn ps_get_search(decoder: *mut Decoder) -> *const c_char;
    }

    #[link(name = "sphinxbase")]
    extern "C" {
        pub fn cmd_ln_init(
            config: *mut Config,
            definitions: *const ArgDefinition,
            strict: i32,
            ...
        ) -> *mut Config;
        pub fn cmd_ln_free_r(config: *mut Config) -> c_int;
    }
}

/// Where the models are (Debian's `pocketsphinx-en-us`), as pkg-config said
/// at build time.
const MODEL_DIR: &str = match option_env!("INWORLD_POCKETSPHINX_MODELDIR") {
    Some(dir) => dir,
    None => "/usr/share/pocketsphinx/model",
};

enum Message {
    /// A language model made from `phrases`, known as `name` from then on.
    Vocabulary {
        name: String,
        phrases: Vec<String>,
        done: std_mpsc::Sender<Result<(), String>>,
    },
    Begin {
        id: u64,
        /// The vocabulary to hear it with; the whole US English one if none.
        vocabulary: Option<String>,
        partial: Arc<Mutex<String>>,
    },
    Audio {
        id: u64,
        samples: Vec<i16>,
    },
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

/// The handle to the recogniser thread.
#[derive(Debug)]
pub(crate) struct PocketSphinx {
    messages: Mutex<std_mpsc::Sender<Message>>,
    next_id: std::sync::atomic::AtomicU64,
}

static POCKETSPHINX: OnceLock<Result<PocketSphinx, String>> = OnceLock::new();

impl PocketSphinx {
    /// The process's recogniser, started (its models loaded) the first time.
    pub(crate) fn shared() -> Result<&'static PocketSphinx, String> {
        POCKETSPHINX
            .get_or_init(PocketSphinx::start)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn start() -> Result<PocketSphinx, String> {
        let (messages, rx) = std_mpsc::channel::<Message>();
        let (ready_tx, ready) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("pocketsphinx".into())
            .spawn(move || match Decoder::new() {
                Ok(decoder) => {
                    let _ = ready_tx.send(Ok(()));
                    Queue::new(decoder).run(rx);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| format!("cannot start the PocketSphinx thread: {e}"))?;
        ready
            .recv()
            .map_err(|_| "the PocketSphinx thread died at start".to_string())??;
        Ok(PocketSphinx {
            messages: Mutex::new(messages),
            next_id: Default::default(),
        })
    }

    /// Makes a language model from `phrases` (what players are expected to
    /// say): returns its name, for [`PocketSphinx::listen`].
    pub(crate) fn vocabulary(&self, phrases: &[String]) -> Result<String, String> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        phrases.hash(&mut hasher);
        let name = format!("phrases-{:016x}", hasher.finish());
        let (done, result) = std_mpsc::channel();
        self.send(Message::Vocabulary {
            name: name.clone(),
            phrases: phrases.to_vec(),
            done,
        });
        result
            .recv()
            .map_err(|_| "the PocketSphinx thread is gone".to_string())??;
        Ok(name)
    }

    /// Starts listening to one utterance, with a vocabulary made by
    /// [`PocketSphinx::vocabulary`] or the whole US English one.
    pub(crate) fn listen(&'static self, vocabulary: Option<&str>) -> Listening {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = Arc::new(Mutex::new(String::new()));
        self.send(Message::Begin {
            id,
            vocabulary: vocabulary.map(str::to_string),
            partial: partial.clone(),
        });
        Listening {
            recogniser: self,
            id,
            partial,
            shown: String::new(),
            finished: false,
        }
    }

    fn send(&self, message: Message) {
        // The thread lives as long as the process.
        let _ = self.messages.lock().send(message);
    }
}

/// One utterance being recognised.
#[derive(Debug)]
pub(crate) struct Listening {
    recogniser: &'static PocketSphinx,
    id: u64,
    partial: Arc<Mutex<String>>,
    /// The partial text last handed out.
    shown: String,
    finished: bool,
}

impl Listening {
    /// More of the utterance's audio (16 kHz mono).
    pub(crate) fn push(&mut self, samples: &[i16]) {
        if !samples.is_empty() {
            self.recogniser.send(Message::Audio {
                id: self.id,
                samples: samples.to_vec(),
            });
        }
    }

    /// The text recognised so far, when it changed since last asked.
    pub(crate) fn partial(&mut self) -> Option<String> {
        let now = self.partial.lock().clone();
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
        self.recogniser.send(Message::End { id: self.id, text });
        rx
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if !self.finished {
            self.recogniser.send(Message::Drop { id: self.id });
        }
    }
}

/// A PocketSphinx decoder and its configuration.
struct Decoder {
    decoder: *mut sys::Decoder,
    config: *mut sys::Config,
    /// The search of the whole US English language model.
    default_search: CString,
    /// Vocabularies made so far.
    vocabularies: std::collections::HashSet<String>,
}

impl Decoder {
    fn new() -> Result<Decoder, String> {
        let path = |p: &str| CString::new(format!("{MODEL_DIR}/{p}")).unwrap_or_default();
        let (hmm, lm, dict) = (
            path("en-us/en-us"),
            path("en-us/en-us.lm.bin"),
            path("en-us/cmudict-en-us.dict"),
        );
        if !std::path::Path::new(&format!("{MODEL_DIR}/en-us/en-us")).is_dir() {
            return Err(format!(
                "PocketSphinx's US English model is not in {MODEL_DIR}/en-us (Debian: apt-get install pocketsphinx-en-us)"
            ));
        }
        let arg = |s: &'static CStr| s.as_ptr();
        // SAFETY: the argument list is pairs of NUL-terminated strings
        // ended by NULL, as cmd_ln_init wants; the strings outlive the call
        // (it copies them).
        let config = unsafe {
            sys::cmd_ln_init(
                std::ptr::null_mut(),
                sys::ps_args(),
                1,
                arg(c"-hmm"),
                hmm.as_ptr(),
                arg(c"-lm"),
                lm.as_ptr(),
                arg(c"-dict"),
                dict.as_ptr(),
                arg(c"-logfn"),
                arg(c"/dev/null"),
                // Digital silence (exact zeros) upsets its feature
                // normalisation: a little fixed-seed dither, as sox adds.
                arg(c"-dither"),
                arg(c"yes"),
                arg(c"-seed"),
                arg(c"1"),
                std::ptr::null::<c_char>(),
            )
        };
        if config.is_null() {
            return Err("PocketSphinx refused its configuration".to_string());
        }
        // SAFETY: a valid configuration; the decoder takes its own reference.
        let decoder = unsafe { sys::ps_init(config) };
        if decoder.is_null() {
            // SAFETY: ours, not used after.
            unsafe { sys::cmd_ln_free_r(config) };
            return Err(format!(
                "PocketSphinx could not load its models from {MODEL_DIR}/en-us"
            ));
        }
        // SAFETY: a live decoder; its name is copied at once.
        let default_search = unsafe { CStr::from_ptr(sys::ps_get_search(decoder)) }.to_owned();
        Ok(Decoder {
            decoder,
            config,
            default_search,
            vocabularies: Default::default(),
        })
    }

    /// Loads a language model made from `phrases` as search `name`.
    fn add_vocabulary(&mut self, name: &str, phrases: &[String]) -> Result<(), String> {
        if self.vocabularies.contains(name) {
            return Ok(());
        }
        let path =
            std::env::temp_dir().join(format!("inworld-engine-{}-{name}.lm", std::process::id()));
        std::fs::write(&path, arpa_model(phrases))
            .map_err(|e| format!("cannot write the vocabulary's language model: {e}"))?;
        let (c_name, c_path) = (
            CString::new(name).unwrap_or_default(),
            CString::new(path.to_string_lossy().as_bytes()).unwrap_or_default(),
        );
        // SAFETY: a live decoder, not inside an utterance; it reads the file now.
        let status = unsafe { sys::ps_set_lm_file(self.decoder, c_name.as_ptr(), c_path.as_ptr()) };
        let _ = std::fs::remove_file(&path);
        if status < 0 {
            return Err("PocketSphinx refused the vocabulary's language model".to_string());
        }
        self.vocabularies.insert(name.to_string());
        Ok(())
    }

    /// Selects the search for the next utterance.
    fn use_vocabulary(&mut self, name: Option<&str>) {
        let name = name
            .filter(|n| self.vocabularies.contains(*n))
            .and_then(|n| CString::new(n).ok())
            .unwrap_or_else(|| self.default_search.clone());
        // SAFETY: a live decoder, not inside an utterance.
        unsafe { sys::ps_set_search(self.decoder, name.as_ptr()) };
    }

    fn start(&mut self) {
        // SAFETY: a live decoder, used by its thread only.
        unsafe { sys::ps_start_utt(self.decoder) };
    }

    fn process(&mut self, samples: &[i16]) {
        // SAFETY: as above; `samples` is valid for the call.
        unsafe {
            sys::ps_process_raw(self.decoder, samples.as_ptr(), samples.len(), 0, 0);
        }
    }

    /// The best hypothesis so far.
    fn hypothesis(&mut self) -> String {
        let mut score = 0;
        // SAFETY: as above; the string is the decoder's, copied at once.
        unsafe {
            let hyp = sys::ps_get_hyp(self.decoder, &mut score);
            if hyp.is_null() {
                String::new()
            } else {
                CStr::from_ptr(hyp).to_string_lossy().into_owned()
            }
        }
    }

    fn end(&mut self) -> String {
        // SAFETY: as above.
        unsafe { sys::ps_end_utt(self.decoder) };
        self.hypothesis()
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: ours, not used after.
        unsafe {
            sys::ps_free(self.decoder);
            sys::cmd_ln_free_r(self.config);
        }
    }
}

/// A bigram language model (ARPA text) of `phrases`: each phrase a
/// sentence, lower-cased, its punctuation dropped. Words the dictionary
/// does not know are left out by PocketSphinx.
fn arpa_model(phrases: &[String]) -> String {
    use std::collections::BTreeMap;
    use std::fmt::Write;
    let mut unigrams: BTreeMap<String, u32> = BTreeMap::new();
    let mut bigrams: BTreeMap<(String, String), u32> = BTreeMap::new();
    for phrase in phrases {
        let mut words = vec!["<s>".to_string()];
        words.extend(
            phrase
                .split(|c: char| !(c.is_alphanumeric() || c == '\''))
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase),
        );
        words.push("</s>".to_string());
        for w in &words {
            *unigrams.entry(w.clone()).or_default() += 1;
        }
        for pair in words.windows(2) {
            *bigrams
                .entry((pair[0].clone(), pair[1].clone()))
                .or_default() += 1;
        }
    }
    let total: u32 = unigrams.values().sum();
    let mut out = String::new();
    let _ = write!(
        out,
        "\\data\\\nngram 1={}\nngram 2={}\n\n\\1-grams:\n",
        unigrams.len(),
        bigrams.len()
    );
    for (word, count) in &unigrams {
        let p = f64::from(*count) / f64::from(total.max(1));
        let _ = writeln!(out, "{:.4} {word} -0.3010", p.log10());
    }
    out.push_str("\n\\2-grams:\n");
    for ((a, b), count) in &bigrams {
        // Half the mass to seen pairs, the rest to backing off.
        let p = 0.5 * f64::from(*count) / f64::from(unigrams[a]);
        let _ = writeln!(out, "{:.4} {a} {b}", p.log10());
    }
    out.push_str("\n\\end\\\n");
    out
}

/// An utterance waiting for the decoder, or being decoded (the first).
struct Waiting {
    id: u64,
    vocabulary: Option<String>,
    partial: Arc<Mutex<String>>,
    /// Audio that came before its turn.
    held: Vec<i16>,
    end: Option<oneshot::Sender<String>>,
    dropped: bool,
}

/// The utterances, decoded one at a time in the order they began.
struct Queue {
    decoder: Decoder,
    waiting: std::collections::VecDeque<Waiting>,
    /// The first of `waiting` is being decoded.
    live: bool,
}

impl Queue {
    fn new(decoder: Decoder) -> Queue {
        Queue {
            decoder,
            waiting: Default::default(),
            live: false,
        }
    }

    fn run(mut self, messages: std_mpsc::Receiver<Message>) {
        while let Ok(message) = messages.recv() {
            match message {
                Message::Vocabulary {
                    name,
                    phrases,
                    done,
                } => {
                    let _ = done.send(self.decoder.add_vocabulary(&name, &phrases));
                }
                Message::Begin {
                    id,
                    vocabulary,
                    partial,
                } => self.waiting.push_back(Waiting {
                    id,
                    vocabulary,
                    partial,
                    held: Vec::new(),
                    end: None,
                    dropped: false,
                }),
                Message::Audio { id, samples } => {
                    if self.live && self.waiting.front().is_some_and(|w| w.id == id) {
                        self.decoder.process(&samples);
                        let hypothesis = self.decoder.hypothesis();
                        if let Some(w) = self.waiting.front() {
                            *w.partial.lock() = hypothesis;
                        }
                    } else if let Some(w) = self.waiting.iter_mut().find(|w| w.id == id) {
                        w.held.extend_from_slice(&samples);
                    }
                }
                Message::End { id, text } => {
                    if let Some(w) = self.waiting.iter_mut().find(|w| w.id == id) {
                        w.end = Some(text);
                    }
                }
                Message::Drop { id } => {
                    if let Some(w) = self.waiting.iter_mut().find(|w| w.id == id) {
                        w.dropped = true;
                        w.held = Vec::new();
                    }
                }
            }
            self.advance();
        }
    }

    /// Decodes what can be: the first utterance's held audio, its end, and
    /// then the next one's.
    fn advance(&mut self) {
        while let Some(first) = self.waiting.front_mut() {
            if first.dropped {
                if self.live {
                    self.decoder.end();
                    self.live = false;
                }
                self.waiting.pop_front();
                continue;
            }
            if !self.live {
                self.decoder.use_vocabulary(first.vocabulary.as_deref());
                self.decoder.start();
                self.live = true;
            }
            if !first.held.is_empty() {
                let held = std::mem::take(&mut first.held);
                self.decoder.process(&held);
                *first.partial.lock() = self.decoder.hypothesis();
            }
            let Some(end) = first.end.take() else {
                return;
            };
            let text = self.decoder.end();
            self.live = false;
            let _ = end.send(text);
            self.waiting.pop_front();
        }
    }
}
