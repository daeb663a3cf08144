//! Faces that speak: the 52 blendshape weights of Apple's ARKit face model
//! (the set MetaHuman, VRM, Character Creator and most avatar pipelines
//! carry), computed from an utterance's viseme timeline at a position on
//! its clock, with an expression layer for the character's emotion and
//! optional blinks.
//!
//! Coarticulation follows Cohen and Massaro's dominance model ("Modeling
//! coarticulation in synthetic visual speech", 1993): every segment has a
//! target shape and a dominance over time; the face is the dominance-
//! weighted average of the targets near the position. It was chosen
//! because it is a closed form of the position alone (any thread computes
//! the face at any instant without state, so reads 1 ms apart or 100 ms
//! apart agree, and a barge-in needs nothing reset), because per-segment
//! dominance expresses what matters in speech (the lips must close on
//! p/b/m whatever surrounds them, while t/d/n/k, made with the tongue,
//! take the lip shape of their neighbours), and because it is what the
//! literature and most procedural lip-sync systems since build on. Our
//! dominance functions are smooth ramps of compact support (smoothstep) in
//! place of the paper's exponentials: a segment's influence starts
//! `attack` before it and ends `release` after it, so a read looks at a
//! handful of segments and the face is exactly at rest soon after speech.
//! Silence is a segment too (target: the rest pose), so pauses relax the
//! face; it takes over only after the sound before it ends, never in
//! anticipation, which keeps the face continuous when the end of an
//! utterance becomes known.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::visemes::{TimedViseme, Viseme};

/// Weights, one per [`Blendshape`], in ARKit's order, each 0..=1.
pub type FaceWeights = [f32; BLENDSHAPE_COUNT];

/// The rest pose: every weight 0.
pub const NEUTRAL_FACE: FaceWeights = [0.0; BLENDSHAPE_COUNT];

macro_rules! blendshapes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// ARKit's 52 face blendshapes, numbered and named as Apple's
        /// `ARFaceAnchor.BlendShapeLocation` documentation lists them
        /// (left eye, right eye, mouth and jaw, eyebrows, cheeks, nose,
        /// tongue). "Left" is the face's own left, as in ARKit.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Blendshape { $($(#[$doc])* $variant,)* }

        impl Blendshape {
            /// All of them, in index order.
            pub const ALL: [Blendshape; BLENDSHAPE_COUNT] = [$(Blendshape::$variant,)*];
            /// Their ARKit names, in index order.
            pub const NAMES: [&'static str; BLENDSHAPE_COUNT] = [$($name,)*];
        }
    };
}

/// How many blendshapes a face has.
pub const BLENDSHAPE_COUNT: usize = 52;

blendshapes! {
    EyeBlinkLeft = "eyeBlinkLeft",
    EyeLookDownLeft = "eyeLookDownLeft",
    EyeLookInLeft = "eyeLookInLeft",
    EyeLookOutLeft = "eyeLookOutLeft",
    EyeLookUpLeft = "eyeLookUpLeft",
    EyeSquintLeft = "eyeSquintLeft",
    EyeWideLeft = "eyeWideLeft",
    EyeBlinkRight = "eyeBlinkRight",
    EyeLookDownRight = "eyeLookDownRight",
    EyeLookInRight = "eyeLookInRight",
    EyeLookOutRight = "eyeLookOutRight",
    EyeLookUpRight = "eyeLookUpRight",
    EyeSquintRight = "eyeSquintRight",
    EyeWideRight = "eyeWideRight",
    JawForward = "jawForward",
    JawLeft = "jawLeft",
    JawRight = "jawRight",
    JawOpen = "jawOpen",
    MouthClose = "mouthClose",
    MouthFunnel = "mouthFunnel",
    MouthPucker = "mouthPucker",
    MouthLeft = "mouthLeft",
    MouthRight = "mouthRight",
    MouthSmileLeft = "mouthSmileLeft",
    MouthSmileRight = "mouthSmileRight",
    MouthFrownLeft = "mouthFrownLeft",
    MouthFrownRight = "mouthFrownRight",
    MouthDimpleLeft = "mouthDimpleLeft",
    MouthDimpleRight = "mouthDimpleRight",
    MouthStretchLeft = "mouthStretchLeft",
    MouthStretchRight = "mouthStretchRight",
    MouthRollLower = "mouthRollLower",
    MouthRollUpper = "mouthRollUpper",
    MouthShrugLower = "mouthShrugLower",
    MouthShrugUpper = "mouthShrugUpper",
    MouthPressLeft = "mouthPressLeft",
    MouthPressRight = "mouthPressRight",
    MouthLowerDownLeft = "mouthLowerDownLeft",
    MouthLowerDownRight = "mouthLowerDownRight",
    MouthUpperUpLeft = "mouthUpperUpLeft",
    MouthUpperUpRight = "mouthUpperUpRight",
    BrowDownLeft = "browDownLeft",
    BrowDownRight = "browDownRight",
    BrowInnerUp = "browInnerUp",
    BrowOuterUpLeft = "browOuterUpLeft",
    BrowOuterUpRight = "browOuterUpRight",
    CheekPuff = "cheekPuff",
    CheekSquintLeft = "cheekSquintLeft",
    CheekSquintRight = "cheekSquintRight",
    NoseSneerLeft = "noseSneerLeft",
    NoseSneerRight = "noseSneerRight",
    TongueOut = "tongueOut",
}

impl Blendshape {
    /// Its ARKit name (`jawOpen`).
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The blendshape of an index (0..52).
    pub fn from_index(index: usize) -> Option<Blendshape> {
        Self::ALL.get(index).copied()
    }

