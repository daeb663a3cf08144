//! What the tests of native programs (C, C++, C#) share: where the freshly
//! built `libinworld.so` is, a scratch directory beside the test binary, and
//! running a program with a time limit that only catches hangs, plainly or
//! under valgrind memcheck (one valgrind run at a time per test binary).
#![allow(dead_code)] // each test binary uses its own part

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Held by every valgrind run: one at a time.
pub static VALGRIND: Mutex<()> = Mutex::new(());

/// Limits that only catch a hang (a run normally takes seconds).
pub const PLAIN_LIMIT: Duration = Duration::from_secs(600);
pub const VALGRIND_LIMIT: Duration = Duration::from_secs(1800);

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding the `libinworld.so` built with this test: cargo builds
/// the library's every crate type into `<target>/<profile>/deps/` (where this
/// test binary lives, wherever CARGO_TARGET_DIR points) and copies it one level
/// up only for `cargo build`, so `deps/` has the fresh one.
pub fn lib_dir() -> PathBuf {
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

pub fn out_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().unwrap().join("c-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles C sources into an executable linked against the library.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` with `stdin`, killing it after `limit`.
pub fn run(cmd: Command, stdin: &str, limit: Duration) -> Run {
    run_with_env(cmd, stdin, limit, &[])
}

/// `run`, with `env` set on top of the defaults.
pub fn run_with_env(mut cmd: Command, stdin: &str, limit: Duration, env: &[(&str, &str)]) -> Run {
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
        .env_remove("INWORLD_SCENE")
        .env_remove("INWORLD_CONTINUE")
        // The chat gives up on a reply that stops arriving; here only a hang may.
        .env("INWORLD_CHAT_REPLY_TIMEOUT", "3600")
        .envs(env.iter().copied());
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

pub fn run_plain(exe: &Path, stdin: &str) -> Run {
    let r = run(Command::new(exe), stdin, PLAIN_LIMIT);
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

pub fn require_valgrind() {
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
pub fn run_valgrind(exe: &Path, stdin: &str) -> Run {
    require_valgrind();
    let _one_at_a_time = VALGRIND.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
        "--show-leak-kinds=definite,indirect",
        "--track-origins=yes",
    ])
    .arg(exe);
    let r = run(cmd, stdin, VALGRIND_LIMIT);
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
