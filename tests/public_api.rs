//! The bindings, the samples and the examples build on the library's own
//! model (`inworld::packet`, `inworld::client`), never on the generated wire
//! types (`inworld::protocol`): a game should not need them either. Tests
//! and benches that check the wire itself may use them.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != "node_modules" {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `inworld::protocol` written out, or brought in through a grouped
/// `use inworld::{..., protocol, ...}`.
fn names_the_wire_types(source: &str) -> bool {
    let flat: String = source.split_whitespace().collect();
    flat.contains("inworld::protocol")
        || flat.split("inworld::{").skip(1).any(|group| {
            let group = group.split('}').next().unwrap_or("");
            group
                .split(',')
                .any(|item| item == "protocol" || item.starts_with("protocol::"))
        })
}

#[test]
fn bindings_samples_and_examples_do_not_import_the_wire_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["bindings", "samples", "examples"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("bindings/godot/src/events.rs")),
        "the walk found the Godot binding"
    );
    let offenders: Vec<_> = files
        .iter()
        .filter(|f| names_the_wire_types(&std::fs::read_to_string(f).unwrap()))
        .map(|f| f.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "imports inworld::protocol: {offenders:?}"
    );
}

#[test]
fn the_check_sees_both_spellings() {
    assert!(names_the_wire_types(
        "use inworld::protocol::ai::inworld::packets::emotion_event::SpaffCode;"
    ));
    assert!(names_the_wire_types(
        "use inworld::{packet,\n    protocol::status};"
    ));
    assert!(names_the_wire_types("use inworld::{packet, protocol};"));
    assert!(!names_the_wire_types(
        "use inworld::{packet::Emotion, client};"
    ));
}