    /// Whether speech shapes it (jaw, lips, tongue): the expression layer
    /// never writes these, so an emotion cannot fight the mouth.
    pub fn articulates(self) -> bool {
        use Blendshape::*;
        matches!(
            self,
            JawForward
                | JawLeft
                | JawRight
                | JawOpen
                | MouthClose
                | MouthFunnel
                | MouthPucker
                | MouthLeft
                | MouthRight
                | MouthRollLower
                | MouthRollUpper
                | MouthShrugLower
                | MouthShrugUpper
                | MouthPressLeft
                | MouthPressRight
                | MouthLowerDownLeft
                | MouthLowerDownRight
                | MouthUpperUpLeft
                | MouthUpperUpRight
                | TongueOut
        )
    }
}

/// How a viseme is articulated: its target shape, how strongly it holds
/// against its neighbours, and how early it forms and how long it lingers.
struct Articulation {
    shape: &'static [(Blendshape, f32)],
    dominance: f32,
    /// Seconds before its start that it begins to form (anticipation).
    attack: f64,
    /// Seconds after its end that it is gone (carry-over).
    release: f64,
}

/// The one table from visemes to blendshapes, indexed by viseme number.
///
/// Source: authored for this library from the articulation each viseme
/// stands for (the phoneme classes of the OVRLipSync viseme reference,
/// expressed in ARKit's blendshapes as Apple defines each one): p/b/m press
/// and roll the lips shut on a nearly closed jaw; f/v roll the lower lip
/// under the upper teeth; th shows the tongue; ch/sh/r round and push the
/// lips; s/z bare the teeth with the corners stretched; open vowels open
/// the jaw, /i/ and /e/ spread the corners (a smile shape), /o/ and /u/
/// round the lips (funnel, pucker). Dominances and timings are in the
/// range the coarticulation literature reports: lip closures and
/// labiodentals high and quick (they must be seen), tongue consonants low
/// (their lips follow the neighbouring vowels), vowels in between with
/// 60-80 ms anticipation.
const ARTICULATIONS: [Articulation; 15] = {
    use Blendshape::*;
    const VOWEL: (f32, f64, f64) = (1.0, 0.07, 0.08);
    const LIPS: (f32, f64, f64) = (2.5, 0.05, 0.05);
    const TONGUE: (f32, f64, f64) = (0.45, 0.06, 0.06);
    const fn a(shape: &'static [(Blendshape, f32)], t: (f32, f64, f64)) -> Articulation {
        Articulation {
            shape,
            dominance: t.0,
            attack: t.1,
            release: t.2,
        }
    }
    [
        // Sil: the rest pose (see REST).
        a(&[], (REST.dominance, 0.0, REST.release)),
        // PP: p, b, m.
        a(
            &[
                (MouthClose, 0.35),
                (MouthPressLeft, 0.65),
                (MouthPressRight, 0.65),
                (MouthRollLower, 0.3),
                (MouthRollUpper, 0.2),
                (JawOpen, 0.04),
            ],
            LIPS,
        ),
        // FF: f, v.
        a(
            &[
                (MouthRollLower, 0.65),
                (MouthUpperUpLeft, 0.25),
                (MouthUpperUpRight, 0.25),
                (JawOpen, 0.08),
                (MouthShrugLower, 0.2),
            ],
            (1.8, 0.05, 0.05),
        ),
        // TH.
        a(
            &[
                (TongueOut, 0.35),
                (JawOpen, 0.18),
                (MouthLowerDownLeft, 0.15),
                (MouthLowerDownRight, 0.15),
            ],
            (1.0, 0.06, 0.06),
        ),
        // DD: t, d.
        a(
            &[
                (JawOpen, 0.18),
                (MouthLowerDownLeft, 0.15),
                (MouthLowerDownRight, 0.15),
                (MouthStretchLeft, 0.1),
                (MouthStretchRight, 0.1),
            ],
            TONGUE,
        ),
        // kk: k, g, h.
        a(
            &[
                (JawOpen, 0.25),
                (MouthStretchLeft, 0.12),
                (MouthStretchRight, 0.12),
                (MouthLowerDownLeft, 0.1),
                (MouthLowerDownRight, 0.1),
            ],
            TONGUE,
        ),
        // CH: ch, j, sh, zh.
        a(
            &[
                (MouthFunnel, 0.55),
                (MouthPucker, 0.3),
                (JawOpen, 0.12),
                (MouthUpperUpLeft, 0.2),
                (MouthUpperUpRight, 0.2),
                (MouthLowerDownLeft, 0.2),
                (MouthLowerDownRight, 0.2),
            ],
            (1.3, 0.06, 0.06),
        ),
        // SS: s, z.
        a(
            &[
                (JawOpen, 0.06),
                (MouthStretchLeft, 0.3),
                (MouthStretchRight, 0.3),
                (MouthSmileLeft, 0.15),
                (MouthSmileRight, 0.15),
                (MouthUpperUpLeft, 0.15),
                (MouthUpperUpRight, 0.15),
                (MouthLowerDownLeft, 0.15),
                (MouthLowerDownRight, 0.15),
            ],
            (1.1, 0.05, 0.05),
        ),
        // nn: n, l, ng.
        a(
            &[
                (JawOpen, 0.14),
                (MouthLowerDownLeft, 0.08),
                (MouthLowerDownRight, 0.08),
            ],
            TONGUE,
        ),
        // RR: r, er.
        a(
            &[(MouthFunnel, 0.3), (MouthPucker, 0.3), (JawOpen, 0.15)],
            (0.8, 0.06, 0.07),
        ),
        // aa: open vowels.
        a(
            &[
                (JawOpen, 0.7),
                (MouthLowerDownLeft, 0.3),
                (MouthLowerDownRight, 0.3),
                (MouthUpperUpLeft, 0.1),
                (MouthUpperUpRight, 0.1),
            ],
            VOWEL,
        ),
        // E: e, ɛ.
        a(
            &[
                (JawOpen, 0.4),
                (MouthStretchLeft, 0.3),
                (MouthStretchRight, 0.3),
                (MouthSmileLeft, 0.2),
                (MouthSmileRight, 0.2),
                (MouthLowerDownLeft, 0.25),
                (MouthLowerDownRight, 0.25),
            ],
            VOWEL,
        ),
        // ih: i, ɪ, y.
        a(
            &[
                (JawOpen, 0.18),
                (MouthSmileLeft, 0.5),
                (MouthSmileRight, 0.5),
                (MouthStretchLeft, 0.35),
                (MouthStretchRight, 0.35),
                (MouthUpperUpLeft, 0.1),
                (MouthUpperUpRight, 0.1),
            ],
            VOWEL,
        ),
        // oh: o, ɔ.
        a(
            &[(JawOpen, 0.45), (MouthFunnel, 0.6), (MouthPucker, 0.2)],
            VOWEL,
        ),
        // ou: u, ʊ, w.
        a(
            &[(JawOpen, 0.15), (MouthPucker, 0.75), (MouthFunnel, 0.4)],
            VOWEL,
        ),
    ]
};

