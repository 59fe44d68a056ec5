//! `ansible_ssh_common_args` and `ansible_ssh_extra_args`: the OpenSSH options tended honours
//! there (`-J` / `-o ProxyJump=`, `-o UserKnownHostsFile=`, `-o StrictHostKeyChecking=`), and a
//! clear refusal, naming the key, of every other one: nothing in them is silently ignored.

use super::HostKeyChecking;

/// What the arguments ask for.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct SshArgs {
    /// A jump host spec (`user@host:port`).
    pub jump: Option<String>,
    pub known_hosts: Option<String>,
    pub host_key_checking: Option<HostKeyChecking>,
}

type Problem = (String, String);

fn refuse(key: &str, what: &str, help: &str) -> Problem {
    (format!("`{key}`: {what}"), help.to_string())
}

/// Reads the arguments of `key` (its name is in every message).
pub(crate) fn parse(key: &str, args: &str) -> Result<SshArgs, Problem> {
    let words =
        shlex::split(args).ok_or_else(|| refuse(key, "unbalanced quotes", "fix the quoting"))?;
    let mut out = SshArgs::default();
    let mut it = words.into_iter();
    while let Some(w) = it.next() {
        if w == "-J" || (w.starts_with("-J") && w.len() > 2) {
            let v = if w == "-J" {
                it.next()
            } else {
                Some(w[2..].to_string())
            };
            out.jump =
                Some(v.ok_or_else(|| {
                    refuse(key, "`-J` without a host", "write -J user@bastion:22")
                })?);
            continue;
        }
        let opt = if w == "-o" {
            it.next()
                .ok_or_else(|| refuse(key, "`-o` without an option", "write -o Name=value"))?
        } else if let Some(o) = w.strip_prefix("-o") {
            o.to_string()
        } else {
            return Err(refuse(
                key,
                &format!("the ssh argument `{w}` is not supported"),
                "tended reads -J and -o ProxyJump=, UserKnownHostsFile= and StrictHostKeyChecking= here; set the port with ansible_port and the user with ansible_user",
            ));
        };
        let (name, value) = opt
            .split_once(['=', ' '])
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .ok_or_else(|| {
                refuse(
                    key,
                    &format!("`-o {opt}` has no value"),
                    "write -o Name=value",
                )
            })?;
        match name.as_str() {
            "proxyjump" => out.jump = Some(value),
            "userknownhostsfile" => out.known_hosts = Some(value),
            "stricthostkeychecking" => {
                out.host_key_checking = Some(match value.to_ascii_lowercase().as_str() {
                    "yes" | "true" => HostKeyChecking::Strict,
                    "accept-new" => HostKeyChecking::AcceptNew,
                    other => {
                        return Err(refuse(
                            key,
                            &format!(
                                "`StrictHostKeyChecking={other}`: tended never connects without checking the host's key"
                            ),
                            "use StrictHostKeyChecking=accept-new (or host_key_checking: accept-new) to record unknown hosts' keys on first use; a changed key is still refused",
                        ));
                    }
                })
            }
            other => {
                let help = match other {
                    "controlmaster" | "controlpersist" | "controlpath" => {
                        "remove it: tended keeps one connection per host for the whole run"
                    }
                    "serveraliveinterval" | "serveralivecountmax" => {
                        "remove it and use tended's --keepalive (the daemon's keepalive:)"
                    }
                    "connecttimeout" => "remove it and use tended's --connect-timeout",
                    "proxycommand" => {
                        "use -J / -o ProxyJump= (or the inventory's jump:); ProxyCommand is not supported"
                    }
                    _ => {
                        "remove it: here tended supports -J and -o ProxyJump=, UserKnownHostsFile= and StrictHostKeyChecking="
                    }
                };
                return Err(refuse(
                    key,
                    &format!(
                        "the ssh option `{}` is not supported",
                        opt.split(['=', ' ']).next().unwrap_or(&opt)
                    ),
                    help,
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_tended_honours_and_a_refusal_for_the_rest() {
        let a = parse(
            "ansible_ssh_common_args",
            "-o ProxyJump=ops@bastion:2222 -oUserKnownHostsFile=/etc/tended/kh -o 'StrictHostKeyChecking accept-new'",
        )
        .expect("parses");
        assert_eq!(
            a,
            SshArgs {
                jump: Some("ops@bastion:2222".into()),
                known_hosts: Some("/etc/tended/kh".into()),
                host_key_checking: Some(HostKeyChecking::AcceptNew),
            }
        );
        assert_eq!(
            parse("k", "-J b.example").expect("J").jump.as_deref(),
            Some("b.example")
        );
        let e = parse("ansible_ssh_extra_args", "-o StrictHostKeyChecking=no").expect_err("no");
        assert!(
            e.0.contains("`ansible_ssh_extra_args`") && e.1.contains("accept-new"),
            "{e:?}"
        );
        let e = parse("k", "-o ControlMaster=auto -o ControlPersist=60s").expect_err("refused");
        assert!(
            e.0.contains("`ControlMaster`") && e.1.contains("one connection"),
            "{e:?}"
        );
        assert!(parse("k", "-v").is_err());
        assert!(parse("k", "-o 'unbalanced").is_err());
        assert_eq!(parse("k", "").expect("empty"), SshArgs::default());
    }
}
