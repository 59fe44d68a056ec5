//! The become password is written only when sudo asks for it, and the task's own stdin only once
//! the command runs.
//!
//! sudo is started with a random prompt (`-p`), and the command prints a second random marker to
//! stderr before it starts. The transport feeds stderr through a [`SudoGate`]: the prompt marker gets
//! the password (once: a second prompt means it was wrong, and stdin is closed), the success marker
//! releases the task's stdin. Both markers are taken out of stderr. With NOPASSWD, as root, or with a
//! cached timestamp sudo never prompts and the password is never sent, so `command: cat` cannot echo
//! it into the task's output, the database or `tended show` (Ansible uses the same two markers).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::inventory::SecretString;

/// Stderr held while waiting for the success marker is capped (sudo's own output is small).
const HOLD_CAP: usize = 64 * 1024;

/// An unpredictable marker: the command that runs cannot know it in advance.
pub(crate) fn marker(kind: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut words = [0u64; 2];
    for w in &mut words {
        // Each RandomState has fresh keys from the OS's random source.
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        *w = h.finish();
    }
    format!("[tended-{kind}-{:016x}{:016x}]", words[0], words[1])
}

/// What the transport must write to the command's stdin after a piece of stderr.
#[derive(Debug, PartialEq, Eq)]
pub enum GateStep {
    /// The password and a newline (sudo asked).
    Password(Vec<u8>),
    /// The task's own stdin (the command runs now), then end of input.
    Stdin(Vec<u8>),
    /// End of input: sudo asked a second time (the password was wrong), so it gets nothing more.
    Eof,
}

/// Watches stderr for sudo's prompt and the command's start.
pub struct SudoGate {
    prompt: String,
    started: String,
    password: SecretString,
    stdin: Option<Vec<u8>>,
    held: Vec<u8>,
    prompts: u32,
    running: bool,
}

impl std::fmt::Debug for SudoGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SudoGate")
            .field("prompts", &self.prompts)
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl SudoGate {
    pub fn new(password: SecretString, stdin: Option<Vec<u8>>) -> SudoGate {
        SudoGate {
            prompt: marker("prompt"),
            started: marker("started"),
            password,
            stdin,
            held: Vec::new(),
            prompts: 0,
            running: false,
        }
    }

    /// The prompt sudo prints (`sudo -p`).
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// The marker the command prints to stderr just before it starts.
    pub fn started(&self) -> &str {
        &self.started
    }

    /// Takes a piece of stderr; returns the stderr to keep and what to write to stdin.
    pub fn feed(&mut self, data: &[u8]) -> (Vec<u8>, Vec<GateStep>) {
        if self.running {
            return (data.to_vec(), Vec::new());
        }
        self.held.extend_from_slice(data);
        let mut steps = Vec::new();
        while let Some(at) = find(&self.held, self.prompt.as_bytes()) {
            self.held.drain(at..at + self.prompt.len());
            self.prompts += 1;
            if self.prompts == 1 {
                let mut pw = self.password.expose().as_bytes().to_vec();
                pw.push(b'\n');
                steps.push(GateStep::Password(pw));
            } else {
                steps.push(GateStep::Eof);
            }
        }
        if let Some(at) = find(&self.held, self.started.as_bytes()) {
            self.held.drain(at..at + self.started.len());
            self.running = true;
            steps.push(GateStep::Stdin(self.stdin.take().unwrap_or_default()));
            return (std::mem::take(&mut self.held), steps);
        }
        if self.held.len() > HOLD_CAP {
            // Not sudo's prompt chatter any more: let it through (a prompt split across this cut is
            // still found in the kept tail).
            let keep_from = self.held.len() - self.prompt.len().max(self.started.len());
            let out = self.held.drain(..keep_from).collect();
            return (out, steps);
        }
        (Vec::new(), steps)
    }

    /// The stderr still held when the command ended (sudo refused: its message is kept).
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> SudoGate {
        SudoGate::new(SecretString("s3cret".into()), Some(b"input".to_vec()))
    }

    #[test]
    fn no_prompt_means_the_password_is_never_written() {
        let mut g = gate();
        let started = g.started().to_string();
        let (keep, steps) = g.feed(format!("{started}err").as_bytes());
        assert_eq!(keep, b"err");
        assert_eq!(steps, [GateStep::Stdin(b"input".to_vec())]);
        let (keep, steps) = g.feed(b" more");
        assert_eq!((keep.as_slice(), steps.len()), (&b" more"[..], 0));
    }

    #[test]
    fn a_prompt_split_across_chunks_gets_the_password_once() {
        let mut g = gate();
        let prompt = g.prompt().to_string();
        let (a, b) = prompt.split_at(5);
        assert_eq!(g.feed(a.as_bytes()), (Vec::new(), Vec::new()));
        let (_, steps) = g.feed(b.as_bytes());
        assert_eq!(steps, [GateStep::Password(b"s3cret\n".to_vec())]);
        // A second prompt: the password was wrong; sudo gets end of input, not the task's stdin.
        let (_, steps) = g.feed(format!("Sorry, try again.\n{prompt}").as_bytes());
        assert_eq!(steps, [GateStep::Eof]);
        assert_eq!(g.finish(), b"Sorry, try again.\n");
    }

    #[test]
    fn markers_differ_each_time() {
        assert_ne!(marker("x"), marker("x"));
        assert!(!format!("{:?}", gate()).contains("s3cret"));
    }
}
