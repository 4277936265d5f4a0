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
use axum::routing::{get, post, put};
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

/// One endpoint of the API: what the router serves and what the OpenAPI document says
/// ([`openapi`]); the router is built from this table.
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// An example request body (JSON), when it takes one.
    pub body: Option<&'static str>,
    /// An example of the 200 reply (JSON; Prometheus text or an event stream otherwise).
    pub reply: &'static str,
    pub content: &'static str,
}

const JSON: &str = "application/json";

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/v1/agents",
        summary: "Every agent: its state (ready, not_ready with a reason, dnd, logged_out), what it is doing (ready, ringing, busy, in wrap-up, ...), its groups and where its phone is.",
        body: None,
        reply: r#"[{"agent":"jan","name":"Jan Becker","state":"ready","reason":null,"activity":"ready","groups":["care"],"phone":"192.0.2.10:5060"}]"#,
        content: JSON,
    },
    Endpoint {
        method: "get",
        path: "/v1/agents/{id}",
        summary: "One agent (404 with did-you-mean for a name no flow defines).",
        body: None,
        reply: r#"{"agent":"jan","name":"Jan Becker","state":"not_ready","reason":"lunch","activity":"not ready","groups":["care"],"phone":"192.0.2.10:5060"}"#,
        content: JSON,
    },
    Endpoint {
        method: "put",
        path: "/v1/agents/{id}/state",
        summary: "Sets an agent's state: ready, not_ready (with an optional reason of at most 100 bytes), dnd or logged_out. 404 for an unknown agent, 422 for an unknown state, 400 for a body that is not JSON; nothing changes then.",
        body: Some(r#"{"state":"not_ready","reason":"lunch"}"#),
        reply: r#"{"agent":"jan","name":"Jan Becker","state":"not_ready","reason":"lunch","activity":"not ready","groups":["care"],"phone":"192.0.2.10:5060"}"#,
        content: JSON,
    },
    Endpoint {
        method: "post",
        path: "/v1/agents/{id}/wrap_up",
        summary: "More after-call work for an agent in wrap-up: the seconds are added to what is left (1 to 3600). 409 when the agent is not in wrap-up.",
        body: Some(r#"{"seconds":30}"#),
        reply: r#"{"agent":"jan","name":"Jan Becker","state":"ready","reason":null,"activity":"in wrap-up","groups":["care"],"phone":"192.0.2.10:5060"}"#,
        content: JSON,
    },
    Endpoint {
        method: "get",
        path: "/v1/groups",
        summary: "Every group: strategy, members, how many are logged in and available, how many callers wait.",
        body: None,
        reply: r#"[{"group":"care","strategy":"longest_idle","members":["jan","lena"],"logged_in":2,"available":1,"waiting":3}]"#,
        content: JSON,
    },
    Endpoint {
        method: "get",
        path: "/v1/queues",
        summary: "Who waits in each group's queue, in order, since when (ms since the epoch).",
        body: None,
        reply: r#"[{"group":"care","waiting":[{"call_id":"a84b4c76e66710","caller":"+4930123456","since":1796027750011}]}]"#,
        content: JSON,
    },
    Endpoint {
        method: "get",
        path: "/v1/calls",
        summary: "The calls in progress: numbers, flow, times, what each is doing, the flow line it is at, and its agent once connected.",
        body: None,
        reply: r#"[{"call_id":"a84b4c76e66710","caller":"+4930123456","dialled":"+4930255550","flow":"support","started":1796027750011,"answered":1796027751020,"doing":"talking","at":"support.flow:12","agent":"jan"}]"#,
        content: JSON,
    },
    Endpoint {
        method: "put",
        path: "/v1/switches/{name}",
        summary: "Turns an operator switch of the flows on or off (404 with did-you-mean for a switch no flow defines).",
        body: Some(r#"{"on":true}"#),
        reply: r#"{"switch":"emergency","on":true}"#,
        content: JSON,
    },
    Endpoint {
        method: "get",
        path: "/v1/events",
        summary: "A live stream (Server-Sent Events) of call events (started, routed, queued, connected, ended with its outcome) and agent events (state and activity), for wallboards; a listener too slow for it gets a `lagged` event saying how many it missed.",
        body: None,
        reply: "data: {\"event\":\"call\",\"what\":\"connected\",\"call_id\":\"a84b4c76e66710\",\"caller\":\"+4930123456\",\"dialled\":\"+4930255550\",\"flow\":\"support\",\"agent\":\"jan\"}",
        content: "text/event-stream",
    },
    Endpoint {
        method: "get",
        path: "/metrics",
        summary: "Prometheus text: calls, agent legs, SIP transactions and messages, per group offered/answered/abandoned, waiting now, wait and handle time histograms, agents by state, the store's saves.",
        body: None,
        reply: "callflow_group_answered_total{group=\"care\"} 42",
        content: "text/plain; version=0.0.4",
    },
];

/// The API as an OpenAPI 3.1 document, from [`ENDPOINTS`] (`callflow openapi` prints it;
/// `docs/openapi.json` is its output, checked by a test).
pub fn openapi() -> Value {
    let mut paths = serde_json::Map::new();
    for e in ENDPOINTS {
        let params: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let example = |text: &str, content: &str| -> Value {
            if content == JSON {
                serde_json::from_str(text).unwrap_or(Value::Null)
            } else {
                Value::String(text.into())
            }
        };
        let mut op = json!({
            "summary": e.summary,
            "security": [{"bearer": []}],
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {e.content: {"example": example(e.reply, e.content)}}},
                "401": {"$ref": "#/components/responses/Error"},
            },
        });
        if let Some(body) = e.body {
            op["requestBody"] =
                json!({"required": true, "content": {JSON: {"example": example(body, JSON)}}});
            op["responses"]["400"] = json!({"$ref": "#/components/responses/Error"});
            op["responses"]["422"] = json!({"$ref": "#/components/responses/Error"});
        }
        if e.path.contains('{') {
            op["responses"]["404"] = json!({"$ref": "#/components/responses/Error"});
        }
        let entry = paths.entry(e.path).or_insert_with(|| json!({}));
        entry[e.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "callflow admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Agents, groups, queues, calls, switches, metrics and live events of a running `callflow serve`. Every request carries `Authorization: Bearer <token>` (the token is in DATA/admin.token, made on the first start). Errors are JSON: {\"error\": \"...\"}.",
        },
        "servers": [{"url": "http://127.0.0.1:8080"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "What is wrong, in words", "content": {JSON: {"example": {"error": "no agent `jna`; did you mean `jan`?"}}}}},
        },
    })
}

