//! A character's reply: who answers and what ([`plan`], pure), how the
//! answer is streamed to the client ([`speak`]), and a language model's
//! answer ([`ask`]).

pub(super) mod ask;
pub(super) mod plan;
pub(super) mod speak;
