//! The wire level, shared by the client and the local engine: the types
//! generated from `proto/` by `build.rs` ([`ai`], [`google`]), Inworld's error
//! details ([`status`]), resource names ([`names`]) and the packet pieces both
//! sides build ([`packets`]). Nothing here knows the game-facing packet model.

pub mod names;
pub mod packets;
pub mod status;

#[allow(clippy::all, missing_docs, rustdoc::all)]
mod generated {

    pub mod ai {
        pub mod inworld {
            pub mod packets {
                tonic::include_proto!("ai.inworld.packets");
                pub mod entities {
                    tonic::include_proto!("ai.inworld.packets.entities");
                }
            }
            pub mod engine {
                tonic::include_proto!("ai.inworld.engine");
                pub mod configuration {
                    tonic::include_proto!("ai.inworld.engine.configuration");
                }
                pub mod v1 {
                    tonic::include_proto!("ai.inworld.engine.v1");
                }
            }
            pub mod common {
                tonic::include_proto!("ai.inworld.common");
            }
            pub mod language_codes {
                tonic::include_proto!("ai.inworld.language_codes");
            }
            pub mod voices {
                tonic::include_proto!("ai.inworld.voices");
            }
        }
    }
    pub mod google {
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
    }
}
pub use generated::{ai, google};
