//! The hands-free gate on real speech (espeak-ng at test time): turns found
//! with a pre-roll and without their silences, and the echo of what the game
//! played removed before voice detection, so that it starts no turn.

mod speech_support;

use inworld::audio::voice_gate::{GateEvent, VoiceGate, VoiceGateConfig};
use speech_support::speak;

const RATE: usize = 16_000;

fn silence(ms: usize) -> Vec<i16> {
    vec![0; RATE * ms / 1000]
}

/// What the gate passed on: each turn's sample count, and whether the
/// events came in order.
fn turns(gate: &mut VoiceGate, mic: &[i16], far: Option<&[i16]>) -> Vec<usize> {
    // 10 ms at a time, as the task would drain it on a quiet machine.
    turns_in_ticks(gate, mic, far, &[10])
}

/// As `turns`, with the task draining what piled up in ticks of the given
/// lengths (ms, used in turn): a late tick finds much of both.
fn turns_in_ticks(
    gate: &mut VoiceGate,
    mic: &[i16],
    far: Option<&[i16]>,
    ticks_ms: &[usize],
) -> Vec<usize> {
    let mut turns = Vec::new();
    let mut current: Option<usize> = None;
    let mut from = 0;
    for tick_ms in ticks_ms.iter().cycle() {
        if from >= mic.len() {
            break;
        }
        let to = (from + RATE * tick_ms / 1000).min(mic.len());
        let piece = &mic[from..to];
        if let Some(far) = far {
            gate.push_far(&far[from.min(far.len())..to.min(far.len())]);
        }
        from = to;
        gate.push_near(piece, &mut |e| match e {
            GateEvent::Started => {
                assert!(current.is_none(), "started twice");
                current = Some(0);
            }
            GateEvent::Speech(s) => *current.as_mut().expect("speech inside a turn") += s.len(),
            GateEvent::Ended => turns.push(current.take().expect("ended inside a turn")),
        });
    }
    assert!(current.is_none(), "a turn was left open");
    turns
}

fn power(x: &[i16]) -> f64 {
    x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64
}

/// Where speech is louder than a whisper: its first and last sample.
fn voiced_span(x: &[i16]) -> usize {
    let first = x.iter().position(|s| s.unsigned_abs() > 300).unwrap();
    let last = x.iter().rposition(|s| s.unsigned_abs() > 300).unwrap();
    last - first
}

#[test]
fn two_utterances_make_two_turns_without_their_silences() {
    let first = speak("Hello there, how are you today?");
    let second = speak("Tell me about the castle.");
    let mic = [
        silence(1000),
        first.clone(),
        silence(1500),
        second.clone(),
        silence(1500),
    ]
    .concat();
    let mut gate = VoiceGate::new(VoiceGateConfig::default()).unwrap();
    let turns = turns(&mut gate, &mic, None);
    println!(
        "turns of {:?} samples for utterances spoken over {} and {}",
        turns,
        voiced_span(&first),
        voiced_span(&second)
    );
    assert_eq!(turns.len(), 2, "{turns:?}");
    for (turn, said) in turns.iter().zip([&first, &second]) {
        let spoken = voiced_span(said);
        // All of the speech, plus the pre-roll and a short tail at most:
        // never the 800 ms of silence that ended it.
        assert!(*turn >= spoken, "{turn} < {spoken}");
        assert!(*turn <= spoken + RATE * 700 / 1000, "{turn} for {spoken}");
    }
}

/// The far end as it comes back into the microphone: 60 ms later, 6 dB down.
fn echo_of(far: &[i16]) -> Vec<i16> {
    let delay = RATE * 60 / 1000;
    (0..far.len())
        .map(|i| if i >= delay { far[i - delay] / 2 } else { 0 })
        .collect()
}

fn reply() -> Vec<i16> {
    [
        silence(500),
        speak("Welcome, traveller. The castle lies beyond the northern hills."),
        silence(400),
        speak("Many have tried to reach it, and few came back to tell the tale."),
        silence(400),
        speak("If you go, take a lantern and a friend."),
        silence(500),
    ]
    .concat()
}

