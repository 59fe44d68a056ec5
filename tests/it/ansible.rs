//! The same playbook and inventory through ansible-core and through tended: every template in it
//! must render to the same text. ansible-core is installed with pip into a venv under the target
//! directory the first time (as `benches/fleet.sh` does).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{json, tended};

/// `ansible-playbook` from a venv of ansible-core, installed on first use.
fn ansible_playbook() -> PathBuf {
    venv().join("bin/ansible-playbook")
}

/// A venv with ansible-core and python-jsonschema (the validator editors' schema tools use),
/// installed with pip on first use. Tests share it: the install runs under a lock.
pub fn venv() -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ansible-venv");
    let ready = venv.join(".tended-ready");
    if ready.exists() {
        return venv;
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        made,
        "python3 -m venv failed: install python3 with venv (Debian: python3-venv)"
    );
    let out = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "-q",
            "ansible-core>=2.17,<2.21",
            "jsonschema>=4.18",
        ])
        .output()
        .expect("pip");
    assert!(
        out.status.success(),
        "pip could not install ansible-core and jsonschema (PyPI must be reachable): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&ready, "").expect("marker");
    venv
}

/// Each `debug` task's `msg`, in order, from ansible-playbook's default output in JSON form.
fn ansible_messages(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"(?ms)^ok: \[web1\.example\.com\] => (\{.*?^\})").expect("regex");
    re.captures_iter(text)
        .map(|c| {
            let v: serde_json::Value = serde_json::from_str(&c[1]).expect("ansible json");
            match &v["msg"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        })
        .collect()
}

const TEMPLATES: &[&str] = &[
    "{{ marker }}",
    "{{ 'a-b-c'.split('-')[1] }} {{ out.split()[0] }} {{ '  x '.strip() }}",
    "{{ path | basename }} {{ path | dirname }}",
    "{{ '/x' | dirname }}|{{ 'a/b//' | dirname }}|{{ 'file' | dirname }}|{{ 'a/' | basename }}",
    "{{ out | regex_search('[0-9]+\\.[0-9]+') }}",
    "{{ out | regex_replace('kernel (\\S+) .*', 'k=\\1') }}",
    "{{ '\\\\.' | length }} {{ \"a\\\"b\" | length }}",
    "{{ out is match('kernel') }} {{ out is search('amd64') }} {{ '12.10' is version('12.9', '>') }}",
    "n={{ out | regex_findall('[0-9]+') | length }}",
    "{{ {'b': 1, 'c': [1, 2], 'u': 'ü'} | to_json }}",
    "x{{ flag | bool }} {{ 'no' | bool }} {{ path.startswith('/var') }}",
    "{{ n | int + 1 }} {{ n + 1 }}",
    "{{ (n == 42) | ternary('yes', 'no') }}",
    "{{ group_names | join(',') }} {{ groups['web'] | length }} {{ inventory_hostname_short }}",
    "{{ hostvars['web2']['role_name'] }} {{ groups['all'] | sort | join(',') }}",
    "x{{ none }}y",
    "{{ out.upper() }}",
    "{{ 'aGVsbG8=' | b64decode }} {{ 'hello' | b64encode }}",
    "{{ ('{\"a\": [1, 2]}' | from_json).a[1] }}",
    "x{{ [1, 'a'] }}",
    "{{ undefined_thing | default('fallback') }}",
];

#[test]
fn templates_render_as_ansible_core_renders_them() {
    let ansible = ansible_playbook();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("site.ini"),
        "[web]\nweb1.example.com ansible_connection=local fleet_dir=/srv/fleet path=/var/log/nginx/access.log out=\"kernel 6.1.0-28-amd64 running\" flag=yes n=42\nweb2 ansible_connection=local role_name=backend\n",
    )
    .expect("inventory");
    let mut pb = String::from(
        "- hosts: web1.example.com\n  gather_facts: false\n  vars:\n    spool: \"{{ fleet_dir }}/spool/{{ inventory_hostname }}\"\n    marker: \"{{ spool }}/ready\"\n  tasks:\n",
    );
    for t in TEMPLATES {
        let yaml = serde_json::to_string(t).expect("quoted");
        pb.push_str(&format!("    - debug:\n        msg: {yaml}\n"));
    }
    std::fs::write(dir.path().join("pb.yml"), &pb).expect("playbook");

    let out = Command::new(&ansible)
        .args(["-i", "site.ini", "pb.yml"])
        .current_dir(dir.path())
        .env("ANSIBLE_STDOUT_CALLBACK", "ansible.builtin.default")
        .env("ANSIBLE_CALLBACK_RESULT_FORMAT", "json")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "false")
        .env("ANSIBLE_LOCALHOST_WARNING", "false")
        .env("ANSIBLE_HOME", dir.path().join(".ansible"))
        .output()
        .expect("ansible-playbook");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "ansible-playbook failed: {text}");
    let theirs = ansible_messages(&text);
    assert_eq!(theirs.len(), TEMPLATES.len(), "{text}");

    let out = tended(
        dir.path(),
        &["run", "pb.yml", "-i", "site.ini", "--db", "t.db", "--json"],
    );
    let run = json(&out);
    let host = run["hosts"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["host"] == "web1.example.com"))
        .expect("web1 in the run");
    let ours: Vec<String> = host["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| match &t["data"]["msg"] {
            serde_json::Value::String(s) => s.clone(),
            other => format!("{} ({})", other, t["message"]),
        })
        .collect();
    assert_eq!(ours.len(), TEMPLATES.len(), "{ours:?}");
    for ((template, a), t) in TEMPLATES.iter().zip(&theirs).zip(&ours) {
        assert_eq!(
            t, a,
            "`{template}`: tended (left) and ansible-core (right) differ"
        );
    }
}

