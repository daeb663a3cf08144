//! The C++ binding (`bindings/cpp/`): its test program built by g++ and
//! clang++ with warnings as errors, run against the local engine and under
//! valgrind; the CMake package installed and consumed by the C++ chat
//! (`samples/cpp`, `find_package(inworld CONFIG)`) and by a pkg-config build;
//! and a drift check: every function of `inworld.h` is wrapped.
//! g++, clang++, cmake, pkg-config and valgrind are required (a missing one
//! fails with the Debian package to install).
// Needs the local engine (the default `engine` feature).
#![cfg(feature = "engine")]

mod native_support;

use native_support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const CXX_FLAGS: &[&str] = &[
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-g",
];

/// Runs a build step, failing the test with its output when it fails.
fn build_step(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not start: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Compiles the wrapper's test program with `compiler`.
fn compile_wrapper_test(compiler: &str) -> PathBuf {
    let lib = lib_dir();
    let exe = out_dir().join(format!("cpp_wrapper_test_{}", compiler.replace('+', "x")));
    build_step(
        Command::new(compiler)
            .args(CXX_FLAGS)
            .arg("-I")
            .arg(manifest_dir().join("include"))
            .arg("-I")
            .arg(manifest_dir().join("bindings/cpp/include"))
            .arg(manifest_dir().join("bindings/cpp/tests/wrapper_test.cpp"))
            .arg("-o")
            .arg(&exe)
            .arg("-L")
            .arg(&lib)
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .args(["-linworld", "-lpthread"]),
    );
    exe
}

#[test]
fn wrapper_works_built_by_gcc() {
    require_tool("g++", "g++");
    let r = run_plain(&compile_wrapper_test("g++"), "");
    assert!(r.stdout.contains("wrapper_test: OK"), "{}", r.stdout);
}

#[test]
fn wrapper_works_built_by_clang() {
    require_tool("clang++", "clang");
    let r = run_plain(&compile_wrapper_test("clang++"), "");
    assert!(r.stdout.contains("wrapper_test: OK"), "{}", r.stdout);
}

#[test]
fn wrapper_under_valgrind() {
    require_tool("g++", "g++");
    let r = run_valgrind(&compile_wrapper_test("g++"), "");
    assert!(r.stdout.contains("wrapper_test: OK"), "{}", r.stdout);
}

/// Installs the package (headers, library, CMake config, pkg-config file)
/// into a fresh prefix under `name`.
fn install_package(name: &str) -> PathBuf {
    require_tool("cmake", "cmake");
    let root = out_dir().join(name);
    let _ = std::fs::remove_dir_all(&root);
    let (build, prefix) = (root.join("build"), root.join("prefix"));
    build_step(
        Command::new("cmake")
            .arg("-S")
            .arg(manifest_dir().join("bindings/cpp"))
            .arg("-B")
            .arg(&build)
            .arg(format!("-DINWORLD_LIBRARY_DIR={}", lib_dir().display())),
    );
    build_step(
        Command::new("cmake")
            .arg("--install")
            .arg(&build)
            .arg("--prefix")
            .arg(&prefix),
    );
    for file in [
        "include/inworld.h",
        "include/inworld.hpp",
        "lib/libinworld.so",
        "lib/cmake/inworld/inworldConfig.cmake",
        "lib/cmake/inworld/inworldConfigVersion.cmake",
        "lib/pkgconfig/inworld.pc",
    ] {
        assert!(prefix.join(file).exists(), "the install lacks {file}");
    }
    prefix
}

/// The installed library, not the build tree's, is what a consumer loads.
fn run_installed(exe: &Path, prefix: &Path, stdin: &str) -> Run {
    let mut cmd = Command::new(exe);
    cmd.env("LD_LIBRARY_PATH", prefix.join("lib"));
    run_succeeding(cmd, stdin)
}

#[test]
fn cpp_chat_builds_with_cmake_against_the_installed_package_and_chats() {
    let prefix = install_package("cpp-package-cmake");
    let build = out_dir().join("cpp-chat-build");
    let _ = std::fs::remove_dir_all(&build);
    build_step(
        Command::new("cmake")
            .arg("-S")
            .arg(manifest_dir().join("samples/cpp"))
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display())),
    );
    build_step(Command::new("cmake").arg("--build").arg(&build));
    let r = run_installed(
        &build.join("chat"),
        &prefix,
        "hello there\n/trigger greet\n/character finn\nsing us a song\n/action waves\n/quit\n",
    );
    let out = &r.stdout;
    assert!(out.contains("(talking to Marta"), "{out}");
    assert!(out.contains("Marta: Welcome"), "{out}");
    assert!(
        out.contains("Marta: Well met"),
        "the trigger's reply: {out}"
    );
    assert!(out.contains("(talking to Finn"), "{out}");
    assert!(out.contains("Finn: "), "{out}");
    assert!(out.contains("bye"), "{out}");
    assert!(!out.contains("! "), "an error was printed: {out}");
}

#[test]
fn pkg_config_gives_what_a_build_needs() {
    require_tool("pkg-config", "pkg-config");
    require_tool("g++", "g++");
    let prefix = install_package("cpp-package-pkg-config");
    let flags = build_step(
        Command::new("pkg-config")
            .args(["--cflags", "--libs", "inworld"])
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")),
    );
    assert!(flags.contains("-DINWORLD_ENGINE"), "{flags}");
    let exe = out_dir().join("cpp-pkg-config-consumer");
    build_step(
        Command::new("g++")
            .args(CXX_FLAGS)
            .arg(manifest_dir().join("bindings/cpp/tests/pkg_config_consumer.cpp"))
            .arg("-o")
            .arg(&exe)
            .args(flags.split_whitespace()),
    );
    let r = run_installed(&exe, &prefix, "");
    assert!(r.stdout.contains("pkg_config_consumer: OK"), "{}", r.stdout);
}

/// Every function the C header declares is called by the wrapper: a function
/// added to `inworld.h` fails this test until `inworld.hpp` wraps it. Every
/// packet kind has its typed body.
#[test]
fn the_wrapper_covers_the_whole_header() {
    let wrapper =
        std::fs::read_to_string(manifest_dir().join("bindings/cpp/include/inworld.hpp")).unwrap();
    let functions = header_functions();
    assert!(functions.len() > 80, "the header parse found {functions:?}");
    let missing: Vec<_> = functions
        .iter()
        .filter(|f| !wrapper.contains(&format!("{f}(")))
        .collect();
    assert!(missing.is_empty(), "inworld.hpp does not wrap {missing:?}");

    let kinds: Vec<_> = header_constants()
        .into_iter()
        .filter(|k| k.starts_with("IW_PACKET_") && k != "IW_PACKET_UNKNOWN")
        .map(|k| format!("case {k}:"))
        .collect();
    assert!(kinds.len() >= 20, "{kinds:?}");
    let missing: Vec<_> = kinds
        .iter()
        .filter(|k| !wrapper.contains(k.as_str()))
        .collect();
    assert!(missing.is_empty(), "Packet::body() lacks {missing:?}");
}
