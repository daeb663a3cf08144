//! A pull stream of characters' speech for the game's audio thread. The
//! library (the writer) queues utterances' samples, already in the stream's
//! format; the audio callback (the reader) pulls exactly the frames it needs:
//! wait-free, no allocation, no lock, silence when nothing is queued. The
//! reader publishes what it is playing (which utterance, how far in), so that
//! lip-sync follows what the player hears rather than what arrived; any
//! thread reads that through a [`PlaybackClock`].
//!
//! Two single-producer single-consumer rings join the sides: the samples,
//! and markers saying at which sample each utterance begins. A flush (the
//! player interrupted the character) tells the reader, through an atomic,
//! to drop everything written so far.
//!
//! For faces, the reader also publishes each read's span of the utterance
//! and when it read it; a face is computed from that at the instant asked,
//! moving on through the span at the stream's rate (smooth at any frame
//! rate, never ahead of what was read), and from the moment sound stops,
//! relaxing to rest ([`PlaybackClock::face_at`]). Where one utterance
//! follows another, the face blends from the face before into the next
//! (however short the one before, or however soon it was cut).

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};

use super::face::{
    blend, speech_face, FaceControls, FaceWeights, MAX_RELEASE, NEUTRAL_FACE, UTTERANCE_BLEND,
};
use super::visemes::{TimedViseme, Viseme};

/// Utterances whose details the clock can still name (those queued and the
/// one playing; older ones are forgotten).
const REMEMBERED: usize = 64;

/// Who says what: the details of one utterance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Utterance {
    /// The speaking character's agent id.
    pub character: String,
    pub interaction_id: String,
    pub utterance_id: String,
}

/// An utterance's visemes, from its start, as far as its speech has
/// arrived: the library extends it chunk by chunk (a new list each time,
/// swapped in), any thread reads it.
pub type VisemeTimeline = Arc<ArcSwap<Vec<TimedViseme>>>;

/// What the reader is playing: an utterance and the frames of it played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NowPlaying {
    pub utterance: Arc<Utterance>,
    pub position_frames: u64,
    /// The utterance's visemes, their offsets from its start.
    pub visemes: Arc<Vec<TimedViseme>>,
}

impl NowPlaying {
    /// The viseme showing at the position played, for a stream of `rate`
    /// frames a second (`Sil` before the first, and without phonemes).
    pub fn viseme(&self, rate: u32) -> Viseme {
        let played = std::time::Duration::from_nanos(
            self.position_frames * 1_000_000_000 / u64::from(rate.max(1)),
        );
        let after = self.visemes.partition_point(|v| v.start_offset <= played);
        after
            .checked_sub(1)
            .map_or(Viseme::Sil, |i| self.visemes[i].viseme)
    }
}

/// What the clock knows of utterance `seq`.
struct Slot {
    seq: u64,
    utterance: Arc<Utterance>,
    visemes: VisemeTimeline,
}

/// Counters shared by the three sides.
struct Shared {
    channels: usize,
    /// Frames (all utterances) the writer has queued, ever.
    written: AtomicU64,
    /// The reader drops frames up to this total (a flush).
    flush_to: AtomicU64,
    /// Frames the reader has taken (played or dropped), as of its last read.
    read: AtomicU64,
    /// The utterance playing (its sequence number, 0: none) and its
    /// position, as of the reader's last read.
    playing: AtomicU64,
    position: AtomicU64,
    /// Frames the writer could not queue (the ring was full).
    dropped_frames: AtomicU64,
    /// The details of utterance `seq`, at `seq % REMEMBERED`.
    utterances: [ArcSwapOption<Slot>; REMEMBERED],
    /// The clock's start: instants are published as nanoseconds since it.
    epoch: Instant,
    hearing: HearingCell,
    face: FaceControls,
}

/// What the reader's last read played, for faces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Heard {
    /// The utterance (0: none yet); kept once its sound stops.
    seq: u64,
    /// Where in it the read began (frames), and the frames of it read; when
    /// its sound stopped, where it stopped, and 0.
    start: u64,
    frames: u64,
    /// When it was read (or stopped), in nanoseconds since the epoch.
    at_ns: u64,
    playing: bool,
}

fn frames_to_time(frames: u64, rate: u64) -> Duration {
    Duration::from_nanos((u128::from(frames) * 1_000_000_000 / u128::from(rate)) as u64)
}

impl Heard {
    /// The position (frames) heard at `now_ns`, for a stream of `rate`
    /// frames a second: where the read began, moved on by the time since,
    /// up to where it ended; or once the sound stopped, moving on from
    /// where it stopped (the end, also given).
    fn position(&self, now_ns: u64, rate: u64) -> (u64, Option<u64>) {
        let elapsed = now_ns.saturating_sub(self.at_ns);
        let moved = (u128::from(elapsed) * u128::from(rate) / 1_000_000_000) as u64;
        if self.playing {
            (self.start + moved.min(self.frames), None)
        } else {
            (self.start + moved, Some(self.start))
        }
    }

    /// The same sound, stopped where its read ended, at `at_ns`.
    fn stopped(self, at_ns: u64) -> Heard {
        Heard {
            start: self.start + self.frames,
            frames: 0,
            at_ns,
            playing: false,
            ..self
        }
    }
}

/// A sound the face blends into: what was heard, where (frames) in it the
/// blend began (where it was first heard, or heard again after the stream
/// ran dry), and over how long (nanoseconds of it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Layer {
    heard: Heard,
    blend_from: u64,
    blend_ns: u64,
}

impl Layer {
    /// How far (0..=1) the face has blended into it at `now_ns`: its
    /// position moved past `blend_from`, over `blend_ns` (on its clock, as
    /// all speech is: a reader faster than real time blends as fast; once
    /// its sound stopped, with time).
    fn blended(&self, now_ns: u64, rate: u64) -> f64 {
        let (position, _) = self.heard.position(now_ns, rate);
        let blending = frames_to_time(position.saturating_sub(self.blend_from), rate);
        if blending.as_nanos() >= u128::from(self.blend_ns) {
            return 1.0;
        }
        blending.as_nanos() as f64 / self.blend_ns as f64
    }

