//! # Progress reporting
//!
//! The engine reports what it does through [`Progress`]; the command line renders it (bars on
//! a terminal, plain lines otherwise). Library code never prints.

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The step ran and produced its output.
    Built,
    /// The recorded key matched: nothing was done.
    UpToDate,
}

/// Receives progress events. Every method has a no-op default.
pub trait Progress: Sync {
    /// A step starts; `total` is its amount of work in bytes when known.
    fn start(&self, _step: &str, _total: Option<u64>) {}
    /// `done` bytes of a step's work are complete.
    fn advance(&self, _step: &str, _done: u64) {}
    /// A step ended.
    fn finish(&self, _step: &str, _outcome: Outcome) {}
    /// A note for the user (which kit was used, what was skipped …).
    fn note(&self, _message: &str) {}
}

/// Progress that reports nothing.
pub struct Silent;

impl Progress for Silent {}
