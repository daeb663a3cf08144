//! Every test of `tests/routes.rs`, unchanged, against a proxy that keeps
//! its event queues in Redis (a redis-server of our own, a database per
//! test so that their drains do not meet).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

#[path = "routes.rs"]
mod routes;

use routes::support::redis_server;

fn server() -> &'static redis_server::RedisServer {
    static SERVER: OnceLock<redis_server::RedisServer> = OnceLock::new();
    SERVER.get_or_init(redis_server::RedisServer::for_the_process)
}

/// What `routes::start` adds to each proxy's environment.
fn extra_env() -> Vec<(String, String)> {
    static NEXT_DB: AtomicU32 = AtomicU32::new(0);
    let db = NEXT_DB.fetch_add(1, Ordering::Relaxed);
    assert!(db < 16, "more proxies than databases");
    vec![("REDIS_URL".into(), server().url(db))]
}
