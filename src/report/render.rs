//! The report as HTML built for mail clients (inline styles, tables, no scripts, no remote images,
//! bars drawn with CSS) and as plain text, from the same `Report`, in the report's language.

use std::fmt::Write;

use super::i18n::{Arg, Words};
use super::{Light, Report};
use crate::modules::State;

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn color(l: Light) -> &'static str {
    match l {
        Light::Green => "#1e8e3e",
        Light::Amber => "#e37400",
        Light::Red => "#c5221f",
        Light::Unknown => "#6a1b9a",
        Light::Grey => "#80868b",
    }
}

/// The disk forecast as the client reads it (see `forecast`).
fn full_in(w: &Words, d: &super::DiskForecast) -> String {
    match d.days_to_full {
        Some(x) => w.fmt("full-in-days", &[("days", Arg::Rounded(x))]),
        None if !d.enough_history => w.get("full-no-history"),
        None => w.get("full-not-filling"),
    }
}

fn state_color(s: State) -> &'static str {
    match s {
        State::Ok | State::Changed | State::Skipped => "#1e8e3e",
        State::Warning => "#e37400",
        State::Unknown => "#6a1b9a",
        _ => "#c5221f",
    }
}

fn bar(w: &Words, pct: f64) -> String {
    let pct = pct.clamp(0.0, 100.0);
    let c = if pct >= 90.0 {
        "#c5221f"
    } else if pct >= 80.0 {
        "#e37400"
    } else {
        "#1e8e3e"
    };
    format!(
        "<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" style=\"width:120px;border-collapse:collapse;background:#e8eaed\"><tr><td style=\"width:{w}px;height:8px;background:{c};font-size:0;line-height:0\">&nbsp;</td><td style=\"font-size:0;line-height:0\">&nbsp;</td></tr></table><span style=\"font-size:12px;color:#5f6368\">{}</span>",
        esc(&w.percent(pct)),
        w = (pct * 1.2).round() as u32
    )
}

fn day(w: &Words, t: chrono::DateTime<chrono::Utc>, tz: &str) -> String {
    match tz.parse::<chrono_tz::Tz>() {
        Ok(z) => w.date(&t.with_timezone(&z)),
        Err(_) => w.date(&t),
    }
}

/// The report's first and last day: `1 Nov 2026 to 30 Nov 2026 (Europe/Berlin)`.
fn period_range(w: &Words, r: &Report) -> String {
    w.fmt(
        "period-range",
        &[
            ("from", day(w, r.from, &r.timezone).into()),
            (
                "to",
                day(w, r.to - chrono::Duration::seconds(1), &r.timezone).into(),
            ),
            ("timezone", r.timezone.as_str().into()),
        ],
    )
}

