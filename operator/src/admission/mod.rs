//! The admission-plugin audit's I/O: `live` reads a cluster, `cli` reads files; the rules are in
//! `gohealth_core::admission`.

pub mod cli;
pub mod live;
pub mod spec;