/// `tended schema` works in editors: python-jsonschema (which resolves `$ref`s as
/// yaml-language-server does) accepts every shipped playbook and inventory against the schemas,
/// and refuses a task with an unknown key and an inventory with an unknown top-level key.
#[test]
fn shipped_playbooks_and_inventories_validate_against_the_schemas() {
    let python = venv().join("bin/python");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for kind in ["playbook", "inventory"] {
        let out = tended(
            dir.path(),
            &["schema", kind, "--out", &format!("{kind}.json")],
        );
        assert!(out.status.success(), "{}", crate::common::text(&out));
    }
    std::fs::write(
        dir.path().join("typo.yml"),
        "hosts: all\ntasks:\n  - name: x\n    command: uptime\n    regster: r\n",
    )
    .expect("typo");
    std::fs::write(dir.path().join("typo-inv.yml"), "client: acme\nhostz: {}\n").expect("typo");
    std::fs::write(
        dir.path().join("features.yml"),
        "hosts: all\ntasks:\n  - block:\n      - command: uptime\n        loop: [1, 2]\n        loop_control: {label: x}\n        notify: h\n    rescue:\n      - debug: {msg: rescued}\n    always:\n      - include_tasks: more.yml\n  - import_tasks: {file: other.yml}\n    when: x is defined\n  - set_fact: {a: 1}\n  - assert: {that: [a == 1]}\nhandlers:\n  - name: h\n    listen: restart\n    debug: {var: a}\n",
    )
    .expect("features");
    let script = r#"
import json, sys, glob, yaml, jsonschema
def check(schema, files, want_ok):
    v = jsonschema.Draft202012Validator(json.load(open(schema)))
    for f in files:
        errors = list(v.iter_errors(yaml.safe_load(open(f))))
        if bool(errors) == want_ok:
            print(("INVALID " if want_ok else "ACCEPTED ") + f + ": " + "; ".join(e.message[:200] for e in errors[:3]))
            sys.exit(1)
        print("as expected: " + f)
root = sys.argv[1]
check("playbook.json", sorted(glob.glob(root + "/playbooks/*.yml")), True)
check("inventory.json", sorted(glob.glob(root + "/inventory/*.yml")), True)
check("playbook.json", ["features.yml"], True)
check("playbook.json", ["typo.yml"], False)
check("inventory.json", ["typo-inv.yml"], False)
"#;
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(root)
        .current_dir(dir.path())
        .output()
        .expect("python");
    let text = crate::common::text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.matches("as expected").count() >= 6, "{text}");
}