/// Silence: the rest pose. It rises as the sound before it fades (over that
/// sound's release), and leaves as the next sound forms.
const REST: Articulation = Articulation {
    shape: &[],
    dominance: 0.8,
    attack: 0.0,
    release: 0.06,
};

/// A sound lasts until the next starts, but no longer than this (the
/// timeline gives starts only; a longer gap is a pause).
pub const MAX_HOLD: Duration = Duration::from_millis(200);

/// The longest release of any articulation: the face is at rest this long
/// after the sound before a silence ends.
pub const MAX_RELEASE: Duration = Duration::from_millis(80);

/// The longest anticipation of any articulation.
const MAX_ATTACK: Duration = Duration::from_millis(70);

/// How long the face takes to pass from one utterance's speech to the
/// next's (or from rest into the first): each utterance's timeline starts
/// on its own clock, so without it the face would jump where one follows
/// another, and where a first sound starts formed.
pub const UTTERANCE_BLEND: Duration = Duration::from_millis(60);

/// Blends `out` from the face `from`: `into` (0..1) is how far through the
/// blend (eased, so the face starts and ends it without a kink).
pub fn blend(from: &FaceWeights, into: f64, out: &mut FaceWeights) {
    let w = smoothstep(into) as f32;
    for (o, f) in out.iter_mut().zip(from) {
        *o = (f + (*o - f) * w).clamp(0.0, 1.0);
    }
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// The face of speech alone at `at` into an utterance whose visemes
/// (offsets from its start) are `visemes`, written into `out` (every
/// weight: those speech does not move are 0). `end`: where the utterance's
/// sound stopped, once known (its end, or a flush); nothing after it was
/// heard, and the face relaxes from the face it had there (a sound it was
/// forming for fades too). Allocates nothing.
pub fn speech_face(
    visemes: &[TimedViseme],
    at: Duration,
    end: Option<Duration>,
    out: &mut FaceWeights,
) {
    *out = NEUTRAL_FACE;
    let t = at.as_secs_f64();
    let start_of = |i: usize| visemes[i].start_offset.as_secs_f64();
    // Sounds starting at or after the end were never heard. (The searches
    // compare durations, not seconds as floats: they are most of a read.)
    let count = end.map_or(visemes.len(), |end| {
        visemes.partition_point(|v| v.start_offset < end)
    });
    let cut = end;
    let end = end.map_or(f64::INFINITY, |e| e.as_secs_f64());
    // Sounds starting later than this have no influence yet.
    let horizon = at + MAX_ATTACK;
    let forming = visemes[..count].partition_point(|v| v.start_offset <= horizon);
    let mut shares = [0f32; BLENDSHAPE_COUNT];
    let mut total = 0.0f64;
    if let Some(cut) = cut {
        // Sounds the end cut off, whose anticipation had begun: what of
        // them had formed by the end fades as a sound ending there does
        // (so a cut between two sounds does not jump).
        for v in visemes[count..]
            .iter()
            .take_while(|v| v.start_offset < cut + MAX_ATTACK)
            .filter(|v| v.viseme != Viseme::Sil)
        {
            let art = &ARTICULATIONS[v.viseme as usize];
            let s = v.start_offset.as_secs_f64();
            let rise = smoothstep((t.min(end) - (s - art.attack)) / art.attack);
            let fall = 1.0 - smoothstep((t - end) / art.release);
            let d = f64::from(art.dominance) * rise * fall;
            if d > 0.0 {
                total += d;
                for (shape, value) in art.shape {
                    shares[*shape as usize] += d as f32 * value;
                }
            }
        }
        if forming == 0 && total > 0.0 {
            // The rest before the first sound, which never came.
            total += f64::from(REST.dominance);
        }
    }
    // From the latest sound back, until one is over (all before it are).
    let mut i = forming;
    while i > 0 {
        i -= 1;
        let s = start_of(i);
        let next = if i + 1 < count {
            start_of(i + 1)
        } else {
            f64::INFINITY
        };
        let viseme = visemes[i].viseme;
        let plateau_end;
        if viseme == Viseme::Sil {
            // A marked silence: rest from its start, rising as the sound
            // before it fades.
            plateau_end = next.min(end);
            let before = match i {
                0 => 0.0,
                _ => ARTICULATIONS[visemes[i - 1].viseme as usize].release,
            };
            total += rest(t, s, before, plateau_end);
        } else {
            let art = &ARTICULATIONS[viseme as usize];
            plateau_end = next.min(s + MAX_HOLD.as_secs_f64()).min(end);
            let rise = smoothstep((t - (s - art.attack)) / art.attack);
            let fall = 1.0 - smoothstep((t - plateau_end) / art.release);
            let d = f64::from(art.dominance) * rise * fall;
            if d > 0.0 {
                total += d;
                for (shape, value) in art.shape {
                    shares[*shape as usize] += d as f32 * value;
                }
            }
            if plateau_end < next {
                // A pause after it (or the end).
                total += rest(t, plateau_end, art.release, next);
            }
        }
        if plateau_end + MAX_RELEASE.as_secs_f64() < t {
            break;
        }
        if i == 0 {
            // The rest before the first sound.
            total += rest(t, f64::NEG_INFINITY, 0.0, s);
        }
    }
    if total > 0.0 {
        for (o, s) in out.iter_mut().zip(shares) {
            *o = (f64::from(s) / total).clamp(0.0, 1.0) as f32;
        }
    }
}

/// The dominance of a rest from `from` to `until`: it rises over `rise`
/// (the release of the sound before it, so the two always add up to a
/// firm weight) and leaves as the next sound takes over.
fn rest(t: f64, from: f64, rise: f64, until: f64) -> f64 {
    let rising = if rise > 0.0 {
        smoothstep((t - from) / rise)
    } else if t >= from {
        1.0
    } else {
        0.0
    };
    let falling = 1.0 - smoothstep((t - until) / REST.release);
    f64::from(REST.dominance) * rising * falling
}

/// The character's expression: the emotions the service names, grouped by
/// how a face shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Expression {
    #[default]
    Neutral = 0,
    /// Joy, humour.
    Joy = 1,
    /// Affection, validation: a warm, softer smile.
    Affection = 2,
    /// Interest: brows raised a little, eyes open.
    Interest = 3,
    Surprise = 4,
    /// Sadness, whining.
    Sadness = 5,
    /// Anger, belligerence, criticism, domineering.
    Anger = 6,
    Disgust = 7,
    /// Contempt, stonewalling: a one-sided smirk.
    Contempt = 8,
    /// Tension, defensiveness, tense humour.
    Tension = 9,
}