    fn to_words(self) -> [u64; LAYER_WORDS] {
        let Layer {
            heard,
            blend_from,
            blend_ns,
        } = self;
        [
            heard.seq,
            heard.start,
            heard.frames,
            heard.at_ns,
            u64::from(heard.playing),
            blend_from,
            blend_ns,
        ]
    }

    fn from_words(w: &[u64]) -> Layer {
        Layer {
            heard: Heard {
                seq: w[0],
                start: w[1],
                frames: w[2],
                at_ns: w[3],
                playing: w[4] != 0,
            },
            blend_from: w[5],
            blend_ns: w[6],
        }
    }
}

/// How many sounds a face blends across: the one heard now and those
/// before it, newest first. A sound matters only until the blend into the
/// one after it is over, so this many are needed only when that many
/// start within [`UTTERANCE_BLEND`] of each other (utterances of a few
/// milliseconds, or cut that soon); past it, the oldest is forgotten.
const LAYERS: usize = 8;

/// What faces are computed from: the sound heard now (`layers[0]`) and the
/// ones heard before it, each (stopped, relaxing) blended into the next.
/// The face is the oldest one still showing, blended into the next one,
/// that into the next, up to now's: so a sound that follows another by
/// less than the blend (a short utterance, one cut early, speech resuming
/// after the stream ran dry) starts from the face as it was, never from
/// one of its parts. A sound of seq 0 is none: rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Hearing {
    layers: [Layer; LAYERS],
}

const LAYER_WORDS: usize = 7;
const HEARING_WORDS: usize = LAYERS * LAYER_WORDS;

impl Hearing {
    fn now(&self) -> Heard {
        self.layers[0].heard
    }

    /// A new sound to blend into: the others move back one (the oldest is
    /// forgotten).
    fn push(&mut self, layer: Layer) {
        self.layers.copy_within(0..LAYERS - 1, 1);
        self.layers[0] = layer;
    }
}

/// A [`Hearing`] that the audio thread writes and any thread reads, with no
/// lock: a sequence lock over atomics (the writer never waits; a reader
/// that raced a write reads again). Several words must agree, and one word
/// cannot hold them.
struct HearingCell {
    /// Odd while a write is under way.
    version: AtomicU64,
    words: [AtomicU64; HEARING_WORDS],
}