#[test]
fn the_echo_of_a_reply_starts_no_turn() {
    // Silence after it, so that a turn the echo started would end.
    let far = [reply(), silence(1500)].concat();
    let mic = echo_of(&far);
    // Without cancellation the echo is speech to the detector.
    let mut plain = VoiceGate::new(VoiceGateConfig::default()).unwrap();
    assert!(!turns(&mut plain, &mic, None).is_empty());
    let mut gate = VoiceGate::new(VoiceGateConfig {
        echo_cancellation: true,
        ..VoiceGateConfig::default()
    })
    .unwrap();
    let found = turns(&mut gate, &mic, Some(&far));
    assert!(found.is_empty(), "echo taken for speech: {found:?}");
}

/// A busy machine: the task that drains the microphone and the far end runs
/// late, now and then by more than half a second, and finds both piled up.
/// The gate still pairs each microphone frame with the far end played at
/// its time, so the echo still starts nothing.
#[test]
fn the_echo_of_a_reply_starts_no_turn_when_the_task_drains_late() {
    let far = [reply(), silence(1500)].concat();
    let mic = echo_of(&far);
    for ticks in [&[10, 10, 700, 10, 30, 450][..], &[600], &[990, 10]] {
        let mut gate = VoiceGate::new(VoiceGateConfig {
            echo_cancellation: true,
            ..VoiceGateConfig::default()
        })
        .unwrap();
        let found = turns_in_ticks(&mut gate, &mic, Some(&far), ticks);
        assert!(
            found.is_empty(),
            "ticks of {ticks:?} ms: echo taken for speech: {found:?}"
        );
        assert_eq!(gate.far_dropped(), 0, "ticks of {ticks:?} ms");
    }
}

/// Runs `mic` through the gate with cancellation only; returns the output.
fn cancelled(mic: &[i16], far: &[i16]) -> Vec<i16> {
    let mut gate = VoiceGate::new(VoiceGateConfig {
        detect_voice: false,
        echo_cancellation: true,
        ..VoiceGateConfig::default()
    })
    .unwrap();
    let mut out = Vec::with_capacity(mic.len());
    for (m, f) in mic.chunks(RATE / 100).zip(far.chunks(RATE / 100)) {
        gate.push_far(f);
        gate.push_near(m, &mut |e| {
            if let GateEvent::Speech(s) = e {
                out.extend_from_slice(s)
            }
        });
    }
    out
}

#[test]
fn echo_is_reduced_and_the_player_kept() {
    let far = reply();
    let echo = echo_of(&far);
    let out = cancelled(&echo, &far);
    let n = out.len();
    // Once converged: the second half.
    let tail = n / 2..n;
    let reduction =
        10.0 * (power(&echo[tail.clone()]) / power(&out[tail.clone()]).max(1e-9)).log10();
    println!("echo of real speech reduced by {reduction:.1} dB");
    assert!(reduction >= 10.0, "echo reduced by only {reduction:.1} dB");

    // Double talk: the player speaks over the echo, and still starts a turn.
    let player = [
        silence(n / 2 * 1000 / RATE),
        speak("Wait, what did you say about the lantern?"),
    ]
    .concat();
    let mic: Vec<i16> = (0..n)
        .map(|i| echo[i].saturating_add(*player.get(i).unwrap_or(&0)))
        .collect();
    let out = cancelled(&mic, &far);
    let spoken = n / 2..player.len().min(n);
    let kept = 10.0 * (power(&out[spoken.clone()]) / power(&player[spoken.clone()])).log10();
    println!("player over the echo kept at {kept:.1} dB");
    assert!(kept > -10.0, "the player's voice dropped by {kept:.1} dB");
    let mut gate = VoiceGate::new(VoiceGateConfig {
        echo_cancellation: true,
        ..VoiceGateConfig::default()
    })
    .unwrap();
    let found = turns(
        &mut gate,
        &[mic.clone(), silence(1500)].concat(),
        Some(&far),
    );
    assert!(
        !found.is_empty(),
        "the player's speech over the echo was not found"
    );
}
