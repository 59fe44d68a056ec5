//! Each module's structured data as one type: the module writes it, the store keeps it as JSON, and
//! the report and the alerts read it back with the same type (`TaskResult::data_as`), never by key.
//!
//! Reading is lenient (every field has a default), so records written by older versions still read;
//! a field a reader needs that is missing shows as "not known", never as a made-up value.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::State;

/// Reads `data` as `T`, or `T::default()` when it is not that shape (an older or another module's record).
pub fn read<T: serde::de::DeserializeOwned + Default>(data: &Value) -> T {
    serde_json::from_value(data.clone()).unwrap_or_default()
}

/// Writes a module's data (a type that always serializes).
pub fn write<T: Serialize>(data: &T) -> Value {
    serde_json::to_value(data).unwrap_or(Value::Null)
}

/// `disk`: one entry per mount that was measured (or could not be).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskData {
    pub mounts: Vec<DiskMount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskMount {
    pub mount: String,
    pub fstype: String,
    pub state: State,
    pub size_bytes: Option<u64>,
    pub used_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
    pub used_percent: Option<f64>,
    pub inodes_total: Option<u64>,
    pub inodes_used: Option<u64>,
    pub inodes_used_percent: Option<f64>,
    pub problem: Option<String>,
}

impl Default for DiskMount {
    fn default() -> Self {
        DiskMount {
            mount: String::new(),
            fstype: String::new(),
            state: State::Unknown,
            size_bytes: None,
            used_bytes: None,
            free_bytes: None,
            used_percent: None,
            inodes_total: None,
            inodes_used: None,
            inodes_used_percent: None,
            problem: None,
        }
    }
}

/// `updates`: what is pending and what was installed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdatesData {
    pub manager: Option<String>,
    pub pending: Option<u64>,
    pub pending_security: Option<u64>,
    pub installed: Vec<InstalledPackage>,
    pub deferred: Option<bool>,
    pub reboot_required: Option<bool>,
    pub reboot: Option<RebootData>,
    /// Every pending update, with its versions and class: what patch history is built from.
    pub packages: Vec<PendingUpdate>,
    /// When each pending security update (`"name version"`) was first seen, in Unix seconds.
    pub security_first_seen: std::collections::BTreeMap<String, i64>,
}

/// One pending update as the host's package manager lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PendingUpdate {
    pub name: String,
    /// None for a package the upgrade newly installs.
    pub current: Option<String>,
    pub candidate: String,
    /// A security update: an advisory of category security (dnf, zypper) or from a security
    /// pocket (Debian, Ubuntu).
    pub security: bool,
    /// The advisory that ships it, where the package manager names one (dnf, zypper).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisory: Option<String>,
    /// The advisory's severity as the package manager gives it (`Important`, `moderate`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

/// One package installed, from which version to which.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstalledPackage {
    pub name: String,
    /// None: newly installed.
    pub from: Option<String>,
    pub to: String,
    pub security: bool,
}

/// A reboot tended performed (or decided against).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RebootData {
    pub performed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_id_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_id_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_state: Option<String>,
}

/// `service`: a unit's activity, and whether tended restarted it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceData {
    pub unit: String,
    pub active: bool,
    pub status: String,
    /// Some(true): restarted and active again; Some(false): the restart did not help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `failed_units`: the units in the failed state (less the ignored ones).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailedUnitsData {
    pub units: Vec<String>,
}

/// `systemd`: a unit before and after, and what tended did to it (`start`, `enable`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnitData {
    pub unit: String,
    pub active_before: bool,
    pub enabled_before: bool,
    pub active_after: bool,
    pub enabled_after: bool,
    /// The systemctl verbs run (or, in check mode, that would run), in order.
    pub actions: Vec<String>,
}

/// `cleanup`: what was (or, in check mode, would be) deleted under a path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CleanupData {
    pub path: String,
    pub files_deleted: u64,
    pub bytes_freed: u64,
    /// Old files left because a limit (`max_files`, `max_bytes`) was reached.
    pub files_left: u64,
    /// A sample of what was deleted (the oldest first, at most 20).
    pub sample: Vec<String>,
}

/// `backup`: the newest backup (a file, a restic snapshot or a borg archive) and what was verified.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_ok: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_snapshot: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_archive: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_subset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_restore_ok: Option<bool>,
}

/// `cert`: a certificate's expiry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertData {
    pub address: String,
    pub servername: String,
    pub not_after: String,
    pub days_left: Option<i64>,
    pub subject: String,
    pub issuer: String,
}

/// `http`: what the endpoint answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpData {
    pub url: String,
    pub status: Option<u16>,
    pub latency_ms: Option<u64>,
    pub bytes: Option<u64>,
    /// Only the first part of the body was read (and matched).
    pub truncated: bool,
}

/// `command` and `shell`: the exit code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandData {
    pub rc: Option<i32>,
}

/// A change that waits for the maintenance window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeferredData {
    pub deferred: bool,
}

/// Added to a re-check's data: what remediation achieved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemediationData {
    pub remediation: Option<Remediation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remediation {
    pub before: State,
    pub fixed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_of_any_age_read_and_a_missing_value_stays_unknown() {
        let d: DiskData = read(&json!({"mounts": [{"mount": "/", "used_percent": 41.5}]}));
        assert_eq!(d.mounts[0].used_percent, Some(41.5));
        assert_eq!(d.mounts[0].size_bytes, None, "not made up");
        let u: UpdatesData = read(
            &json!({"pending": 3, "installed": [{"name": "openssl", "from": "1", "to": "2", "security": true}], "reboot": {"performed": true, "seconds": 48}}),
        );
        assert_eq!(u.installed[0].to, "2");
        assert_eq!(u.reboot.map(|r| r.seconds), Some(Some(48)));
        let none: CertData = read(&Value::Null);
        assert_eq!(none.days_left, None);
    }
}