impl Default for HearingCell {
    fn default() -> Self {
        HearingCell {
            version: AtomicU64::new(0),
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl HearingCell {
    /// Only the reader (one thread) writes: the first `layers` layers of
    /// `hearing` (the others are as last written; most reads change only
    /// the sound heard now).
    fn write(&self, hearing: &Hearing, layers: usize) {
        let version = self.version.load(Ordering::Relaxed);
        self.version
            .store(version.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        let words = self.words.chunks_exact(LAYER_WORDS);
        for (layer, words) in hearing.layers.iter().zip(words).take(layers) {
            for (word, value) in words.iter().zip(layer.to_words()) {
                word.store(value, Ordering::Relaxed);
            }
        }
        self.version
            .store(version.wrapping_add(2), Ordering::Release);
    }

    fn read(&self) -> Hearing {
        loop {
            let before = self.version.load(Ordering::Acquire);
            if before & 1 == 0 {
                let words: [u64; HEARING_WORDS] =
                    std::array::from_fn(|i| self.words[i].load(Ordering::Relaxed));
                fence(Ordering::Acquire);
                if self.version.load(Ordering::Relaxed) == before {
                    return Hearing {
                        layers: std::array::from_fn(|i| {
                            Layer::from_words(&words[i * LAYER_WORDS..])
                        }),
                    };
                }
            }
            std::hint::spin_loop();
        }
    }
}

/// Makes a stream of `channels` interleaved channels that holds up to
/// `capacity_frames` frames queued.
pub fn playback(
    channels: u16,
    capacity_frames: usize,
) -> (PlaybackWriter, PlaybackReader, PlaybackClock) {
    let channels = usize::from(channels.max(1));
    let (samples_in, samples_out) = rtrb::RingBuffer::new(capacity_frames.max(1) * channels);
    // One marker per utterance; more utterances than this queued at once
    // would be a stream of tiny ones.
    let (markers_in, markers_out) = rtrb::RingBuffer::new(REMEMBERED);
    let shared = Arc::new(Shared {
        channels,
        written: AtomicU64::new(0),
        flush_to: AtomicU64::new(0),
        read: AtomicU64::new(0),
        playing: AtomicU64::new(0),
        position: AtomicU64::new(0),
        dropped_frames: AtomicU64::new(0),
        utterances: std::array::from_fn(|_| ArcSwapOption::empty()),
        epoch: Instant::now(),
        hearing: HearingCell::default(),
        face: FaceControls::default(),
    });
    (
        PlaybackWriter {
            shared: shared.clone(),
            samples: samples_in,
            markers: markers_in,
            next_seq: 1,
            open: false,
        },
        PlaybackReader {
            shared: shared.clone(),
            samples: samples_out,
            markers: markers_out,
            read: 0,
            playing: None,
            hearing: Hearing::default(),
        },
        PlaybackClock { shared },
    )
}

/// The library's side: queues utterances. May allocate; never blocks.
pub struct PlaybackWriter {
    shared: Arc<Shared>,
    samples: rtrb::Producer<f32>,
    markers: rtrb::Producer<Marker>,
    next_seq: u64,
    /// An utterance has begun and its marker is queued.
    open: bool,
}

#[derive(Debug, Clone, Copy)]
struct Marker {
    seq: u64,
    /// The total frame count at which it begins.
    at: u64,
}

impl std::fmt::Debug for PlaybackWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackWriter")
            .field("queued_frames", &self.queued_frames())
            .finish()
    }
}

impl PlaybackWriter {
    /// Starts a new utterance: the samples written from now on are its.
    /// False if too many utterances are queued (its samples then count as
    /// the one before's).
    pub fn begin(&mut self, utterance: Utterance) -> bool {
        self.begin_with_visemes(utterance, VisemeTimeline::default())
    }

    /// [`begin`](Self::begin), with the utterance's viseme timeline (which
    /// the writer may go on extending).
    pub fn begin_with_visemes(&mut self, utterance: Utterance, visemes: VisemeTimeline) -> bool {
        let seq = self.next_seq;
        let at = self.shared.written.load(Ordering::Relaxed);
        if self.markers.push(Marker { seq, at }).is_err() {
            return false;
        }
        self.next_seq += 1;
        self.shared.utterances[(seq as usize) % REMEMBERED].store(Some(Arc::new(Slot {
            seq,
            utterance: Arc::new(utterance),
            visemes,
        })));
        self.open = true;
        true
    }

    /// Queues interleaved samples (whole frames) of the current utterance;
    /// returns the frames queued. What does not fit is dropped and counted
    /// ([`PlaybackClock::dropped_frames`]). Without an utterance begun
    /// (none yet, or flushed since) nothing is queued.
    pub fn write(&mut self, samples: &[f32]) -> usize {
        if !self.open {
            return 0;
        }
        let channels = self.shared.channels;
        let frames = samples.len() / channels;
        let room = self.samples.slots() / channels;
        let taken = frames.min(room);
        let (written, _) = self
            .samples
            .push_partial_slice(&samples[..taken * channels]);
        debug_assert_eq!(written.len(), taken * channels);
        self.shared
            .written
            .fetch_add(taken as u64, Ordering::Release);
        if taken < frames {
            self.shared
                .dropped_frames
                .fetch_add((frames - taken) as u64, Ordering::Relaxed);
        }
        taken
    }

    /// Drops everything queued: the reader goes silent at its next read.
    pub fn flush(&mut self) {
        let written = self.shared.written.load(Ordering::Acquire);
        self.shared.flush_to.store(written, Ordering::Release);
        self.open = false;
    }

    /// Frames that fit in the stream now (a writer that would rather wait
    /// than drop writes no more than this).
    pub fn room_frames(&self) -> usize {
        self.samples.slots() / self.shared.channels
    }

    /// Frames queued and not yet played.
    pub fn queued_frames(&self) -> usize {
        (self.samples.buffer().capacity() - self.samples.slots()) / self.shared.channels
    }
}

/// The audio thread's side: wait-free, no allocation, no lock.
pub struct PlaybackReader {
    shared: Arc<Shared>,
    samples: rtrb::Consumer<f32>,
    markers: rtrb::Consumer<Marker>,
    /// Frames taken from the ring (played or dropped), ever.
    read: u64,
    /// The utterance playing and the frame it began at.
    playing: Option<Marker>,
    /// What it last published for faces.
    hearing: Hearing,
}

impl PlaybackReader {
    /// Fills `out` (interleaved, whole frames) with what is queued, then
    /// silence; returns the frames of speech it holds.
    pub fn read(&mut self, out: &mut [f32]) -> usize {
        self.drop_flushed();
        let done = self.take(out);
        self.publish(done);
        done
    }

    /// Fills `out` with what is queued, then silence; returns the frames of
    /// speech (the clock is not told).
    fn take(&mut self, out: &mut [f32]) -> usize {
        let channels = self.shared.channels;
        let frames = out.len() / channels;
        let mut done = 0;
        while done < frames {
            // What is queued, counted before the markers are looked at: the
            // writer queues an utterance's marker before its samples, so every
            // frame counted here has its marker in view below (looked at the
            // other way round, a new utterance's first frames could play under
            // the one before). With nothing queued the clock stays on what
            // this read played, not on an utterance none of it is heard yet.
            let queued = self.samples.slots() / channels;
            if queued == 0 {
                break;
            }
            // Up to the next utterance's start, so the clock can switch there.
            let next_start = self.markers.peek().ok().map(|m| m.at);
            if let Some(at) = next_start {
                if at <= self.read {
                    self.playing = self.markers.pop().ok();
                    continue;
                }
            }
            let limit = next_start
                .map_or(frames - done, |at| {
                    ((at - self.read) as usize).min(frames - done)
                })
                .min(queued);
            let chunk = &mut out[done * channels..(done + limit) * channels];
            let (filled, _) = self.samples.pop_partial_slice(chunk);
            let got = filled.len() / channels;
            self.read += got as u64;
            done += got;
            if got < limit {
                break;
            }
        }
        out[done * channels..].fill(0.0);
        done
    }

    /// Frames queued and not yet read (speech the stream still holds).
    pub fn queued_frames(&self) -> usize {
        self.samples.slots() / self.shared.channels
    }

    /// [`read`](Self::read) into 16-bit samples.
    pub fn read_i16(&mut self, out: &mut [i16]) -> usize {
        // Converted a block at a time through the stack: no allocation.
        let mut block = [0f32; 256];
        let channels = self.shared.channels;
        let block_len = block.len() / channels * channels;
        let mut total = 0;
        let mut ran_dry = false;
        self.drop_flushed();
        for piece in out.chunks_mut(block_len) {
            // Once a block finds the ring empty, the rest is silence even if
            // speech arrives meanwhile: it plays at the next read, not after
            // a gap in this one.
            if ran_dry {
                piece.fill(0);
                continue;
            }
            let n = self.take(&mut block[..piece.len()]);
            total += n;
            ran_dry = n < piece.len() / channels;
            for (o, s) in piece.iter_mut().zip(block.iter()) {
                *o = (s.clamp(-1.0, 1.0) * 32767.0) as i16;
            }
        }
        self.publish(total);
        total
    }

    /// Drops the frames a flush asked to drop.
    fn drop_flushed(&mut self) {
        let flush_to = self.shared.flush_to.load(Ordering::Acquire);
        while self.read < flush_to {
            let n =
                ((flush_to - self.read) as usize * self.shared.channels).min(self.samples.slots());
            if n == 0 {
                break;
            }
            if let Ok(chunk) = self.samples.read_chunk(n) {
                chunk.commit_all();
            }
            self.read += (n / self.shared.channels) as u64;
        }
        while let Ok(m) = self.markers.peek() {
            if m.at >= flush_to || m.at > self.read {
                break;
            }
            self.playing = self.markers.pop().ok();
        }
        if flush_to > 0 && self.read >= flush_to && self.playing.is_some_and(|p| p.at < flush_to) {
            // The flushed utterance is over.
            self.playing = None;
        }
    }

    /// Tells the clock what this read played (`speech` frames): nothing
    /// (the mouth closes), or an utterance up to a position.
    fn publish(&mut self, speech: usize) {
        self.shared.read.store(self.read, Ordering::Release);
        let at_ns = || Instant::now().duration_since(self.shared.epoch).as_nanos() as u64;
        let heard = self.hearing.now();
        match self.playing {
            Some(m) if speech > 0 => {
                let position = self.read - m.at;
                self.shared.position.store(position, Ordering::Release);
                self.shared.playing.store(m.seq, Ordering::Release);
                // The read may have begun in the utterance before.
                let frames = (speech as u64).min(position);
                let now = Heard {
                    seq: m.seq,
                    start: position - frames,
                    frames,
                    at_ns: at_ns(),
                    playing: true,
                };
                if m.seq == heard.seq && heard.playing {
                    self.hearing.layers[0].heard = now;
                    self.shared.hearing.write(&self.hearing, 1);
                } else {
                    // A new utterance is heard (or this one again, after
                    // the stream ran dry): the face blends into it from
                    // the face before, as that goes on (relaxing where the
                    // sound has stopped). An utterance's first sound starts
                    // formed, so the blend into it is a whole one; speech
                    // resuming relaxed only for as long as it was silent,
                    // so it comes back as fast.
                    let full = UTTERANCE_BLEND.as_nanos() as u64;
                    let blend_ns = if m.seq == heard.seq {
                        now.at_ns.saturating_sub(heard.at_ns).min(full)
                    } else {
                        full
                    };
                    if heard.playing {
                        self.hearing.layers[0].heard = heard.stopped(now.at_ns);
                    }
                    self.hearing.push(Layer {
                        heard: now,
                        blend_from: now.start,
                        blend_ns,
                    });
                    self.shared.hearing.write(&self.hearing, LAYERS);
                }
            }
            _ => {
                self.shared.playing.store(0, Ordering::Release);
                if heard.playing {
                    // The sound stopped: from now on the face relaxes.
                    self.hearing.layers[0].heard = heard.stopped(at_ns());
                    self.shared.hearing.write(&self.hearing, 1);
                }
            }
        }
    }
}

/// What is playing, readable from any thread (for lip-sync); and the
/// stream's losses.
#[derive(Clone)]
pub struct PlaybackClock {
    shared: Arc<Shared>,
}

impl PlaybackClock {
    /// The utterance being played and the frames of it played so far, as of
    /// the audio thread's last read; `None` between utterances.
    pub fn now_playing(&self) -> Option<NowPlaying> {
        let seq = self.shared.playing.load(Ordering::Acquire);
        if seq == 0 {
            return None;
        }
        let position_frames = self.shared.position.load(Ordering::Acquire);
        let slot = self.shared.utterances[(seq as usize) % REMEMBERED].load();
        match slot.as_deref() {
            Some(slot) if slot.seq == seq => Some(NowPlaying {
                utterance: slot.utterance.clone(),
                position_frames,
                visemes: slot.visemes.load_full(),
            }),
            _ => None,
        }
    }

    /// Frames queued and not yet played (as of the reader's last read, and
    /// less what a flush drops).
    pub fn queued_frames(&self) -> u64 {
        let written = self.shared.written.load(Ordering::Acquire);
        let read = self.shared.read.load(Ordering::Acquire);
        let flushed = self.shared.flush_to.load(Ordering::Acquire);
        written.saturating_sub(read.max(flushed))
    }

    /// Frames the writer dropped because the stream was full.
    pub fn dropped_frames(&self) -> u64 {
        self.shared.dropped_frames.load(Ordering::Relaxed)
    }

    /// The face at `now`, for a stream of `rate` frames a second (see
    /// [`face`](super::face)): the speech heard, on the utterance's clock,
    /// with the expression and blinks set on [`face_controls`](Self::face_controls).
    ///
    /// The position is where the audio thread's last read began in the
    /// utterance, moved on by the time since that read, up to where it
    /// ended: a read hands the device a buffer it plays from then on, so
    /// that is the sound heard, within one buffer, and it moves smoothly
    /// between reads. When the sound stops (the utterance ended, or a
    /// flush silenced it), the face relaxes to rest from where it stopped;
    /// when nothing ever played, it is neutral. When a sound is first
    /// heard (an utterance, or one resuming after the stream ran dry), the
    /// face blends into it over [`UTTERANCE_BLEND`] from the face before
    /// (going on as it would have: relaxing from where its sound stopped,
    /// and itself still blending if that sound was heard for less than
    /// the blend), or from rest: so it never jumps where one sound follows
    /// another, however short each is or however soon it was cut.
    /// Any thread, no lock the audio thread takes, no allocation.
    pub fn face_at(&self, now: Instant, rate: u32) -> FaceWeights {
        let since_epoch = now.saturating_duration_since(self.shared.epoch);
        let now_ns = since_epoch.as_nanos() as u64;
        let rate = u64::from(rate.max(1));
        let hearing = self.shared.hearing.read();
        // The newest sound the face has wholly blended into (or rest): what
        // came before it no longer shows.
        let mut shown = 0;
        while shown + 1 < LAYERS
            && hearing.layers[shown].heard.seq != 0
            && hearing.layers[shown].blended(now_ns, rate) < 1.0
        {
            shown += 1;
        }
        let mut face = self.speech_heard(&hearing.layers[shown].heard, now_ns, rate);
        for layer in hearing.layers[..shown].iter().rev() {
            let mut next = self.speech_heard(&layer.heard, now_ns, rate);
            blend(&face, layer.blended(now_ns, rate), &mut next);
            face = next;
        }
        self.shared.face.apply(since_epoch, &mut face);
        face
    }

    /// The face of the speech `heard` at `now_ns` (since the epoch), for a
    /// stream of `rate` frames a second.
    fn speech_heard(&self, heard: &Heard, now_ns: u64, rate: u64) -> FaceWeights {
        let mut face = NEUTRAL_FACE;
        if heard.seq == 0 {
            return face;
        }
        let elapsed = Duration::from_nanos(now_ns.saturating_sub(heard.at_ns));
        if !heard.playing && elapsed > MAX_RELEASE * 2 {
            return face; // relaxed
        }
        let (position, end) = heard.position(now_ns, rate);
        let slot = self.shared.utterances[(heard.seq as usize) % REMEMBERED].load();
        if let Some(slot) = slot.as_deref().filter(|slot| slot.seq == heard.seq) {
            speech_face(
                &slot.visemes.load(),
                frames_to_time(position, rate),
                end.map(|end| frames_to_time(end, rate)),
                &mut face,
            );
        }
        face
    }

    /// [`face_at`](Self::face_at) now.
    pub fn face(&self, rate: u32) -> FaceWeights {
        self.face_at(Instant::now(), rate)
    }

    /// The face's expression and blinks (times on the clock are since
    /// [`clock_time`](Self::clock_time)'s start).
    pub fn face_controls(&self) -> &FaceControls {
        &self.shared.face
    }

    /// `now` on the clock faces are computed on (the stream's creation is 0).
    pub fn clock_time(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.shared.epoch)
    }
}

impl std::fmt::Debug for PlaybackClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaybackClock")
            .field("now_playing", &self.now_playing())
            .field("dropped_frames", &self.dropped_frames())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utterance(id: &str) -> Utterance {
        Utterance {
            character: "alice".into(),
            interaction_id: "i-1".into(),
            utterance_id: id.into(),
        }
    }

