//! The Unity package (`bindings/unity/`): its core (no UnityEngine) compiled
//! with mono's `mcs` and its tests run under `mono` against the real library
//! and the local engine; the Unity layer compiled against stub UnityEngine
//! types; the declarations checked against `inworld.h` (every function, struct,
//! field and constant; sizes, offsets and values as the C compiler and the CLR
//! see them); and the package's layout as Unity's package manager expects it.
//! mono (`mono-mcs`, `mono-runtime`) and gcc are required.
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod native_support;

use native_support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn unity_dir() -> PathBuf {
    manifest_dir().join("bindings/unity")
}

fn require_mono() {
    require_tool("mcs", "mono-mcs");
    require_tool("mono", "mono-runtime");
}

/// The `.cs` files under `dir`, sorted.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "cs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Compiles C# sources with mcs (C# 7.2: what Unity's older versions take).
fn mcs(out: &Path, target: &str, sources: &[PathBuf], references: &[&Path]) {
    require_mono();
    let mut cmd = Command::new("mcs");
    cmd.args([
        "-langversion:7.2",
        "-unsafe",
        "-warnaserror+",
        "-nowarn:1591",
    ])
    .arg(format!("-target:{target}"))
    .arg(format!("-out:{}", out.display()));
    for r in references {
        cmd.arg(format!("-r:{}", r.display()));
    }
    cmd.args(sources);
    let result = cmd.output().expect("mcs runs");
    assert!(
        result.status.success(),
        "mcs failed:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The core and its tests, as one program: compiled once for all the tests
/// of this file (tests run in parallel; one compiling it while another runs
/// it would run a half-written file).
fn core_tests_exe() -> PathBuf {
    static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        let exe = out_dir().join("unity_core_tests.exe");
        let mut all = sources(&unity_dir().join("Runtime/Core"));
        all.extend(sources(&unity_dir().join("Tests~/Core")));
        mcs(&exe, "exe", &all, &[]);
        exe
    })
    .clone()
}

fn mono(exe: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new("mono");
    cmd.arg("--debug").arg(exe).args(args);
    let r = run(cmd, "", PLAIN_LIMIT);
    assert_eq!(
        r.code,
        Some(0),
        "mono {} {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        exe.display(),
        r.stdout,
        r.stderr
    );
    r
}

#[test]
fn core_passes_its_tests_under_mono_against_the_library() {
    let r = mono(&core_tests_exe(), &[]);
    assert!(r.stdout.contains("unity core: OK"), "{}", r.stdout);
    let passed = r.stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(passed >= 16, "only {passed} tests ran:\n{}", r.stdout);
    // The garbage-free polling path: 0 bytes allocated once warm (the test
    // fails otherwise; its line says what it counted).
    assert!(
        r.stdout
            .contains("ok   Polling_into_a_batch_makes_no_garbage_once_warm"),
        "{}",
        r.stdout
    );
}

#[test]
fn unity_layer_and_sample_compile_against_stub_unity_types() {
    let dir = out_dir();
    let core = dir.join("Inworld.Native.dll");
    mcs(
        &core,
        "library",
        &sources(&unity_dir().join("Runtime/Core")),
        &[],
    );
    let stubs = dir.join("UnityEngine.dll");
    mcs(
        &stubs,
        "library",
        &sources(&unity_dir().join("Tests~/UnityStubs")),
        &[],
    );
    let mut layer = sources(&unity_dir().join("Runtime/Unity"));
    layer.extend(sources(&unity_dir().join("Samples~")));
    mcs(
        &dir.join("Inworld.Unity.dll"),
        "library",
        &layer,
        &[&core, &stubs],
    );
}

/// InworldFace's blendshape matching (case, separators, prefixes,
/// renames), the Unity layer's one piece of logic that needs no Unity: run
/// under mono against the stub UnityEngine types and the real library.
#[test]
fn unity_face_finds_blendshapes_by_arkit_name() {
    let exe = out_dir().join("unity_layer_tests.exe");
    let mut all = sources(&unity_dir().join("Runtime/Core"));
    for dir in ["Runtime/Unity", "Tests~/UnityStubs", "Tests~/Layer"] {
        all.extend(sources(&unity_dir().join(dir)));
    }
    mcs(&exe, "exe", &all, &[]);
    let r = mono(&exe, &[]);
    assert!(r.stdout.contains("unity face: OK"), "{}", r.stdout);
}

fn native_cs() -> String {
    std::fs::read_to_string(unity_dir().join("Runtime/Core/Interop/Native.cs")).unwrap()
}

/// Every function of the header has its `extern` declaration: a function
/// added to `inworld.h` fails this test until the binding declares it.
#[test]
fn every_header_function_is_declared_in_csharp() {
    let functions = header_functions();
    assert!(functions.len() > 80, "{functions:?}");
    let native = native_cs();
    let missing: Vec<_> = functions
        .iter()
        .filter(|f| !native.contains(&format!(" {f}(")) || !native.contains("extern"))
        .collect();
    assert!(missing.is_empty(), "Native.cs lacks {missing:?}");
    // And every packet kind is turned into its packet class.
    let packets = std::fs::read_to_string(unity_dir().join("Runtime/Core/Packets.cs")).unwrap();
    let unhandled: Vec<_> = header_constants()
        .into_iter()
        .filter(|c| c.starts_with("IW_PACKET_") && c != "IW_PACKET_UNKNOWN")
        .filter(|c| !packets.contains(&format!("case Native.{c}:")))
        .collect();
    assert!(
        unhandled.is_empty(),
        "Packets.cs does not convert {unhandled:?}"
    );
}

