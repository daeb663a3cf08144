//! `inworld-rest-proxy`: serves on PORT (3000); with no INWORLD_KEY, against
//! the local engine in-process (offline). SIGTERM or Ctrl-C shut it down
//! gracefully.

use inworld_rest_proxy::config::Config;
use inworld_rest_proxy::Proxy;

#[tokio::main]
async fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("inworld-rest-proxy: {e}");
            std::process::exit(2);
        }
    };
    let proxy = match Proxy::start(&config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("inworld-rest-proxy: {e}");
            std::process::exit(1);
        }
    };
    let listener = match tokio::net::TcpListener::bind((config.host_address, config.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("inworld-rest-proxy: port {}: {e}", config.port);
            std::process::exit(1);
        }
    };
    log::info!(
        "Inworld.AI RESTful Server on {}:{} (scene {}, {})",
        config.host_address,
        config.port,
        proxy.default_scene,
        if config.host.is_some() {
            "Inworld"
        } else {
            "the local engine"
        }
    );
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        log::info!("shutting down: closing (or, with other instances, handing over) every session");
    };
    if let Err(e) = proxy.serve(listener, &config, shutdown).await {
        eprintln!("inworld-rest-proxy: {e}");
    }
    proxy.stop();
}
