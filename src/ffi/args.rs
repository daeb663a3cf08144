//! Reading what C hands in (strings, arrays, `struct_size` structs) and
//! checking where results go (out-parameters, string buffers): one line per
//! argument in the exports, with messages that name the argument.

use std::ffi::{c_char, CStr};
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::error::*;

/// An input name/value pair (trigger parameters, user profile fields): two
/// NUL-terminated UTF-8 strings, copied by the call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct iw_key_value {
    /// The name (e.g. a trigger parameter's or a profile field's id).
    pub key: *const c_char,
    /// Its value.
    pub value: *const c_char,
}

fn null(what: &str) -> FfiError {
    FfiError::new(IW_E_NULL_POINTER, format!("{what} is NULL"))
}

/// A C flag (`uint32_t` 0 or 1, as no `bool` crosses the boundary).
pub(crate) fn flag_arg(value: u32, what: &str) -> FfiResult<bool> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(FfiError::new(
            IW_E_INVALID_ARGUMENT,
            format!("{what} is {other}; expected 0 or 1"),
        )),
    }
}

/// Borrows a required string argument for the duration of the call.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives the use.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(null(what));
    }
    CStr::from_ptr(p).to_str().map_err(|e| {
        FfiError::new(
            IW_E_INVALID_UTF8,
            format!("{what} is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// Copies a required string argument.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn string_arg(p: *const c_char, what: &str) -> FfiResult<String> {
    str_arg(p, what).map(str::to_owned)
}

/// Copies an optional string argument (NULL gives `None`).
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn optional_string_arg(
    p: *const c_char,
    what: &str,
) -> FfiResult<Option<String>> {
    if p.is_null() {
        return Ok(None);
    }
    string_arg(p, what).map(Some)
}

/// Borrows an array argument of `count` items; `ptr` may be NULL only when
/// `count` is 0. `what` and `count_name` name the two arguments in messages.
///
/// # Safety
/// `ptr` is NULL or points to `count` items that outlive the use.
pub(crate) unsafe fn slice_arg<'a, T>(
    ptr: *const T,
    count: usize,
    what: &str,
    count_name: &str,
) -> FfiResult<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::new(
            IW_E_NULL_POINTER,
            format!("{what} is NULL but {count_name} > 0"),
        ));
    }
    Ok(std::slice::from_raw_parts(ptr, count))
}

/// Borrows an array of `count` required strings; `what[i]` names an element
/// in messages (NULL, not UTF-8).
///
/// # Safety
/// As [`slice_arg`], and each element as [`str_arg`].
pub(crate) unsafe fn str_array_arg<'a>(
    ptr: *const *const c_char,
    count: usize,
    what: &str,
    count_name: &str,
) -> FfiResult<Vec<&'a str>> {
    slice_arg(ptr, count, what, count_name)?
        .iter()
        .enumerate()
        .map(|(i, p)| str_arg(*p, &format!("{what}[{i}]")))
        .collect()
}

/// Borrows an array of `count` name/value pairs (trigger parameters);
/// `what[i].key` names an element in messages.
///
/// # Safety
/// As [`slice_arg`], and each string as [`str_arg`].
pub(crate) unsafe fn key_values_arg<'a>(
    ptr: *const iw_key_value,
    count: usize,
    what: &str,
    count_name: &str,
) -> FfiResult<Vec<(&'a str, &'a str)>> {
    slice_arg(ptr, count, what, count_name)?
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Ok((
                str_arg(p.key, &format!("{what}[{i}].key"))?,
                str_arg(p.value, &format!("{what}[{i}].value"))?,
            ))
        })
        .collect()
}

