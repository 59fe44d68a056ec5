//! What `block:` / `rescue:` / `always:` mean while a host runs its flattened task list: a failure
//! in a block's body skips the rest of the body and runs its `rescue` tasks (the failure is then
//! rescued: shown, not counted, when the rescue succeeds); `always` tasks run whatever happened;
//! a failure that nothing rescues stops the host after the block's `always` tasks.

use crate::playbook::{Part, Task};

/// Whether the next task runs.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Gate {
    Run,
    /// Not for this host now (the rest of a failed body, a rescue nothing needs).
    Skip,
    /// The host stops here (a failure nothing rescued, its block's `always` done).
    Stop,
}

/// What a failure of a task means.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// The block's `rescue` runs; the failure is shown, not counted.
    Rescued,
    /// The block's `always` tasks run, then the host stops.
    AlwaysThenStop,
    /// The host stops now.
    Stop,
}

#[derive(Debug, Default)]
pub(super) struct Blocks {
    /// The block whose body failed.
    failed: Option<usize>,
    /// A failure nothing rescued, waiting for its block's `always` tasks: (block, reason).
    stopping: Option<(usize, String)>,
}

impl Blocks {
    pub(super) fn before(&self, task: &Task) -> Gate {
        if let Some((id, _)) = &self.stopping {
            return match task.block {
                Some(b) if b.id == *id && b.part == Part::Always => Gate::Run,
                Some(b) if b.id == *id => Gate::Skip,
                _ => Gate::Stop,
            };
        }
        match task.block {
            Some(b) if b.part == Part::Body && self.failed == Some(b.id) => Gate::Skip,
            Some(b) if b.part == Part::Rescue && self.failed != Some(b.id) => Gate::Skip,
            _ => Gate::Run,
        }
    }

    pub(super) fn failed(&mut self, task: &Task, reason: String) -> Failure {
        match task.block {
            Some(b) if b.part == Part::Body && b.has_rescue => {
                self.failed = Some(b.id);
                Failure::Rescued
            }
            Some(b) if b.part != Part::Always => {
                self.failed = Some(b.id);
                self.stopping = Some((b.id, reason));
                Failure::AlwaysThenStop
            }
            _ => Failure::Stop,
        }
    }

    /// The reason the host stopped, once its block's `always` tasks are done.
    pub(super) fn stopped(&self) -> Option<&str> {
        self.stopping.as_ref().map(|(_, r)| r.as_str())
    }
}
