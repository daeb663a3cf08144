//! Speech made at test time: espeak-ng says it, sox brings it to 16 kHz mono
//! 16-bit (what the service listens to). `.ci/run` installs both.

use std::process::{Command, Stdio};

/// `text` spoken by espeak-ng, as 16 kHz mono 16-bit samples.
#[allow(dead_code)] // not every test binary takes 16 kHz
pub fn speak(text: &str) -> Vec<i16> {
    speak_as(text, 16_000, 1)
}

/// `text` spoken by espeak-ng, as interleaved 16-bit samples at `rate`
/// with `channels` channels (a game's microphone format).
pub fn speak_as(text: &str, rate: u32, channels: u16) -> Vec<i16> {
    speak_in(&[], text, rate, channels)
}

/// As [`speak_as`], with more espeak-ng arguments (`["-v", "en-us"]`).
pub fn speak_in(espeak_args: &[&str], text: &str, rate: u32, channels: u16) -> Vec<i16> {
    let mut espeak = Command::new("espeak-ng")
        .args(espeak_args)
        .args(["--stdout", text])
        .stdout(Stdio::piped())
        .spawn()
        .expect("espeak-ng is installed (.ci/run installs it: apt-get install espeak-ng sox)");
    // -D: no dither. sox dithers by default with random noise, which made
    // the speech differ from run to run (and the tests near a threshold flaky).
    let out = Command::new("sox")
        .args([
            "-D",
            "-t",
            "wav",
            "-",
            "-r",
            &rate.to_string(),
            "-c",
            &channels.to_string(),
            "-b",
            "16",
            "-e",
            "signed",
        ])
        .args(["-t", "raw", "-"])
        .stdin(espeak.stdout.take().unwrap())
        .output()
        .expect("sox is installed (.ci/run installs it)");
    assert!(espeak.wait().unwrap().success(), "espeak-ng failed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Little-endian bytes of `samples`, as audio chunks carry them.
#[allow(dead_code)] // not every test binary sends audio
pub fn bytes_of(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}
