//! Voice activity on real speech, made at test time with espeak-ng (and sox
//! to bring it to 16 kHz): two sentences separated by a pause, in noise,
//! come out as exactly two utterances, each starting near its first word and
//! ending after its last.

mod speech_support;

use inworld::audio::voice_activity::{VoiceActivity, VoiceActivityConfig, VoiceEvent, SAMPLE_RATE};
use speech_support::speak;

/// Where speech is loud enough to count: first and last such sample.
fn voiced_span(samples: &[i16]) -> (usize, usize) {
    let loud = |s: &i16| s.unsigned_abs() > 300;
    (
        samples.iter().position(loud).unwrap(),
        samples.iter().rposition(loud).unwrap(),
    )
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

#[test]
fn two_sentences_in_noise_are_two_utterances() {
    let first = speak("Good evening, what do you recommend for dinner tonight?");
    let second = speak("I would like a room for the night, please.");
    let rate = SAMPLE_RATE as usize;

    // 1 s of noise, the first sentence, 1.5 s, the second, 1.5 s.
    let mut mic = vec![0i16; rate];
    let first_at = mic.len();
    mic.extend(&first);
    mic.extend(vec![0i16; rate * 3 / 2]);
    let second_at = mic.len();
    mic.extend(&second);
    mic.extend(vec![0i16; rate * 3 / 2]);
    // White noise 10 dB below the speech.
    let noise = rms(&first) / 10f64.powf(10.0 / 20.0);
    let mut x = 99u32;
    for s in mic.iter_mut() {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let u = (x >> 8) as f64 / (1u64 << 24) as f64 * 2.0 - 1.0;
        *s = s.saturating_add((u * noise * 3f64.sqrt()) as i16);
    }

    let mut va = VoiceActivity::new(VoiceActivityConfig::default());
    let mut events = Vec::new();
    // In 10 ms pieces, as a microphone delivers them.
    for piece in mic.chunks(rate / 100) {
        va.push(piece, |e| events.push(e));
    }

    let spans = [
        (first_at, voiced_span(&first)),
        (second_at, voiced_span(&second)),
    ];
    assert_eq!(events.len(), 4, "{events:?}");
    let slack = rate / 4; // 250 ms
    for (i, (at, (first_loud, last_loud))) in spans.into_iter().enumerate() {
        let (start, end) = (at + first_loud, at + last_loud);
        let VoiceEvent::Started { at_sample } = events[2 * i] else {
            panic!("{events:?}")
        };
        assert!(
            (at_sample as usize).abs_diff(start) <= slack,
            "utterance {i} starts at {start}, detected at {at_sample}: {events:?}"
        );
        let VoiceEvent::Ended { at_sample } = events[2 * i + 1] else {
            panic!("{events:?}")
        };
        assert!(
            at_sample as usize + slack >= end,
            "utterance {i} ends at {end}, detected at {at_sample}: {events:?}"
        );
    }
    // The first ended before the second began.
    let (VoiceEvent::Ended { at_sample: ended }, VoiceEvent::Started { at_sample: began }) =
        (events[1], events[2])
    else {
        panic!("{events:?}")
    };
    assert!(ended < began, "{events:?}");
    assert!(!va.is_speaking());
}
