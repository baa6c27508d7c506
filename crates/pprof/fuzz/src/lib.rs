//! The fuzz targets reach the parsers through the `gohealth-pprof` crate, exactly as the operator does.

pub use gohealth_pprof as pprof;