/// A caller struct that starts with `uint32_t struct_size`: checks the pointer
/// and that the caller's struct is at least as large as this library's
/// ([`versioned_struct_arg`] also takes older, smaller ones).
///
/// # Safety
/// `p` is NULL or points to a `T` whose first field is `uint32_t struct_size`.
pub(crate) unsafe fn sized_struct_arg<'a, T>(
    p: *const T,
    what: &str,
    init: &str,
) -> FfiResult<&'a T> {
    if p.is_null() {
        return Err(null(what));
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

/// A caller struct that starts with `uint32_t struct_size`, of this
/// library's version or an older one: `older_ends` are where older
/// versions' fields end (the offset of the first field added after each,
/// ascending). An older caller's fields are read, the ones it lacks keep
/// `defaults` (what its `*_init` writes); a struct smaller than the oldest
/// is refused. Each version's struct must be larger than the one before.
///
/// # Safety
/// `p` is NULL or points to `struct_size` readable bytes that start with
/// `uint32_t struct_size`, laid out as a prefix of `T`.
pub(crate) unsafe fn versioned_struct_arg<T: Copy>(
    p: *const T,
    what: &str,
    init: &str,
    older_ends: &[usize],
    defaults: T,
) -> FfiResult<T> {
    if p.is_null() {
        return Err(null(what));
    }
    let size = *(p as *const u32) as usize;
    if size >= std::mem::size_of::<T>() {
        return Ok(*p);
    }
    // Only the fields of the newest version the size covers: the rest of
    // the caller's bytes are that version's trailing padding.
    let Some(&known) = older_ends.iter().rev().find(|end| size >= **end) else {
        return Err(FfiError::new(
            IW_E_INVALID_ARGUMENT,
            format!(
                "{what}->struct_size is {size}, expected {} (initialise it with {init}())",
                std::mem::size_of::<T>()
            ),
        ));
    };
    let mut value = defaults;
    std::ptr::copy_nonoverlapping(
        p as *const u8,
        &mut value as *mut T as *mut u8,
        known.min(std::mem::size_of::<T>()),
    );
    Ok(value)
}

/// Where an export writes a result: checked for NULL up front, written once
/// the call has succeeded (out-parameters are written only on success).
pub(crate) struct Out<'a, T> {
    ptr: NonNull<T>,
    _lifetime: PhantomData<&'a mut T>,
}

impl<T> Out<'_, T> {
    pub fn write(self, value: T) {
        // SAFETY: non-NULL, and valid for a write by the contract of `out_arg`.
        unsafe { self.ptr.as_ptr().write(value) }
    }

    /// The first of the caller's array of `T` (for exports that fill several).
    pub fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }
}

/// Checks an out-parameter (`what` names it in the message).
///
/// # Safety
/// `p` is NULL or valid for writing a `T` (initialised or not).
pub(crate) unsafe fn out_arg<'a, T>(p: *mut T, what: &str) -> FfiResult<Out<'a, T>> {
    NonNull::new(p)
        .map(|ptr| Out {
            ptr,
            _lifetime: PhantomData,
        })
        .ok_or_else(|| null(what))
}

/// Copies `text` into a caller buffer as a NUL-terminated string and its length
/// (without the NUL) into `*len`. When `cap` is too small, only `*len` is
/// written (so a call with `cap` 0 learns the size).
///
/// # Safety
/// `buf` must be valid for `cap` bytes (when `cap > 0`); `len` valid for a write.
pub(crate) unsafe fn write_c_string(
    text: &str,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> FfiResult {
    let len = out_arg(len, "len")?;
    if buf.is_null() && cap > 0 {
        return Err(FfiError::new(IW_E_NULL_POINTER, "buf is NULL but cap > 0"));
    }
    len.write(text.len());
    if cap < text.len() + 1 {
        return Err(FfiError::new(
            IW_E_BUFFER_TOO_SMALL,
            format!(
                "buffer of {cap} bytes is too small: {} bytes needed (with the NUL)",
                text.len() + 1
            ),
        ));
    }
    std::ptr::copy_nonoverlapping(text.as_ptr(), buf as *mut u8, text.len());
    *buf.add(text.len()) = 0;
    Ok(())
}