    fn ramp(frames: usize, channels: usize, from: f32) -> Vec<f32> {
        (0..frames * channels)
            .map(|i| from + (i / channels) as f32 / 1000.0)
            .collect()
    }

    #[test]
    fn frames_come_out_in_order_then_silence() {
        let (mut w, mut r, clock) = playback(2, 1024);
        assert!(clock.now_playing().is_none());
        w.begin(utterance("u-1"));
        assert_eq!(w.write(&ramp(300, 2, 0.0)), 300);
        let mut out = vec![1.0f32; 2 * 256];
        assert_eq!(r.read(&mut out), 256);
        assert_eq!(out[0..4], [0.0, 0.0, 0.001, 0.001]);
        let playing = clock.now_playing().unwrap();
        assert_eq!(playing.utterance.utterance_id, "u-1");
        assert_eq!(playing.position_frames, 256);
        assert_eq!(r.read(&mut out), 44);
        assert!(out[88..].iter().all(|s| *s == 0.0));
        assert_eq!(clock.now_playing().unwrap().position_frames, 300);
        // Nothing more: silence, and nothing playing.
        assert_eq!(r.read(&mut out), 0);
        assert!(clock.now_playing().is_none());
    }

    #[test]
    fn the_clock_switches_at_the_next_utterance() {
        let (mut w, mut r, clock) = playback(1, 1024);
        w.begin(utterance("u-1"));
        w.write(&ramp(100, 1, 0.0));
        w.begin(utterance("u-2"));
        w.write(&ramp(100, 1, 0.5));
        let mut out = vec![0.0f32; 150];
        assert_eq!(r.read(&mut out), 150);
        assert_eq!(out[100], 0.5, "u-2 follows u-1 without a gap");
        let playing = clock.now_playing().unwrap();
        assert_eq!(
            (
                playing.utterance.utterance_id.as_str(),
                playing.position_frames
            ),
            ("u-2", 50)
        );
    }

