//! The admin HTTP API's driver (axum, HTTP/1, on the transport's thread): it checks the bearer
//! token, matches the path, reads the body as JSON, and hands the request to the core through
//! the transport loop (`Uas::admin`), whose reply it writes back. Every error is JSON
//! (`{"error": "..."}`) with a 4xx status; nothing reaches the core before it is understood.
//! The token lives in `DATA/admin.token` (made on first start, readable by the owner only).

use super::uas::{AdminReply, AdminRequest};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// A request for the core and where its reply goes.
pub type Ask = (AdminRequest, oneshot::Sender<AdminReply>);

/// Events for the stream (`GET /v1/events`), JSON objects as text.
pub type Events = tokio::sync::broadcast::Sender<Arc<str>>;

#[derive(Clone)]
struct App {
    token: Arc<str>,
    ask: mpsc::UnboundedSender<Ask>,
    /// States handed to the store, and how many of them are written.
    saves: [Arc<AtomicU64>; 2],
    events: Events,
}

/// The file the token is kept in, under the data directory.
pub const TOKEN_FILE: &str = "admin.token";

/// The admin token: read from `DATA/admin.token`, or made (32 hex digits from the system's
/// random source) and written there readable by the owner only. `true` when it was made now.
pub fn token(data: &std::path::Path) -> std::io::Result<(String, bool)> {
    let path = data.join(TOKEN_FILE);
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        if !t.is_empty() {
            return Ok((t, false));
        }
    }
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    let t: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    std::io::Write::write_all(&mut f, format!("{t}\n").as_bytes())?;
    Ok((t, true))
}

/// Serves the API on `listener` until the loop that answers it ends.
pub async fn serve(
    listener: std::net::TcpListener,
    token: String,
    ask: mpsc::UnboundedSender<Ask>,
    saves: [Arc<AtomicU64>; 2],
    events: Events,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = App {
        token: token.into(),
        ask,
        saves,
        events,
    };
    axum::serve(listener, router(app)).await
}

fn router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/events", get(stream))
        .route("/v1/agents", get(agents))
        .route("/v1/agents/{id}", get(agent))
        .route("/v1/agents/{id}/state", put(set_agent))
        .route("/v1/groups", get(groups))
        .route("/v1/queues", get(queues))
        .route("/v1/calls", get(calls))
        .route("/v1/switches/{name}", put(set_switch))
        .fallback(|| async { fail(StatusCode::NOT_FOUND, "no such resource".into()) })
        .method_not_allowed_fallback(|| async {
            fail(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed here".into(),
            )
        })
        .with_state(app)
}

fn fail(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Whether the request carries the bearer token (compared in constant time).
fn authorised(app: &App, headers: &HeaderMap) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let want = app.token.as_bytes();
    given.len() == want.len()
        && given
            .bytes()
            .zip(want)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn unauthorised() -> Response {
    fail(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token (Authorization: Bearer <DATA/admin.token>)".into(),
    )
}

/// Hands a request to the core and writes its reply.
async fn ask(app: &App, headers: &HeaderMap, request: AdminRequest) -> Response {
    if !authorised(app, headers) {
        return unauthorised();
    }
    let (tx, rx) = oneshot::channel();
    if app.ask.send((request, tx)).is_err() {
        return fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping".into(),
        );
    }
    match rx.await {
        Ok(reply) => {
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
            (status, axum::Json(reply.body)).into_response()
        }
        Err(_) => fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping".into(),
        ),
    }
}

/// The body as JSON, or the 400 that says why not.
fn json_body(body: &Bytes) -> Result<Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(fail(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        ))
    })
}

/// Prometheus text: the core's counters and gauges, and the store's saves.
async fn metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    let r = ask(&app, &headers, AdminRequest::Metrics).await;
    if r.status() != StatusCode::OK {
        return r;
    }
    let body = axum::body::to_bytes(r.into_body(), 1 << 24)
        .await
        .unwrap_or_default();
    let mut text = serde_json::from_slice::<String>(&body).unwrap_or_default();
    let [offered, written] = &app.saves;
    let (offered, written) = (
        offered.load(Ordering::Acquire),
        written.load(Ordering::Acquire),
    );
    text.push_str(&format!(
        "# HELP callflow_state_saves_total States of the agents handed to the store.\n# TYPE callflow_state_saves_total counter\ncallflow_state_saves_total {offered}\n\
         # HELP callflow_state_pending States handed to the store and not yet on disk.\n# TYPE callflow_state_pending gauge\ncallflow_state_pending {}\n",
        offered.saturating_sub(written)
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The live event stream (Server-Sent Events): `call` and `agent` events as they happen, a
/// keep-alive comment every 15 s; a listener too slow for the stream is told how many events
/// it missed.
async fn stream(State(app): State<App>, headers: HeaderMap) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    if !authorised(&app, &headers) {
        return unauthorised();
    }
    let rx = app.events.subscribe();
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(e) => Event::default().data(&*e),
            Err(RecvError::Lagged(n)) => Event::default()
                .event("lagged")
                .data(format!("{{\"missed\": {n}}}")),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok::<_, std::convert::Infallible>(event), rx))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15)))
        .into_response()
}

async fn agents(State(app): State<App>, headers: HeaderMap) -> Response {
    ask(&app, &headers, AdminRequest::Agents).await
}

async fn agent(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    ask(&app, &headers, AdminRequest::Agent(id)).await
}

async fn set_agent(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if !authorised(&app, &headers) {
        return unauthorised();
    }
    match json_body(&body) {
        Ok(body) => ask(&app, &headers, AdminRequest::SetAgent { agent: id, body }).await,
        Err(r) => *r,
    }
}

async fn groups(State(app): State<App>, headers: HeaderMap) -> Response {
    ask(&app, &headers, AdminRequest::Groups).await
}

async fn queues(State(app): State<App>, headers: HeaderMap) -> Response {
    ask(&app, &headers, AdminRequest::Queues).await
}

async fn calls(State(app): State<App>, headers: HeaderMap) -> Response {
    ask(&app, &headers, AdminRequest::Calls).await
}

async fn set_switch(
    State(app): State<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if !authorised(&app, &headers) {
        return unauthorised();
    }
    match json_body(&body) {
        Ok(body) => ask(&app, &headers, AdminRequest::SetSwitch { name, body }).await,
        Err(r) => *r,
    }
}
