//! Compiles the C programs in `tests/c/` and `samples/c/` against
//! `include/inworld.h` and the built `libinworld.so`, runs them (they start the
//! local engine in-process), and runs them again under valgrind memcheck.
//! valgrind is required: without it these tests fail with a clear message.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const C_FLAGS: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"];
const CXX_FLAGS: &[&str] = &["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding the `libinworld.so` built with this test: cargo builds
/// the library's every crate type into `<target>/<profile>/deps/` (where this
/// test binary lives, wherever CARGO_TARGET_DIR points) and copies it one level
/// up only for `cargo build`, so `deps/` has the fresh one.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe
        .parent()
        .expect("the test binary is in <target>/<profile>/deps");
    for dir in [deps, deps.parent().unwrap_or(deps)] {
        if dir.join("libinworld.so").exists() {
            return dir.to_path_buf();
        }
    }
    panic!(
        "libinworld.so is missing next to {}: build the library first (`cargo build`)",
        exe.display()
    );
}

fn out_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().unwrap().join("c-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

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
    for s in sources {
        cmd.arg(manifest_dir().join(s));
    }
    cmd.arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-linworld")
        .arg("-lpthread");
    let out = cmd.output().expect("gcc runs");
    assert!(
        out.status.success(),
        "gcc failed for {sources:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` with `stdin`, killing it after `limit`.
fn run(mut cmd: Command, stdin: &str, limit: Duration) -> Run {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("INWORLD_LOG", "warn")
        // cargo puts <target>/<profile> on LD_LIBRARY_PATH, which beats the
        // rpath: a stale libinworld.so there must not shadow the fresh one.
        .env("LD_LIBRARY_PATH", lib_dir())
        .env_remove("INWORLD_HOST")
        .env_remove("INWORLD_KEY")
        .env_remove("INWORLD_SECRET")
        .env_remove("INWORLD_SCENE");
    let mut child = cmd.spawn().expect("the program starts");
    {
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
    }
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_reader =
        std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err_reader =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish in {limit:?}\nstdout:\n{}\nstderr:\n{}",
                out_reader.join().unwrap(),
                err_reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn run_plain(exe: &Path, stdin: &str) -> Run {
    let r = run(Command::new(exe), stdin, Duration::from_secs(120));
    assert_eq!(
        r.code,
        Some(0),
        "{} failed\nstdout:\n{}\nstderr:\n{}",
        exe.display(),
        r.stdout,
        r.stderr
    );
    r
}

fn require_valgrind() {
    let ok = Command::new("valgrind")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "valgrind is required by the C API tests (apt-get install valgrind); it was not found"
    );
}

/// Runs under valgrind memcheck: no errors, nothing definitely or indirectly lost.
fn run_valgrind(exe: &Path, stdin: &str) -> Run {
    require_valgrind();
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
        "--show-leak-kinds=definite,indirect",
        "--track-origins=yes",
    ])
    .arg(exe);
    let r = run(cmd, stdin, Duration::from_secs(600));
    assert_eq!(
        r.code,
        Some(0),
        "{} under valgrind failed (99 = memcheck errors)\nstdout:\n{}\nstderr:\n{}",
        exe.display(),
        r.stdout,
        r.stderr
    );
    assert!(
        r.stderr.contains("ERROR SUMMARY: 0 errors"),
        "valgrind reported errors:\n{}",
        r.stderr
    );
    for kind in ["definitely lost", "indirectly lost"] {
        if let Some(line) = r.stderr.lines().find(|l| l.contains(kind)) {
            assert!(line.contains(" 0 bytes"), "valgrind: {line}\n{}", r.stderr);
        }
    }
    r
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
fn basic_session_under_valgrind() {
    let exe = compile_c("basic_session_vg", &["tests/c/basic_session.c"]);
    let r = run_valgrind(&exe, "");
    assert!(r.stdout.contains("basic_session: OK"), "{}", r.stdout);
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
