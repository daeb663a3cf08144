//! Generation-checked handle tables. A handle given to C is a number that
//! encodes (type tag, slot index, generation); it is never dereferenced, so a
//! stale, foreign or made-up value is detected instead of being undefined
//! behaviour. Lookups take a shared read lock and clone an `Arc`: the object
//! lives on while a call uses it, even if another thread frees the handle.

use parking_lot::RwLock;
use std::sync::Arc;

use super::error::{FfiError, FfiResult, IW_E_INVALID_HANDLE, IW_E_NULL_POINTER};

// Bits of a handle: | generation | tag | index + 1 |.
#[cfg(target_pointer_width = "64")]
const INDEX_BITS: u32 = 24;
#[cfg(target_pointer_width = "64")]
const TAG_BITS: u32 = 8;
#[cfg(target_pointer_width = "64")]
const GEN_BITS: u32 = 32;
#[cfg(not(target_pointer_width = "64"))]
const INDEX_BITS: u32 = 16;
#[cfg(not(target_pointer_width = "64"))]
const TAG_BITS: u32 = 4;
#[cfg(not(target_pointer_width = "64"))]
const GEN_BITS: u32 = 12;

const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const TAG_MASK: usize = (1 << TAG_BITS) - 1;
const GEN_MASK: u64 = (1u64 << GEN_BITS) - 1;

struct Slot<T> {
    generation: u64,
    value: Option<Arc<T>>,
}

struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
}

/// A table of live objects of one type.
pub struct HandleTable<T> {
    tag: usize,
    what: &'static str,
    inner: RwLock<Slots<T>>,
}

impl<T> HandleTable<T> {
    /// `tag` (1..) distinguishes handle types; `what` names them in messages.
    pub const fn new(tag: usize, what: &'static str) -> Self {
        HandleTable {
            tag,
            what,
            inner: RwLock::new(Slots {
                slots: Vec::new(),
                free: Vec::new(),
            }),
        }
    }

    fn encode(&self, index: usize, generation: u64) -> usize {
        // index + 1 so that no handle is 0 (NULL).
        ((generation as usize) << (INDEX_BITS + TAG_BITS)) | (self.tag << INDEX_BITS) | (index + 1)
    }

    fn decode(&self, handle: usize) -> Option<(usize, u64)> {
        let index = (handle & INDEX_MASK).checked_sub(1)?;
        let tag = (handle >> INDEX_BITS) & TAG_MASK;
        let generation = ((handle as u64) >> (INDEX_BITS + TAG_BITS)) & GEN_MASK;
        (tag == self.tag).then_some((index, generation))
    }

    fn invalid(&self) -> FfiError {
        FfiError::new(
            IW_E_INVALID_HANDLE,
            format!(
                "invalid {} handle (already freed, or not an {})",
                self.what, self.what
            ),
        )
    }

    /// Stores `value` and returns its handle (never 0).
    pub fn insert(&self, value: Arc<T>) -> FfiResult<usize> {
        let mut inner = self.inner.write();
        let index = match inner.free.pop() {
            Some(i) => i,
            None => {
                if inner.slots.len() >= INDEX_MASK {
                    return Err(FfiError::new(
                        super::error::IW_E_INVALID_ARGUMENT,
                        format!("too many live {} handles", self.what),
                    ));
                }
                inner.slots.push(Slot {
                    generation: 1,
                    value: None,
                });
                inner.slots.len() - 1
            }
        };
        let slot = &mut inner.slots[index];
        slot.value = Some(value);
        let generation = slot.generation;
        Ok(self.encode(index, generation))
    }

    /// The object behind `handle`.
    pub fn get(&self, handle: usize) -> FfiResult<Arc<T>> {
        if handle == 0 {
            return Err(FfiError::new(
                IW_E_NULL_POINTER,
                format!("{} is NULL", self.what),
            ));
        }
        let (index, generation) = self.decode(handle).ok_or_else(|| self.invalid())?;
        let inner = self.inner.read();
        match inner.slots.get(index) {
            Some(Slot {
                generation: g,
                value: Some(v),
            }) if *g == generation => Ok(v.clone()),
            _ => Err(self.invalid()),
        }
    }

    /// Removes the object behind `handle`; the handle is stale from now on.
    pub fn remove(&self, handle: usize) -> FfiResult<Arc<T>> {
        let (index, generation) = self.decode(handle).ok_or_else(|| self.invalid())?;
        let mut inner = self.inner.write();
        let value = match inner.slots.get_mut(index) {
            Some(slot) if slot.generation == generation && slot.value.is_some() => {
                slot.generation = (slot.generation + 1) & GEN_MASK;
                if slot.generation == 0 {
                    slot.generation = 1;
                }
                slot.value.take()
            }
            _ => None,
        };
        match value {
            Some(v) => {
                inner.free.push(index);
                Ok(v)
            }
            None => Err(self.invalid()),
        }
    }

    /// Removes every object (for `iw_shutdown`).
    pub fn drain(&self) -> Vec<Arc<T>> {
        let mut inner = self.inner.write();
        let mut out = Vec::new();
        for index in 0..inner.slots.len() {
            let slot = &mut inner.slots[index];
            if let Some(v) = slot.value.take() {
                slot.generation = (slot.generation + 1) & GEN_MASK;
                if slot.generation == 0 {
                    slot.generation = 1;
                }
                out.push(v);
                inner.free.push(index);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_foreign_and_null_handles_are_rejected() {
        let a: HandleTable<u32> = HandleTable::new(1, "a");
        let b: HandleTable<u32> = HandleTable::new(2, "b");
        let h = a.insert(Arc::new(7)).unwrap();
        assert_ne!(h, 0);
        assert_eq!(*a.get(h).unwrap(), 7);
        assert_eq!(b.get(h).unwrap_err().code, IW_E_INVALID_HANDLE);
        assert_eq!(a.get(0).unwrap_err().code, IW_E_NULL_POINTER);
        assert_eq!(a.get(h ^ 0x40).unwrap_err().code, IW_E_INVALID_HANDLE);
        assert_eq!(*a.remove(h).unwrap(), 7);
        assert_eq!(a.remove(h).unwrap_err().code, IW_E_INVALID_HANDLE);
        assert_eq!(a.get(h).unwrap_err().code, IW_E_INVALID_HANDLE);
        // The slot is reused with a new generation: the old handle stays stale.
        let h2 = a.insert(Arc::new(8)).unwrap();
        assert_ne!(h, h2);
        assert_eq!(a.get(h).unwrap_err().code, IW_E_INVALID_HANDLE);
        assert_eq!(a.drain().len(), 1);
        assert_eq!(a.get(h2).unwrap_err().code, IW_E_INVALID_HANDLE);
    }
}
