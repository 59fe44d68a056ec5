//! The daemon's status server: `/healthz`, `/metrics` (Prometheus text) and `/runs` (JSON). On
//! 127.0.0.1 by default; bound anywhere else it requires `Authorization: Bearer <token>`.
//!
//! Without a token, a request must name this machine in its `Host` header (a web page on another
//! site that rebinds its DNS name to 127.0.0.1 sends its own name, and is refused), and `/reload`
//! needs the `X-Tended-Reload` header, which a page cannot send to another origin without a CORS
//! preflight this server never grants. Connections are capped and time-limited (`status_listener`).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::inventory::SecretString;
use crate::store::{HistoryFilter, Store};

/// A reload request, answered with the outcome once the daemon loop has tried it.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), String>>;

/// The status token, replaced when a reload (SIGHUP) reads a rotated token file.
pub type SharedToken = std::sync::Arc<std::sync::RwLock<Option<SecretString>>>;

#[derive(Clone)]
struct Ctx {
    store: Store,
    token: SharedToken,
    reload: tokio::sync::mpsc::Sender<ReloadRequest>,
    /// The names this server answers to without a token: loopback names and its own address.
    hosts: std::sync::Arc<Vec<String>>,
}

/// The token in force now (a poisoned lock still holds the last value written).
fn current_token(ctx: &Ctx) -> Option<SecretString> {
    ctx.token
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// Whether the `Host` header names this machine (with or without a port).
fn known_host(ctx: &Ctx, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !n.ends_with(':') => n,
        _ => host,
    };
    ctx.hosts.iter().any(|h| h.eq_ignore_ascii_case(name))
}

fn authorized(ctx: &Ctx, headers: &HeaderMap) -> bool {
    let Some(token) = current_token(ctx) else {
        return known_host(ctx, headers);
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compare without an early exit on the first differing byte.
    given.is_some_and(|g| {
        g.len() == token.expose().len()
            && g.bytes()
                .zip(token.expose().bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

fn unauthorized() -> Response {
    // Without a token this also answers a request whose Host is not this machine.
    (StatusCode::UNAUTHORIZED, "send Authorization: Bearer <token> (the status token_env/token_file of the daemon config)\n").into_response()
}

async fn healthz(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if !authorized(&ctx, &headers) {
        return unauthorized();
    }
    match ctx
        .store
        .history(&HistoryFilter {
            last: 1,
            ..Default::default()
        })
        .await
    {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}\n")).into_response(),
    }
}

async fn metrics(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if !authorized(&ctx, &headers) {
        return unauthorized();
    }
    match ctx.store.status_counts().await {
        Ok(c) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            crate::store::status::prometheus(&c),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}\n")).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct RunsQuery {
    last: Option<i64>,
    client: Option<String>,
    host: Option<String>,
}

async fn runs(State(ctx): State<Ctx>, headers: HeaderMap, Query(q): Query<RunsQuery>) -> Response {
    if !authorized(&ctx, &headers) {
        return unauthorized();
    }
    match ctx
        .store
        .history(&HistoryFilter {
            client: q.client,
            host: q.host,
            last: q.last.unwrap_or(50).clamp(1, 1000),
        })
        .await
    {
        Ok(r) => axum::Json(r).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}\n")).into_response(),
    }
}

/// `POST /reload`: what `tended reload` calls; answers whether the new config was taken.
async fn reload(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if !authorized(&ctx, &headers) {
        return unauthorized();
    }
    if current_token(&ctx).is_none() && !headers.contains_key(RELOAD_HEADER) {
        return (
            StatusCode::FORBIDDEN,
            "send the X-Tended-Reload header (as `tended reload` does)\n",
        )
            .into_response();
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    if ctx.reload.send(tx).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping\n").into_response();
    }
    match rx.await {
        Ok(Ok(())) => (StatusCode::OK, "config reloaded\n").into_response(),
        Ok(Err(e)) => (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping\n").into_response(),
    }
}

/// The header `/reload` needs when no token is set.
pub const RELOAD_HEADER: &str = "x-tended-reload";

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    token: SharedToken,
    reload_tx: tokio::sync::mpsc::Sender<ReloadRequest>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]", "::1"]
        .map(String::from)
        .to_vec();
    if let Ok(addr) = listener.local_addr()
        && !addr.ip().is_unspecified()
    {
        hosts.push(match addr.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        });
    }
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/runs", get(runs))
        .route("/reload", axum::routing::post(reload))
        // No endpoint takes a body.
        .layer(axum::extract::DefaultBodyLimit::max(1024))
        .with_state(Ctx {
            store,
            token,
            reload: reload_tx,
            hosts: std::sync::Arc::new(hosts),
        });
    axum::serve(super::status_listener::BoundedListener::new(listener), app)
        .with_graceful_shutdown(shutdown)
        .await
}