impl Expression {
    pub const ALL: [Expression; 10] = [
        Expression::Neutral,
        Expression::Joy,
        Expression::Affection,
        Expression::Interest,
        Expression::Surprise,
        Expression::Sadness,
        Expression::Anger,
        Expression::Disgust,
        Expression::Contempt,
        Expression::Tension,
    ];

    /// The expression numbered `n` (`Neutral` for an unknown number).
    pub fn from_u8(n: u8) -> Expression {
        Self::ALL.get(usize::from(n)).copied().unwrap_or_default()
    }

    /// Its shape at full strength: brows, eyes, cheeks, nose and the mouth's
    /// corners only (never a channel speech moves).
    fn shape(self) -> &'static [(Blendshape, f32)] {
        use Blendshape::*;
        match self {
            Expression::Neutral => &[],
            Expression::Joy => &[
                (MouthSmileLeft, 0.6),
                (MouthSmileRight, 0.6),
                (CheekSquintLeft, 0.5),
                (CheekSquintRight, 0.5),
                (EyeSquintLeft, 0.3),
                (EyeSquintRight, 0.3),
                (BrowOuterUpLeft, 0.1),
                (BrowOuterUpRight, 0.1),
            ],
            Expression::Affection => &[
                (MouthSmileLeft, 0.35),
                (MouthSmileRight, 0.35),
                (CheekSquintLeft, 0.25),
                (CheekSquintRight, 0.25),
                (BrowInnerUp, 0.15),
            ],
            Expression::Interest => &[
                (BrowInnerUp, 0.3),
                (BrowOuterUpLeft, 0.35),
                (BrowOuterUpRight, 0.35),
                (EyeWideLeft, 0.2),
                (EyeWideRight, 0.2),
            ],
            Expression::Surprise => &[
                (BrowInnerUp, 0.7),
                (BrowOuterUpLeft, 0.7),
                (BrowOuterUpRight, 0.7),
                (EyeWideLeft, 0.6),
                (EyeWideRight, 0.6),
            ],
            Expression::Sadness => &[
                (BrowInnerUp, 0.6),
                (BrowDownLeft, 0.1),
                (BrowDownRight, 0.1),
                (MouthFrownLeft, 0.45),
                (MouthFrownRight, 0.45),
                (EyeSquintLeft, 0.1),
                (EyeSquintRight, 0.1),
            ],
            Expression::Anger => &[
                (BrowDownLeft, 0.7),
                (BrowDownRight, 0.7),
                (EyeSquintLeft, 0.35),
                (EyeSquintRight, 0.35),
                (NoseSneerLeft, 0.3),
                (NoseSneerRight, 0.3),
                (MouthFrownLeft, 0.2),
                (MouthFrownRight, 0.2),
            ],
            Expression::Disgust => &[
                (NoseSneerLeft, 0.6),
                (NoseSneerRight, 0.6),
                (BrowDownLeft, 0.4),
                (BrowDownRight, 0.4),
                (EyeSquintLeft, 0.3),
                (EyeSquintRight, 0.3),
                (CheekSquintLeft, 0.2),
                (CheekSquintRight, 0.2),
            ],
            Expression::Contempt => &[
                (MouthSmileLeft, 0.3),
                (MouthDimpleLeft, 0.3),
                (BrowDownRight, 0.15),
                (EyeSquintLeft, 0.15),
                (EyeSquintRight, 0.15),
            ],
            Expression::Tension => &[
                (BrowDownLeft, 0.3),
                (BrowDownRight, 0.3),
                (BrowInnerUp, 0.3),
                (MouthStretchLeft, 0.2),
                (MouthStretchRight, 0.2),
                (EyeWideLeft, 0.1),
                (EyeWideRight, 0.1),
            ],
        }
    }
}

