//! The offline commands: `gohealth analyze` (pprof dumps or one live endpoint) and `gohealth
//! admission` (apiserver flags from files). Both print findings through [`output`].

pub mod admission;
pub mod analyze;
pub mod output;
