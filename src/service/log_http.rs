//! `glassbox log serve`'s HTTP front end (async, axum): `POST /add` takes one DSSE envelope and
//! answers with its receipt once the sequencer ([`super::log`]) has it in a published, cosigned
//! checkpoint; `GET` serves the log's static files from the bucket with cache headers, so the
//! same base URL is the read side. Every request is an attack until checked: bodies are capped
//! at the envelope limit and read within a deadline, a full queue answers 503 with
//! `Retry-After` (never an unbounded queue), and every refusal is a JSON error naming the fault.

use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::log::{Receipt, Refusal, Submission};
use crate::remote::objects::Objects;
use crate::transparency::entry::MAX_ENVELOPE_BYTES;
use crate::transparency::{Loggable, MAX_BUNDLE_BYTES, MAX_TILE_BYTES};

/// The request header of a conditional submission: log the envelope only as entry N.
pub const EXPECT_SIZE: &str = "glassbox-expect-size";
/// How long a submitter waits for its receipt before being told to retry.
const RECEIPT_WAIT: Duration = Duration::from_secs(60);
/// How long a request body may take to arrive.
const BODY_DEADLINE: Duration = Duration::from_secs(30);

/// What the handlers share.
#[derive(Clone)]
pub struct Front {
    pub queue: SyncSender<Submission>,
    pub objects: Objects,
    pub origin: String,
}

/// The routes.
pub fn router(front: Front) -> Router {
    Router::new()
        .route("/add", post(add))
        .route("/checkpoint", get(checkpoint))
        .route("/{*path}", get(static_file))
        .with_state(Arc::new(front))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_ENVELOPE_BYTES + 1))
}

fn error(status: StatusCode, what: &str, reason: impl std::fmt::Display) -> Response {
    let body = serde_json::json!({ "error": { "what": what, "reason": reason.to_string() } });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn overloaded(reason: &str) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, "the log service", reason);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

async fn add(State(front): State<Arc<Front>>, headers: HeaderMap, body: Body) -> Response {
    if let Some(len) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()) {
        if len > MAX_ENVELOPE_BYTES as u64 {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "the envelope", format!("is over {MAX_ENVELOPE_BYTES} bytes"));
        }
    }
    let bytes = match tokio::time::timeout(BODY_DEADLINE, axum::body::to_bytes(body, MAX_ENVELOPE_BYTES)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "the envelope", format!("is over {MAX_ENVELOPE_BYTES} bytes"))
        }
        Err(_) => return error(StatusCode::REQUEST_TIMEOUT, "the request body", "did not arrive in time"),
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text.trim_end_matches(['\n', '\r']),
        Err(_) => return error(StatusCode::BAD_REQUEST, "the envelope", "is not UTF-8"),
    };
    let item = match Loggable::from_submitted(text, "the envelope") {
        Ok(item) => item,
        Err(e) => return error(StatusCode::BAD_REQUEST, "the envelope", e),
    };
    // Exactly one header of plain decimal digits: a proxy that read another of two values, or
    // "+5", would disagree with the service about the condition.
    let values: Vec<&HeaderValue> = headers.get_all(EXPECT_SIZE).iter().collect();
    let expect_size = match values.as_slice() {
        [] => None,
        [value] => match value.to_str().ok().filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())) {
            Some(digits) => match digits.parse::<u64>() {
                Ok(size) => Some(size),
                Err(_) => return error(StatusCode::BAD_REQUEST, EXPECT_SIZE, "is not a decimal entry count"),
            },
            None => return error(StatusCode::BAD_REQUEST, EXPECT_SIZE, "is not a decimal entry count"),
        },
        _ => return error(StatusCode::BAD_REQUEST, EXPECT_SIZE, "is given more than once"),
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    match front.queue.try_send(Submission { item, expect_size, reply }) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => return overloaded("the pool is full: retry"),
        Err(TrySendError::Disconnected(_)) => return overloaded("the sequencer has stopped"),
    }
    match tokio::time::timeout(RECEIPT_WAIT, answer).await {
        Ok(Ok(Ok(receipt))) => receipt_response(&receipt),
        Ok(Ok(Err(Refusal::Moved { size }))) => {
            let body = serde_json::json!({ "error": { "what": EXPECT_SIZE, "reason": format!("the log has {size} entries"), "size": size } });
            (StatusCode::CONFLICT, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
        Ok(Ok(Err(Refusal::Unavailable(why)))) => overloaded(&why),
        Ok(Err(_)) => overloaded("the sequencer has stopped"),
        Err(_) => overloaded("no witnessed checkpoint covers the envelope yet: retry"),
    }
}

fn receipt_response(receipt: &Receipt) -> Response {
    let mut response = (StatusCode::OK, receipt.proof.clone()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    let set = |headers: &mut HeaderMap, name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(headers, "glassbox-envelope", receipt.envelope.prefixed());
    set(headers, "glassbox-index", receipt.index.to_string());
    set(headers, "glassbox-rewritten", receipt.rewritten.to_string());
    response
}

async fn checkpoint(State(front): State<Arc<Front>>) -> Response {
    serve_object(&front, "checkpoint", crate::fs::limits::CHECKPOINT, "no-cache").await
}

/// Tiles, entry bundles, envelope bundles, index tiles and the subject index; nothing else
/// (not the lock object, not staged batches).
async fn static_file(State(front): State<Arc<Front>>, Path(path): Path<String>) -> Response {
    let parts: Vec<&str> = path.split('/').collect();
    let allowed = matches!(parts.first(), Some(&"tile") | Some(&"envelopes") | Some(&"index") | Some(&"subjects"))
        && parts
            .iter()
            .all(|p| !p.is_empty() && !p.starts_with('.') && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'));
    if !allowed {
        return error(StatusCode::NOT_FOUND, &path, "not a file of the log");
    }
    let max = if parts.first() == Some(&"subjects") {
        crate::transparency::subject_index::MAX_SHARD
    } else if parts.first() == Some(&"envelopes") || parts.get(1) == Some(&"entries") {
        MAX_BUNDLE_BYTES
    } else {
        MAX_TILE_BYTES
    };
    // A path never changes once written (a growing tile gets a new path), so everything but
    // the checkpoint may be cached for good; partial ones may be removed by gc, so not forever.
    // The subject index's manifest is replaced as the index grows, like the checkpoint.
    let cache = if path == crate::transparency::subject_index::MANIFEST {
        "no-cache"
    } else if path.contains(".p/") {
        "public, max-age=3600"
    } else {
        "public, max-age=31536000, immutable"
    };
    serve_object(&front, &path, max, cache).await
}

async fn serve_object(front: &Front, rel: &str, max: u64, cache: &'static str) -> Response {
    match front.objects.get(rel, max).await {
        Ok(Some((bytes, _))) => {
            let mut response = (StatusCode::OK, Bytes::from(bytes)).into_response();
            let headers = response.headers_mut();
            let kind = if rel == "checkpoint" { "text/plain; charset=utf-8" } else { "application/octet-stream" };
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            // The log is public: pages on any origin (the transparency site) may read it, and
            // they authenticate every byte themselves.
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            response
        }
        Ok(None) => error(StatusCode::NOT_FOUND, rel, "no such file in the log"),
        Err(e) => error(StatusCode::BAD_GATEWAY, rel, e),
    }
}
