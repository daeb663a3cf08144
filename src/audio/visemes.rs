//! Phonemes → visemes: the 15 mouth shapes most game lip-sync systems use
//! (Oculus/Meta OVRLipSync's set and order), from the phonemes that come
//! with each audio chunk.
//!
//! The service names phonemes in IPA (`ə`, `aɪ`, `θ`, `ɹ`, with stress and
//! length marks, and `<INTERSPERSE_CHARACTER>` or punctuation between
//! words); the local engine uses lower-case ARPAbet (`ah`, `th`, `hh`).
//! Both are mapped, ARPAbet in either case and with or without its stress
//! digit. Pauses, punctuation and any symbol not known here map to `Sil`: an
//! unknown sound closes the mouth rather than guessing a shape.

use std::time::Duration;

/// A mouth shape, numbered as OVRLipSync numbers them (the C API's
/// `IW_VISEME_*`). The doc of each says which sounds make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Viseme {
    /// Silence, pauses: the mouth at rest.
    Sil = 0,
    /// p, b, m: lips pressed together.
    Pp = 1,
    /// f, v: lower lip to the upper teeth.
    Ff = 2,
    /// th (θ, ð): tongue between the teeth.
    Th = 3,
    /// t, d: tongue behind the upper teeth.
    Dd = 4,
    /// k, g, and h: made at the back of the mouth, jaw slightly open.
    Kk = 5,
    /// ch, j, sh, zh: lips pushed forward.
    Ch = 6,
    /// s, z: teeth almost closed.
    Ss = 7,
    /// n, l, ng.
    Nn = 8,
    /// r, and the r-coloured vowels (er).
    Rr = 9,
    /// Open vowels: a, æ, ʌ, ə, and the diphthongs starting with a.
    Aa = 10,
    /// e, ɛ, eɪ.
    E = 11,
    /// i, ɪ, and y (j).
    Ih = 12,
    /// o, ɔ, ɔɪ.
    Oh = 13,
    /// u, ʊ, oʊ, and w.
    Ou = 14,
}

impl Viseme {
    /// All visemes, in number order.
    pub const ALL: [Viseme; 15] = [
        Viseme::Sil,
        Viseme::Pp,
        Viseme::Ff,
        Viseme::Th,
        Viseme::Dd,
        Viseme::Kk,
        Viseme::Ch,
        Viseme::Ss,
        Viseme::Nn,
        Viseme::Rr,
        Viseme::Aa,
        Viseme::E,
        Viseme::Ih,
        Viseme::Oh,
        Viseme::Ou,
    ];

