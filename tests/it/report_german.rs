//! A German client's report: every word from the German catalog (no English left in the page
//! Chromium builds), dates and numbers written the German way, and every sentence traced to the same
//! figures in both languages.

use chrono::Duration;
use serde_json::json;
use tended::inventory::Inventory;
use tended::model::Language;
use tended::modules::State;
use tended::report::{self, Report};

use crate::report::dom;
use crate::report_truth::{Row, host, now, row};

fn client(dir: &std::path::Path, language: &str) -> tended::inventory::Client {
    std::fs::write(
        dir.join("mueller.yml"),
        format!(
            "client: mueller\nname: Zahnarztpraxis Müller\ntimezone: Europe/Berlin\nlanguage: {language}\nmaintenance_windows:\n  - {{days: [sun], start: \"01:00\", end: \"05:00\"}}\nhosts:\n  web1: {{connection: local}}\n  web2: {{connection: local}}\n"
        ),
    )
    .expect("inventory");
    let inv = Inventory::load(&dir.join("mueller.yml")).expect("inventory loads");
    inv.client("mueller").expect("client").clone()
}

/// Ten days of a filling disk on web1, updates installed with a restart, 1,234 updates pending,
/// a certificate that expires in 12 days, a good backup and a service check that could not run.
fn report(language: &str) -> Report {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client(dir.path(), language);
    let to = now();
    let mut tasks = Vec::new();
    let mut hosts = Vec::new();
    for day in 0..10i64 {
        let at = to - Duration::days(9 - day) - Duration::hours(1);
        let used = (70 + day) as u64 * (1 << 30);
        tasks.push(row(Row {
            run: day,
            host: "web1",
            playbook: "daily-health.yml",
            module: "disk",
            name: "Festplatte",
            state: State::Ok,
            message: "ok",
            data: json!({"mounts": [{"mount": "/srv", "used_bytes": used, "size_bytes": 100u64 << 30, "used_percent": used as f64 / (100u64 << 30) as f64 * 100.0}]}),
            at,
        }));
        hosts.push(host(day, "web1", State::Ok, at));
    }
    let at = to - Duration::hours(2);
    let last = 20;
    for (h, module, name, state, data) in [
        (
            "web1",
            "updates",
            "Updates",
            State::Warning,
            json!({"pending": 1234, "pending_security": 3, "installed": [{"name": "openssl", "from": "3.0.15-1", "to": "3.0.16-1", "security": true}, {"name": "tzdata", "from": null, "to": "2025b", "security": false}], "reboot": {"performed": true, "seconds": 48}}),
        ),
        (
            "web1",
            "backup",
            "Sicherung",
            State::Ok,
            json!({"age_seconds": 7200}),
        ),
        (
            "web1",
            "cert",
            "Zertifikat",
            State::Warning,
            json!({"days_left": 12, "servername": "shop.mueller.example"}),
        ),
        (
            "web2",
            "service",
            "Webserver",
            State::Unknown,
            json!({"unit": "nginx"}),
        ),
    ] {
        tasks.push(row(Row {
            run: last,
            host: h,
            playbook: "daily-health.yml",
            module,
            name,
            state,
            message: "no systemd on this host\nline two of a raw error",
            data,
            at,
        }));
    }
    hosts.push(host(last, "web1", State::Warning, at));
    hosts.push(host(last, "web2", State::Unknown, at));
    report::assemble(
        &client,
        to - Duration::days(30),
        to,
        to,
        &tasks,
        &tasks,
        &hosts,
    )
}

