//! The kube-apiserver admission-plugin audit, as pure functions.
//!
//! `kb` (sourced facts) → `parse` (inputs → flags; `shapes` finds flags inside other text, `scan`
//! is the safety net for what the parse did not read) → `effective` (flags + version → the plugins
//! that run) → `checks` (one module per check id → findings). `offline` audits one input text,
//! `observed` assembles the live audit from what the operator read from the cluster; reading files
//! and clusters is the operator's job.

pub mod args;
pub mod checks;
pub mod effective;
pub mod kb;
pub mod observed;
pub mod offline;
pub mod parse;
pub mod scan;
pub mod shapes;
pub mod version;
