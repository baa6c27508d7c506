//! The pprof parsers, compiled from `operator/src/pprof` with the one type they borrow from the
//! collector (`ScrapeError`), so fuzzing exercises exactly the operator's code.

#[path = "../../src/collect/error.rs"]
mod scrape_error;

pub mod collect {
    pub mod error {
        pub use crate::scrape_error::*;
    }
}

#[path = "../../src/pprof/mod.rs"]
pub mod pprof;