#[test]
fn a_german_clients_report_is_german_in_words_dates_and_numbers() {
    let r = report("de");
    assert_eq!(r.language, Language::De);
    let all = r.summary_text();
    for said in [
        "Im letzten Monat haben wir Ihre 2 Geräte 11-mal geprüft",
        "Wir haben 2 Updates installiert, davon 1 Sicherheitsupdate, und 1 Gerät neu gestartet, um sie abzuschließen.",
        "Ihre Entscheidung ist gefragt: der Datenträger /srv auf web1 ist in etwa 21 Tagen voll; das Zertifikat von shop.mueller.example läuft in 12 Tagen ab.",
        "Datensicherungen wurden einmal geprüft; die jüngste gute Sicherung ist 4 Stunden alt.",
    ] {
        assert!(all.contains(said), "`{said}` missing from: {all}");
    }
    let web2 = r.devices.iter().find(|d| d.host == "web2").expect("web2");
    assert_eq!(web2.state, State::Unknown);
    assert!(
        web2.issues
            .iter()
            .any(|i| i == "Webserver: konnte nicht geprüft werden (wir gehen dem nach)"),
        "{:?}",
        web2.issues
    );
    assert!(
        r.actions
            .iter()
            .any(|a| a.what == "tzdata aktualisiert: neu -> 2025b"),
        "{:?}",
        r.actions
    );
    assert!(
        r.next_window
            .as_deref()
            .is_some_and(|w| w.starts_with("Sonntag, 6. Dezember, 01:00–05:00 Uhr")),
        "{:?}",
        r.next_window
    );
    let services = r.areas.iter().find(|a| a.id == "services").expect("area");
    assert_eq!(
        (services.name.as_str(), services.note.as_str()),
        ("Dienste", "ein Dienst konnte nicht geprüft werden")
    );

    // The page Chromium builds holds the German words and none of the English ones.
    let html = report::render::html(&r, "Beispiel IT GmbH");
    let dom = dom(&html);
    assert!(dom.contains("<html lang=\"de\">"), "{dom}");
    for german in [
        "Wartungsbericht von Beispiel IT GmbH",
        "31. Okt. 2026 bis 30. Nov. 2026 (Europe/Berlin)",
        "Kennzahlen",
        "1.234 (3 Sicherheit; überfällig auf 0 Geräten)",
        "Ihre Geräte",
        "nicht prüfbar",
        "Was wir getan haben",
        "Nächstes Wartungsfenster: Sonntag, 6. Dezember",
        "79\u{202f}%",
    ] {
        assert!(
            dom.contains(german),
            "`{german}` missing from the DOM: {dom}"
        );
    }
    for english in [
        "Key figures",
        "Your devices",
        "Needs your decision",
        "could not",
        "Maintenance report",
        "What we did",
        " Dec ",
    ] {
        assert!(!dom.contains(english), "English `{english}` in: {dom}");
    }
    let text = report::render::text(&r, "Beispiel IT GmbH");
    assert!(
        text.contains("Kennzahlen") && text.contains("Zustand: "),
        "{text}"
    );
    assert_eq!(
        report::render::subject(&r),
        format!(
            "Wartungsbericht für Zahnarztpraxis Müller, 31. Okt. 2026 bis 30. Nov. 2026: {}/100",
            r.score.expect("score")
        )
    );
}

/// The same data in English and German: the same messages with the same figures (the trace), other
/// words; and each traced figure that is one of the report's key figures has that figure's value.
#[test]
fn every_sentence_is_traced_to_the_report_figures_in_every_language() {
    let en = report("en");
    let de = report("de");
    assert_eq!(en.summary.len(), de.summary.len());
    let figures = serde_json::to_value(&en.figures).expect("figures");
    for (e, d) in en.summary.iter().zip(&de.summary) {
        assert_eq!((e.message, &e.figures), (d.message, &d.figures));
        assert_ne!(e.text, d.text, "{}", e.message);
        for (k, v) in &e.figures {
            if let Some(f) = figures.get(*k) {
                assert_eq!(f, v, "{}: figure {k}", e.message);
            }
        }
    }
    let runs = &en.summary[0];
    assert_eq!(runs.message, "runs-mixed");
    assert_eq!(runs.figures["runs"], json!(11));
    let decision = en.summary.last().expect("sentence");
    assert_eq!(decision.message, "needs-decision");
    assert_eq!(decision.figures["disks"][0]["mount"], json!("/srv"));
    assert_eq!(
        decision.figures["certificates_expiring"][0]["days_left"],
        json!(12)
    );
    // The JSON for PSA tools carries the language and each sentence with its trace.
    let j = serde_json::to_value(&de).expect("json");
    assert_eq!(j["language"], json!("de"));
    assert_eq!(j["summary"][0]["message"], json!("runs-mixed"));
    assert!(
        j["summary"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Im letzten Monat"))
    );
    assert_eq!(j["areas"][0]["id"], json!("patching"));
}

#[test]
fn an_unknown_language_is_refused_with_its_line_and_the_choices() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("acme.yml"),
        "client: acme\ntimezone: Europe/Berlin\nlanguage: fr\nhosts:\n  web1: {connection: local}\n",
    )
    .expect("inventory");
    let err = Inventory::load(&dir.path().join("acme.yml"))
        .expect_err("fr is refused")
        .to_string();
    assert!(
        err.contains("acme.yml:3") && err.contains("`en`") && err.contains("`de`"),
        "{err}"
    );
    // A regional tag is the language.
    let c = client(dir.path(), "de-AT");
    assert_eq!(c.language, Language::De);
}
