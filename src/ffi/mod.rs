/// Version of the library.
#[no_mangle]
pub extern "C" fn iw_version() -> u32 {
    1
}
