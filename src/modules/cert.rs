//! `cert`: days until a TLS certificate expires, read with `openssl s_client` on the host (so it
//! reaches services inside the client's network, through the jump host), with SNI.

use chrono::{NaiveDateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{BoxFuture, Module, ModuleKind, State, TaskContext, TaskResult, parse_params};
use crate::transport::quote as q;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertParams {
    /// `host:port` to connect to (port 443 when left out).
    pub address: String,
    /// The name sent as SNI (default: the host part of `address`).
    pub servername: Option<String>,
    /// Warning when fewer days are left (default 30).
    pub warn_days: Option<i64>,
    /// Critical when fewer days are left (default 14).
    pub crit_days: Option<i64>,
    /// Seconds to connect (default 10).
    pub connect_timeout: Option<u64>,
}

/// Reads `notAfter=`, `subject=` and `issuer=` lines of `openssl x509 -noout -enddate -subject -issuer`.
pub fn parse_x509(text: &str) -> Option<(NaiveDateTime, String, String)> {
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
    };
    let not_after = field("notAfter=")?;
    let normalized = not_after.split_whitespace().collect::<Vec<_>>().join(" ");
    let t = NaiveDateTime::parse_from_str(&normalized, "%b %d %H:%M:%S %Y GMT").ok()?;
    Some((
        t,
        field("subject=").unwrap_or_default(),
        field("issuer=").unwrap_or_default(),
    ))
}

fn split_address(a: &str) -> (String, u16) {
    match a.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() && !h.is_empty() => (
            h.trim_matches(['[', ']']).to_string(),
            p.parse().unwrap_or(443),
        ),
        _ => (a.to_string(), 443),
    }
}

pub struct Cert;

impl Module for Cert {
    fn name(&self) -> &'static str {
        "cert"
    }
    fn summary(&self) -> &'static str {
        "Days until a TLS certificate expires (host:port, with SNI), checked from the host"
    }
    fn kind(&self) -> ModuleKind {
        ModuleKind::Check
    }
    fn free_form(&self) -> Option<&'static str> {
        Some("address")
    }
    fn validate(&self, params: &Value) -> Result<(), String> {
        let p: CertParams = parse_params(self, params)?;
        let (w, c) = (p.warn_days.unwrap_or(30), p.crit_days.unwrap_or(14));
        if c > w {
            return Err(format!("crit_days ({c}) must not be above warn_days ({w})"));
        }
        Ok(())
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(CertParams)
    }
    fn run<'a>(&'a self, ctx: &'a TaskContext<'a>, params: Value) -> BoxFuture<'a, TaskResult> {
        Box::pin(async move {
            let p: CertParams = match parse_params(self, &params) {
                Ok(p) => p,
                Err(e) => return TaskResult::new(State::Unknown, e),
            };
            let (host, port) = split_address(&p.address);
            let sni = p.servername.clone().unwrap_or_else(|| host.clone());
            let cmd = format!(
                "command -v openssl >/dev/null 2>&1 || {{ echo NO-OPENSSL; exit 0; }}; T=$(command -v timeout 2>/dev/null); \
                 echo | ${{T:+$T {t}}} openssl s_client -connect {hp} -servername {sni} 2>/dev/null | openssl x509 -noout -enddate -subject -issuer 2>/dev/null",
                t = p.connect_timeout.unwrap_or(10),
                hp = q(&format!("{host}:{port}")),
                sni = q(&sni),
            );
            let out = match ctx.exec(cmd).await {
                Ok(o) => o,
                Err(e) => return TaskResult::from_transport_error(&e),
            };
            let text = out.stdout_text();
            if text.contains("NO-OPENSSL") {
                return TaskResult::new(State::Unknown, "openssl is not installed on the host");
            }
            let Some((not_after, subject, issuer)) = parse_x509(&text) else {
                return TaskResult::new(State::Critical, format!("no TLS certificate from {host}:{port} (connection refused, timed out, or not TLS)")).with_output(&out);
            };
            let secs = (not_after.and_utc() - Utc::now()).num_seconds();
            let days = secs.div_euclid(86_400);
            let (w, c) = (p.warn_days.unwrap_or(30), p.crit_days.unwrap_or(14));
            let state = if secs <= 0 || days < c {
                State::Critical
            } else if days < w {
                State::Warning
            } else {
                State::Ok
            };
            let message = if secs <= 0 {
                format!(
                    "certificate of {sni} expired on {}",
                    not_after.format("%Y-%m-%d")
                )
            } else {
                format!(
                    "certificate of {sni} expires in {days} days ({})",
                    not_after.format("%Y-%m-%d")
                )
            };
            let mut r = TaskResult::new(state, message);
            r.data = crate::model::data::write(&crate::model::data::CertData {
                address: format!("{host}:{port}"),
                servername: sni,
                not_after: not_after.and_utc().to_rfc3339(),
                days_left: Some(days),
                subject,
                issuer,
            });
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_dates_parse_with_one_or_two_digit_days() {
        let (t, subject, _) = parse_x509(
            "notAfter=Feb  5 12:00:00 2027 GMT\nsubject=CN = shop.acme.example\nissuer=CN = R11\n",
        )
        .expect("parses");
        assert_eq!(t.format("%Y-%m-%d %H:%M").to_string(), "2027-02-05 12:00");
        assert_eq!(subject, "CN = shop.acme.example");
        assert!(parse_x509("notAfter=Dec 31 23:59:59 2030 GMT\n").is_some());
        assert!(parse_x509("unable to load certificate\n").is_none());
        assert_eq!(
            split_address("mail.acme.example:993"),
            ("mail.acme.example".into(), 993)
        );
        assert_eq!(split_address("acme.example"), ("acme.example".into(), 443));
    }
}
