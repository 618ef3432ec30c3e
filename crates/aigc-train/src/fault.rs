//! Fault injection for the checkpoint writer, so tests can check what a crash
//! or a failed write at each stage leaves on disk. Not part of the public
//! API: the hooks do nothing unless a test arms them.
//!
//! A plan is per thread, so tests running in parallel do not disturb each
//! other; checkpoints are written on the thread that calls `fit_batches`.

use std::cell::RefCell;
use std::path::Path;

/// A point in a checkpoint write where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `write_atomic`: the temporary file holds all the bytes, not yet fsynced.
    TempWritten,
    /// `write_atomic`: the temporary file is fsynced, not yet renamed.
    TempSynced,
    /// `write_atomic`: the temporary file is renamed over the target, the
    /// directory not yet fsynced.
    Renamed,
    /// `save_checkpoint`: the new weights are staged in `model.safetensors.new`.
    WeightsStaged,
    /// `save_checkpoint`: the new `training_state.bin` is in place (the commit
    /// point), the staged weights not yet renamed.
    StateCommitted,
    /// `save_checkpoint`: the staged weights are renamed to `model.safetensors`.
    WeightsRenamed,
}

/// What happens at the armed stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The process dies: the write stops where it is and cleans nothing up.
    Crash,
    /// The operation fails with this OS error (for example 28, `ENOSPC`), and
    /// the writer handles it as it would a real one.
    OsError(i32),
}

/// An armed fault: at `stage` of a write whose target file is named
/// `file_name` (`""` matches any file).
#[derive(Debug, Clone)]
struct Plan {
    file_name: String,
    stage: Stage,
    fault: Fault,
}

thread_local! {
    static PLAN: RefCell<Option<Plan>> = const { RefCell::new(None) };
}

/// Arms `fault` at `stage` of the next write to a file named `file_name`
/// (`""` for any file) on this thread. The fault fires once.
pub fn arm(file_name: &str, stage: Stage, fault: Fault) {
    PLAN.with(|plan| *plan.borrow_mut() = Some(Plan { file_name: file_name.to_string(), stage, fault }));
}

/// Disarms any fault armed on this thread.
pub fn disarm() {
    PLAN.with(|plan| *plan.borrow_mut() = None);
}

/// Returns whether an armed fault is still waiting to fire on this thread.
pub fn is_armed() -> bool {
    PLAN.with(|plan| plan.borrow().is_some())
}

/// How a write ended early: a simulated crash, or an I/O error to handle.
#[derive(Debug)]
pub(crate) enum Interruption {
    /// Stop at once, without cleanup.
    Crash,
    /// A failed operation.
    Io(std::io::Error),
}

impl From<std::io::Error> for Interruption {
    fn from(error: std::io::Error) -> Self {
        Interruption::Io(error)
    }
}

impl Interruption {
    /// The error a caller sees: the OS error, or for a simulated crash an
    /// error that says so.
    pub(crate) fn into_io(self) -> std::io::Error {
        match self {
            Interruption::Crash => std::io::Error::other(SimulatedCrash),
            Interruption::Io(error) => error,
        }
    }
}

/// The error of a simulated crash.
#[derive(Debug)]
struct SimulatedCrash;

impl std::fmt::Display for SimulatedCrash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("simulated crash (fault injection)")
    }
}

impl std::error::Error for SimulatedCrash {}

/// Returns whether `error` is a simulated crash, after which nothing may be cleaned up.
pub(crate) fn is_crash(error: &crate::TrainError) -> bool {
    match error {
        crate::TrainError::Io { source, .. } => source.get_ref().is_some_and(|inner| inner.is::<SimulatedCrash>()),
        _ => false,
    }
}

/// Fires the armed fault if it matches `path` and `stage`.
pub(crate) fn hit(path: &Path, stage: Stage) -> Result<(), Interruption> {
    let fault = PLAN.with(|plan| {
        let mut plan = plan.borrow_mut();
        let matches = plan.as_ref().is_some_and(|p| {
            p.stage == stage && (p.file_name.is_empty() || path.file_name().is_some_and(|name| name == p.file_name.as_str()))
        });
        if matches {
            plan.take().map(|p| p.fault)
        } else {
            None
        }
    });
    match fault {
        None => Ok(()),
        Some(Fault::Crash) => Err(Interruption::Crash),
        Some(Fault::OsError(code)) => Err(Interruption::Io(std::io::Error::from_raw_os_error(code))),
    }
}
