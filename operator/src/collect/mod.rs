//! Scraping the pprof endpoints of the targets.

pub mod error;
pub mod snapshot;
