//! The offline commands: `gohealth analyze` (pprof dumps, live endpoints and pods, once or over time)
//! and `gohealth admission` (apiserver flags from files). Both print findings through [`output`].

pub mod admission;
pub mod analyze;
pub mod kube_targets;
pub mod live;
pub mod output;
pub mod remote;
pub mod replicas;
pub mod series;
pub mod tunnel;
