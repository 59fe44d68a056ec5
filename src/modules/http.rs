//! `http`: an HTTP(S) endpoint answers from the runner's side: status code, a body regex and latency
//! thresholds. It does not use the host's connection: it checks what the client's users reach.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};

/// The most of a response body the `http` module reads (patterns match within it).
pub const BODY_CAP: usize = 1024 * 1024;

/// Reads at most `cap` bytes of a response body while it streams in, then stops (the connection
/// is dropped): a 1.5 GB answer costs `cap`, not 3 GB of memory. Returns the bytes and whether
/// more was sent; a body broken off midway keeps what arrived.
pub async fn read_capped(mut response: reqwest::Response, cap: usize) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    return (body, true);
                }
            }
            Ok(None) | Err(_) => return (body, false),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpParams {
    /// The URL to request.
    pub url: String,
    /// GET (default), HEAD or POST.
    pub method: Option<String>,
    /// Accepted status codes (default: any 2xx or 3xx).
    pub status: Option<Vec<u16>>,
    /// A regex the body must match.
    pub body: Option<String>,
    /// A regex the body must not match.
    pub body_not: Option<String>,
    /// Warning when the answer takes at least this many milliseconds.
    pub warn_ms: Option<u64>,
    /// Critical when the answer takes at least this many milliseconds.
    pub crit_ms: Option<u64>,
    /// Seconds before giving up (default 10): critical.
    pub timeout: Option<u64>,
    /// Follow redirects (default true).
    pub follow_redirects: Option<bool>,
}

static CLIENTS: LazyLock<[Option<reqwest::Client>; 2]> = LazyLock::new(|| {
    let build = |follow: bool| {
        reqwest::Client::builder()
            .redirect(if follow {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            })
            .user_agent(concat!("tended/", env!("CARGO_PKG_VERSION")))
            .build()
            .ok()
    };
    [build(true), build(false)]
});

fn regex(p: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(p)
        .multi_line(true)
        .build()
        .map_err(|e| format!("invalid regex `{p}`: {e}"))
}

pub struct Http;

impl Module for Http {
    fn name(&self) -> &'static str {
        "http"
    }
    fn summary(&self) -> &'static str {
        "An HTTP(S) endpoint answers from the runner: status, body regex, latency thresholds"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Check
    }
    fn free_form(&self) -> Option<&'static str> {
        Some("url")
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: HttpParams = parse_params(self, params)?;
        if let Some(t) = p.timeout
            && crate::duration::from_secs(t).is_none_or(|d| d.is_zero())
        {
            return Err(format!(
                "`timeout: {t}` must be a number of seconds above 0 and at most ten years"
            ));
        }
        if !p.url.contains("{{") && reqwest::Url::parse(&p.url).is_err() {
            return Err(format!(
                "`{}` is not a URL (write http://host/path or https://...)",
                p.url
            ));
        }
        if let Some(m) = &p.method
            && !["GET", "HEAD", "POST"].contains(&m.to_ascii_uppercase().as_str())
        {
            return Err(format!("method `{m}` is not GET, HEAD or POST"));
        }
        for r in [&p.body, &p.body_not].into_iter().flatten() {
            regex(r)?;
        }
        if let (Some(w), Some(c)) = (p.warn_ms, p.crit_ms)
            && c < w
        {
            return Err(format!("crit_ms ({c}) must not be below warn_ms ({w})"));
        }
        Ok(())
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(HttpParams)
    }
    fn run<'a>(&'a self, _ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: HttpParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Unknown, e),
            };
            let Some(client) = CLIENTS[usize::from(!p.follow_redirects.unwrap_or(true))].clone()
            else {
                return TaskResult::new(
                    State::Unknown,
                    "cannot set up the HTTP client (TLS roots?)",
                );
            };
            let method = match p.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
                Some("HEAD") => reqwest::Method::HEAD,
                Some("POST") => reqwest::Method::POST,
                _ => reqwest::Method::GET,
            };
            let started = Instant::now();
            let response = client
                .request(method, &p.url)
                .timeout(
                    p.timeout
                        .and_then(crate::duration::from_secs)
                        .unwrap_or(Duration::from_secs(10)),
                )
                .send()
                .await;
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    let why = if e.is_timeout() {
                        "timed out".to_string()
                    } else {
                        format!("{e}")
                    };
                    return TaskResult::new(State::Critical, format!("{}: {why}", p.url));
                }
            };
            let status = response.status().as_u16();
            let (body, cut) = read_capped(response, BODY_CAP).await;
            let body = String::from_utf8_lossy(&body).into_owned();
            let ms = started.elapsed().as_millis() as u64;
            let mut state = State::Ok;
            let mut problems = Vec::new();
            let status_ok = match &p.status {
                Some(list) => list.contains(&status),
                None => (200..400).contains(&status),
            };
            if !status_ok {
                state = State::Critical;
                problems.push(format!("status {status}"));
            }
            for (pattern, must) in [(&p.body, true), (&p.body_not, false)] {
                if let Some(pattern) = pattern {
                    match regex(pattern) {
                        Ok(re) if re.is_match(&body) != must => {
                            state = State::Critical;
                            problems.push(format!(
                                "body {} /{pattern}/",
                                if must { "does not match" } else { "matches" }
                            ));
                        }
                        Ok(_) => {}
                        Err(e) => return TaskResult::new(State::Unknown, e),
                    }
                }
            }
            if p.crit_ms.is_some_and(|c| ms >= c) {
                state = State::Critical;
                problems.push(format!(
                    "answered in {ms} ms (limit {} ms)",
                    p.crit_ms.unwrap_or(0)
                ));
            } else if p.warn_ms.is_some_and(|w| ms >= w) {
                state = state.max(State::Warning);
                problems.push(format!(
                    "answered in {ms} ms (limit {} ms)",
                    p.warn_ms.unwrap_or(0)
                ));
            }
            let message = if problems.is_empty() {
                format!("{} answered {status} in {ms} ms", p.url)
            } else {
                format!("{}: {}", p.url, problems.join("; "))
            };
            let mut r = TaskResult::new(state, message);
            // `truncated`: only the first BODY_CAP bytes were read and matched.
            r.data = crate::model::data::write(&crate::model::data::HttpData {
                url: p.url.clone(),
                status: Some(status),
                latency_ms: Some(ms),
                bytes: Some(body.len() as u64),
                truncated: cut,
            });
            r.truncated = cut;
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_endless_body_is_read_only_up_to_the_cap() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                .await;
            // A body that never ends: only the client hanging up stops it.
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0usize;
            while s.write_all(&chunk).await.is_ok() {
                sent += chunk.len();
            }
            sent
        });
        let resp = reqwest::Client::new()
            .get(format!("http://{addr}/"))
            .send()
            .await
            .expect("answer");
        let (body, cut) = read_capped(resp, 100_000).await;
        assert_eq!((body.len(), cut), (100_000, true));
        let sent = server.await.expect("server");
        assert!(
            sent < 64 * 1024 * 1024,
            "the client stopped reading ({sent} bytes sent)"
        );
    }
}
