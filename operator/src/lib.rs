//! gohealth: audits the Go programs running in a Kubernetes cluster (pprof) and the cluster's
//! kube-apiserver admission-plugin configuration.
//!
//! The audit cycle is a pipeline of plain functions: `discover` (pods → targets) → `collect`
//! (targets → snapshots over HTTP) → `diagnose` (snapshots + history → findings) → `report`
//! (findings → status, events, metrics). Only `controller` and the HTTP parts of `collect` touch the
//! network; everything else is pure and unit-tested from fixtures.

pub mod admission;
pub mod analyze;
pub mod audit;
pub mod collect;
pub mod controller;
pub mod crd;
pub mod diagnose;
pub mod discover;
pub mod duration;
pub mod finding;
pub mod leader;
pub mod metrics;
pub mod pprof;
pub mod report;
pub mod telemetry;
