//! Link settings: the extension exports its entry point and nothing else.
//! The inworld crate's C API functions (`#[no_mangle]`, from its rlib) would
//! otherwise be exported by this library too, and clash with a game's own
//! copy of libinworld. On ELF, `--exclude-libs ALL` keeps every symbol of a
//! linked archive (the rlibs) local; the entry point is this crate's own.
//! MinGW's linker has no equivalent for the exports rustc lists (see the
//! README's platform notes).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(os.as_str(), "linux" | "android" | "freebsd") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--exclude-libs,ALL");
    }
}