/// The key figures, label and value, as both the HTML and the text show them.
fn key_figures(w: &Words, r: &Report, full: bool) -> Vec<(String, String)> {
    let f = &r.figures;
    let n = |x: usize| Arg::from(x);
    let mut rows = vec![
        (
            w.get("fig-runs"),
            w.fmt(
                "fig-runs-value",
                &[
                    ("runs", n(f.runs)),
                    ("runs_ok", n(f.runs_ok)),
                    ("runs_with_problems", n(f.runs_with_problems)),
                ],
            ),
        ),
        (
            w.get("fig-installed"),
            w.fmt(
                if full {
                    "fig-installed-value"
                } else {
                    "fig-installed-text"
                },
                &[
                    ("updates_installed", n(f.updates_installed)),
                    ("security_installed", n(f.security_installed)),
                    (
                        "other_installed",
                        n(f.updates_installed.saturating_sub(f.security_installed)),
                    ),
                ],
            ),
        ),
        (
            w.get("fig-pending"),
            w.fmt(
                if full {
                    "fig-pending-value"
                } else {
                    "fig-pending-text"
                },
                &[
                    ("pending_updates", f.pending_updates.into()),
                    ("pending_security", f.pending_security.into()),
                    ("overdue_security_hosts", n(f.overdue_security_hosts)),
                ],
            ),
        ),
        (w.get("fig-reboots"), w.number(f.reboots as f64)),
        (
            w.get("fig-backups"),
            format!(
                "{}{}",
                w.number(f.backups_verified as f64),
                f.last_good_backup_age_hours
                    .filter(|_| full)
                    .map(|h| w.fmt("fig-backups-last", &[("hours", Arg::Rounded(h))]))
                    .unwrap_or_default()
            ),
        ),
        (w.get("fig-fixed"), w.number(f.fixed_automatically as f64)),
    ];
    if full {
        rows.push((
            w.get("fig-certs"),
            if f.certificates_expiring.is_empty() {
                w.get("fig-certs-none")
            } else {
                f.certificates_expiring
                    .iter()
                    .map(|c| {
                        w.fmt(
                            "fig-cert",
                            &[
                                ("name", c.name.as_str().into()),
                                ("days_left", Arg::Int(c.days_left)),
                                ("hosts", c.hosts.join(", ").into()),
                            ],
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        ));
    }
    rows
}

/// The MSP's look in the report: its colour and, in a mail, its logo by `cid:` (never a remote URL).
#[derive(Debug, Clone, Copy, Default)]
pub struct Brand<'a> {
    /// `#rrggbb`, already checked by the config loader.
    pub colour: Option<&'a str>,
    /// The Content-ID of the logo attached to the same mail.
    pub logo_cid: Option<&'a str>,
}

pub fn html(r: &Report, msp: &str) -> String {
    html_branded(r, msp, &Brand::default())
}

/// The report's HTML in the MSP's colour, with its logo when the mail carries one.
pub fn html_branded(r: &Report, msp: &str, brand: &Brand<'_>) -> String {
    let accent = brand
        .colour
        .filter(|c| {
            c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
        })
        .unwrap_or("#5f6368");
    let logo = brand
        .logo_cid
        .map(|cid| {
            format!(
                "<img src=\"cid:{}\" alt=\"{}\" height=\"40\" style=\"display:block;margin-bottom:8px;border:0\">",
                esc(cid),
                esc(msp)
            )
        })
        .unwrap_or_default();
    let w = Words::new(r.language);
    let mut h = String::new();
    let td = "padding:6px 8px;border-bottom:1px solid #e8eaed;font-size:14px;vertical-align:top";
    let th = "padding:6px 8px;border-bottom:2px solid #dadce0;font-size:12px;color:#5f6368;text-align:left;text-transform:uppercase";
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head>\
         <body style=\"margin:0;padding:0;background:#f1f3f4;font-family:Arial,Helvetica,sans-serif;color:#202124\">\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"background:#f1f3f4\"><tr><td align=\"center\" style=\"padding:24px 12px\">\
         <table role=\"presentation\" width=\"640\" cellpadding=\"0\" cellspacing=\"0\" style=\"max-width:640px;width:100%;background:#ffffff;border-radius:8px\">\
         <tr><td style=\"height:6px;background:{accent};border-radius:8px 8px 0 0\"></td></tr>\
         <tr><td style=\"padding:24px 28px 8px 28px\">{logo}<div style=\"font-size:12px;color:{accent};text-transform:uppercase;letter-spacing:1px\">{from_msp}</div>\
         <h1 style=\"margin:6px 0 4px 0;font-size:24px\">{name}</h1><div style=\"font-size:14px;color:#5f6368\">{range}</div></td></tr>",
        lang = r.language.as_str(),
        title = esc(&w.fmt("title", &[("client", r.client_name.as_str().into())])),
        from_msp = esc(&w.fmt("from-msp", &[("msp", msp.into())])),
        name = esc(&r.client_name),
        range = esc(&period_range(&w, r)),
    );
    let band_color = color(match r.score {
        None => Light::Grey,
        Some(s) if s >= 85 => Light::Green,
        Some(s) if s >= 60 => Light::Amber,
        Some(_) => Light::Red,
    });
    let band = match &r.band {
        Some(b) => w.fmt("health", &[("band", b.as_str().into())]),
        None => w.get("health-no-data"),
    };
    let _ = write!(
        h,
        "<tr><td style=\"padding:12px 28px\"><table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" width=\"100%\"><tr>\
         <td style=\"width:120px;text-align:center;vertical-align:middle\"><div id=\"score\" style=\"font-size:44px;font-weight:bold;color:{band_color}\">{score}</div><div style=\"font-size:13px;color:{band_color}\">{band}</div></td><td>",
        score = r.score.map_or("–".to_string(), |s| s.to_string()),
        band = esc(&band)
    );
    for a in &r.areas {
        let _ = write!(
            h,
            "<div data-area=\"{}\" style=\"margin:4px 0;font-size:14px\"><span style=\"display:inline-block;width:12px;height:12px;border-radius:6px;background:{};vertical-align:middle\"></span> <b>{}</b>: {} <span style=\"color:#5f6368\">({})</span></div>",
            a.id,
            color(a.light),
            esc(&a.name),
            esc(&w.light(a.light)),
            esc(&a.note)
        );
    }
    h.push_str("</td></tr></table></td></tr>");
    h.push_str("<tr><td style=\"padding:8px 28px\">");
    for s in &r.summary {
        let _ = write!(
            h,
            "<p data-message=\"{}\" style=\"margin:8px 0;font-size:15px;line-height:1.5\">{}</p>",
            s.message,
            esc(&s.text)
        );
    }
    h.push_str("</td></tr>");
    if !r.patches.is_empty() {
        let _ = write!(
            h,
            "<tr><td style=\"padding:8px 28px\"><h2 style=\"font-size:17px;margin:12px 0 6px 0\">{}</h2>",
            esc(&w.get("patch-title"))
        );
        for s in &r.patches {
            let _ = write!(
                h,
                "<p data-message=\"{}\" style=\"margin:6px 0;font-size:15px;line-height:1.5\">{}</p>",
                s.message,
                esc(&s.text)
            );
        }
        h.push_str("</td></tr>");
    }
    let _ = write!(
        h,
        "<tr><td style=\"padding:8px 28px\"><h2 style=\"font-size:17px;margin:12px 0 6px 0\">{}</h2><table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\">",
        esc(&w.get("key-figures"))
    );
    for (k, v) in key_figures(&w, r, true) {
        let _ = write!(
            h,
            "<tr><td style=\"{td};color:#5f6368\">{}</td><td style=\"{td}\">{}</td></tr>",
            esc(&k),
            esc(&v)
        );
    }
    h.push_str("</table></td></tr>");
    let head = |cols: &[&str]| {
        cols.iter()
            .map(|c| format!("<th style=\"{th}\">{}</th>", esc(&w.get(c))))
            .collect::<String>()
    };
    if !r.disks.is_empty() {
        let _ = write!(
            h,
            "<tr><td style=\"padding:8px 28px\"><h2 style=\"font-size:17px;margin:12px 0 6px 0\">{}</h2><table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\"><tr>{}</tr>",
            esc(&w.get("disks-to-watch")),
            head(&["col-device", "col-disk", "col-used", "col-full-in"])
        );
        for d in &r.disks {
            let _ = write!(
                h,
                "<tr><td style=\"{td}\">{}</td><td style=\"{td}\">{}</td><td style=\"{td}\">{}</td><td style=\"{td}\">{}</td></tr>",
                esc(&d.host),
                esc(&d.mount),
                bar(&w, d.used_percent),
                esc(&full_in(&w, d))
            );
        }
        h.push_str("</table></td></tr>");
    }
    let _ = write!(
        h,
        "<tr><td style=\"padding:8px 28px\"><h2 style=\"font-size:17px;margin:12px 0 6px 0\">{}</h2><table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\"><tr>{}</tr>",
        esc(&w.get("your-devices")),
        head(&[
            "col-device",
            "col-status",
            "col-fullest-disk",
            "col-updates-waiting",
            "col-last-backup"
        ])
    );
    for d in &r.devices {
        let issues = if d.issues.is_empty() {
            String::new()
        } else {
            format!(
                "<div style=\"font-size:12px;color:#5f6368\">{}</div>",
                d.issues
                    .iter()
                    .map(|i| esc(i))
                    .collect::<Vec<_>>()
                    .join("<br>")
            )
        };
        let _ = write!(
            h,
            "<tr data-device=\"{}\"><td style=\"{td}\"><b>{}</b>{issues}</td><td data-state=\"{}\" style=\"{td};color:{}\">{}</td><td style=\"{td}\">{}</td><td style=\"{td}\">{}</td><td style=\"{td}\">{}</td></tr>",
            esc(&d.host),
            esc(&d.host),
            d.state.as_str(),
            state_color(d.state),
            esc(&w.state(d.state)),
            d.fullest_disk
                .map(|p| bar(&w, p))
                .unwrap_or_else(|| "-".into()),
            d.pending_updates
                .map(|p| esc(&w.fmt(
                    "device-updates",
                    &[
                        ("pending", p.into()),
                        ("security", d.pending_security.unwrap_or(0).into())
                    ]
                )))
                .unwrap_or_else(|| "-".into()),
            d.backup_age_hours
                .map(|a| esc(&w.fmt("device-backup-age", &[("hours", Arg::Rounded(a))])))
                .unwrap_or_else(|| "-".into()),
        );
    }
    h.push_str("</table></td></tr>");
    let _ = write!(
        h,
        "<tr><td style=\"padding:8px 28px\"><h2 style=\"font-size:17px;margin:12px 0 6px 0\">{}</h2>",
        esc(&w.get("what-we-did"))
    );
    if r.actions.is_empty() {
        let _ = write!(
            h,
            "<p style=\"font-size:14px;color:#5f6368\">{}</p>",
            esc(&w.get("checks-only"))
        );
    } else {
        let _ = write!(
            h,
            "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\">"
        );
        for a in r.actions.iter().take(200) {
            let _ = write!(
                h,
                "<tr><td style=\"{td};color:#5f6368;white-space:nowrap\">{}</td><td style=\"{td}\">{}</td><td style=\"{td}\">{}</td></tr>",
                esc(&day(&w, a.at, &r.timezone)),
                esc(&a.host),
                esc(&a.what)
            );
        }
        if r.actions.len() > 200 {
            let _ = write!(
                h,
                "<tr><td colspan=\"3\" style=\"{td};color:#5f6368\">{}</td></tr>",
                esc(&w.fmt("and-more", &[("more", (r.actions.len() - 200).into())]))
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</td></tr>");
    let _ = writeln!(
        h,
        "<tr><td style=\"padding:16px 28px 24px 28px;font-size:13px;color:#5f6368\">{}<br>{}</td></tr></table></td></tr></table></body></html>",
        esc(&next_window(&w, r)),
        esc(&w.fmt("questions", &[("msp", msp.into())]))
    );
    h
}

/// `Next maintenance window: ….` or that none is planned.
fn next_window(w: &Words, r: &Report) -> String {
    let window = r
        .next_window
        .clone()
        .unwrap_or_else(|| w.get("next-window-none"));
    w.fmt("next-window", &[("window", window.into())])
}

pub fn text(r: &Report, msp: &str) -> String {
    let w = Words::new(r.language);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{}\n{}\n{}\n",
        w.fmt("from-msp", &[("msp", msp.into())]),
        r.client_name,
        period_range(&w, r)
    );
    match (r.score, &r.band) {
        (Some(score), Some(band)) => {
            let _ = writeln!(
                t,
                "{}",
                w.fmt(
                    "health-text",
                    &[
                        ("score", Arg::Int(i64::from(score))),
                        ("band", band.as_str().into())
                    ]
                )
            );
        }
        _ => {
            let _ = writeln!(t, "{}", w.get("health-text-no-data"));
        }
    }
    for a in &r.areas {
        let _ = writeln!(t, "  {:<15} {:<16} {}", a.name, w.light(a.light), a.note);
    }
    t.push('\n');
    for s in &r.summary {
        let _ = writeln!(t, "{}", s.text);
    }
    if !r.patches.is_empty() {
        let _ = writeln!(t, "\n{}", w.get("patch-title"));
        for s in &r.patches {
            let _ = writeln!(t, "  {}", s.text);
        }
    }
    let _ = writeln!(t, "\n{}", w.get("key-figures"));
    for (k, v) in key_figures(&w, r, false) {
        let _ = writeln!(t, "  {k}: {v}");
    }
    if !r.disks.is_empty() {
        let _ = writeln!(t, "\n{}", w.get("disks-to-watch"));
        for d in &r.disks {
            let full = match d.days_to_full {
                Some(x) => w.fmt("full-in-text", &[("days", Arg::Rounded(x))]),
                None => full_in(&w, d),
            };
            let _ = writeln!(
                t,
                "  {}",
                w.fmt(
                    "disk-used-text",
                    &[
                        ("host", d.host.as_str().into()),
                        ("mount", d.mount.as_str().into()),
                        ("used_percent", Arg::Percent(d.used_percent)),
                        ("full", full.into()),
                    ]
                )
            );
        }
    }
    let _ = writeln!(t, "\n{}", w.get("your-devices"));
    for d in &r.devices {
        let _ = writeln!(
            t,
            "  {:<20} {:<16} {} {:>5}  {} {:>5}",
            d.host,
            w.state(d.state),
            w.get("device-text-disk"),
            d.fullest_disk
                .map(|p| w.percent(p))
                .unwrap_or_else(|| "-".into()),
            w.get("device-text-updates"),
            d.pending_updates
                .map(|p| w.number(p as f64))
                .unwrap_or_else(|| "-".into())
        );
        for i in &d.issues {
            let _ = writeln!(t, "      {i}");
        }
    }
    if !r.actions.is_empty() {
        let _ = writeln!(t, "\n{}", w.get("what-we-did"));
        for a in &r.actions {
            let _ = writeln!(
                t,
                "  {}  {}  {}",
                day(&w, a.at, &r.timezone),
                a.host,
                a.what
            );
        }
    }
    let _ = writeln!(t, "\n{}", next_window(&w, r));
    t
}

/// The subject of the report's mail, in the report's language.
pub fn subject(r: &Report) -> String {
    let w = Words::new(r.language);
    w.fmt(
        "subject",
        &[
            ("client", r.client_name.as_str().into()),
            ("from", day(&w, r.from, &r.timezone).into()),
            (
                "to",
                day(&w, r.to - chrono::Duration::seconds(1), &r.timezone).into(),
            ),
            (
                "score",
                r.score
                    .map_or(w.get("subject-no-data"), |s| {
                        w.fmt("subject-score", &[("score", Arg::Int(i64::from(s)))])
                    })
                    .into(),
            ),
        ],
    )
}
