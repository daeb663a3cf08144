//! Scene files: any text is refused with a message or loads into a
//! workspace whose names all resolve.
#![no_main]

use inworld::engine::Workspace;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Workspace::from_toml_str(text) {
        Err(e) => assert!(!e.to_string().is_empty()),
        Ok(ws) => {
            for (scene, name) in ws.scenes.iter().zip(ws.scene_names()) {
                assert!(ws.scene(&scene.id).is_some(), "{name}");
                for c in &scene.characters {
                    assert!(ws.character(c).is_some());
                }
            }
            for c in &ws.characters {
                let name = ws.character_name(&c.id);
                let found = ws
                    .character_by_name(&name)
                    .expect("a character resolves by its name");
                assert_eq!(found.id, c.id);
            }
        }
    }
});
