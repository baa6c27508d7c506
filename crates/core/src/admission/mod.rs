//! The kube-apiserver admission-plugin audit, as pure functions.
//!
//! `kb` (sourced facts) → `parse` (inputs → flags) → `check` (flags + version → effective set and
//! findings). Reading files and clusters is the operator's job.

pub mod args;
pub mod check;
pub mod kb;
pub mod parse;
pub mod version;