/// How long a new expression takes to replace the one before.
pub const EXPRESSION_FADE: Duration = Duration::from_millis(400);

/// Adds `expression` at `amount` (0..1) over the face in `out`. Each weight
/// combines as a screen (`1 - (1-a)(1-b)`: neither layer cancels the other
/// and the sum stays within 0..1); on the mouth's corners the expression
/// also yields to rounded or closed lips (a smile does not pull a /u/ or
/// an /m/ apart).
pub fn add_expression(expression: Expression, amount: f32, out: &mut FaceWeights) {
    use Blendshape::*;
    let amount = amount.clamp(0.0, 1.0);
    if amount == 0.0 {
        return;
    }
    let lips_busy = [
        MouthPucker,
        MouthFunnel,
        MouthPressLeft,
        MouthPressRight,
        MouthClose,
    ]
    .iter()
    .map(|b| out[*b as usize])
    .fold(0.0f32, f32::max);
    for (shape, value) in expression.shape() {
        debug_assert!(!shape.articulates());
        let corner = matches!(
            shape,
            MouthSmileLeft
                | MouthSmileRight
                | MouthFrownLeft
                | MouthFrownRight
                | MouthDimpleLeft
                | MouthDimpleRight
                | MouthStretchLeft
                | MouthStretchRight
        );
        let yielding = if corner { 1.0 - lips_busy } else { 1.0 };
        let add = (value * amount * yielding).clamp(0.0, 1.0);
        let o = &mut out[*shape as usize];
        *o = 1.0 - (1.0 - *o) * (1.0 - add);
    }
}

/// Blinks: each window of this length holds one blink, at a place the seed
/// picks (so blinks come every 0.2 to 7.6 s, 3.9 s apart on average, close
/// to the 15-20 a minute people blink at in conversation).
const BLINK_WINDOW: Duration = Duration::from_millis(3_900);
/// A blink closes the lids over 70 ms and opens them over 130 ms.
const BLINK_CLOSE: f64 = 0.07;
const BLINK_OPEN: f64 = 0.13;

/// How far the lids are closed (0..1) at `since` from the clock's start,
/// for blinks seeded with `seed`.
pub fn blink(seed: u64, since: Duration) -> f32 {
    let window = BLINK_WINDOW.as_secs_f64();
    let t = since.as_secs_f64();
    let n = (t / window).floor() as u64;
    let length = BLINK_CLOSE + BLINK_OPEN;
    // This window's blink, or the previous one's still opening.
    [n, n.wrapping_sub(1)]
        .iter()
        .map(|&w| {
            let free = window - length;
            let at = w as f64 * window + free * unit(seed, w);
            let x = t - at;
            if x < 0.0 || x > length {
                0.0
            } else if x < BLINK_CLOSE {
                smoothstep(x / BLINK_CLOSE)
            } else {
                1.0 - smoothstep((x - BLINK_CLOSE) / BLINK_OPEN)
            }
        })
        .fold(0.0f64, f64::max) as f32
}

/// Closes the lids by `closed` (0..1) over the face in `out`.
pub fn add_blink(closed: f32, out: &mut FaceWeights) {
    use Blendshape::*;
    for b in [EyeBlinkLeft, EyeBlinkRight] {
        let o = &mut out[b as usize];
        *o = o.max(closed);
    }
    for b in [EyeWideLeft, EyeWideRight] {
        out[b as usize] *= 1.0 - closed;
    }
}

/// A number in 0..1 from a seed and an index (SplitMix64).
fn unit(seed: u64, index: u64) -> f64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// What the game sets on a face, shared between threads without a lock:
/// the expression (fading in over what showed) and blinks.
#[derive(Debug)]
pub struct FaceControls {
    /// The last change of expression (swapped whole, so a reader never
    /// sees half of one; readers never wait).
    expression: ArcSwap<ExpressionFade>,
    /// Blinks: 0 off, else the seed with the top bit set.
    blinks: AtomicU64,
}

impl Default for FaceControls {
    fn default() -> Self {
        FaceControls {
            expression: ArcSwap::from_pointee(ExpressionFade::default()),
            blinks: AtomicU64::new(0),
        }
    }
}

/// A change of expression: how much of each showed when it was made
/// (indexed as [`Expression::ALL`]), all of which fade out as the one set
/// fades in, from `at` on the face's clock. So a change while another
/// fades starts from the face as it was, however many are showing.
#[derive(Debug, Clone, Copy, Default)]
struct ExpressionFade {
    from: [f32; EXPRESSIONS],
    to: Expression,
    strength: f32,
    at: Duration,
}

const EXPRESSIONS: usize = Expression::ALL.len();

