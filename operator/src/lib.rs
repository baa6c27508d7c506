//! gohealth operator: the Kubernetes shell around `gohealth-core` (pure checks) and `gohealth-pprof`
//! (parsers).
//!
//! One reconcile is a pipeline (see `controller`): [`validate`] (spec → typed config) →
//! [`dereference`] (targets from the reflector caches, credentials, admission observations) →
//! [`cycle`] ([`scrape`], the I/O, then [`evaluate`], pure) → [`status`] and [`events`] (planned
//! purely, then applied) and [`metrics`]. [`state`] keeps one object per audit between cycles.

pub mod allocator;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod cycle;
pub mod dereference;
pub mod evaluate;
pub mod events;
pub mod leader;
pub mod metrics;
pub mod report;
pub mod scrape;
pub mod selector;
pub mod shard;
pub mod state;
pub mod status;
pub mod telemetry;
pub mod validate;
