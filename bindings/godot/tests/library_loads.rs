//! The built extension loads with dlopen (no Godot process needed) and
//! exports the entry symbol `inworld.gdextension` names.

use std::ffi::CString;
use std::path::PathBuf;

/// The extension cargo built with this test (`deps/` holds every crate type
/// of this profile's build).
fn extension() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps, deps.parent().unwrap()] {
        let lib = dir.join("libinworld_godot.so");
        if lib.exists() {
            return lib;
        }
    }
    panic!(
        "libinworld_godot.so is not next to {}: cargo build -p inworld-godot",
        exe.display()
    );
}

#[test]
fn extension_loads_and_exports_gdext_rust_init() {
    let path = CString::new(extension().to_string_lossy().as_bytes()).unwrap();
    // SAFETY: plain dlopen/dlsym/dlclose on a library built from this
    // repository; nothing is called through the symbol.
    unsafe {
        let handle = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        assert!(
            !handle.is_null(),
            "dlopen failed: {:?}",
            std::ffi::CStr::from_ptr(libc::dlerror())
        );
        let symbol = libc::dlsym(handle, c"gdext_rust_init".as_ptr());
        assert!(!symbol.is_null(), "gdext_rust_init is not exported");
        libc::dlclose(handle);
    }
}
