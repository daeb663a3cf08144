//! The language-model brain: characters played by a model behind an
//! OpenAI-compatible chat-completions endpoint. [`prompt`] builds the
//! request from a character's card and the dialog, [`model`] streams the
//! answer, [`markup`] turns it into sentences, emotions, actions and
//! triggers, [`speaker`] holds a group reply until the model names who
//! answers, and [`guard`] keeps the prompt's secrets out of what is said.

pub(crate) mod guard;
pub(crate) mod markup;
pub(crate) mod model;
pub(crate) mod prompt;
pub(crate) mod speaker;
mod sse;