    #[test]
    fn a_flush_silences_what_was_queued_and_later_speech_plays() {
        let (mut w, mut r, clock) = playback(1, 4096);
        w.begin(utterance("u-1"));
        w.write(&ramp(1000, 1, 0.0));
        let mut out = vec![0.0f32; 100];
        r.read(&mut out);
        w.flush();
        assert_eq!(r.read(&mut out), 0);
        assert!(out.iter().all(|s| *s == 0.0));
        assert!(clock.now_playing().is_none());
        w.begin(utterance("u-2"));
        w.write(&ramp(50, 1, 0.25));
        assert_eq!(r.read(&mut out), 50);
        assert_eq!(out[0], 0.25);
        assert_eq!(clock.now_playing().unwrap().utterance.utterance_id, "u-2");
    }

    #[test]
    fn the_clock_names_the_viseme_at_the_position_played() {
        use std::time::Duration;
        let (mut writer, mut reader, clock) = playback(1, 4_800);
        let timeline = VisemeTimeline::default();
        assert!(writer.begin_with_visemes(utterance("u-1"), timeline.clone()));
        let at = |ms| Duration::from_millis(ms);
        timeline.store(Arc::new(vec![
            TimedViseme {
                viseme: Viseme::Pp,
                start_offset: at(0),
            },
            TimedViseme {
                viseme: Viseme::Aa,
                start_offset: at(20),
            },
        ]));
        writer.write(&[0.1; 4_800]);
        let mut out = [0.0; 480];
        reader.read(&mut out[..160]); // 10 ms at 16 kHz
        assert_eq!(clock.now_playing().unwrap().viseme(16_000), Viseme::Pp);
        reader.read(&mut out[..320]);
        assert_eq!(clock.now_playing().unwrap().viseme(16_000), Viseme::Aa);
        // Speech arriving later extends the timeline the clock sees.
        timeline.store(Arc::new(vec![
            TimedViseme {
                viseme: Viseme::Pp,
                start_offset: at(0),
            },
            TimedViseme {
                viseme: Viseme::Aa,
                start_offset: at(20),
            },
            TimedViseme {
                viseme: Viseme::Ou,
                start_offset: at(40),
            },
        ]));
        reader.read(&mut out[..320]);
        assert_eq!(clock.now_playing().unwrap().viseme(16_000), Viseme::Ou);
        assert_eq!(reader.queued_frames(), 4_800 - 800);
    }

    /// A timeline of an open vowel from 0 to 100 ms, then lips closed.
    fn open_then_closed() -> VisemeTimeline {
        use std::time::Duration;
        let timeline = VisemeTimeline::default();
        timeline.store(Arc::new(vec![
            TimedViseme {
                viseme: Viseme::Aa,
                start_offset: Duration::ZERO,
            },
            TimedViseme {
                viseme: Viseme::Pp,
                start_offset: Duration::from_millis(100),
            },
        ]));
        timeline
    }

