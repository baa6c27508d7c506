//! The `scrape` step (the cycle's I/O): fetching the profiles of the targets.
//!
//! - [`endpoint::resolve`]: pod + `spec.pprof` → where to scrape (pure).
//! - [`control_plane`]: mirror pods, nodes and the API address → the control plane's endpoints (pure).
//! - [`http::Collector`]: bounded, typed HTTP GETs (the only network code here).
//! - [`fair`]: per-audit fair shares of the operator-wide scrape concurrency.
//! - [`index::parse_index`]: which profiles a target serves (pure).
//! - [`profiles::ScrapePlan`] and `Collector::scrape`: what to fetch for the enabled checks.

pub mod control_plane;
pub mod endpoint;
pub mod fair;
pub mod http;
pub mod index;
pub mod profiles;
#[cfg(test)]
mod test_server;
