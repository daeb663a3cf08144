//! A game that never holds the API secret: its backend mints session tokens
//! (`GenerateToken`, signed with the key and secret) and the game asks the
//! backend whenever its session needs one. Here the "service" is the local
//! engine and the "backend" is a function in the same process; in a real game
//! the provider makes an HTTP request to your backend, which calls
//! `Client::generate_token` (or signs `GenerateToken` itself).
//!
//! `cargo run --example backend_token`

use inworld::client::{Auth, Client, ClientConfig, TokenProvider, TokenRequest};
use inworld::engine::{EngineConfig, RunningEngine, Workspace};
use inworld::packet::{ConnectionState, ControlAction, PacketBody};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let workspace = Workspace::default_scenes();
    let scene = workspace.scene_names()[0].clone();
    let engine = RunningEngine::start_dedicated(EngineConfig::new(workspace))?;

    // The backend: the only place that knows the secret.
    let backend = Client::new(ClientConfig::new(
        engine.addr().to_string(),
        scene.clone(),
        engine.credentials().clone(),
    ))?;

    // The game: no secret, only a way to ask the backend.
    let mut config = ClientConfig {
        host: engine.addr().to_string(),
        ..ClientConfig::default()
    };
    config.session.scene = scene;
    config.auth = Auth::Provider(TokenProvider::new(move |request: TokenRequest| {
        let backend = backend.clone();
        Box::pin(async move {
            // A real provider sends `request.workspace` (and the session id,
            // to keep the session when a token is renewed) to your backend.
            let mut token = backend
                .generate_token(&request.workspace)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(session_id) = request.session_id {
                token.session_id = session_id;
            }
            Ok(token)
        })
    }));
    let session = Client::new(config)?.open_session()?;
    let ids = session.send_text("Hello! Who are you?")?;
    loop {
        let Some(packet) = session.recv_timeout(Duration::from_secs(30)) else {
            return Err("no answer within 30 s".into());
        };
        match &packet.body {
            PacketBody::Connection(c) if c.state == ConnectionState::Ready => {
                println!(
                    "(session {} ready)",
                    session.session_id().unwrap_or_default()
                );
            }
            PacketBody::Text(t) if packet.ids.interaction_id == ids.interaction_id.as_str() => {
                println!("{}", t.text);
            }
            PacketBody::Control(c)
                if c.action == ControlAction::InteractionEnd
                    && packet.ids.interaction_id == ids.interaction_id.as_str() =>
            {
                break;
            }
            PacketBody::Error(e) => return Err(e.message.to_string().into()),
            _ => {}
        }
    }
    session.close();
    engine.stop();
    Ok(())
}