    #[test]
    fn the_face_follows_the_position_read_and_moves_on_between_reads() {
        use crate::audio::face::{Blendshape, NEUTRAL_FACE};
        use std::time::Duration;
        let jaw = Blendshape::JawOpen as usize;
        let (mut writer, mut reader, clock) = playback(1, 16_000);
        let rate = 16_000;
        assert_eq!(clock.face(rate), NEUTRAL_FACE, "nothing played yet");
        writer.begin_with_visemes(utterance("u-1"), open_then_closed());
        writer.write(&[0.1; 3_200]); // 200 ms
        let mut out = [0.0; 800]; // 50 ms buffers
        let before = Instant::now();
        reader.read(&mut out);
        // Right at the read: its start (the vowel forming); long after: its
        // end, never beyond (the vowel open).
        let at_start = clock.face_at(before, rate);
        let at_end = clock.face_at(Instant::now() + Duration::from_secs(5), rate);
        assert!(
            at_end[jaw] > at_start[jaw] + 0.1,
            "{} {}",
            at_start[jaw],
            at_end[jaw]
        );
        assert!(at_end[jaw] > 0.6);
        // The next reads reach the closed lips.
        reader.read(&mut out);
        reader.read(&mut out);
        let closed = clock.face_at(Instant::now() + Duration::from_secs(5), rate);
        assert!(
            closed[Blendshape::MouthPressLeft as usize] > 0.4,
            "{closed:?}"
        );
        // Between reads, the face moves on with time: reads 1 ms apart
        // change it by little.
        reader.read(&mut out);
        let read_at = Instant::now();
        let mut last = clock.face_at(read_at, rate);
        for ms in 1..=50 {
            let face = clock.face_at(read_at + Duration::from_millis(ms), rate);
            for (a, b) in last.iter().zip(face.iter()) {
                assert!((a - b).abs() <= 0.04);
            }
            last = face;
        }
    }

    fn timeline_of(visemes: &[(Viseme, u64)]) -> VisemeTimeline {
        let timeline = VisemeTimeline::default();
        timeline.store(Arc::new(
            visemes
                .iter()
                .map(|(viseme, ms)| TimedViseme {
                    viseme: *viseme,
                    start_offset: std::time::Duration::from_millis(*ms),
                })
                .collect(),
        ));
        timeline
    }

    /// Reads the stream as an audio thread would (10 ms buffers, paced),
    /// calling `before_read(n)` before read `n` (to queue or flush speech),
    /// until `reads` reads are done and the last 30 were silent; reads the
    /// face every 1 ms on the clock up to each read's end. Returns the
    /// largest change of any weight in 1 ms, the last face, and the
    /// utterances heard starting (a change of the one playing).
    fn read_paced(
        reader: &mut PlaybackReader,
        clock: &PlaybackClock,
        reads: usize,
        mut before_read: impl FnMut(usize),
    ) -> (f32, FaceWeights, usize) {
        use crate::audio::face::NEUTRAL_FACE;
        use std::time::Duration;
        let rate = 16_000;
        let buffer = Duration::from_millis(10);
        let mut out = [0.0; 160];
        let mut cursor: Option<Instant> = None;
        let mut last = NEUTRAL_FACE;
        let mut largest = 0f32;
        let mut starts = 0;
        let mut playing = None;
        let mut silent_reads = 0;
        let mut n = 0;
        while n < reads || silent_reads < 30 {
            before_read(n);
            n += 1;
            let read_at = Instant::now();
            if reader.read(&mut out) == 0 {
                silent_reads += 1;
            } else {
                silent_reads = 0;
            }
            let now = clock
                .now_playing()
                .map(|p| p.utterance.utterance_id.clone());
            if now.is_some() && now != playing {
                starts += 1;
                playing = now;
            }
            // The face between this read and the next, every 1 ms.
            let cursor = cursor.get_or_insert(read_at);
            while *cursor <= read_at + buffer {
                let face = clock.face_at(*cursor, rate);
                for (a, b) in last.iter().zip(face.iter()) {
                    assert!((0.0..=1.0).contains(b));
                    largest = largest.max((a - b).abs());
                }
                last = face;
                *cursor += Duration::from_millis(1);
            }
            // Paced as a device would ask (a late read only holds the face).
            std::thread::sleep((read_at + buffer).saturating_duration_since(Instant::now()));
        }
        (largest, last, starts)
    }

    /// Queues an utterance of `ms` milliseconds with its visemes.
    fn say(writer: &mut PlaybackWriter, id: &str, visemes: &[(Viseme, u64)], ms: u64) {
        writer.begin_with_visemes(utterance(id), timeline_of(visemes));
        writer.write(&vec![0.1; ms as usize * 16]);
    }

    /// Utterances back to back, each ending on a shape far from the next
    /// one's first (open jaw into closed lips, and back): read as an audio
    /// thread would, the face read every 1 ms on the clock moves by small
    /// steps across each boundary, as within an utterance, and rests after
    /// the last.
    #[test]
    fn back_to_back_utterances_blend_across_the_boundary() {
        use crate::audio::face::tests::STEP_PER_MS;
        use crate::audio::face::{speech_face, Blendshape, NEUTRAL_FACE};
        use std::time::Duration;
        let (mut writer, mut reader, clock) = playback(1, 48_000);
        // (timeline, length in ms)
        let utterances = [
            (vec![(Viseme::Ih, 0), (Viseme::Aa, 150)], 300),
            (
                vec![(Viseme::Pp, 0), (Viseme::Aa, 80), (Viseme::Ou, 200)],
                300,
            ),
            (vec![(Viseme::Aa, 0), (Viseme::Pp, 250)], 300),
        ];
        // Without the blend, each boundary would jump by this much.
        let mut unblended = 0f32;
        for pair in utterances.windows(2) {
            let (mut end_of_one, mut start_of_next) = (NEUTRAL_FACE, NEUTRAL_FACE);
            let visemes = |v: &[(Viseme, u64)]| timeline_of(v).load_full();
            let length = Duration::from_millis(pair[0].1);
            speech_face(&visemes(&pair[0].0), length, None, &mut end_of_one);
            speech_face(
                &visemes(&pair[1].0),
                Duration::ZERO,
                None,
                &mut start_of_next,
            );
            for (a, b) in end_of_one.iter().zip(start_of_next) {
                unblended = unblended.max((a - b).abs());
            }
        }
        for (i, (visemes, ms)) in utterances.iter().enumerate() {
            say(&mut writer, &format!("u-{i}"), visemes, *ms);
        }
        let (largest, last, starts) = read_paced(&mut reader, &clock, 0, |_| {});
        println!(
            "largest step in 1 ms across {starts} starts: {largest} \
             (without the blend, a boundary would jump by {unblended})"
        );
        assert_eq!(starts, 3);
        assert!(unblended > 0.4, "the test's boundaries are not harsh");
        assert!(largest <= STEP_PER_MS, "{largest}");
        assert_eq!(last, NEUTRAL_FACE, "at rest after the last");
        let jaw = Blendshape::JawOpen as usize;
        assert!(clock.face_at(Instant::now(), 16_000)[jaw] == 0.0);
    }

