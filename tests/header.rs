//! The committed C header must be the one cbindgen generates from `src/ffi`
//! (build.rs writes it to OUT_DIR; `INWORLD_WRITE_HEADER=1 cargo build`
//! refreshes the committed copy), document everything it declares, and every
//! export must run its body in the panic boundary.

use std::path::{Path, PathBuf};

fn committed_header() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/inworld.h"))
        .unwrap()
}

#[test]
fn committed_header_matches_the_generated_one() {
    let generated_path = env!("INWORLD_GENERATED_HEADER");
    let generated = std::fs::read_to_string(generated_path)
        .unwrap_or_else(|e| panic!("cannot read the generated header {generated_path}: {e}"));
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/inworld.h");
    let committed = std::fs::read_to_string(&committed_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", committed_path.display()));
    if generated != committed {
        let line = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()))
            + 1;
        panic!(
            "include/inworld.h differs from the header generated from src/ffi (first difference \
             at line {line}); run `INWORLD_WRITE_HEADER=1 cargo build` and commit include/inworld.h"
        );
    }
}

#[test]
fn header_declares_every_function_with_a_comment() {
    let header = committed_header();
    let lines: Vec<&str> = header.lines().collect();
    let mut functions = 0;
    for (i, line) in lines.iter().enumerate() {
        let before_paren = line.split('(').next().unwrap_or("");
        let name = before_paren.rsplit([' ', '*']).next().unwrap_or("");
        let is_function = !line.starts_with(' ')
            && !line.starts_with("typedef")
            && !line.starts_with('#')
            && line.contains('(')
            && name.starts_with("iw_");
        if is_function {
            functions += 1;
            assert!(
                i > 0 && lines[i - 1].trim_end() == " */",
                "function without a doc comment: {line}"
            );
        }
    }
    assert!(
        functions >= 30,
        "only {functions} functions found in the header"
    );
}

#[test]
fn header_documents_every_constant() {
    let header = committed_header();
    let lines: Vec<&str> = header.lines().collect();
    let mut constants = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("#define IW_") {
            constants += 1;
            assert!(
                i > 0 && lines[i - 1].trim_end() == " */",
                "constant without a doc comment: {line}"
            );
        }
    }
    assert!(
        constants >= 90,
        "only {constants} constants found in the header"
    );
}

/// Every `#define IW_E_*` of the header is a code `iw_result_name` knows by
/// that name (the codes reach the header through build.rs, the names through
/// the `result_codes!` macro: both read the same list).
#[test]
fn every_result_code_of_the_header_has_its_name() {
    let mut codes = 0;
    for line in committed_header().lines() {
        let Some(rest) = line.strip_prefix("#define ") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(' ') else {
            continue;
        };
        if name != "IW_OK" && !name.starts_with("IW_E_") {
            continue;
        }
        let code: i32 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(code <= 0, "{line}");
        let named = unsafe { std::ffi::CStr::from_ptr(inworld::ffi::iw_result_name(code)) };
        assert_eq!(named.to_str().unwrap(), name);
        codes += 1;
    }
    assert!(codes >= 18, "only {codes} result codes found in the header");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// cbindgen needs each export's signature written out, so the boundary macro
/// wraps only the body: this checks that no export forgets it.
#[test]
fn every_export_runs_in_the_panic_boundary() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi"),
        &mut files,
    );
    let mut exports = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !(line.starts_with("pub extern \"C\" fn ")
                || line.starts_with("pub unsafe extern \"C\" fn "))
            {
                continue;
            }
            exports += 1;
            let at = format!("{}:{}", file.display(), i + 1);
            assert_eq!(
                lines[i - 1],
                "#[no_mangle]",
                "{at}: export without #[no_mangle]"
            );
            let body = lines[i..]
                .iter()
                .position(|l| l.ends_with('{'))
                .map(|n| lines[i + n + 1].trim_start())
                .unwrap_or_default();
            assert!(
                body.starts_with("ffi_boundary! {"),
                "{at}: the body of an export must be `ffi_boundary! {{ ... }}`, found {body:?}"
            );
        }
    }
    assert!(exports >= 35, "only {exports} exports found in src/ffi");
}
