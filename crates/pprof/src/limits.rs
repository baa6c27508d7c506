//! The caps every parser enforces, so memory stays proportional to the input with a small
//! constant whatever a (hostile or broken) target serves.
//!
//! Stacks deeper than the Go runtime can produce are cut at its own maximum and marked
//! (`GoroutineGroup::frames_elided`). Anything else over a cap is refused with
//! [`ParseError::ProfileTooComplex`](super::ParseError::ProfileTooComplex): a real Go program
//! stays well below every one of them, and a partial profile would mislead the checks.

use super::ParseError;

/// Deepest stack a goroutine, mutex, block or heap profile (proto and `debug=1`) carries.
/// Go 1.23+: `runtime.maxProfStackDepth` = 1024, the ceiling of `GODEBUG=profstackdepth`
/// (default 128; `runtime/mprof.go`, `runtime/runtime1.go`). Go 1.21/1.22 record at most 32
/// (`runtime.StackRecord.Stack0`).
pub const MAX_STACK_DEPTH: usize = 1024;

/// Deepest stack a `debug=2` dump or crash traceback prints: `tracebackInnerFrames` (50) +
/// `tracebackOuterFrames` (50), the middle replaced by `...N frames elided...`
/// (`runtime/traceback.go`, Go 1.21 … 1.27).
pub const MAX_TRACEBACK_FRAMES: usize = 100;

/// Samples (proto), records (`debug=1`) or groups (`debug=2`). Go aggregates identical stacks,
/// so only per-goroutine label values get near it (100k unique requests = 100k samples).
pub const MAX_SAMPLES: usize = 1 << 19;

/// Frames summed over the distinct stacks of one profile (each costs a 40-byte `Frame`, so
/// this is ≤ 42 MB): 8k distinct stacks at the default depth of 128. The busiest real
/// programs captured here (kube-apiserver, etcd, kube-controller-manager) hold a few
/// thousand goroutines of a few dozen frames.
pub const MAX_STACK_FRAMES: usize = 1 << 20;

/// Distinct strings (proto string table; function, file, label text in text formats).
pub const MAX_STRINGS: usize = 1 << 20;

/// Distinct label sets.
pub const MAX_LABEL_SETS: usize = 1 << 19;

/// Longest function name, file name, label key or value kept (Go symbol names, even of deeply
/// nested generic instantiations, are a few hundred bytes).
pub const MAX_NAME_BYTES: usize = 64 << 10;

/// Entries of the proto's flat tables (sample values, labels, location lines, locations,
/// functions): each is decoded into 16–24 bytes from as little as 2 input bytes.
pub const MAX_TABLE_ENTRIES: usize = 1 << 21;

pub(crate) fn too_complex(what: &'static str, limit: usize) -> ParseError {
    ParseError::ProfileTooComplex { what, limit }
}