    /// Sounds heard for less than the blend into them: utterances of 33 and
    /// 17 ms between two long ones, two cut by flushes 35 and 30 ms in (the
    /// next one following at once, and 20 ms later), speech resuming after
    /// the stream ran dry for 30 ms, and a burst of 8 ms utterances (lips
    /// shut, jaw open, by turns). Each starts from the face as it was (itself a blend), so the
    /// face moves by small steps throughout, as within one utterance, and
    /// rests after the last.
    #[test]
    fn short_and_cut_utterances_blend_like_the_others() {
        use crate::audio::face::tests::STEP_PER_MS;
        use crate::audio::face::NEUTRAL_FACE;
        let (mut writer, mut reader, clock) = playback(1, 48_000);
        // Lengths off the 10 ms reads, so reads span boundaries.
        say(
            &mut writer,
            "long",
            &[(Viseme::Aa, 0), (Viseme::E, 100)],
            205,
        );
        say(&mut writer, "33ms", &[(Viseme::Pp, 0)], 33);
        say(&mut writer, "17ms", &[(Viseme::Ou, 0)], 17);
        say(
            &mut writer,
            "long-2",
            &[(Viseme::Ih, 0), (Viseme::Aa, 90)],
            190,
        );
        let (largest, last, starts) = read_paced(&mut reader, &clock, 70, |n| match n {
            // 35 ms into "long-2": cut, and "cut" follows at once; it is
            // cut 30 ms in, and "after-cut" follows 20 ms later, its
            // speech arriving in two parts 30 ms apart; 8 ms utterances
            // follow it.
            29 => {
                writer.flush();
                say(
                    &mut writer,
                    "cut",
                    &[(Viseme::Pp, 0), (Viseme::Aa, 40)],
                    300,
                );
            }
            32 => writer.flush(),
            34 => say(
                &mut writer,
                "after-cut",
                &[(Viseme::Ou, 0), (Viseme::Aa, 80)],
                100,
            ),
            47 => {
                writer.write(&[0.1; 50 * 16]);
                for i in 0..12 {
                    let viseme = if i % 2 == 0 { Viseme::Aa } else { Viseme::Pp };
                    say(&mut writer, &format!("8ms-{i}"), &[(viseme, 0)], 8);
                }
            }
            _ => {}
        });
        println!("largest step in 1 ms over {starts} starts: {largest}");
        // Six, then the 8 ms ones (a read that hears two starts names the
        // second).
        assert!(starts >= 6 + 8, "{starts}");
        assert!(largest <= STEP_PER_MS, "{largest}");
        assert_eq!(last, NEUTRAL_FACE, "at rest after the last");
    }

    /// The face read on another thread, as fast as it can, while the audio
    /// thread reads utterances of every length (each start rewriting every
    /// layer) and the game changes the expression: every read returns, in
    /// range, and the reads see the face move.
    #[test]
    fn faces_read_on_another_thread_while_the_audio_thread_reads() {
        use crate::audio::face::Expression;
        use std::sync::atomic::AtomicBool;
        let (mut writer, mut reader, clock) = playback(1, 48_000);
        let done = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (clock, done) = (clock.clone(), done.clone());
            std::thread::spawn(move || {
                let (mut reads, mut moving) = (0u64, 0u64);
                while !done.load(Ordering::Acquire) {
                    let face = clock.face(16_000);
                    assert!(face.iter().all(|w| (0.0..=1.0).contains(w)));
                    reads += 1;
                    moving += u64::from(face.iter().any(|w| *w > 0.0));
                }
                (reads, moving)
            })
        };
        let mut out = [0.0; 160];
        for round in 0..40u64 {
            let viseme = Viseme::ALL[1 + (round % 14) as usize];
            say(&mut writer, "u", &[(viseme, 0)], 5 + round % 30);
            let expression = Expression::ALL[(round % 10) as usize];
            clock
                .face_controls()
                .set_expression(expression, 1.0, clock.clock_time(Instant::now()));
            while reader.read(&mut out) > 0 {}
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        done.store(true, Ordering::Release);
        let (reads, moving) = watcher.join().unwrap();
        println!("{reads} faces read on another thread, {moving} not at rest");
        assert!(reads > 40 && moving > 0, "{reads} {moving}");
    }

