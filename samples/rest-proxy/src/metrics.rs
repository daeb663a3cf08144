//! Requests counted by route, and the access log: one logfmt line per
//! request with the route's pattern (never a header, so never a token or key).
//! Labels come from fixed sets (known methods, route patterns), so clients
//! cannot grow the metrics by inventing methods or paths.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;

#[derive(Default)]
pub struct Metrics {
    /// (method, route pattern, status) → requests.
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    /// Requests refused for a missing or wrong token (no labels: they
    /// come before anything about them is known).
    unauthorized: AtomicU64,
}

/// Set on a response refused for its token, so it is counted without labels.
#[derive(Clone, Copy)]
pub struct Unauthorized;

/// The method's label: the methods HTTP defines, anything else `OTHER`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

impl Metrics {
    /// The Prometheus text format, with the registry's gauges.
    pub fn render(&self, open_sessions: usize, queued_events: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP inworld_proxy_open_sessions Sessions open now.\n");
        out.push_str("# TYPE inworld_proxy_open_sessions gauge\n");
        let _ = writeln!(out, "inworld_proxy_open_sessions {open_sessions}");
        out.push_str("# HELP inworld_proxy_events_queued Events waiting to be drained.\n");
        out.push_str("# TYPE inworld_proxy_events_queued gauge\n");
        let _ = writeln!(out, "inworld_proxy_events_queued {queued_events}");
        out.push_str(
            "# HELP inworld_proxy_requests_total Requests, by method, route and status.\n",
        );
        out.push_str("# TYPE inworld_proxy_requests_total counter\n");
        for ((method, route, status), count) in self.requests.lock().iter() {
            let _ = writeln!(
                out,
                "inworld_proxy_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP inworld_proxy_unauthorized_total Requests refused for their token.\n");
        out.push_str("# TYPE inworld_proxy_unauthorized_total counter\n");
        let _ = writeln!(
            out,
            "inworld_proxy_unauthorized_total {}",
            self.unauthorized.load(Ordering::Relaxed)
        );
        out
    }
}

/// Counts the request and logs it.
pub async fn record(metrics: std::sync::Arc<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unmatched)".to_string(), |m| m.as_str().to_string());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    if response.extensions().get::<Unauthorized>().is_some() {
        metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
    } else {
        *metrics
            .requests
            .lock()
            .entry((method, route.clone(), status))
            .or_insert(0) += 1;
    }
    // logfmt (key=value), for log tools; the route is the pattern, so a
    // session id or a token in a path never reaches the log.
    log::info!(
        target: "access",
        "method={method} route={route} status={status} ms={:.1}",
        started.elapsed().as_secs_f64() * 1e3
    );
    response
}
