//! Which files an inventory directory holds, and which format each client file is in.

use std::path::{Path, PathBuf};

use super::{RawClient, ansible, ansible_dir, is_safe_id, native};
use crate::yaml::{Diagnostic, Diagnostics, Source};

/// The client files of an inventory directory, and its subdirectories that are Ansible inventory
/// directories (one client each).
pub(super) fn inventory_files(path: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), Diagnostics> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Diagnostic::file_level(path, format!("cannot open the inventory: {e}"))
            .help("pass --inventory DIR (a directory of client files) or a single inventory file")
    })?;
    if meta.is_file() {
        return Ok((vec![path.to_path_buf()], Vec::new()));
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| {
            Diagnostic::file_level(path, format!("cannot list the inventory directory: {e}"))
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    let mut dirs: Vec<PathBuf> = entries
        .iter()
        .filter(|p| p.is_dir() && ansible_dir::is_ansible_dir(p))
        .cloned()
        .collect();
    dirs.sort();
    let mut files: Vec<PathBuf> = entries
        .into_iter()
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            !name.starts_with('.')
                && matches!(ext, "yml" | "yaml" | "ini" | "")
                && !name.ends_with('~')
        })
        .collect();
    files.sort();
    if files.is_empty() && dirs.is_empty() {
        return Err(Diagnostic::file_level(
            path,
            "the inventory directory holds no .yml, .yaml or .ini file",
        )
        .help("add one file per client, e.g. inventory/acme.yml (see inventory/example-client.yml), or one Ansible inventory directory per client")
        .into());
    }
    Ok((files, dirs))
}

/// The raw client and the problems found in it (it is still resolved, so every problem shows at once).
pub(super) fn parse_file(src: &Source) -> Result<(RawClient, Vec<Diagnostic>), Diagnostics> {
    let stem = src
        .path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("client")
        .to_string();
    let is_ini = src.path.extension().and_then(|e| e.to_str()) == Some("ini")
        || (src.path.extension().is_none() && looks_like_ini(&src.text));
    // An Ansible inventory's client id is its file name.
    let stem_problem = |mut parsed: (RawClient, Vec<Diagnostic>)| {
        if !is_safe_id(&parsed.0.id) {
            parsed.1.push(
                Diagnostic::file_level(
                    &src.path,
                    format!(
                        "the client id `{}` (the file's name) must be letters, digits, `-` and `_`",
                        parsed.0.id
                    ),
                )
                .help(
                    "rename the file, e.g. acme-dental.ini: the id names report files and patterns",
                ),
            );
        }
        parsed
    };
    if is_ini {
        return Ok(stem_problem(ansible::parse_ini(src, stem)));
    }
    let node = src.parse()?;
    if node.get("client").is_some() {
        Ok(native::parse(src, &node))
    } else {
        Ok(stem_problem(ansible::parse_yaml(src, &node, stem)))
    }
}

pub(crate) fn looks_like_ini(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .is_some_and(|l| l.starts_with('[') || !l.contains(':'))
}
