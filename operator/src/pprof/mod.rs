//! Parsers for every Go profile format into one model (`model`).

pub mod model;
