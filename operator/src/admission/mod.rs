//! The kube-apiserver admission-plugin audit.
//!
//! `kb` (sourced facts) → `parse` (inputs → flags) → `check` (flags + version → effective set and
//! findings), all pure; `live` fetches from a cluster, `cli` reads files.

pub mod args;
pub mod check;
pub mod cli;
pub mod kb;
pub mod live;
pub mod parse;
pub mod spec;
pub mod version;
