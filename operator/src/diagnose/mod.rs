//! Checks: snapshots (and their history) in, findings out. Pure functions.

pub mod config;
