//! Generation-checked handle tables. A handle given to C is a number that
//! encodes (type tag, slot index, generation); it is never dereferenced, so a
//! stale, foreign or made-up value is detected instead of being undefined
//! behaviour. Lookups take a shared read lock and clone an `Arc`: the object
//! lives on while a call uses it, even if another thread frees the handle.

use std::marker::PhantomData;
use std::sync::{Arc, Once};

use parking_lot::RwLock;

use super::error::*;
use super::library::{check_alive, release_at_shutdown, Held, Release};

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

/// A handle of C type `H` as a plain number, for keeping where a raw pointer
/// cannot go (e.g. a registration called on library threads). The one place
/// handles turn into pointers and back.
pub(crate) struct Handle<H> {
    bits: usize,
    _type: PhantomData<fn() -> H>,
}

impl<H> Clone for Handle<H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H> Copy for Handle<H> {}

impl<H> Handle<H> {
    pub fn of(ptr: *const H) -> Self {
        Handle {
            bits: ptr.addr(),
            _type: PhantomData,
        }
    }

    /// The pointer C holds (never dereferenced, so it carries no provenance).
    pub fn ptr(self) -> *mut H {
        std::ptr::without_provenance_mut(self.bits)
    }
}

struct Slot<T> {
    generation: u64,
    value: Option<Arc<T>>,
}

impl<T> Slot<T> {
    /// Empties the slot; its handle is stale from now on.
    fn take(&mut self) -> Option<Arc<T>> {
        let value = self.value.take()?;
        self.generation = (self.generation + 1) & GEN_MASK;
        if self.generation == 0 {
            self.generation = 1;
        }
        Some(value)
    }
}

struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
}

/// The live objects behind the handles of C type `H` (an opaque `iw_*` struct).
pub(crate) struct HandleTable<T, H> {
    held: Held,
    what: &'static str,
    release: fn(&T),
    inner: RwLock<Slots<T>>,
    /// Registered with `iw_shutdown` (at the first insert).
    registered: Once,
    _handle: PhantomData<fn() -> H>,
}

impl<T: Send + Sync + 'static, H: 'static> HandleTable<T, H> {
    /// `held` says what the table holds: it sets the handles' type tag (so a
    /// handle of another table is refused) and when `iw_shutdown` releases the
    /// table. `what` (the C type's name) names the handles in messages.
    /// `release` is what freeing an object does besides dropping it (also at
    /// `iw_shutdown`).
    pub const fn new(held: Held, what: &'static str, release: fn(&T)) -> Self {
        HandleTable {
            held,
            what,
            release,
            inner: RwLock::new(Slots {
                slots: Vec::new(),
                free: Vec::new(),
            }),
            registered: Once::new(),
            _handle: PhantomData,
        }
    }

    fn tag(&self) -> usize {
        self.held as usize + 1
    }

    fn encode(&self, index: usize, generation: u64) -> Handle<H> {
        // index + 1 so that no handle is 0 (NULL).
        let bits = ((generation as usize) << (INDEX_BITS + TAG_BITS))
            | (self.tag() << INDEX_BITS)
            | (index + 1);
        Handle {
            bits,
            _type: PhantomData,
        }
    }