impl ExpressionFade {
    /// How much of each expression shows at `now`.
    fn amounts(&self, now: Duration) -> [f32; EXPRESSIONS] {
        let since = now.saturating_sub(self.at);
        let faded = smoothstep(since.as_secs_f64() / EXPRESSION_FADE.as_secs_f64()) as f32;
        let mut amounts = self.from.map(|a| a * (1.0 - faded));
        amounts[self.to as usize] += self.strength * faded;
        amounts
    }
}

const BLINKS_ON: u64 = 1 << 63;

impl FaceControls {
    /// Sets the expression, at `strength` (0..1), from `now` on the clock
    /// the face is read on: it fades in over [`EXPRESSION_FADE`] as what
    /// shows now fades out. `Neutral` fades the expression out.
    pub fn set_expression(&self, expression: Expression, strength: f32, now: Duration) {
        self.expression.rcu(|before| ExpressionFade {
            from: before.amounts(now),
            to: expression,
            strength: strength.clamp(0.0, 1.0),
            at: now,
        });
    }

    /// How much of each expression (indexed as [`Expression::ALL`]) shows
    /// at `now`.
    pub fn expressions_at(&self, now: Duration) -> [f32; EXPRESSIONS] {
        self.expression.load().amounts(now)
    }

    /// Blinks seeded with `seed` (the same seed blinks at the same times on
    /// the clock), or none (the default).
    pub fn set_blinks(&self, seed: Option<u64>) {
        let word = seed.map_or(0, |s| BLINKS_ON | (s & !BLINKS_ON));
        self.blinks.store(word, Ordering::Release);
    }

    /// The blinks' seed, when on.
    pub fn blinks(&self) -> Option<u64> {
        let word = self.blinks.load(Ordering::Acquire);
        (word & BLINKS_ON != 0).then_some(word & !BLINKS_ON)
    }

