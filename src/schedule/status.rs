//! The daemon's status server: `/healthz`, `/metrics` (Prometheus text) and `/runs` (JSON). On
//! 127.0.0.1 by default; bound anywhere else it requires `Authorization: Bearer <token>`.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::inventory::SecretString;
use crate::store::{HistoryFilter, Store};

/// A reload request, answered with the outcome once the daemon loop has tried it.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), String>>;

#[derive(Clone)]
struct Ctx {
    store: Store,
    token: Option<SecretString>,
    reload: tokio::sync::mpsc::Sender<ReloadRequest>,
}

fn authorized(ctx: &Ctx, headers: &HeaderMap) -> bool {
    let Some(token) = &ctx.token else { return true };
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

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    token: Option<SecretString>,
    reload_tx: tokio::sync::mpsc::Sender<ReloadRequest>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/runs", get(runs))
        .route("/reload", axum::routing::post(reload))
        .with_state(Ctx {
            store,
            token,
            reload: reload_tx,
        });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