    /// The name lip-sync tools give it (`sil`, `PP`, ..., `ou`).
    pub fn name(self) -> &'static str {
        match self {
            Viseme::Sil => "sil",
            Viseme::Pp => "PP",
            Viseme::Ff => "FF",
            Viseme::Th => "TH",
            Viseme::Dd => "DD",
            Viseme::Kk => "kk",
            Viseme::Ch => "CH",
            Viseme::Ss => "SS",
            Viseme::Nn => "nn",
            Viseme::Rr => "RR",
            Viseme::Aa => "aa",
            Viseme::E => "E",
            Viseme::Ih => "ih",
            Viseme::Oh => "oh",
            Viseme::Ou => "ou",
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Viseme {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A viseme and where it starts, from the start of its audio chunk (the
/// phonemes' clock). It lasts until the next one starts, or the chunk ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TimedViseme {
    pub viseme: Viseme,
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::serde_ms::duration"))]
    pub start_offset: Duration,
}

/// The viseme of one phoneme; `Sil` for pauses and unknown symbols.
pub fn viseme_of(phoneme: &str) -> Viseme {
    known_viseme(phoneme).unwrap_or(Viseme::Sil)
}

/// The visemes of a chunk's phonemes, in their order and on their clock. A
/// phoneme whose viseme is the one already showing adds nothing (`s` then
/// `z` is one `SS`), so each entry is a change of mouth shape; the first
/// phoneme always gives one, so every chunk stands on its own.
pub fn visemes_of<'a>(phonemes: impl IntoIterator<Item = (&'a str, Duration)>) -> Vec<TimedViseme> {
    let phonemes = phonemes.into_iter();
    let mut out: Vec<TimedViseme> = Vec::with_capacity(phonemes.size_hint().0);
    for (symbol, start_offset) in phonemes {
        let viseme = viseme_of(symbol);
        if out.last().is_some_and(|last| last.viseme == viseme) {
            continue;
        }
        out.push(TimedViseme {
            viseme,
            start_offset,
        });
    }
    out
}

/// Marks that do not change the sound's mouth shape: IPA stress and length,
/// tie bars and the syllabic mark.
const MARKS: [char; 7] = ['ˈ', 'ˌ', 'ː', 'ˑ', '\u{361}', '\u{35C}', '\u{329}'];

/// The viseme of a phoneme this table knows (pauses included), else `None`.
fn known_viseme(phoneme: &str) -> Option<Viseme> {
    // Cleaned on the stack: every known symbol is a few bytes, and decoding
    // runs for each phoneme of each chunk.
    let mut buf = [0u8; 32];
    let mut len = 0;
    for c in phoneme.trim().chars().filter(|c| !MARKS.contains(c)) {
        let c = c.to_ascii_lowercase();
        if len + c.len_utf8() > buf.len() {
            return None;
        }
        len += c.encode_utf8(&mut buf[len..]).len();
    }
    let cleaned = std::str::from_utf8(&buf[..len]).expect("whole characters");
    // ARPAbet's stress digit (`AH0`, `EY1`); a lone digit is no phoneme.
    let symbol = match cleaned.trim_end_matches(['0', '1', '2']) {
        "" if !cleaned.is_empty() => return None,
        s => s,
    };
    use Viseme::*;
    Some(match symbol {
        // Pauses: nothing (a bare stress mark), silence labels, the
        // service's word separator, punctuation.
        ""
        | "sil"
        | "sp"
        | "spn"
        | "pau"
        | "<intersperse_character>"
        | "."
        | ","
        | ";"
        | ":"
        | "?"
        | "!"
        | "-" => Sil,
        "p" | "b" | "m" | "em" => Pp,
        "f" | "v" => Ff,
        "th" | "dh" | "θ" | "ð" => Th,
        "t" | "d" | "dx" | "ɾ" => Dd,
        "k" | "g" | "ɡ" | "h" | "hh" | "x" | "ʔ" => Kk,
        "ch" | "jh" | "sh" | "zh" | "tʃ" | "dʒ" | "ʃ" | "ʒ" => Ch,
        "s" | "z" => Ss,
        "n" | "l" | "ng" | "en" | "el" | "ŋ" => Nn,
        "r" | "er" | "axr" | "ɹ" | "ɚ" | "ɝ" => Rr,
        "aa" | "ae" | "ah" | "ax" | "aw" | "ay" | "a" | "æ" | "ɑ" | "ɐ" | "ʌ" | "ə" | "aʊ"
        | "aɪ" => Aa,
        "eh" | "ey" | "e" | "ɛ" | "eɪ" | "ɜ" => E,
        "ih" | "iy" | "ix" | "y" | "i" | "ɪ" | "ᵻ" | "j" => Ih,
        "ao" | "oy" | "o" | "ɔ" | "ɒ" | "ɔɪ" => Oh,
        "uw" | "uh" | "ow" | "w" | "u" | "ʊ" | "oʊ" => Ou,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every symbol the table knows, and its viseme.
    const KNOWN: &[(Viseme, &[&str])] = &[
        (
            Viseme::Sil,
            &[
                "sil",
                "sp",
                "spn",
                "pau",
                "<INTERSPERSE_CHARACTER>",
                ".",
                ",",
                ";",
                ":",
                "?",
                "!",
                "-",
                "ˈ",
                " ",
            ],
        ),
        (Viseme::Pp, &["p", "b", "m", "em"]),
        (Viseme::Ff, &["f", "v"]),
        (Viseme::Th, &["th", "dh", "θ", "ð"]),
        (Viseme::Dd, &["t", "d", "dx", "ɾ"]),
        (Viseme::Kk, &["k", "g", "ɡ", "h", "hh", "x", "ʔ"]),
        (
            Viseme::Ch,
            &["ch", "jh", "sh", "zh", "tʃ", "dʒ", "t͡ʃ", "d͡ʒ", "ʃ", "ʒ"],
        ),
        (Viseme::Ss, &["s", "z"]),
        (Viseme::Nn, &["n", "l", "ng", "en", "el", "ŋ", "n̩"]),
        (Viseme::Rr, &["r", "er", "axr", "ɹ", "ɚ", "ɝ"]),
        (
            Viseme::Aa,
            &[
                "aa", "ae", "ah", "ax", "aw", "ay", "a", "æ", "ɑ", "ɑː", "ɐ", "ʌ", "ə", "aʊ", "aɪ",
            ],
        ),
        (Viseme::E, &["eh", "ey", "e", "ɛ", "eɪ", "ɜ", "ɜː"]),
        (
            Viseme::Ih,
            &["ih", "iy", "ix", "y", "i", "iː", "ɪ", "ᵻ", "j"],
        ),
        (Viseme::Oh, &["ao", "oy", "o", "ɔ", "ɔː", "ɒ", "ɔɪ"]),
        (Viseme::Ou, &["uw", "uh", "ow", "w", "u", "uː", "ʊ", "oʊ"]),
    ];

    #[test]
    fn every_known_symbol_maps_to_its_viseme() {
        for (viseme, symbols) in KNOWN {
            for symbol in *symbols {
                assert_eq!(known_viseme(symbol), Some(*viseme), "{symbol:?}");
            }
        }
        // Numbered as OVRLipSync numbers them.
        for (i, v) in Viseme::ALL.iter().enumerate() {
            assert_eq!(*v as usize, i);
        }
        let names: Vec<&str> = Viseme::ALL.iter().map(|v| v.name()).collect();
        assert_eq!(
            names.join(" "),
            "sil PP FF TH DD kk CH SS nn RR aa E ih oh ou"
        );
    }

    #[test]
    fn arpabet_in_either_case_with_stress_and_ipa_with_marks() {
        for (symbol, viseme) in [
            ("AH0", Viseme::Aa),
            ("EY1", Viseme::E),
            ("ER2", Viseme::Rr),
            ("HH", Viseme::Kk),
            ("ˈaɪ", Viseme::Aa),
            ("ˌoʊ", Viseme::Ou),
            (" s ", Viseme::Ss),
        ] {
            assert_eq!(viseme_of(symbol), viseme, "{symbol:?}");
        }
    }

    #[test]
    fn unknown_symbols_are_silence() {
        for symbol in ["q", "xx", "ʘ", "1", "a1b", "🙂", "<unk>"] {
            assert_eq!(known_viseme(symbol), None, "{symbol:?}");
            assert_eq!(viseme_of(symbol), Viseme::Sil, "{symbol:?}");
        }
    }

    /// What the published SDK's recorded session and its golden encodings carry.
    #[test]
    fn the_recorded_service_symbols_are_known() {
        assert_eq!(known_viseme("h"), Some(Viseme::Kk));
        assert_eq!(known_viseme("a"), Some(Viseme::Aa));
    }

    /// Every phoneme the local engine speaks has a mouth shape.
    #[cfg(feature = "engine")]
    #[test]
    fn every_engine_symbol_is_known() {
        let speech = crate::engine::speech::synthesize(
            "abcdefghijklmnopqrstuvwxyz th sh ch ee oo ai ay ou ow 7",
        );
        let mut seen: Vec<&str> = speech.phonemes.iter().map(|p| &*p.symbol).collect();
        seen.sort();
        seen.dedup();
        assert!(seen.len() >= 29, "{seen:?}");
        for symbol in seen {
            assert!(
                known_viseme(symbol).is_some_and(|v| v != Viseme::Sil),
                "{symbol:?}"
            );
        }
    }

    #[test]
    fn visemes_keep_the_phonemes_clock_and_merge_repeats() {
        let ms = Duration::from_millis;
        let phonemes = [
            ("hh", ms(0)),
            ("eh", ms(70)),
            ("l", ms(180)),
            ("ow", ms(250)),
            ("s", ms(360)),
            ("z", ms(430)),
            ("s", ms(500)),
            ("unknown", ms(570)),
            ("sil", ms(600)),
        ];
        let visemes = visemes_of(phonemes.iter().map(|(s, t)| (*s, *t)));
        let got: Vec<(Viseme, Duration)> =
            visemes.iter().map(|v| (v.viseme, v.start_offset)).collect();
        assert_eq!(
            got,
            [
                (Viseme::Kk, ms(0)),
                (Viseme::E, ms(70)),
                (Viseme::Nn, ms(180)),
                (Viseme::Ou, ms(250)),
                (Viseme::Ss, ms(360)),
                (Viseme::Sil, ms(570)),
            ]
        );
        assert!(visemes_of([]).is_empty());
    }
}