    /// Adds the expression and the blinks at `now` over the face in `out`.
    pub fn apply(&self, now: Duration, out: &mut FaceWeights) {
        for (expression, amount) in Expression::ALL.iter().zip(self.expressions_at(now)) {
            if *expression != Expression::Neutral && amount > 0.0 {
                add_expression(*expression, amount, out);
            }
        }
        if let Some(seed) = self.blinks() {
            add_blink(blink(seed, now), out);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use Blendshape::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// "p-a-m-i-s-u-o": lips, open, lips, spread, teeth, rounded, rounded.
    fn timeline() -> Vec<TimedViseme> {
        [
            (Viseme::Pp, 0),
            (Viseme::Aa, 70),
            (Viseme::Pp, 180),
            (Viseme::Ih, 250),
            (Viseme::Ss, 360),
            (Viseme::Ou, 430),
            (Viseme::Kk, 540),
            (Viseme::Oh, 610),
        ]
        .iter()
        .map(|(viseme, at)| TimedViseme {
            viseme: *viseme,
            start_offset: ms(*at),
        })
        .collect()
    }

    fn face(visemes: &[TimedViseme], at_us: u64, end: Option<Duration>) -> FaceWeights {
        let mut out = NEUTRAL_FACE;
        speech_face(visemes, Duration::from_micros(at_us), end, &mut out);
        out
    }

    /// Where (ms) a weight is largest over the first 900 ms.
    fn peak(visemes: &[TimedViseme], shape: Blendshape, from: u64, to: u64) -> u64 {
        (from..to)
            .max_by(|a, b| {
                let w = |t| face(visemes, t * 1000, None)[shape as usize];
                w(*a).total_cmp(&w(*b))
            })
            .unwrap()
    }

    #[test]
    fn names_are_arkits_in_its_order() {
        assert_eq!(Blendshape::ALL.len(), 52);
        assert_eq!(JawOpen.name(), "jawOpen");
        assert_eq!(Blendshape::NAMES[0], "eyeBlinkLeft");
        assert_eq!(Blendshape::NAMES[17], "jawOpen");
        assert_eq!(Blendshape::NAMES[51], "tongueOut");
        for (i, b) in Blendshape::ALL.iter().enumerate() {
            assert_eq!(*b as usize, i);
            assert_eq!(Blendshape::from_index(i), Some(*b));
        }
        assert_eq!(Blendshape::from_index(52), None);
        let mut names = Blendshape::NAMES.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 52);
    }

    #[test]
    fn each_sound_peaks_its_shape_in_its_own_segment() {
        let v = timeline();
        let jaw = peak(&v, JawOpen, 0, 700);
        assert!(
            (70..180).contains(&jaw),
            "jawOpen peaks at {jaw} ms, not on /a/"
        );
        let smile = peak(&v, MouthSmileLeft, 0, 700);
        assert!(
            (250..360).contains(&smile),
            "smile peaks at {smile} ms, not on /i/"
        );
        let pucker = peak(&v, MouthPucker, 0, 700);
        assert!(
            (430..540).contains(&pucker),
            "pucker peaks at {pucker} ms, not on /u/"
        );
        let funnel = peak(&v, MouthFunnel, 540, 800);
        assert!(funnel >= 610, "funnel peaks at {funnel} ms, not on /o/");
        for (from, to) in [(0, 70), (180, 250)] {
            let press = peak(&v, MouthPressLeft, from, to);
            let at = face(&v, press * 1000, None);
            assert!(at[MouthPressLeft as usize] > 0.4, "{at:?}");
            assert!(
                at[MouthPressLeft as usize] > at[JawOpen as usize] * 2.0,
                "{} {}",
                at[MouthPressLeft as usize],
                at[JawOpen as usize]
            );
        }
        // Lips close firmly on /m/ between two open vowels: dominance.
        let mid_m = face(&v, 215_000, None);
        assert!(mid_m[MouthPressLeft as usize] > 0.45, "{mid_m:?}");
        assert!(mid_m[JawOpen as usize] < 0.2);
        // The open vowel opens the jaw most.
        let mid_a = face(&v, 125_000, None);
        assert!(mid_a[JawOpen as usize] > 0.55);
    }

    /// A long pseudo-random timeline of every viseme, 40-200 ms each, with
    /// pauses.
    fn random_timeline(seed: u64, n: usize) -> Vec<TimedViseme> {
        let mut at = 0u64;
        (0..n as u64)
            .map(|i| {
                let viseme = Viseme::ALL[(unit(seed, i) * 15.0) as usize];
                let step = 40 + (unit(seed ^ 1, i) * 260.0) as u64;
                let v = TimedViseme {
                    viseme,
                    start_offset: ms(at),
                };
                at += step;
                v
            })
            .collect()
    }

    /// The largest change of any weight between reads 1 ms apart.
    pub(crate) const STEP_PER_MS: f32 = 0.04;

    #[test]
    fn weights_stay_in_range_and_move_by_small_steps() {
        let mut largest = 0f32;
        for seed in 1..6 {
            let v = random_timeline(seed, 60);
            let end = v.last().unwrap().start_offset + ms(150);
            let mut before = face(&v, 0, None);
            for t in (0..end.as_millis() as u64 + 300).map(|t| t * 1000) {
                let now = face(&v, t, None);
                for (a, b) in before.iter().zip(now.iter()) {
                    assert!((0.0..=1.0).contains(b));
                    largest = largest.max((a - b).abs());
                }
                before = now;
            }
        }
        println!("largest step in 1 ms: {largest}");
        assert!(largest <= STEP_PER_MS, "{largest}");
        assert!(largest > 0.0);
    }

    #[test]
    fn the_face_rests_soon_after_the_last_sound() {
        let v = timeline();
        let last = v.last().unwrap().start_offset;
        // The end unknown (still arriving): a sound holds at most MAX_HOLD.
        let rest_at = last + MAX_HOLD + MAX_RELEASE;
        assert!(face(&v, (last + ms(100)).as_micros() as u64, None)[JawOpen as usize] > 0.2);
        assert_eq!(face(&v, rest_at.as_micros() as u64, None), NEUTRAL_FACE);
        // The end known (the sound stopped 50 ms in): at rest MAX_RELEASE on.
        let end = last + ms(50);
        assert_eq!(
            face(&v, (end + MAX_RELEASE).as_micros() as u64, Some(end)),
            NEUTRAL_FACE
        );
        // And it relaxes from where it was, without a jump.
        let before = face(&v, end.as_micros() as u64, None);
        let at_end = face(&v, end.as_micros() as u64, Some(end));
        assert_eq!(before, at_end);
        let after = face(&v, end.as_micros() as u64 + 1000, Some(end));
        for (a, b) in at_end.iter().zip(after) {
            assert!((a - b).abs() <= STEP_PER_MS);
        }
        // Nothing said: neutral; cut before the first sound: at rest on.
        assert_eq!(face(&[], 50_000, None), NEUTRAL_FACE);
        let rest_at = MAX_RELEASE.as_micros() as u64;
        assert_eq!(face(&v, rest_at, Some(Duration::ZERO)), NEUTRAL_FACE);
    }

    /// A cut (a flush, a barge-in) anywhere, also between two sounds as
    /// the next one forms, or just before the first: the face at the cut
    /// is the face as it was, it relaxes from there by small steps and is
    /// at rest MAX_RELEASE on.
    #[test]
    fn a_cut_anywhere_relaxes_from_the_face_as_it_was() {
        let v = timeline();
        let mut largest = 0f32;
        for cut_ms in 0..700 {
            let end = ms(cut_ms);
            let end_us = end.as_micros() as u64;
            let before = face(&v, end_us, None);
            let mut last = face(&v, end_us, Some(end));
            for (a, b) in before.iter().zip(last) {
                assert!((a - b).abs() < 1e-6, "cut at {cut_ms} ms: {a} -> {b}");
            }
            for after in 1..=MAX_RELEASE.as_millis() as u64 {
                let now = face(&v, end_us + after * 1000, Some(end));
                for (a, b) in last.iter().zip(now) {
                    assert!((0.0..=1.0).contains(&b));
                    largest = largest.max((a - b).abs());
                }
                last = now;
            }
            assert_eq!(last, NEUTRAL_FACE, "cut at {cut_ms} ms");
        }
        println!("largest step in 1 ms after a cut: {largest}");
        assert!(largest <= STEP_PER_MS, "{largest}");
    }

    #[test]
    fn pauses_and_silences_relax_the_mouth() {
        let mut v = timeline();
        v.insert(
            2,
            TimedViseme {
                viseme: Viseme::Sil,
                start_offset: ms(150),
            },
        );
        for p in &mut v[3..] {
            p.start_offset += ms(400);
        }
        // Within the 400 ms silence after /a/, the mouth is at rest.
        assert_eq!(face(&v, 400_000, None), NEUTRAL_FACE);
        // A gap longer than MAX_HOLD without a silence mark is a pause too.
        let gap = [
            TimedViseme {
                viseme: Viseme::Aa,
                start_offset: ms(0),
            },
            TimedViseme {
                viseme: Viseme::Ou,
                start_offset: ms(900),
            },
        ];
        assert_eq!(face(&gap, 500_000, None), NEUTRAL_FACE);
        assert!(face(&gap, 100_000, None)[JawOpen as usize] > 0.6);
    }

    #[test]
    fn the_expression_never_moves_the_mouths_speech_shapes() {
        for e in Expression::ALL {
            for (b, v) in e.shape() {
                assert!(!b.articulates(), "{e:?} moves {}", b.name());
                assert!((0.0..=1.0).contains(v));
            }
        }
        let v = timeline();
        for t in (0..700).step_by(7) {
            let speech = face(&v, t * 1000, None);
            for e in Expression::ALL {
                let mut both = speech;
                add_expression(e, 1.0, &mut both);
                add_blink(1.0, &mut both);
                for b in Blendshape::ALL {
                    let (s, w) = (speech[b as usize], both[b as usize]);
                    assert!((0.0..=1.0).contains(&w));
                    if b.articulates() {
                        assert_eq!(s, w, "{e:?} changed {}", b.name());
                    } else {
                        assert!(w >= s - 1e-6 || matches!(b, EyeWideLeft | EyeWideRight));
                    }
                }
            }
        }
        // Joy smiles and squints; on a rounded /u/ its smile gives way.
        let mut joy = NEUTRAL_FACE;
        add_expression(Expression::Joy, 1.0, &mut joy);
        assert!(joy[MouthSmileLeft as usize] > 0.5 && joy[CheekSquintLeft as usize] > 0.4);
        let mut on_u = face(&v, 485_000, None);
        add_expression(Expression::Joy, 1.0, &mut on_u);
        assert!(
            on_u[MouthSmileLeft as usize] < 0.3,
            "{}",
            on_u[MouthSmileLeft as usize]
        );
    }

    #[test]
    fn an_expression_fades_in_and_out() {
        let controls = FaceControls::default();
        let at = |ms: u64| {
            let mut f = NEUTRAL_FACE;
            controls.apply(Duration::from_millis(ms), &mut f);
            f[BrowDownLeft as usize]
        };
        assert_eq!(at(0), 0.0);
        controls.set_expression(Expression::Anger, 1.0, ms(1_000));
        assert_eq!(at(1_000), 0.0);
        let half = at(1_200);
        assert!(half > 0.1 && half < 0.6, "{half}");
        assert!((at(1_400) - 0.7).abs() < 1e-3);
        assert!((at(5_000) - 0.7).abs() < 1e-3);
        controls.set_expression(Expression::Neutral, 0.0, ms(6_000));
        assert!((at(6_000) - 0.7).abs() < 0.01, "no jump");
        assert!(at(6_200) < 0.6);
        assert_eq!(at(6_400), 0.0);
        // Step by step, no jumps.
        controls.set_expression(Expression::Sadness, 0.4, ms(7_000));
        let mut before = at(7_000);
        for t in 7_001..7_500 {
            let now = at(t);
            assert!((now - before).abs() <= STEP_PER_MS);
            before = now;
        }
    }

    /// Emotions in quick succession: each change comes 150 ms after the
    /// last, inside its 0.4 s fade, so two or three expressions show at
    /// once when the next is set; each starts from the face as it was,
    /// and the face moves by small steps throughout.
    #[test]
    fn a_new_expression_mid_fade_starts_from_the_face_as_it_was() {
        let controls = FaceControls::default();
        let face_at = |t: u64| {
            let mut f = NEUTRAL_FACE;
            controls.apply(ms(t), &mut f);
            f
        };
        let mut last = face_at(0);
        let mut largest = 0f32;
        for t in 0..3_000u64 {
            if t % 150 == 0 {
                let e = Expression::ALL[1 + (t / 150) as usize % 9];
                controls.set_expression(e, 1.0, ms(t));
            }
            let now = face_at(t);
            for (a, b) in last.iter().zip(now) {
                assert!((0.0..=1.0).contains(&b));
                largest = largest.max((a - b).abs());
            }
            last = now;
        }
        println!("largest step in 1 ms through the changes: {largest}");
        assert!(largest <= STEP_PER_MS, "{largest}");
        // Once the last has faded in, it alone shows.
        let last_set = Expression::ALL[1 + (2_850 / 150) % 9];
        let mut alone = NEUTRAL_FACE;
        add_expression(last_set, 1.0, &mut alone);
        assert_eq!(face_at(2_850 + 400), alone);
    }

    #[test]
    fn blinks_are_off_by_default_and_seeded() {
        let controls = FaceControls::default();
        let closed = |c: &FaceControls, ms: u64| {
            let mut f = NEUTRAL_FACE;
            c.apply(Duration::from_millis(ms), &mut f);
            f[EyeBlinkLeft as usize]
        };
        assert!((0..20_000).all(|t| closed(&controls, t) == 0.0));
        controls.set_blinks(Some(7));
        assert_eq!(controls.blinks(), Some(7));
        // When each blink closes the lids past half.
        let closures = |c: &FaceControls| -> Vec<u64> {
            (1..60_000)
                .filter(|t| closed(c, *t) > 0.5 && closed(c, t - 1) <= 0.5)
                .collect()
        };
        let first = closures(&controls);
        // 60 s: one blink per 3.9 s window.
        assert!((14..=17).contains(&first.len()), "{first:?}");
        for pair in first.windows(2) {
            assert!(pair[1] - pair[0] >= 200, "{pair:?}");
        }
        let again = FaceControls::default();
        again.set_blinks(Some(7));
        assert_eq!(closures(&again), first);
        again.set_blinks(Some(8));
        assert_ne!(closures(&again), first);
        again.set_blinks(None);
        assert!(closures(&again).is_empty());
    }
}