    #[test]
    fn the_face_relaxes_when_the_sound_stops_or_is_flushed() {
        use crate::audio::face::{Blendshape, MAX_RELEASE, NEUTRAL_FACE};
        use std::time::Duration;
        let jaw = Blendshape::JawOpen as usize;
        let (mut writer, mut reader, clock) = playback(1, 16_000);
        writer.begin_with_visemes(utterance("u-1"), open_then_closed());
        writer.write(&[0.1; 3_200]);
        let mut out = [0.0; 800];
        reader.read(&mut out);
        writer.flush();
        let open = clock.face_at(Instant::now() + Duration::from_secs(5), 16_000);
        assert!(open[jaw] > 0.6);
        // The next read is silent: from then on the face relaxes, and is at
        // rest MAX_RELEASE later, however long it waits.
        let before = Instant::now();
        assert_eq!(reader.read(&mut out), 0);
        let after = Instant::now();
        assert!(clock.face_at(before, 16_000)[jaw] > 0.6);
        assert_eq!(clock.face_at(after + MAX_RELEASE, 16_000), NEUTRAL_FACE);
        assert_eq!(
            clock.face_at(after + Duration::from_secs(60), 16_000),
            NEUTRAL_FACE
        );
        // The expression layer stays (it is the character's, not the speech's).
        clock.face_controls().set_expression(
            crate::audio::face::Expression::Surprise,
            1.0,
            clock.clock_time(Instant::now()),
        );
        let surprised = clock.face_at(Instant::now() + Duration::from_secs(1), 16_000);
        assert!(surprised[Blendshape::BrowInnerUp as usize] > 0.5);
        assert_eq!(surprised[jaw], 0.0);
    }

    #[test]
    fn a_full_stream_drops_and_counts() {
        let (mut w, _r, clock) = playback(2, 100);
        w.begin(utterance("u-1"));
        assert_eq!(w.write(&ramp(150, 2, 0.0)), 100);
        assert_eq!(clock.dropped_frames(), 50);
        assert_eq!(w.queued_frames(), 100);
    }

    #[test]
    fn sixteen_bit_reads_convert_and_fill() {
        let (mut w, mut r, _clock) = playback(2, 2048);
        w.begin(utterance("u-1"));
        w.write(&[0.5; 2 * 600]);
        let mut out = vec![7i16; 2 * 700];
        assert_eq!(r.read_i16(&mut out), 600);
        assert_eq!(out[0], 16383);
        assert_eq!(out[2 * 600 - 1], 16383);
        assert!(out[2 * 600..].iter().all(|s| *s == 0));
    }

    #[test]
    fn nothing_is_queued_outside_an_utterance() {
        let (mut w, mut r, _clock) = playback(1, 1024);
        assert_eq!(w.write(&[0.5; 10]), 0);
        w.begin(utterance("u-1"));
        w.write(&[0.5; 10]);
        w.flush();
        assert_eq!(w.write(&[0.5; 10]), 0, "the rest of a flushed utterance");
        let mut out = vec![0.0f32; 64];
        assert_eq!(r.read(&mut out), 0);
    }

    #[test]
    fn reader_and_writer_on_two_threads_lose_nothing() {
        let (mut w, mut r, clock) = playback(1, 512);
        let total = 48_000usize;
        let writer = std::thread::spawn(move || {
            w.begin(utterance("u-1"));
            let mut sent = 0;
            while sent < total {
                let piece: Vec<f32> = (sent..(sent + 100).min(total)).map(|i| i as f32).collect();
                let mut offset = 0;
                while offset < piece.len() {
                    let fits = w.room_frames().min(piece.len() - offset);
                    offset += w.write(&piece[offset..offset + fits]);
                    std::thread::yield_now();
                }
                sent += piece.len();
            }
        });
        let mut got = Vec::with_capacity(total);
        let mut out = vec![0.0f32; 64];
        while got.len() < total {
            let n = r.read(&mut out);
            got.extend_from_slice(&out[..n]);
            if n == 0 {
                std::thread::yield_now();
            }
        }
        writer.join().unwrap();
        assert!(got.iter().enumerate().all(|(i, s)| *s == i as f32));
        assert_eq!(clock.dropped_frames(), 0);
    }

    #[test]
    fn frames_read_while_utterances_arrive_play_under_their_own_utterance() {
        // The writer queues an utterance's marker, then its samples: a reader
        // that looked at the markers before counting the samples could play
        // a new utterance's first frames under the one before (or none).
        let (mut w, mut r, clock) = playback(1, 4096);
        let utterances = 3_000u32;
        let writer = std::thread::spawn(move || {
            for k in 1..=utterances {
                // A few utterances ahead at most: the clock names 64.
                while w.queued_frames() > 7 * 8 {
                    std::thread::yield_now();
                }
                assert!(w.begin(utterance(&format!("u-{k}"))));
                assert_eq!(w.write(&[k as f32 / 10_000.0; 7]), 7);
            }
        });
        let mut out = vec![0f32; 16];
        let mut last = 0u32;
        while last < utterances {
            let n = r.read(&mut out);
            if n == 0 {
                std::thread::yield_now();
                continue;
            }
            last = (out[n - 1] * 10_000.0).round() as u32;
            let playing = clock.now_playing().expect("speech is playing");
            assert_eq!(playing.utterance.utterance_id, format!("u-{last}"));
        }
        writer.join().unwrap();
        assert_eq!(clock.dropped_frames(), 0);
    }

    #[test]
    fn sixteen_bit_reads_hold_speech_then_silence_while_speech_arrives() {
        // A 16-bit read converts a block at a time; speech arriving between
        // two blocks must wait for the next read, not play after a gap.
        let (mut w, mut r, clock) = playback(1, 4096);
        let total = 96_000usize;
        let sample = |i: usize| 0.25 + (i % 1000) as f32 / 10_000.0;
        let writer = std::thread::spawn(move || {
            w.begin(utterance("u-1"));
            let mut sent = 0;
            while sent < total {
                let end = (sent + 37).min(total);
                let piece: Vec<f32> = (sent..end).map(sample).collect();
                let mut offset = 0;
                while offset < piece.len() {
                    let fits = w.room_frames().min(piece.len() - offset);
                    offset += w.write(&piece[offset..offset + fits]);
                    std::thread::yield_now();
                }
                sent = end;
            }
        });
        let mut got = 0usize;
        let mut out = vec![0i16; 2048];
        while got < total {
            let n = r.read_i16(&mut out);
            assert!(out[n..].iter().all(|s| *s == 0), "silence after the speech");
            for (k, s) in out[..n].iter().enumerate() {
                assert_eq!(*s, (sample(got + k) * 32767.0) as i16, "frame {}", got + k);
            }
            got += n;
            if n == 0 {
                std::thread::yield_now();
            }
        }
        writer.join().unwrap();
        assert_eq!(clock.dropped_frames(), 0);
    }
}