    /// The slot index and generation of a handle of this table (`None` for
    /// one of another table, or a made-up value).
    fn decode(&self, handle: Handle<H>) -> Option<(usize, u64)> {
        let bits = handle.bits;
        let index = (bits & INDEX_MASK).checked_sub(1)?;
        let tag = (bits >> INDEX_BITS) & TAG_MASK;
        let generation = ((bits as u64) >> (INDEX_BITS + TAG_BITS)) & GEN_MASK;
        (tag == self.tag()).then_some((index, generation))
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

    /// Stores `value` and returns its handle (never NULL).
    pub fn insert(&'static self, value: T) -> FfiResult<*mut H> {
        self.registered
            .call_once(|| release_at_shutdown(self.held, self));
        let mut inner = self.inner.write();
        let index = match inner.free.pop() {
            Some(i) => i,
            None => {
                if inner.slots.len() >= INDEX_MASK {
                    return Err(FfiError::new(
                        IW_E_INVALID_ARGUMENT,
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
        slot.value = Some(Arc::new(value));
        Ok(self.encode(index, slot.generation).ptr())
    }

    /// The object behind `handle`: `IW_E_SHUTDOWN` after `iw_shutdown`,
    /// `IW_E_NULL_POINTER` for NULL, `IW_E_INVALID_HANDLE` for a stale, foreign
    /// or made-up handle.
    pub fn get(&self, handle: *const H) -> FfiResult<Arc<T>> {
        check_alive()?;
        if handle.is_null() {
            return Err(FfiError::new(
                IW_E_NULL_POINTER,
                format!("{} is NULL", self.what),
            ));
        }
        let (index, generation) = self
            .decode(Handle::of(handle))
            .ok_or_else(|| self.invalid())?;
        let inner = self.inner.read();
        match inner.slots.get(index) {
            Some(Slot {
                generation: g,
                value: Some(v),
            }) if *g == generation => Ok(v.clone()),
            _ => Err(self.invalid()),
        }
    }

    /// Frees the object behind `handle` (the handle is stale from now on) and
    /// releases it. NULL is a no-op; a stale or foreign handle (double free)
    /// gives `IW_E_INVALID_HANDLE`; after `iw_shutdown`, `IW_E_SHUTDOWN`.
    pub fn free(&self, handle: *mut H) -> FfiResult {
        if handle.is_null() {
            return Ok(());
        }
        check_alive()?;
        let (index, generation) = self
            .decode(Handle::of(handle))
            .ok_or_else(|| self.invalid())?;
        let value = {
            let mut inner = self.inner.write();
            let value = match inner.slots.get_mut(index) {
                Some(slot) if slot.generation == generation => slot.take(),
                _ => None,
            };
            if value.is_some() {
                inner.free.push(index);
            }
            value
        };
        // Released outside the lock: releasing may call back into C.
        let value = value.ok_or_else(|| self.invalid())?;
        (self.release)(&value);
        Ok(())
    }
}

impl<T: Send + Sync + 'static, H: 'static> Release for HandleTable<T, H> {
    /// Frees and releases every object (for `iw_shutdown`).
    fn release_all(&self) {
        let values: Vec<Arc<T>> = {
            let mut inner = self.inner.write();
            let Slots { slots, free } = &mut *inner;
            slots
                .iter_mut()
                .enumerate()
                .filter_map(|(index, slot)| {
                    let value = slot.take()?;
                    free.push(index);
                    Some(value)
                })
                .collect()
        };
        for value in values {
            (self.release)(&value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct A;
    struct B;
    static RELEASED: AtomicUsize = AtomicUsize::new(0);
    fn count(_: &u32) {
        RELEASED.fetch_add(1, Ordering::SeqCst);
    }
    static TABLE_A: HandleTable<u32, A> = HandleTable::new(Held::Sessions, "a", count);
    static TABLE_B: HandleTable<u32, B> = HandleTable::new(Held::Clients, "b", count);

    #[test]
    fn stale_foreign_and_null_handles_are_rejected() {
        let h = TABLE_A.insert(7).unwrap();
        assert!(!h.is_null());
        assert_eq!(*TABLE_A.get(h).unwrap(), 7);
        let foreign = Handle::<B>::of(h.cast()).ptr();
        assert_eq!(TABLE_B.get(foreign).unwrap_err().code, IW_E_INVALID_HANDLE);
        assert_eq!(
            TABLE_A.get(std::ptr::null()).unwrap_err().code,
            IW_E_NULL_POINTER
        );
        let flipped = std::ptr::without_provenance_mut::<A>(h.addr() ^ 0x40);
        assert_eq!(TABLE_A.get(flipped).unwrap_err().code, IW_E_INVALID_HANDLE);

        let before = RELEASED.load(Ordering::SeqCst);
        TABLE_A.free(h).unwrap();
        assert_eq!(RELEASED.load(Ordering::SeqCst), before + 1);
        // Double free, use after free: detected, nothing released twice.
        assert_eq!(TABLE_A.free(h).unwrap_err().code, IW_E_INVALID_HANDLE);
        assert_eq!(TABLE_A.get(h).unwrap_err().code, IW_E_INVALID_HANDLE);
        assert_eq!(RELEASED.load(Ordering::SeqCst), before + 1);
        TABLE_A.free(std::ptr::null_mut()).unwrap();

        // The slot is reused with a new generation: the old handle stays stale.
        let h2 = TABLE_A.insert(8).unwrap();
        assert_ne!(h, h2);
        assert_eq!(TABLE_A.get(h).unwrap_err().code, IW_E_INVALID_HANDLE);
        TABLE_A.release_all();
        assert_eq!(RELEASED.load(Ordering::SeqCst), before + 2);
        assert_eq!(TABLE_A.get(h2).unwrap_err().code, IW_E_INVALID_HANDLE);
    }
}
