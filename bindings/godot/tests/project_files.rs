//! The `.gdextension` files and the demo project hold together: the entry
//! symbol is the one the extension exports, the API floor is 4.2, the demo's
//! library paths are this repository's cargo output, the addon's are the
//! layout of the zip `scripts/dist.py` makes, every file the project
//! and its scene name exists, every node type is a class of the extension,
//! and every signal the demo script connects is declared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `[section] key = value` files (.gdextension, project.godot), comments skipped.
fn ini(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut section = String::new();
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            out.insert(
                format!("{section}/{}", k.trim()),
                v.trim().trim_matches('"').to_string(),
            );
        }
    }
    out
}

#[test]
fn gdextension_files_name_the_exported_entry_and_the_4_2_floor() {
    let source = std::fs::read_to_string(crate_dir().join("src/lib.rs")).unwrap();
    assert!(
        source.contains("#[gdextension]"),
        "the entry macro (exports gdext_rust_init)"
    );
    for file in ["inworld.gdextension", "demo/inworld.gdextension"] {
        let ext = ini(&crate_dir().join(file));
        assert_eq!(
            ext["configuration/entry_symbol"], "gdext_rust_init",
            "{file}"
        );
        assert_eq!(ext["configuration/compatibility_minimum"], "4.2", "{file}");
        for platform in [
            "linux.debug.x86_64",
            "linux.release.x86_64",
            "windows.release.x86_64",
            "macos.release",
        ] {
            assert!(
                ext.contains_key(&format!("libraries/{platform}")),
                "{file} lacks {platform}"
            );
        }
    }
    // The demo loads this repository's build: res:// is bindings/godot/demo.
    let demo = ini(&crate_dir().join("demo/inworld.gdextension"));
    let repo = crate_dir().join("../..").canonicalize().unwrap();
    for (profile, key) in [
        ("debug", "libraries/linux.debug.x86_64"),
        ("release", "libraries/linux.release.x86_64"),
    ] {
        let path = demo[key].strip_prefix("res://").expect("a res:// path");
        let resolved = crate_dir().join("demo").join(path);
        let expected = repo
            .join("target")
            .join(profile)
            .join("libinworld_godot.so");
        assert_eq!(normalize(&resolved), expected, "{key}");
    }
}

#[test]
fn addon_gdextension_names_the_zips_layout() {
    // scripts/dist.py puts each platform's library in
    // addons/inworld/bin/<platform>/ and writes these same lines
    // (scripts/check_dist.py compares the two once packaged).
    let ext = ini(&crate_dir().join("inworld.gdextension"));
    let expected = [
        ("linux", "x86_64", "linux-x86_64/libinworld_godot.so"),
        ("windows", "x86_64", "windows-x86_64/inworld_godot.dll"),
        ("linux", "arm64", "linux-aarch64/libinworld_godot.so"),
    ];
    let mut want = BTreeMap::new();
    for (os, cpu, file) in expected {
        for profile in ["debug", "release"] {
            want.insert(
                format!("libraries/{os}.{profile}.{cpu}"),
                format!("res://addons/inworld/bin/{file}"),
            );
        }
    }
    for profile in ["debug", "release"] {
        want.insert(
            format!("libraries/macos.{profile}"),
            "res://addons/inworld/bin/macos-universal/libinworld_godot.dylib".to_string(),
        );
    }
    let found: BTreeMap<_, _> = ext
        .into_iter()
        .filter(|(k, _)| k.starts_with("libraries/"))
        .collect();
    assert_eq!(found, want);
}

/// `a/b/../c` → `a/c`, without touching the file system (the file may not be built).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    std::fs::canonicalize(out.parent().unwrap())
        .map_or(out.clone(), |dir| dir.join(out.file_name().unwrap()))
}

#[test]
fn demo_project_is_complete() {
    let demo = crate_dir().join("demo");
    let project = ini(&demo.join("project.godot"));
    assert_eq!(project["/config_version"], "5");
    assert!(project["application/config/features"].contains("4.2"));
    let main = project["application/run/main_scene"]
        .strip_prefix("res://")
        .unwrap()
        .to_string();
    let scene = std::fs::read_to_string(demo.join(&main)).expect("the main scene exists");

    // Every resource the scene loads exists.
    for line in scene.lines().filter(|l| l.starts_with("[ext_resource")) {
        let path = line
            .split("path=\"res://")
            .nth(1)
            .and_then(|p| p.split('"').next())
            .unwrap();
        assert!(demo.join(path).exists(), "{main} loads missing {path}");
    }
    // Every node type that is not Godot's own is a class of the extension,
    // one class a file.
    let class_file =
        |name: &str| std::fs::read_to_string(crate_dir().join("src/nodes").join(name)).unwrap();
    let nodes = ["client.rs", "session.rs", "character.rs", "microphone.rs"]
        .map(|f| {
            let source = class_file(f);
            assert_eq!(
                source.matches("#[derive(GodotClass)]").count(),
                1,
                "{f} holds one class"
            );
            source
        })
        .concat();
    let classes: Vec<&str> = nodes
        .split("#[derive(GodotClass)]")
        .skip(1)
        .filter_map(|rest| rest.split("pub struct ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(
        classes,
        [
            "InworldClient",
            "InworldSession",
            "InworldCharacter",
            "InworldMicrophone"
        ]
    );
    for class in &classes {
        assert!(
            scene.contains(&format!("type=\"{class}\"")),
            "the demo does not use {class}"
        );
    }
    for line in scene.lines().filter(|l| l.contains("type=\"Inworld")) {
        let ty = line
            .split("type=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(classes.contains(&ty), "unknown node type {ty}");
    }

    // Every signal the script connects is declared by the extension.
    let script = std::fs::read_to_string(demo.join("chat.gd")).unwrap();
    let mut connected = 0;
    let parts: Vec<&str> = script.split(".connect(").collect();
    // Each part but the last ends with the name of a signal being connected.
    for before in &parts[..parts.len() - 1] {
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &before[start..];
        if ["pressed", "text_submitted", "button_down", "button_up"].contains(&name) {
            continue; // Godot's own signals
        }
        assert!(
            nodes.contains(&format!("fn {name}(")),
            "chat.gd connects {name}, which the extension does not declare"
        );
        connected += 1;
    }
    assert!(connected >= 7, "only {connected} signals found in chat.gd");

    // Every call the script makes on the extension's nodes is a #[func] of it.
    let mut called = 0;
    for receiver in ["session.", "microphone.", "node."] {
        for after in script.split(receiver).skip(1) {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let rest = &after[name.len()..];
            if !rest.starts_with('(') || name == "get_node_or_null" {
                continue; // a signal (.connect), a property, or Node's own
            }
            let declared = nodes
                .split("#[func]")
                .skip(1)
                .map(|f| f.trim_start().trim_start_matches("pub(super) "))
                .any(|f| f.starts_with(&format!("fn {name}(")));
            assert!(
                declared,
                "chat.gd calls {receiver}{name}(), which is no #[func] of the extension"
            );
            called += 1;
        }
    }
    assert!(called >= 8, "only {called} calls found in chat.gd");
}
