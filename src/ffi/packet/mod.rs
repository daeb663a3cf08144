//! Packets as C sees them: the `#[repr(C)]` structs and `IW_*` numbers
//! (`types`), and how a session lends its packets through them (`lend`).

mod lend;
mod types;

pub(crate) use lend::*;
pub use types::*;
