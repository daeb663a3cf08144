//! A character's reply: who answers and what ([`plan`], pure), and how the
//! answer is streamed to the client ([`speak`]).

pub(super) mod plan;
pub(super) mod speak;
