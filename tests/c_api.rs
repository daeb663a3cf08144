//! Compiles the C programs in `tests/c/` and `samples/c/` against
//! `include/inworld.h` and the built `libinworld.so`, runs them (they start the
//! local engine in-process), and runs them again under valgrind memcheck.
//! valgrind is required: without it these tests fail with a clear message.
//!
//! The programs wait on conditions, never on the clock: their time limits (and
//! the ones here) only catch hangs. Runs under valgrind take one core each
//! and are slow, so they go one at a time (`VALGRIND`), whatever the number of
//! test threads.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod llm_support;
mod native_support;
mod speech_support;

use native_support::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const C_FLAGS: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"];
const CXX_FLAGS: &[&str] = &["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"];

/// Compiles C sources into an executable linked against the library.
fn compile_c(name: &str, sources: &[&str]) -> PathBuf {
    let lib = lib_dir();
    let exe = out_dir().join(name);
    let mut cmd = Command::new("gcc");
    cmd.args(C_FLAGS)
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .arg("-o")
        .arg(&exe);
    // Which of the engine's speech parts the library has (misuse.c expects
    // the others refused).
    for (built, define) in [
        (cfg!(feature = "espeak"), "-DINWORLD_BUILT_WITH_ESPEAK"),
        (
            cfg!(feature = "pocketsphinx"),
            "-DINWORLD_BUILT_WITH_POCKETSPHINX",
        ),
        (cfg!(feature = "whisper"), "-DINWORLD_BUILT_WITH_WHISPER"),
    ] {
        if built {
            cmd.arg(define);
        }
    }
    for s in sources {
        cmd.arg(manifest_dir().join(s));
    }
    cmd.arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-linworld")
        .arg("-lpthread")
        .arg("-lm");
    let out = cmd.output().expect("gcc runs");
    assert!(
        out.status.success(),
        "gcc failed for {sources:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

#[test]
fn header_compiles_as_c99_and_as_cpp17() {
    let dir = out_dir();
    let c = dir.join("header_check.c");
    std::fs::write(
        &c,
        "#include \"inworld.h\"\nint main(void) { iw_packet p; (void)p; return IW_OK; }\n",
    )
    .unwrap();
    let cpp = dir.join("header_check.cpp");
    std::fs::write(
        &cpp,
        "#include \"inworld.h\"\n#include <type_traits>\n\
         static_assert(std::is_standard_layout<iw_packet>::value, \"C layout\");\n\
         int main() { iw_packet p{}; (void)p; return IW_OK; }\n",
    )
    .unwrap();
    for (compiler, flags, src) in [("gcc", C_FLAGS, &c), ("g++", CXX_FLAGS, &cpp)] {
        let out = Command::new(compiler)
            .args(flags)
            .arg("-I")
            .arg(manifest_dir().join("include"))
            .arg("-c")
            .arg(src)
            .arg("-o")
            .arg(dir.join(format!("header_check_{compiler}.o")))
            .output()
            .expect("compiler runs");
        assert!(
            out.status.success(),
            "{compiler} rejects inworld.h:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn basic_session() {
    let exe = compile_c("basic_session", &["tests/c/basic_session.c"]);
    let r = run_plain(&exe, "");
    assert!(r.stdout.contains("basic_session: OK"), "{}", r.stdout);
}

#[test]
fn outage() {
    let exe = compile_c("outage", &["tests/c/outage.c"]);
    let r = run_plain(&exe, "");
    assert!(r.stdout.contains("outage: OK"), "{}", r.stdout);
}

#[test]
fn outage_under_valgrind() {
    let exe = compile_c("outage_vg", &["tests/c/outage.c"]);
    let r = run_valgrind(&exe, "");
    assert!(r.stdout.contains("outage: OK"), "{}", r.stdout);
}

#[test]
fn basic_session_under_valgrind() {
    let exe = compile_c("basic_session_vg", &["tests/c/basic_session.c"]);
    let r = run_valgrind(&exe, "");
    assert!(r.stdout.contains("basic_session: OK"), "{}", r.stdout);
}

#[test]
fn microphone() {
    let exe = compile_c("mic", &["tests/c/mic.c"]);
    let r = run_plain(&exe, "");
    assert!(r.stdout.contains("mic: OK"), "{}", r.stdout);
}

#[test]
fn microphone_under_valgrind() {
    let exe = compile_c("mic_vg", &["tests/c/mic.c"]);
    let r = run_valgrind(&exe, "");
    assert!(r.stdout.contains("mic: OK"), "{}", r.stdout);
}

/// One utterance with silence around it, 16 kHz mono 16-bit, in a file
/// whose path the C program reads from stdin.
fn hands_free_speech(slow: bool) -> String {
    let path = out_dir().join("hands_free_speech.raw");
    let mut samples = vec![0i16; 16_000];
    samples.extend(speech_support::speak("Hello there, how are you today?"));
    samples.extend(vec![0i16; 24_000]);
    std::fs::write(&path, speech_support::bytes_of(&samples)).unwrap();
    format!("{}\n{}\n", path.display(), if slow { "slow" } else { "" })
}

#[test]
fn hands_free() {
    let exe = compile_c("hands_free", &["tests/c/hands_free.c"]);
    let r = run_plain(&exe, &hands_free_speech(false));
    assert!(r.stdout.contains("hands_free: OK"), "{}", r.stdout);
}

#[test]
fn hands_free_under_valgrind() {
    let exe = compile_c("hands_free_vg", &["tests/c/hands_free.c"]);
    let r = run_valgrind(&exe, &hands_free_speech(true));
    assert!(r.stdout.contains("hands_free: OK"), "{}", r.stdout);
}

#[test]
fn playback() {
    let exe = compile_c("playback", &["tests/c/playback.c"]);
    let r = run_plain(&exe, "");
    assert!(r.stdout.contains("playback: OK"), "{}", r.stdout);
}

#[test]
fn playback_under_valgrind() {
    let exe = compile_c("playback_vg", &["tests/c/playback.c"]);
    let r = run_valgrind(&exe, "");
    assert!(r.stdout.contains("playback: OK"), "{}", r.stdout);
}

#[test]
fn face() {
    let exe = compile_c("face", &["tests/c/face.c"]);
    let r = run_plain(&exe, "");
    assert!(r.stdout.contains("face: OK"), "{}", r.stdout);
}

#[test]
fn face_under_valgrind() {
    let exe = compile_c("face_vg", &["tests/c/face.c"]);
    let r = run_valgrind(&exe, "");
    assert!(r.stdout.contains("face: OK"), "{}", r.stdout);
}

#[test]
fn misuse() {
    let exe = compile_c("misuse", &["tests/c/misuse.c"]);
    let r = run_plain(&exe, "");
    assert!(r.stdout.contains("misuse: OK"), "{}", r.stdout);
}

#[test]
fn misuse_under_valgrind() {
    let exe = compile_c("misuse_vg", &["tests/c/misuse.c"]);
    let r = run_valgrind(&exe, "");
    assert!(r.stdout.contains("misuse: OK"), "{}", r.stdout);
}

const CHAT_SCRIPT: &str =
    "hello\nI would like a cider\n/trigger greet\n/character Finn\nplay me a song\n/quit\n";

fn check_chat_output(out: &str) {
    // Greeted by name, a reply streamed to the first line, the cider rule's
    // trigger and emotion, the switch to Finn and his song.
    assert!(out.contains("Marta"), "{out}");
    assert!(out.contains("One cider, coming up."), "{out}");
    assert!(out.contains("[trigger serve_drink]"), "{out}");
    assert!(out.contains("[emotion HUMOR"), "{out}");
    assert!(out.contains("Now talking to Finn"), "{out}");
    assert!(out.contains("Gather round!"), "{out}");
    assert!(out.contains("Bye."), "{out}");
}

#[test]
fn chat_sample_with_scripted_input() {
    let exe = compile_c("chat", &["samples/c/chat.c"]);
    let r = run_plain(&exe, CHAT_SCRIPT);
    check_chat_output(&r.stdout);
}

#[test]
fn chat_sample_under_valgrind() {
    let exe = compile_c("chat_vg", &["samples/c/chat.c"]);
    let r = run_valgrind(&exe, CHAT_SCRIPT);
    check_chat_output(&r.stdout);
}

/// The README's first command with `INWORLD_LLM_URL` set: the in-process
/// engine's characters are played by the model behind it (here the test
/// server), from their cards; the scripted rules still answer where they
/// match; markup never reaches the screen.
#[test]
fn chat_sample_with_the_llm_brain() {
    let exe = compile_c("chat_llm", &["samples/c/chat.c"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(llm_support::LlmServer::start());
    server.answer(llm_support::Answer::text(&[
        "[emotion=AFFECTION] [action=wipes her hands on her apron]",
        "I'm Marta, dear, and this is my inn. ",
        "Twenty years I've kept this fire going.",
    ]));
    server.answer(llm_support::Answer::text(&[
        "[emotion=HUMOR strength=STRONG]Finn? He owes me three weeks of board! ",
        "[trigger=gossip about=finn]",
    ]));
    let r = run_with_env(
        Command::new(&exe),
        "Who are you?\nI would like a cider\nWhat about the bard?\n/quit\n",
        PLAIN_LIMIT,
        &[
            ("INWORLD_LLM_URL", &server.url()),
            ("INWORLD_LLM_MODEL", "tavern-model"),
            ("INWORLD_LLM_API_KEY", "sk-chat"),
        ],
    );
    let out = &r.stdout;
    println!("{out}");
    assert!(out.contains("characters played by tavern-model"), "{out}");
    assert!(
        out.contains("I'm Marta, dear, and this is my inn."),
        "{out}"
    );
    assert!(out.contains("wipes her hands on her apron"), "{out}");
    assert!(out.contains("[emotion AFFECTION"), "{out}");
    assert!(
        out.contains("One cider, coming up."),
        "the rule answers: {out}"
    );
    assert!(out.contains("He owes me three weeks of board!"), "{out}");
    assert!(out.contains("[trigger gossip"), "{out}");
    assert!(
        !out.contains("[emotion=") && !out.contains("[trigger="),
        "{out}"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(requests[0].authorization.as_deref(), Some("Bearer sk-chat"));
    let prompt = requests[1].transcript();
    assert!(prompt.contains("You are Marta Brenner"), "{prompt}");
    assert!(
        prompt.contains("assistant: One cider, coming up."),
        "{prompt}"
    );
    assert!(prompt.contains("user: What about the bard?"), "{prompt}");
}

/// The other commands: `/action`, `/character` by display name in any case,
/// by the resource name's last part or a word of the display name, by
/// resource name; an
/// unknown character or command is explained, and the chat goes on.
#[test]
fn chat_sample_commands() {
    let exe = compile_c("chat_commands", &["samples/c/chat.c"]);
    let r = run_plain(
        &exe,
        "/character finn\n/action waves\n/character GUARD\n/character sergeant\n/character holt\n\
         /character workspaces/demo/characters/innkeeper\n/character nobody\n/dance\n\
         /trigger farewell\n/quit\n",
    );
    let out = &r.stdout;
    assert!(out.contains("Now talking to Finn"), "{out}");
    assert!(out.contains("*Finn nods warmly*"), "{out}");
    assert_eq!(
        out.matches("Now talking to Sergeant Holt").count(),
        3,
        "{out}"
    );
    assert!(out.contains("Now talking to Marta"), "{out}");
    assert!(
        out.contains("no character \"nobody\" here; characters: Marta, Finn, Sergeant Holt"),
        "{out}"
    );
    assert!(out.contains("commands: /trigger NAME"), "{out}");
    assert!(out.contains("Marta: Safe roads, Traveler."), "{out}");
    assert!(out.contains("Bye."), "{out}");
}

/// The whole session from the chat: a group conversation with next turns,
/// feedback, characters removed and added back by name, an unknown one, a
/// scene that does not exist (the chat goes on in its scene), a scene change,
/// a saved session, and a second run that continues it.
#[test]
fn chat_sample_whole_session() {
    let exe = compile_c("chat_whole_session", &["samples/c/chat.c"]);
    let state = out_dir().join("chat_whole_session.state");
    let _ = std::fs::remove_file(&state);
    let script = format!(
        "/talk marta finn\nany news?\n/next\n/like\n/dislike too long\n/talk\n\
         /remove finn\n/add finn\n/add nobody\nI lost my ring near the mill\n/save {}\n\
         /scene nowhere\nhello again\n/scene gate\nhi\n/quit\n",
        state.display()
    );
    let out = run_plain(&exe, &script).stdout;
    for expected in [
        "Talking with Marta and Finn",
        "Marta: They say the old mill is haunted again.",
        "Finn: A new face!",
        "[liked Finn's reply]",
        "[disliked Finn's reply]",
        "Back to one-to-one: talking to Marta",
        "[Finn left; characters: Marta, Sergeant Holt]",
        "[scene workspaces/demo/scenes/tavern: Marta, Sergeant Holt, Finn]",
        "[warning: character \"workspaces/demo/characters/nobody\" not found]",
        "[saved ",
        "NOT_FOUND: scene \"workspaces/demo/scenes/nowhere\" not found",
        "[scene workspaces/demo/scenes/gate: Sergeant Holt, Finn]",
        "Sergeant Holt: Evening.",
        "Bye.",
    ] {
        assert!(out.contains(expected), "no {expected:?} in:\n{out}");
    }
    // Still in the tavern after the refused scene: Marta answers.
    let after_refusal = &out[out.find("> hello again").expect(&out)..];
    assert!(after_refusal.contains("Marta:"), "{out}");

    let state_path = state.to_str().unwrap();
    let again = run_with_env(
        Command::new(&exe),
        "do you remember me?\n/quit\n",
        PLAIN_LIMIT,
        &[("INWORLD_CONTINUE", state_path)],
    );
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    assert!(
        again
            .stdout
            .contains("The last thing you told me was: I lost my ring near the mill"),
        "{}",
        again.stdout
    );
}

/// Runs the chat against `host` (not its in-process engine); exit code 1 and
/// stderr are expected when it cannot connect.
fn chat_against(exe: &Path, host: &str, key: &str, stdin: &str) -> Run {
    run_with_env(
        Command::new(exe),
        stdin,
        PLAIN_LIMIT,
        &[
            ("INWORLD_HOST", host),
            ("INWORLD_KEY", key),
            ("INWORLD_SECRET", "test-api-secret"),
            ("INWORLD_SCENE", "workspaces/demo/scenes/tavern"),
        ],
    )
}

/// Errors are shown once each, readably: the status is named once, and the
/// retries of one transport error do not repeat it.
#[test]
fn chat_sample_shows_connection_errors_once() {
    let exe = compile_c("chat_errors", &["samples/c/chat.c"]);

    // Nothing listens on the port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = chat_against(&exe, &format!("127.0.0.1:{port}"), "test-api-key", "");
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    let errors: Vec<&str> = r.stdout.lines().filter(|l| l.contains("[error")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{}", r.stdout);
    assert!(
        errors[0].contains("cannot connect to 127.0.0.1:"),
        "{}",
        errors[0]
    );
    assert!(r.stderr.contains("could not connect"), "{}", r.stderr);

    // A wrong key: the engine refuses the token request.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let engine = inworld::engine::RunningEngine::start(
        inworld::engine::EngineConfig::new(inworld::engine::Workspace::default_scenes()),
        runtime.handle(),
    )
    .unwrap();
    let r = chat_against(&exe, &engine.addr().to_string(), "wrong-key", "");
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    let errors: Vec<&str> = r.stdout.lines().filter(|l| l.contains("[error")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{}", r.stdout);
    assert_eq!(
        errors[0].matches("UNAUTHENTICATED").count(),
        1,
        "{}",
        errors[0]
    );
    assert!(!errors[0].contains("16: 16"), "{}", errors[0]);
    engine.stop();
}

/// A reply that never ends does not hang the chat: after the reply timeout
/// the prompt comes back with a note, and the next line is read. The engine
/// is reached through a proxy that stops passing the engine's bytes on once
/// the chat is ready, so the reply to `hello` never arrives, however fast or
/// slow the machine.
#[test]
fn chat_sample_gives_up_on_a_reply_that_never_ends() {
    use std::io::{BufRead, Read};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let exe = compile_c("chat_timeout", &["samples/c/chat.c"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let engine = inworld::engine::RunningEngine::start(
        inworld::engine::EngineConfig::new(inworld::engine::Workspace::default_scenes()),
        runtime.handle(),
    )
    .unwrap();

    // The proxy: every connection is piped to the engine; once `mute` is set,
    // what the engine sends is dropped.
    let mute = Arc::new(AtomicBool::new(false));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap();
    let engine_addr = engine.addr();
    {
        let mute = mute.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(engine_addr) else {
                    return;
                };
                let pipe =
                    |mut from: TcpStream, mut to: TcpStream, mute: Option<Arc<AtomicBool>>| {
                        std::thread::spawn(move || {
                            let mut buf = [0u8; 16 * 1024];
                            loop {
                                let n = match from.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => n,
                                };
                                if mute.as_ref().is_some_and(|m| m.load(Ordering::SeqCst)) {
                                    continue;
                                }
                                if to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                            let _ = to.shutdown(std::net::Shutdown::Write);
                        });
                    };
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    None,
                );
                pipe(server, client, Some(mute.clone()));
            }
        });
    }

    let mut child = Command::new(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("INWORLD_LOG", "warn")
        .env("LD_LIBRARY_PATH", lib_dir())
        .env("INWORLD_HOST", proxy.to_string())
        .env("INWORLD_KEY", "test-api-key")
        .env("INWORLD_SECRET", "test-api-secret")
        .env("INWORLD_SCENE", "workspaces/demo/scenes/tavern")
        .env("INWORLD_CHAT_REPLY_TIMEOUT", "1")
        .spawn()
        .expect("the chat starts");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let err_reader =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = String::new();
    let mut wait_for = |needle: &str, out: &mut String| {
        let deadline = Instant::now() + PLAIN_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    out.push_str(&line);
                    out.push('\n');
                    if line.contains(needle) {
                        return;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("no {needle:?} from the chat; output:\n{out}");
                }
            }
        }
    };
    wait_for("Type to talk", &mut out);
    mute.store(true, Ordering::SeqCst);
    stdin.write_all(b"hello\n/quit\n").unwrap();
    drop(stdin);
    wait_for("Bye.", &mut out);
    let status = child.wait().unwrap();
    let stderr = err_reader.join().unwrap();
    assert!(status.success(), "{status}\n{out}\n{stderr}");
    assert!(out.contains("> hello"), "{out}");
    assert!(out.contains("(no reply for 1 s; giving up on it)"), "{out}");
    assert!(out.contains("> /quit"), "{out}");
    engine.stop();
}

/// A line whose reply is lost with the connection: the library reports the
/// send failed (SendFailed with its interaction id), and the chat stops
/// waiting for that reply at once (its reply timeout here is an hour), says
/// so, and the next line is answered on the new connection. The engine is
/// reached through a proxy that, once the engine has the line, holds back the
/// engine's bytes and then breaks every connection it carries.
#[test]
fn chat_sample_stops_waiting_when_the_send_failed() {
    use inworld::protocol::ai::inworld::packets::inworld_packet::Packet as Wire;
    use std::io::{BufRead, Read};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let exe = compile_c("chat_send_failed", &["samples/c/chat.c"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut config =
        inworld::engine::EngineConfig::new(inworld::engine::Workspace::default_scenes());
    config.record = true;
    let engine = inworld::engine::RunningEngine::start(config, runtime.handle()).unwrap();

    let mute = Arc::new(AtomicBool::new(false));
    let carried: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap();
    let engine_addr = engine.addr();
    {
        let (mute, carried) = (mute.clone(), carried.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(engine_addr) else {
                    return;
                };
                carried.lock().unwrap().push(client.try_clone().unwrap());
                carried.lock().unwrap().push(server.try_clone().unwrap());
                // Connections made after the break are carried in full.
                let muted = (!mute.load(Ordering::SeqCst)).then(|| mute.clone());
                let pipe =
                    |mut from: TcpStream, mut to: TcpStream, mute: Option<Arc<AtomicBool>>| {
                        std::thread::spawn(move || {
                            let mut buf = [0u8; 16 * 1024];
                            loop {
                                let n = match from.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => n,
                                };
                                if mute.as_ref().is_some_and(|m| m.load(Ordering::SeqCst)) {
                                    continue;
                                }
                                if to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                            let _ = to.shutdown(Shutdown::Both);
                        });
                    };
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    None,
                );
                pipe(server, client, muted);
            }
        });
    }

    let mut child = Command::new(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("INWORLD_LOG", "warn")
        .env("LD_LIBRARY_PATH", lib_dir())
        .env("INWORLD_HOST", proxy.to_string())
        .env("INWORLD_KEY", "test-api-key")
        .env("INWORLD_SECRET", "test-api-secret")
        .env("INWORLD_SCENE", "workspaces/demo/scenes/tavern")
        .env("INWORLD_CHAT_REPLY_TIMEOUT", "3600")
        .spawn()
        .expect("the chat starts");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let err_reader =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = String::new();
    let mut wait_for = |needle: &str, out: &mut String| {
        let deadline = Instant::now() + PLAIN_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    out.push_str(&line);
                    out.push('\n');
                    if line.contains(needle) {
                        return;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("no {needle:?} from the chat; output:\n{out}");
                }
            }
        }
    };
    wait_for("Type to talk", &mut out);
    mute.store(true, Ordering::SeqCst);
    stdin
        .write_all(b"hello\nI would like a cider\n/quit\n")
        .unwrap();
    drop(stdin);
    // The engine has the line (its reply is held back): break the connection.
    let deadline = Instant::now() + PLAIN_LIMIT;
    while !engine
        .received_packets()
        .iter()
        .any(|(_, p)| matches!(&p.packet, Some(Wire::Text(t)) if t.text == "hello"))
    {
        assert!(Instant::now() < deadline, "the engine never got the line");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    mute.store(false, Ordering::SeqCst);
    for stream in carried.lock().unwrap().drain(..) {
        let _ = stream.shutdown(Shutdown::Both);
    }
    wait_for("Bye.", &mut out);
    let status = child.wait().unwrap();
    let stderr = err_reader.join().unwrap();
    assert!(status.success(), "{status}\n{out}\n{stderr}");
    let after_hello = &out[out.find("> hello").expect(&out)..];
    let note = after_hello.find("[not sent").expect(&out);
    let next = after_hello.find("> I would like a cider").expect(&out);
    assert!(note < next, "{out}");
    assert!(
        after_hello[next..].contains("One cider, coming up."),
        "{out}"
    );
    engine.stop();
}

#[test]
fn group_conversation_and_the_whole_session() {
    let exe = compile_c("group", &["tests/c/group.c"]);
    let r = run_plain(&exe, "");
    assert!(r.stdout.contains("group: OK"), "{}", r.stdout);
}

#[test]
fn group_conversation_and_the_whole_session_under_valgrind() {
    let exe = compile_c("group_vg", &["tests/c/group.c"]);
    let r = run_valgrind(&exe, "");
    assert!(r.stdout.contains("group: OK"), "{}", r.stdout);
}

/// `text` said by espeak-ng, converted by sox with `format` (rate, channels,
/// encoding), as the WAV file `dir/name.wav`.
fn spoken_wav(dir: &Path, name: &str, text: &str, format: &[&str]) -> PathBuf {
    let raw = dir.join(format!("{name}-espeak.wav"));
    let wav = dir.join(format!("{name}.wav"));
    let status = Command::new("espeak-ng")
        .arg("-w")
        .arg(&raw)
        .arg(text)
        .status()
        .expect("espeak-ng is installed (.ci/run installs it: apt-get install espeak-ng sox)");
    assert!(status.success(), "espeak-ng failed");
    // -D: no dither, so the same speech on every run (see speech_support).
    let status = Command::new("sox")
        .arg("-D")
        .arg(&raw)
        .args(format)
        .arg(&wav)
        .status()
        .expect("sox is installed (.ci/run installs it)");
    assert!(status.success(), "sox failed");
    wav
}

/// A WAV file's (format tag, channels, rate, bits, data bytes).
fn wav_header(path: &Path) -> (u16, u16, u32, u16, u32) {
    let b = std::fs::read(path).unwrap();
    assert!(b.len() >= 44 && &b[..4] == b"RIFF" && &b[8..16] == b"WAVEfmt ");
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    assert_eq!(&b[36..40], b"data");
    assert_eq!(
        u32_at(40) as usize,
        b.len() - 44,
        "the data size is filled in"
    );
    (u16_at(20), u16_at(22), u32_at(24), u16_at(34), u32_at(40))
}

/// The voice chat: two WAV files in two formats as the player's microphone,
/// heard through voice detection as two utterances, each answered; the
/// replies pulled from the playback stream into WAV files of the format
/// asked, with a viseme timeline each.
#[test]
fn voice_sample_hears_wav_files_and_writes_the_replies() {
    let exe = compile_c("voice", &["samples/c/voice.c"]);
    let dir = out_dir().join("voice-run");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let first = spoken_wav(
        &dir,
        "first",
        "Good evening, what do you recommend?",
        &["-r", "44100", "-c", "2", "-b", "16", "-e", "signed-integer"],
    );
    let second = spoken_wav(
        &dir,
        "second",
        "And a room for the night, please.",
        &["-r", "22050", "-c", "1", "-b", "32", "-e", "floating-point"],
    );
    for (rate, channels, format, tag, bits) in [
        (48_000u32, 2u16, "f32", 3u16, 32u16),
        (22_050, 1, "s16", 1, 16),
    ] {
        let prefix = dir.join(format!("reply-{format}"));
        let mut cmd = Command::new(&exe);
        cmd.args(["--fast", "--rate", &rate.to_string()])
            .args(["--channels", &channels.to_string(), "--format", format])
            .arg("--out")
            .arg(&prefix)
            .arg(&first)
            .arg(&second);
        let r = run(cmd, "", PLAIN_LIMIT);
        let out = &r.stdout;
        assert_eq!(r.code, Some(0), "{out}\n{}", r.stderr);
        assert_eq!(
            out.matches("You said: Good evening, what do you recommend?")
                .count(),
            2,
            "{out}"
        );
        assert!(
            out.contains("(listening...)") && out.contains("(heard)"),
            "{out}"
        );
        assert!(
            out.contains("(heard 2 utterances, wrote 2 replies)"),
            "{out}"
        );
        let timelines: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("[visemes as played:"))
            .collect();
        assert_eq!(timelines.len(), 2, "{out}");
        for t in timelines {
            assert!(t.split_whitespace().count() > 20, "{t}");
        }
        for n in 1..=2 {
            let path = PathBuf::from(format!("{}-{n}.wav", prefix.display()));
            let (got_tag, got_channels, got_rate, got_bits, data) = wav_header(&path);
            assert_eq!(
                (got_tag, got_channels, got_rate, got_bits),
                (tag, channels, rate, bits)
            );
            let frame_bytes = u32::from(channels) * u32::from(bits / 8);
            assert!(
                data / frame_bytes > rate / 2,
                "{}: {data} bytes",
                path.display()
            );
            check_face_csv(&PathBuf::from(format!("{}-{n}.csv", prefix.display())));
        }
    }
}

/// A reply's face as the voice sample writes it: the header of the fixture
/// kept in `tests/vectors/face_reply.csv` (one reply's face, to plot), a row
/// per buffer, every weight in 0..1, the jaw opening and the lips closing.
fn check_face_csv(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let fixture =
        std::fs::read_to_string(manifest_dir().join("tests/vectors/face_reply.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), fixture.lines().next(), "{}", path.display());
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert!(rows.len() > 20, "{}: {} rows", path.display(), rows.len());
    let column = |name: &str| {
        let i = fixture
            .lines()
            .next()
            .unwrap()
            .split(',')
            .position(|c| c == name)
            .unwrap();
        rows.iter().map(move |r| r[i])
    };
    assert!(rows
        .iter()
        .all(|r| r.len() == 53 && r[1..].iter().all(|w| (0.0..=1.0).contains(w))));
    assert!(column("time_s")
        .zip(column("time_s").skip(1))
        .all(|(a, b)| b > a));
    assert!(
        column("jawOpen").fold(0.0, f64::max) > 0.3,
        "{}",
        path.display()
    );
    assert!(
        column("mouthPressLeft").fold(0.0, f64::max) > 0.2,
        "{}",
        path.display()
    );
}
