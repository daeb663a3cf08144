//! Link settings: the extension exports its entry point and nothing else.
//! The inworld crate's C API functions (`#[no_mangle]`, from its rlib) would
//! otherwise be exported by this library too, and clash with a game's own
//! copy of libinworld.
//!
//! - ELF: `--exclude-libs ALL` keeps every symbol of a linked archive (the
//!   rlibs) local; the entry point is this crate's own.
//! - Windows (MinGW): rustc lists every `#[no_mangle]` function in the `.def`
//!   file it gives GNU ld, which exports all of them. `--exclude-symbols`
//!   names the C API's functions (read from the header); the repository's
//!   linker for that target (`scripts/mingw-link`, set in
//!   `.cargo/config.toml`) drops them from the `.def`, which ld itself does
//!   not do. The symbol checks (`scripts/cross-test.sh`,
//!   `scripts/check_dist.py`) fail if the DLL exports more than its entry.
//! - macOS: rustc's exported-symbols list names them all too.
//!   `-unexported_symbol` names the C API's functions; the repository's
//!   macOS linker (`scripts/apple-link`, set by `scripts/build-apple.sh`)
//!   drops them from that list (ld64 takes one kind of list, not both).
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if matches!(os.as_str(), "linux" | "android" | "freebsd") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--exclude-libs,ALL");
    }
    let windows = os == "windows" && env == "gnu";
    if windows || os == "macos" {
        let header = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include/inworld.h");
        println!("cargo:rerun-if-changed={}", header.display());
        let text = std::fs::read_to_string(&header)
            .unwrap_or_else(|e| panic!("{}: {e}", header.display()));
        let names = c_api_functions(&text);
        assert!(
            !names.is_empty(),
            "{}: no iw_* function found",
            header.display()
        );
        // One option per name: gcc's -Wl splits at commas. Mach-O names
        // have a leading underscore.
        for name in &names {
            if windows {
                println!("cargo:rustc-cdylib-link-arg=-Wl,--exclude-symbols,{name}");
            } else {
                println!("cargo:rustc-cdylib-link-arg=-Wl,-unexported_symbol,_{name}");
            }
        }
    }
}

/// Every `iw_*` name the header follows with `(`: its functions (a name
/// that is not one, from a comment, is excluded harmlessly).
fn c_api_functions(header: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let bytes = header.as_bytes();
    let mut at = 0;
    while let Some(found) = header[at..].find("iw_") {
        let start = at + found;
        let mut end = start + 3;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let word_start =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let rest = header[end..].trim_start();
        if word_start && rest.starts_with('(') {
            names.push(header[start..end].to_string());
        }
        at = end;
    }
    names.sort();
    names.dedup();
    names
}
