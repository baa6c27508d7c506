//! gohealth's pure core: everything between a parsed profile and a finding, with no Kubernetes
//! client and no CRD types (the operator shell owns those).
//!
//! - [`finding`]: the finding and the check ids (a public interface).
//! - [`snapshot`]: what one scrape of one target yields; [`scrape_error`]: why a scrape failed.
//! - [`target`]: a target's containers and their restarts.
//! - [`diagnose`]: one module per pprof check id, history and its status codec.
//! - [`admission`]: the admission-plugin knowledge base, input parsers and one module per check id.
//! - [`duration`]: Go durations, as the spec writes them.

pub mod admission;
pub mod diagnose;
pub mod duration;
pub mod finding;
pub mod scrape_error;
pub mod snapshot;
pub mod target;
