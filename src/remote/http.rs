//! Bounded HTTP requests: submissions to a log service and checkpoints to witnesses. Responses
//! are read up to a limit and within a deadline, redirects are not followed (a redirect could
//! send a submission somewhere else), and plain `http://` is refused unless it is on loopback.

use std::time::Duration;

use futures_util::StreamExt;

use super::{block_on, check_url, install_crypto};
use crate::error::{Error, Result};

/// A response, read whole (up to the caller's limit).
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// The `Retry-After` header in seconds, when the server sent one.
    pub retry_after: Option<u64>,
    /// The `Content-Type` header, when the server sent a readable one.
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text for an error message: at most 300 characters, controls replaced.
    pub fn body_summary(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(300).collect();
        clean.trim().to_string()
    }
}

/// One client for the process, so that connections (and TLS sessions) are reused; each request
/// sets its own deadline.
fn client() -> Result<&'static reqwest::Client> {
    static CLIENT: std::sync::OnceLock<std::result::Result<reqwest::Client, String>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            install_crypto();
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::invalid("the HTTP client", e.clone()))
}

/// POSTs `body` to `url` and reads at most `max` bytes of the answer.
pub async fn post(url: &str, content_type: &str, body: Vec<u8>, max: u64, timeout: Duration) -> Result<Response> {
    post_with_headers(url, content_type, &[], body, max, timeout).await
}

/// [`post`] with extra request headers.
pub async fn post_with_headers(
    url: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    max: u64,
    timeout: Duration,
) -> Result<Response> {
    check_url(url)?;
    let mut request = client()?.post(url).timeout(timeout).header("content-type", content_type);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.body(body).send().await.map_err(|e| failed(url, "the request failed", e))?;
    read(url, response, max).await
}

/// GETs `url` and reads at most `max` bytes of the answer.
pub async fn get(url: &str, max: u64, timeout: Duration) -> Result<Response> {
    check_url(url)?;
    let response =
        client()?.get(url).timeout(timeout).send().await.map_err(|e| failed(url, "the request failed", e))?;
    read(url, response, max).await
}

async fn read(url: &str, response: reqwest::Response, max: u64) -> Result<Response> {
    let status = response.status().as_u16();
    let retry_after =
        response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string());
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| failed(url, "reading the answer failed", e))?;
        if body.len() as u64 + chunk.len() as u64 > max {
            return Err(Error::invalid(super::redact(url, &[]), format!("answered with more than {max} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response { status, retry_after, content_type, body })
}

pub fn post_blocking(url: &str, content_type: &str, body: Vec<u8>, max: u64, timeout: Duration) -> Result<Response> {
    block_on(post(url, content_type, body, max, timeout))?
}

pub fn post_with_headers_blocking(
    url: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    max: u64,
    timeout: Duration,
) -> Result<Response> {
    block_on(post_with_headers(url, content_type, headers, body, max, timeout))?
}

pub fn get_blocking(url: &str, max: u64, timeout: Duration) -> Result<Response> {
    block_on(get(url, max, timeout))?
}

/// An error naming `url` without its query (a SAS token or signature may travel there).
fn failed(url: &str, what: &str, e: reqwest::Error) -> Error {
    Error::invalid(super::redact(url, &[]), super::redact(&format!("{what}: {e}"), &[]))
}
