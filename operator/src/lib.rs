//! gohealth operator: the shell around `gohealth-core` (pure checks) and `gohealth-pprof` (parsers).
//!
//! The audit cycle is a pipeline of plain functions: `discover` (pods → targets) → `collect`
//! (targets → snapshots over HTTP) → `gohealth_core::diagnose` (snapshots + history → findings) →
//! `report` (findings → status, events, metrics). Only `controller` and the HTTP parts of `collect`
//! touch the network.

pub mod admission;
pub mod analyze;
pub mod audit;
pub mod collect;
pub mod controller;
pub mod crd;
pub mod discover;
pub mod leader;
pub mod metrics;
pub mod report;
pub mod telemetry;
