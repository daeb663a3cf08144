//! What the tests of native programs (C, C++, C#) share: where the freshly
//! built `libinworld.so` is, a scratch directory beside the test binary, and
//! running a program with a time limit that only catches hangs, plainly or
//! under valgrind memcheck (one valgrind run at a time per test binary); and
//! what `include/inworld.h` declares, for the bindings' drift checks.
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
    run_succeeding(Command::new(exe), stdin)
}

/// Runs `cmd` (no valgrind) and fails the test unless it exits with 0.
pub fn run_succeeding(cmd: Command, stdin: &str) -> Run {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let r = run(cmd, stdin, PLAIN_LIMIT);
    assert_eq!(
        r.code,
        Some(0),
        "{program} failed\nstdout:\n{}\nstderr:\n{}",
        r.stdout,
        r.stderr
    );
    r
}

/// Fails the test, naming the Debian package, when `tool` is missing.
pub fn require_tool(tool: &str, package: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is required by these tests (apt-get install {package}); it was not found"
    );
}

pub fn require_valgrind() {
    require_tool("valgrind", "valgrind");
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

// ---------------------------------------------------------------- the header

/// `inworld.h` without comments and preprocessor lines.
pub fn header_code() -> String {
    let header = std::fs::read_to_string(manifest_dir().join("include/inworld.h")).unwrap();
    let mut code = String::new();
    let mut rest = header.as_str();
    while let Some(start) = rest.find("/*") {
        code.push_str(&rest[..start]);
        rest = rest[start..]
            .find("*/")
            .map_or("", |end| &rest[start + end + 2..]);
    }
    code.push_str(rest);
    code.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Every `#define IW_*` constant's name.
pub fn header_constants() -> Vec<String> {
    let header = std::fs::read_to_string(manifest_dir().join("include/inworld.h")).unwrap();
    header
        .lines()
        .filter_map(|l| l.strip_prefix("#define IW_"))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|name| format!("IW_{name}"))
        .collect()
}

/// Every struct and union, with its fields in order.
pub fn header_structs() -> Vec<(String, Vec<String>)> {
    let code = header_code();
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("typedef ") {
        rest = &rest[at + "typedef ".len()..];
        let Some(kind_end) = rest.find(' ') else {
            break;
        };
        if !matches!(&rest[..kind_end], "struct" | "union") {
            continue;
        }
        let after = &rest[kind_end + 1..];
        let (Some(brace), Some(semi)) = (after.find('{'), after.find(';')) else {
            break;
        };
        if semi < brace {
            continue; // an opaque handle: `typedef struct iw_client iw_client;`
        }
        let name = after[..brace].trim().to_string();
        let close = after.find('}').unwrap();
        let fields = after[brace + 1..close]
            .split(';')
            .filter_map(|f| {
                let f = f.split('[').next().unwrap().trim();
                f.rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
            })
            .collect();
        out.push((name, fields));
        rest = &after[close..];
    }
    out
}

pub fn header_functions() -> Vec<String> {
    let mut names = Vec::new();
    for statement in header_code().split(';') {
        let statement = statement.rsplit(['{', '}']).next().unwrap_or("").trim();
        if statement.starts_with("typedef") {
            continue;
        }
        if let Some(open) = statement.find('(') {
            let name = statement[..open]
                .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            if name.starts_with("iw_") && statement.ends_with(')') {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}
