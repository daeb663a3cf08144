//! The demo's and the examples' GDScript parses and passes gdlint
//! (gdtoolkit, from PyPI); what the examples use of InworldSession exists.

use std::path::PathBuf;
use std::process::Command;

/// gdtoolkit's tool: on PATH, or in the virtualenv `.ci/run` makes.
fn tool(name: &str) -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/gdtoolkit/bin")
        .join(name);
    if venv.exists() {
        return venv;
    }
    let on_path = Command::new(name)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        on_path,
        "{name} is missing: pip install gdtoolkit (or run .ci/run, which installs it)"
    );
    PathBuf::from(name)
}

/// The `.gd` files of a folder of this crate.
fn scripts(folder: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(folder);
    let found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "gd"))
        .collect();
    assert!(!found.is_empty(), "no scripts in {}", dir.display());
    found
}

#[test]
fn demo_and_example_scripts_parse_and_lint_clean() {
    let mut scripts = scripts("demo");
    scripts.extend(scripts_of_examples());
    for check in ["gdparse", "gdlint"] {
        let out = Command::new(tool(check)).args(&scripts).output().unwrap();
        assert!(
            out.status.success(),
            "{check} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn scripts_of_examples() -> Vec<PathBuf> {
    scripts("examples")
}

/// The names `script` uses on its `session` (an InworldSession): the
/// signals it connects and the methods it calls.
fn session_uses(script: &str) -> (Vec<String>, Vec<String>) {
    let (mut signals, mut calls) = (Vec::new(), Vec::new());
    for after in script.split("session.").skip(1) {
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let rest = &after[name.len()..];
        if rest.starts_with(".connect(") {
            signals.push(name);
        } else if rest.starts_with('(') {
            calls.push(name);
        }
    }
    (signals, calls)
}

#[test]
fn examples_use_only_what_inworld_session_declares() {
    let node = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/nodes/session.rs"),
    )
    .unwrap();
    let declared = |attribute: &str, name: &str| {
        node.split(attribute).skip(1).any(|item| {
            item.lines()
                .map(str::trim)
                .find(|l| l.starts_with("fn ") || l.starts_with("pub(super) fn "))
                .is_some_and(|l| {
                    l.trim_start_matches("pub(super) ")
                        .starts_with(&format!("fn {name}("))
                })
        })
    };
    let mut used = 0;
    for path in scripts_of_examples() {
        let script = std::fs::read_to_string(&path).unwrap();
        let (signals, calls) = session_uses(&script);
        for signal in &signals {
            assert!(
                declared("#[signal]", signal),
                "{} connects session.{signal}, which InworldSession does not declare",
                path.display()
            );
        }
        for call in &calls {
            assert!(
                declared("#[func]", call),
                "{} calls session.{call}(), which is no #[func] of InworldSession",
                path.display()
            );
        }
        used += signals.len() + calls.len();
    }
    assert!(used >= 15, "only {used} uses of the session found");
}
