//! Work sharing between replicas: every replica holds its own membership Lease, the live Leases are the
//! members, and each audit belongs to exactly one member by rendezvous hashing ([`assign`]). When a
//! replica joins or leaves (or stops renewing), every replica re-evaluates, and only the audits whose
//! owner changed move. An audit running on its previous owner is marked in `status.inProgress`; the new
//! owner waits for it instead of auditing twice ([`membership`] is the Kubernetes side).

pub mod assign;
pub mod membership;

pub use assign::{Turn, owner, turn};
pub use membership::{Membership, ShardError, ShardView};
