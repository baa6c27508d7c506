//! The `dereference` step: everything an audit reads from the cluster before it runs — its pods (from
//! the reflector caches, never a fresh list), the Secrets its credentials name, the knowledge-base
//! and benign-sites ConfigMaps and the apiserver's admission configuration. The steps after it are pure.

pub mod admission;
pub mod benign_sites;
pub mod control_plane;
pub mod credentials;
pub mod targets;
