//! `http`: an HTTP(S) endpoint answers from the runner's side: status code, a body regex and latency
//! thresholds. It does not use the host's connection: it checks what the client's users reach.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};

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
                .timeout(Duration::from_secs(p.timeout.unwrap_or(10)))
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
            let body = response.text().await.unwrap_or_default();
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
            r.data =
                json!({ "url": p.url, "status": status, "latency_ms": ms, "bytes": body.len() });
            r
        })
    }
}