/// An Ansible inventory directory (INI hosts file, group_vars/ and host_vars/ as files and as
/// directories) loads with Ansible's precedence: every host's variables are those
/// `ansible-inventory --list` gives for the same directory; tended's own client keys come from
/// group_vars/all/tended.yml, and a native client file beside it still loads.
#[test]
fn an_ansible_inventory_directory_loads_as_ansible_core_reads_it() {
    let bin = venv().join("bin/ansible-inventory");
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("inv");
    let harbor = inv.join("harbor");
    for d in ["group_vars/all", "host_vars/db1"] {
        std::fs::create_dir_all(harbor.join(d)).expect("dirs");
    }
    let files = [
        (
            "hosts",
            "[web]\nweb1 ansible_connection=local http_port=80\nweb2 ansible_connection=local\n\n[db]\ndb1 ansible_connection=local\n\n[web:vars]\nrole=frontend\ntier=inventory\n",
        ),
        (
            "group_vars/all/tended.yml",
            "client_name: Harbor Dental\ntimezone: Europe/Berlin\nlanguage: de\ncontacts:\n  - {email: it@harbor.example, alerts: true}\nmaintenance_windows:\n  - {days: [sun], start: \"01:00\", end: \"05:00\"}\n",
        ),
        (
            "group_vars/all/vars.yml",
            "ntp: ntp.example.com\ntier: all\n",
        ),
        ("group_vars/web.yml", "tier: group_vars\nports: [80, 443]\n"),
        ("host_vars/web1.yml", "http_port: 8080\n"),
        ("host_vars/db1/main.yml", "backup: nightly\ntier: host\n"),
    ];
    for (path, text) in files {
        std::fs::write(harbor.join(path), text).expect("file");
    }
    std::fs::write(
        inv.join("acme.yml"),
        "client: acme\ntimezone: Europe/Berlin\nhosts:\n  web1: {connection: local}\n",
    )
    .expect("native client");

    let out = Command::new(&bin)
        .args(["-i", "harbor", "--list"])
        .current_dir(&inv)
        .env("ANSIBLE_HOME", dir.path().join(".ansible"))
        .output()
        .expect("ansible-inventory");
    assert!(out.status.success(), "{}", crate::common::text(&out));
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let out = tended(dir.path(), &["inventory", "list", "-i", "inv", "--json"]);
    let ours = json(&out);

    let client = ours["_meta"]["clients"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == "harbor"))
        .expect("client harbor");
    assert_eq!(client["name"], "Harbor Dental");
    assert_eq!(client["language"], "de");
    assert_eq!(client["contacts"][0]["email"], "it@harbor.example");
    assert_eq!(client["maintenance_windows"][0]["start"], "01:00:00");
    assert!(
        ours["_meta"]["clients"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["id"] == "acme")),
        "the native client beside it: {ours:#}"
    );
    let tended_only = ["inventory_hostname", "tended_client"];
    let ansible_only = [
        "client_name",
        "timezone",
        "language",
        "contacts",
        "maintenance_windows",
    ];
    for host in ["web1", "web2", "db1"] {
        let mut a = theirs["_meta"]["hostvars"][host].clone();
        let mut t = ours["_meta"]["hostvars"]
            .as_object()
            .and_then(|m| {
                m.iter()
                    .find(|(k, v)| {
                        *k == host
                            || (k.ends_with(&format!("/{host}")) && v["tended_client"] == "harbor")
                    })
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(|| panic!("{host} in {ours:#}"));
        for k in ansible_only {
            a.as_object_mut().map(|m| m.remove(k));
        }
        for k in tended_only {
            t.as_object_mut().map(|m| m.remove(k));
        }
        assert_eq!(t, a, "{host}: tended (left) and ansible-inventory (right)");
    }
}

/// The keywords as ansible-core runs them: the same playbook (a loop with `when` per item, a block
/// whose failure is rescued and whose `always` runs, a handler notified by a change, `set_fact`)
/// through ansible-playbook and through tended; the messages its `debug` tasks show come out the
/// same, in the same order.
#[test]
fn loops_blocks_handlers_and_set_fact_run_as_in_ansible_core() {
    let ansible = ansible_playbook();
    let dir = tempfile::tempdir().expect("tempdir");
    // The venv's python for ansible's modules (its interpreter discovery may pick a broken shim).
    let python = venv().join("bin/python");
    std::fs::write(
        dir.path().join("site.ini"),
        format!(
            "[web]\nweb1 ansible_connection=local ansible_python_interpreter={}\n",
            python.display()
        ),
    )
    .expect("inventory");
    std::fs::write(
        dir.path().join("pb.yml"),
        "- hosts: all\n  gather_facts: false\n  vars:\n    names: [a, b, c]\n  tasks:\n    - name: loop\n      debug: {msg: \"item {{ item }}\"}\n      loop: \"{{ names }}\"\n      when: item != 'b'\n    - block:\n        - command: \"false\"\n        - debug: {msg: never}\n      rescue:\n        - debug: {msg: rescued}\n      always:\n        - debug: {msg: always}\n    - command: \"true\"\n      notify: say\n    - set_fact: {count: \"{{ names | length }}\"}\n    - debug: {msg: \"count={{ count }}\"}\n  handlers:\n    - name: say\n      debug: {msg: handler ran}\n",
    )
    .expect("playbook");
    let out = Command::new(&ansible)
        .args(["-i", "site.ini", "pb.yml"])
        .current_dir(dir.path())
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "false")
        .env("ANSIBLE_HOME", dir.path().join(".ansible"))
        .output()
        .expect("ansible-playbook");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let msg = regex::Regex::new(r#"(?m)^\s*"msg": "(.*)"$"#).expect("regex");
    let theirs: Vec<String> = msg.captures_iter(&text).map(|c| c[1].to_string()).collect();

    let out = tended(
        dir.path(),
        &["run", "pb.yml", "-i", "site.ini", "--db", "t.db", "--json"],
    );
    let run = json(&out);
    let mut ours = Vec::new();
    for t in run["hosts"][0]["tasks"].as_array().expect("tasks") {
        if t["module"] != "debug" {
            continue;
        }
        match t["data"]["results"].as_array() {
            Some(items) => ours.extend(
                items
                    .iter()
                    .filter(|i| i["state"] == "ok")
                    .filter_map(|i| i["data"]["msg"].as_str().map(str::to_string)),
            ),
            None if t["state"] == "ok" => {
                ours.extend(t["data"]["msg"].as_str().map(str::to_string))
            }
            None => {}
        }
    }
    assert_eq!(
        theirs,
        [
            "item a",
            "item c",
            "rescued",
            "always",
            "count=3",
            "handler ran"
        ],
        "ansible-core's own run: {text}"
    );
    assert_eq!(
        ours, theirs,
        "tended (left) and ansible-core (right): {run:#}"
    );
}
