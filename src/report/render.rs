//! The report as HTML built for mail clients (inline styles, tables, no scripts, no remote images,
//! bars drawn with CSS) and as plain text, from the same `Report`.

use std::fmt::Write;

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

fn color(l: Light) -> (&'static str, &'static str) {
    match l {
        Light::Green => ("#1e8e3e", "Good"),
        Light::Amber => ("#e37400", "Attention"),
        Light::Red => ("#c5221f", "Action needed"),
        Light::Unknown => ("#6a1b9a", "Could not check"),
        Light::Grey => ("#80868b", "Not monitored"),
    }
}

/// What a device's state is called in the client's text (`unknown` is not "down").
fn state_word(s: State) -> &'static str {
    match s {
        State::Unknown => "could not check",
        State::Skipped => "no results",
        other => other.as_str(),
    }
}

/// The disk forecast as the client reads it (see `forecast`).
fn full_in(d: &super::DiskForecast) -> String {
    match d.days_to_full {
        Some(x) => format!("about {x:.0} days"),
        None if !d.enough_history => "not enough history yet".into(),
        None => "not filling up".into(),
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

fn bar(pct: f64) -> String {
    let pct = pct.clamp(0.0, 100.0);
    let c = if pct >= 90.0 {
        "#c5221f"
    } else if pct >= 80.0 {
        "#e37400"
    } else {
        "#1e8e3e"
    };
    format!(
        "<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" style=\"width:120px;border-collapse:collapse;background:#e8eaed\"><tr><td style=\"width:{w}px;height:8px;background:{c};font-size:0;line-height:0\">&nbsp;</td><td style=\"font-size:0;line-height:0\">&nbsp;</td></tr></table><span style=\"font-size:12px;color:#5f6368\">{pct:.0}%</span>",
        w = (pct * 1.2).round() as u32
    )
}

fn day(t: chrono::DateTime<chrono::Utc>, tz: &str) -> String {
    match tz.parse::<chrono_tz::Tz>() {
        Ok(z) => t
            .with_timezone(&z)
            .format("%e %b %Y")
            .to_string()
            .trim()
            .to_string(),
        Err(_) => t.format("%e %b %Y").to_string(),
    }
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
    let mut h = String::new();
    let td = "padding:6px 8px;border-bottom:1px solid #e8eaed;font-size:14px;vertical-align:top";
    let th = "padding:6px 8px;border-bottom:2px solid #dadce0;font-size:12px;color:#5f6368;text-align:left;text-transform:uppercase";
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Maintenance report: {name}</title></head>\
         <body style=\"margin:0;padding:0;background:#f1f3f4;font-family:Arial,Helvetica,sans-serif;color:#202124\">\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"background:#f1f3f4\"><tr><td align=\"center\" style=\"padding:24px 12px\">\
         <table role=\"presentation\" width=\"640\" cellpadding=\"0\" cellspacing=\"0\" style=\"max-width:640px;width:100%;background:#ffffff;border-radius:8px\">\
         <tr><td style=\"height:6px;background:{accent};border-radius:8px 8px 0 0\"></td></tr>\
         <tr><td style=\"padding:24px 28px 8px 28px\">{logo}<div style=\"font-size:12px;color:{accent};text-transform:uppercase;letter-spacing:1px\">Maintenance report from {msp}</div>\
         <h1 style=\"margin:6px 0 4px 0;font-size:24px\">{name}</h1><div style=\"font-size:14px;color:#5f6368\">{from} to {to} ({tz})</div></td></tr>",
        name = esc(&r.client_name),
        msp = esc(msp),
        from = day(r.from, &r.timezone),
        to = day(r.to - chrono::Duration::seconds(1), &r.timezone),
        tz = esc(&r.timezone),
    );
    let (band_color, _) = color(match r.score {
        None => Light::Grey,
        Some(s) if s >= 85 => Light::Green,
        Some(s) if s >= 60 => Light::Amber,
        Some(_) => Light::Red,
    });
    let _ = write!(
        h,
        "<tr><td style=\"padding:12px 28px\"><table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" width=\"100%\"><tr>\
         <td style=\"width:120px;text-align:center;vertical-align:middle\"><div style=\"font-size:44px;font-weight:bold;color:{band_color}\">{score}</div><div style=\"font-size:13px;color:{band_color}\">health: {band}</div></td><td>",
        score = r.score.map_or("–".to_string(), |s| s.to_string()),
        band = esc(r.band.unwrap_or("no data for this period"))
    );
    for a in &r.areas {
        let (c, word) = color(a.light);
        let _ = write!(
            h,
            "<div style=\"margin:4px 0;font-size:14px\"><span style=\"display:inline-block;width:12px;height:12px;border-radius:6px;background:{c};vertical-align:middle\"></span> <b>{}</b>: {} <span style=\"color:#5f6368\">({})</span></div>",
            esc(a.name),
            esc(word),
            esc(&a.note)
        );
    }
    h.push_str("</td></tr></table></td></tr>");
    h.push_str("<tr><td style=\"padding:8px 28px\">");
    for s in &r.summary {
        let _ = write!(
            h,
            "<p style=\"margin:8px 0;font-size:15px;line-height:1.5\">{}</p>",
            esc(s)
        );
    }
    h.push_str("</td></tr>");
    let f = &r.figures;
    let figures = [
        (
            "Maintenance runs",
            format!(
                "{} ({} fine, {} with findings)",
                f.runs, f.runs_ok, f.runs_with_problems
            ),
        ),
        (
            "Updates installed",
            format!(
                "{} ({} security, {} other)",
                f.updates_installed,
                f.security_installed,
                f.updates_installed - f.security_installed
            ),
        ),
        (
            "Updates pending",
            format!(
                "{} ({} security; overdue on {})",
                f.pending_updates,
                f.pending_security,
                super::count(f.overdue_security_hosts as u64, "device", "devices")
            ),
        ),
        ("Restarts", f.reboots.to_string()),
        (
            "Backups verified",
            format!(
                "{}{}",
                f.backups_verified,
                f.last_good_backup_age_hours
                    .map(|h| format!("; last good one {h:.0} h old"))
                    .unwrap_or_default()
            ),
        ),
        ("Fixed automatically", f.fixed_automatically.to_string()),
        (
            "Certificates expiring within 30 days",
            if f.certificates_expiring.is_empty() {
                "none".into()
            } else {
                f.certificates_expiring
                    .iter()
                    .map(|c| {
                        format!(
                            "{} ({} days; checked from {})",
                            c.name,
                            c.days_left,
                            c.hosts.join(", ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        ),
    ];
    let _ = write!(
        h,
        "<tr><td style=\"padding:8px 28px\"><h2 style=\"font-size:17px;margin:12px 0 6px 0\">Key figures</h2><table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\">"
    );
    for (k, v) in figures {
        let _ = write!(
            h,
            "<tr><td style=\"{td};color:#5f6368\">{}</td><td style=\"{td}\">{}</td></tr>",
            esc(k),
            esc(&v)
        );
    }
    h.push_str("</table></td></tr>");
    if !r.disks.is_empty() {
        let _ = write!(
            h,
            "<tr><td style=\"padding:8px 28px\"><h2 style=\"font-size:17px;margin:12px 0 6px 0\">Disks to watch</h2><table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\"><tr><th style=\"{th}\">Device</th><th style=\"{th}\">Disk</th><th style=\"{th}\">Used</th><th style=\"{th}\">Full in</th></tr>"
        );
        for d in &r.disks {
            let full = full_in(d);
            let _ = write!(
                h,
                "<tr><td style=\"{td}\">{}</td><td style=\"{td}\">{}</td><td style=\"{td}\">{}</td><td style=\"{td}\">{}</td></tr>",
                esc(&d.host),
                esc(&d.mount),
                bar(d.used_percent),
                esc(&full)
            );
        }
        h.push_str("</table></td></tr>");
    }
    let _ = write!(
        h,
        "<tr><td style=\"padding:8px 28px\"><h2 style=\"font-size:17px;margin:12px 0 6px 0\">Your devices</h2><table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse\"><tr><th style=\"{th}\">Device</th><th style=\"{th}\">Status</th><th style=\"{th}\">Fullest disk</th><th style=\"{th}\">Updates waiting</th><th style=\"{th}\">Last backup</th></tr>"
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
            "<tr><td style=\"{td}\"><b>{}</b>{issues}</td><td style=\"{td};color:{}\">{}</td><td style=\"{td}\">{}</td><td style=\"{td}\">{}</td><td style=\"{td}\">{}</td></tr>",
            esc(&d.host),
            state_color(d.state),
            esc(state_word(d.state)),
            d.fullest_disk.map(bar).unwrap_or_else(|| "-".into()),
            d.pending_updates
                .map(|p| format!("{p} ({} security)", d.pending_security.unwrap_or(0)))
                .unwrap_or_else(|| "-".into()),
            d.backup_age_hours
                .map(|a| format!("{a:.0} h ago"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    h.push_str("</table></td></tr>");
    let _ = write!(
        h,
        "<tr><td style=\"padding:8px 28px\"><h2 style=\"font-size:17px;margin:12px 0 6px 0\">What we did</h2>"
    );
    if r.actions.is_empty() {
        h.push_str(
            "<p style=\"font-size:14px;color:#5f6368\">Checks only: nothing needed changing.</p>",
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
                day(a.at, &r.timezone),
                esc(&a.host),
                esc(&a.what)
            );
        }
        if r.actions.len() > 200 {
            let _ = write!(
                h,
                "<tr><td colspan=\"3\" style=\"{td};color:#5f6368\">and {} more</td></tr>",
                r.actions.len() - 200
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</td></tr>");
    let _ = writeln!(
        h,
        "<tr><td style=\"padding:16px 28px 24px 28px;font-size:13px;color:#5f6368\">Next maintenance window: {}.<br>Questions? Reply to this mail or contact {}.</td></tr></table></td></tr></table></body></html>",
        esc(r.next_window.as_deref().unwrap_or("none planned")),
        esc(msp)
    );
    h
}

pub fn text(r: &Report, msp: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Maintenance report from {msp}\n{}\n{} to {} ({})\n",
        r.client_name,
        day(r.from, &r.timezone),
        day(r.to - chrono::Duration::seconds(1), &r.timezone),
        r.timezone
    );
    match (r.score, r.band) {
        (Some(score), Some(band)) => {
            let _ = writeln!(t, "Health: {score} / 100 ({band})");
        }
        _ => {
            let _ = writeln!(t, "Health: no results in this period, so no score");
        }
    }
    for a in &r.areas {
        let _ = writeln!(t, "  {:<11} {:<14} {}", a.name, color(a.light).1, a.note);
    }
    t.push('\n');
    for s in &r.summary {
        let _ = writeln!(t, "{s}");
    }
    let f = &r.figures;
    let _ = writeln!(
        t,
        "\nKey figures\n  Maintenance runs: {} ({} fine, {} with findings)\n  Updates installed: {} ({} security)\n  Updates pending: {} ({} security)\n  Restarts: {}\n  Backups verified: {}\n  Fixed automatically: {}",
        f.runs,
        f.runs_ok,
        f.runs_with_problems,
        f.updates_installed,
        f.security_installed,
        f.pending_updates,
        f.pending_security,
        f.reboots,
        f.backups_verified,
        f.fixed_automatically
    );
    if !r.disks.is_empty() {
        t.push_str("\nDisks to watch\n");
        for d in &r.disks {
            let _ = writeln!(
                t,
                "  {} {}: {:.0}% used, {}",
                d.host,
                d.mount,
                d.used_percent,
                match d.days_to_full {
                    Some(x) => format!("full in about {x:.0} days"),
                    None => full_in(d),
                }
            );
        }
    }
    t.push_str("\nYour devices\n");
    for d in &r.devices {
        let _ = writeln!(
            t,
            "  {:<20} {:<11} disk {:>4}  updates {:>4}",
            d.host,
            state_word(d.state),
            d.fullest_disk
                .map(|p| format!("{p:.0}%"))
                .unwrap_or_else(|| "-".into()),
            d.pending_updates
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into())
        );
        for i in &d.issues {
            let _ = writeln!(t, "      {i}");
        }
    }
    if !r.actions.is_empty() {
        t.push_str("\nWhat we did\n");
        for a in &r.actions {
            let _ = writeln!(t, "  {}  {}  {}", day(a.at, &r.timezone), a.host, a.what);
        }
    }
    let _ = writeln!(
        t,
        "\nNext maintenance window: {}.",
        r.next_window.as_deref().unwrap_or("none planned")
    );
    t
}