fn router(app: App) -> Router {
    let mut r = Router::new();
    for e in ENDPOINTS {
        let route = match (e.method, e.path) {
            ("get", "/metrics") => get(metrics),
            ("get", "/v1/events") => get(stream),
            ("get", "/v1/agents") => get(agents),
            ("get", "/v1/agents/{id}") => get(agent),
            ("put", "/v1/agents/{id}/state") => put(set_agent),
            ("post", "/v1/agents/{id}/wrap_up") => post(extend_wrap_up),
            ("get", "/v1/groups") => get(groups),
            ("get", "/v1/queues") => get(queues),
            ("get", "/v1/calls") => get(calls),
            ("put", "/v1/switches/{name}") => put(set_switch),
            (m, p) => unreachable!("no handler for {m} {p}: ENDPOINTS and the router disagree"),
        };
        r = r.route(e.path, route);
    }
    r.fallback(|| async { fail(StatusCode::NOT_FOUND, "no such resource".into()) })
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
    crate::sip::digest::same_secret(given.as_bytes(), app.token.as_bytes())
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

/// A request with a JSON body: the token first, then the body (400 when it is not JSON).
async fn ask_with_body(
    app: &App,
    headers: &HeaderMap,
    body: &Bytes,
    request: impl FnOnce(Value) -> AdminRequest,
) -> Response {
    if !authorised(app, headers) {
        return unauthorised();
    }
    match json_body(body) {
        Ok(body) => ask(app, headers, request(body)).await,
        Err(r) => *r,
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
    ask_with_body(&app, &headers, &body, |body| AdminRequest::SetAgent {
        agent: id,
        body,
    })
    .await
}

async fn extend_wrap_up(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    ask_with_body(&app, &headers, &body, |body| AdminRequest::ExtendWrapUp {
        agent: id,
        body,
    })
    .await
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
    ask_with_body(&app, &headers, &body, |body| AdminRequest::SetSwitch {
        name,
        body,
    })
    .await
}
