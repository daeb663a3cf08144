//! Compiles the wire schema in `proto/` (with protox: no system `protoc`) and
//! regenerates the C header `include/inworld.h` from the `ffi` module (cbindgen).

use std::path::PathBuf;

const PROTO_FILES: &[&str] = &[
    "ai/inworld/packets/packets.proto",
    "ai/inworld/packets/entities/entities_packets.proto",
    "ai/inworld/engine/world-engine.proto",
    "ai/inworld/engine/v1/feedback.proto",
    "ai/inworld/engine/v1/state_serialization.proto",
    "ai/inworld/engine/configuration/configuration.proto",
    "ai/inworld/common/status.proto",
    "ai/inworld/language_codes/language_codes.proto",
    "ai/inworld/voices/voices.proto",
    "ai/inworld/voices/base_voice.proto",
    "google/rpc/status.proto",
];

fn main() {
    compile_protos();
    generate_header();
    link_speech_libraries();
}

/// The system's speech libraries, for the features that use them.
#[cfg(any(feature = "espeak", feature = "pocketsphinx"))]
fn link_speech_libraries() {
    #[cfg(feature = "espeak")]
    pkg_config::Config::new()
        .atleast_version("1.49")
        .probe("espeak-ng")
        .expect("the espeak feature needs libespeak-ng (Debian: apt-get install libespeak-ng-dev)");
    #[cfg(feature = "pocketsphinx")]
    {
        pkg_config::Config::new()
            .probe("pocketsphinx")
            .expect("the pocketsphinx feature needs libpocketsphinx (Debian: apt-get install libpocketsphinx-dev pocketsphinx-en-us)");
        // Where its models are: the engine's default US English model.
        let modeldir = pkg_config::get_variable("pocketsphinx", "modeldir")
            .unwrap_or_else(|_| "/usr/share/pocketsphinx/model".to_string());
        println!("cargo:rustc-env=INWORLD_POCKETSPHINX_MODELDIR={modeldir}");
    }
}

#[cfg(not(any(feature = "espeak", feature = "pocketsphinx")))]
fn link_speech_libraries() {}

fn compile_protos() {
    println!("cargo:rerun-if-changed=proto");
    let files: Vec<PathBuf> = PROTO_FILES
        .iter()
        .map(|f| PathBuf::from("proto").join(f))
        .collect();
    let descriptors = protox::compile(&files, ["proto"]).expect("the schema in proto/ compiles");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)
        .expect("tonic code generation");
}

/// The header is generated into OUT_DIR; `include/inworld.h` is the committed copy.
/// A test (`tests/header.rs`) fails when they differ. Set `INWORLD_WRITE_HEADER=1`
/// to refresh the committed copy during a build.
fn generate_header() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=INWORLD_WRITE_HEADER");
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    // The crate's version, so that a header can be matched with its library
    // (the packages' check compares it with iw_version() and the manifests).
    let version = std::env::var("CARGO_PKG_VERSION").unwrap();
    config.after_includes = Some(format!(
        "{}\n/* The version of the library this header belongs to (Cargo.toml's);\n \
         * iw_version() returns it as major << 16 | minor << 8 | patch. */\n\
         #define INWORLD_VERSION \"{version}\"\n",
        config.after_includes.take().unwrap_or_default()
    ));
    let out = out_dir.join("inworld.h");
    let result_codes = out_dir.join("result_codes.rs");
    std::fs::write(
        &result_codes,
        result_codes_source(&crate_dir.join("src/ffi/error.rs")),
    )
    .expect("OUT_DIR is writable");
    // Only the ffi module: constants elsewhere in the crate are not C API.
    match cbindgen::Builder::new()
        .with_src(&result_codes)
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(&out);
            // tests/header.rs compares the committed copy with this one.
            println!("cargo:rustc-env=INWORLD_GENERATED_HEADER={}", out.display());
            if std::env::var_os("INWORLD_WRITE_HEADER").is_some() {
                bindings.write_to_file(crate_dir.join("include/inworld.h"));
            }
        }
        Err(e) => println!("cargo:warning=cbindgen could not generate the header: {e}"),
    }
}

/// The result codes are declared inside `result_codes! { ... }` in
/// src/ffi/error.rs (the macro also builds their names table), and cbindgen
/// does not expand macros: it gets the invocation's body, which is plain
/// `pub const` items, as a source of its own (read first: the codes open the
/// header).
fn result_codes_source(error_rs: &std::path::Path) -> String {
    let text = std::fs::read_to_string(error_rs).expect("src/ffi/error.rs is readable");
    let open = "\nresult_codes! {\n";
    let start = text
        .find(open)
        .expect("src/ffi/error.rs invokes result_codes! { ... }")
        + open.len();
    let end = start
        + text[start..]
            .find("\n}\n")
            .expect("result_codes! { ... } is closed");
    text[start..=end].to_string()
}
