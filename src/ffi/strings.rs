//! Reading C inputs: NUL-terminated UTF-8 strings, copied at once.

use std::ffi::{c_char, CStr};

use super::error::*;

/// Copies a required string argument; `what` names it in error messages.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
pub unsafe fn required(p: *const c_char, what: &str) -> FfiResult<String> {
    optional(p, what)?.ok_or_else(|| FfiError::new(IW_E_NULL_POINTER, format!("{what} is NULL")))
}

/// Copies an optional string argument (NULL gives `None`).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
pub unsafe fn optional(p: *const c_char, what: &str) -> FfiResult<Option<String>> {
    if p.is_null() {
        return Ok(None);
    }
    borrowed(p, what).map(|s| Some(s.to_owned()))
}

/// Borrows a required string argument for the duration of the call.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives the use.
pub unsafe fn borrowed<'a>(p: *const c_char, what: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(FfiError::new(IW_E_NULL_POINTER, format!("{what} is NULL")));
    }
    CStr::from_ptr(p).to_str().map_err(|e| {
        FfiError::new(
            IW_E_INVALID_UTF8,
            format!("{what} is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// A caller struct that starts with `uint32_t struct_size`: checks the pointer
/// and that the caller's struct is at least as large as this library's (later
/// versions will accept smaller, older structs and default the missing fields).
///
/// # Safety
/// `p` is NULL or points to a `T` whose first field is `uint32_t struct_size`.
pub unsafe fn sized_struct<'a, T>(p: *const T, what: &str, init: &str) -> FfiResult<&'a T> {
    if p.is_null() {
        return Err(FfiError::new(IW_E_NULL_POINTER, format!("{what} is NULL")));
    }
    let size = *(p as *const u32) as usize;
    if size < std::mem::size_of::<T>() {
        return Err(FfiError::new(
            IW_E_INVALID_ARGUMENT,
            format!(
                "{what}->struct_size is {size}, expected {} (initialise it with {init}())",
                std::mem::size_of::<T>()
            ),
        ));
    }
    Ok(&*p)
}
