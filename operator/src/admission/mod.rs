//! The kube-apiserver admission-plugin audit.

pub mod spec;