/// The core fills every field of what a game hands the library (configs, a
/// scene change, items, voice detection) and reads every field of what it
/// gets back: a field added to the header fails this test until the C# API
/// carries it, not only its declaration.
#[test]
fn every_header_field_is_carried_by_the_core() {
    let core: String = sources(&unity_dir().join("Runtime/Core"))
        .iter()
        .filter(|p| !p.ends_with("Native.cs"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let filled = [
        "iw_client_config",
        "iw_scene_change",
        "iw_entity_item",
        "iw_voice_detection",
        "iw_engine_config",
        "iw_key_value",
        "iw_dialog_line",
    ];
    let mut missing = Vec::new();
    for (name, fields) in header_structs() {
        // A union: its arms are the packet structs, read by kind.
        if name == "iw_packet_data" {
            continue;
        }
        for field in fields.iter().filter(|f| *f != "struct_size") {
            let used = if filled.contains(&name.as_str()) {
                [format!("{field} = "), format!("{field}= ")]
                    .iter()
                    .any(|p| core.contains(p.as_str()))
            } else {
                core.contains(&format!(".{field}"))
            };
            if !used {
                missing.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(missing.is_empty(), "the C# core does not carry {missing:?}");
}

/// Every struct, field and constant of the header exists in C# with the same
/// size, offsets and values: the C compiler and the CLR are asked.
#[test]
fn csharp_layouts_and_constants_match_the_c_compilers() {
    let structs = header_structs();
    assert!(structs.len() > 30, "{structs:?}");
    let constants = header_constants();
    assert!(constants.len() > 100, "{constants:?}");

    // What C says.
    let mut c = String::from(
        "#define INWORLD_ENGINE 1\n#include \"inworld.h\"\n#include <stdio.h>\n#include <stddef.h>\nint main(void) {\n",
    );
    for (name, fields) in &structs {
        c += &format!("printf(\"{name} %zu\\n\", sizeof({name}));\n");
        for f in fields {
            c += &format!("printf(\"{name}.{f} %zu\\n\", offsetof({name}, {f}));\n");
        }
    }
    for k in &constants {
        c += &format!("printf(\"{k} %lld\\n\", (long long)({k}));\n");
    }
    c += "return 0;\n}\n";
    let dir = out_dir();
    let src = dir.join("unity_layout.c");
    std::fs::write(&src, c).unwrap();
    let exe = dir.join("unity_layout");
    let out = Command::new("gcc")
        .args(["-std=c99", "-I"])
        .arg(manifest_dir().join("include"))
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("gcc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_c = lines_to_map(&run(Command::new(&exe), "", PLAIN_LIMIT).stdout);

    // What the CLR says.
    let from_cs = lines_to_map(&mono(&core_tests_exe(), &["--layout"]).stdout);

    let mut problems = Vec::new();
    for (key, value) in &from_c {
        match from_cs.get(key) {
            None => problems.push(format!("{key}: missing in C#")),
            Some(v) if v != value => problems.push(format!("{key}: C {value}, C# {v}")),
            _ => {}
        }
    }
    assert!(
        problems.is_empty(),
        "the C# declarations differ from inworld.h:\n{}",
        problems.join("\n")
    );
}

fn lines_to_map(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

// ---------------------------------------------------------------- the package

/// What Unity's package manager reads: package.json, assembly definitions,
/// and a `.meta` (with a unique GUID) beside every asset it imports (folders
/// ending in `~` and dot files are not imported).
#[test]
fn package_layout_is_what_unity_accepts() {
    let manifest: String = std::fs::read_to_string(unity_dir().join("package.json")).unwrap();
    for field in [
        "\"name\": \"ai.inworld.native\"",
        "\"version\":",
        "\"displayName\":",
        "\"unity\":",
        "\"samples\":",
        "\"path\": \"Samples~/Chat\"",
    ] {
        assert!(manifest.contains(field), "package.json lacks {field}");
    }
    for asmdef in [
        "Runtime/Core/Inworld.Native.asmdef",
        "Runtime/Unity/Inworld.Unity.asmdef",
    ] {
        assert!(unity_dir().join(asmdef).exists(), "{asmdef} is missing");
    }
    let core =
        std::fs::read_to_string(unity_dir().join("Runtime/Core/Inworld.Native.asmdef")).unwrap();
    assert!(core.contains("\"noEngineReferences\": true"), "{core}");
    let layer =
        std::fs::read_to_string(unity_dir().join("Runtime/Unity/Inworld.Unity.asmdef")).unwrap();
    assert!(layer.contains("\"Inworld.Native\""), "{layer}");

    let mut guids = BTreeMap::new();
    let mut missing = Vec::new();
    check_metas(&unity_dir(), &mut guids, &mut missing);
    assert!(missing.is_empty(), "assets without a .meta: {missing:?}");
    assert!(guids.len() > 10, "{guids:?}");
}

fn check_metas(dir: &Path, guids: &mut BTreeMap<String, PathBuf>, missing: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name.ends_with('~') || name.ends_with(".meta") {
            continue;
        }
        let meta = PathBuf::from(format!("{}.meta", path.display()));
        match std::fs::read_to_string(&meta) {
            Err(_) => missing.push(path.clone()),
            Ok(text) => {
                let guid = text
                    .lines()
                    .find_map(|l| l.strip_prefix("guid: "))
                    .unwrap_or_else(|| panic!("{} has no guid", meta.display()))
                    .trim()
                    .to_string();
                assert!(
                    guid.len() == 32 && guid.chars().all(|c| c.is_ascii_hexdigit()),
                    "{}: bad guid {guid}",
                    meta.display()
                );
                if let Some(other) = guids.insert(guid.clone(), path.clone()) {
                    panic!(
                        "{} and {} share the guid {guid}",
                        other.display(),
                        path.display()
                    );
                }
            }
        }
        if path.is_dir() {
            check_metas(&path, guids, missing);
        }
    }
}
