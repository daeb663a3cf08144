//! The demo's GDScript parses and passes gdlint (gdtoolkit, from PyPI).

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

#[test]
fn demo_scripts_parse_and_lint_clean() {
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo");
    let scripts: Vec<_> = std::fs::read_dir(&demo)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "gd"))
        .collect();
    assert!(!scripts.is_empty());
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
