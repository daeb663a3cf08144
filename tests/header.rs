//! The committed C header must be the one cbindgen generates from `src/ffi`
//! (build.rs writes it to OUT_DIR; `INWORLD_WRITE_HEADER=1 cargo build`
//! refreshes the committed copy).

use std::path::Path;

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
    let header =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/inworld.h"))
            .unwrap();
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
