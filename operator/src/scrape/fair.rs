//! Fair shares of the operator-wide scrape concurrency. One pool of `total` permits; while `n` audits
//! want permits (hold or wait for one), each may hold at most `ceil(total / n)`. A 2-target audit beside
//! a 1,000-target one thus waits for at most one of its own slots to free up, not for the big audit's
//! whole queue; an audit alone still gets every permit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// The shared pool. Cheap to share through [`FairPool::share`].
#[derive(Debug)]
pub struct FairPool {
    total: usize,
    state: Mutex<PoolState>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct PoolState {
    in_flight: usize,
    /// Audits holding or waiting for permits (an entry is removed when both drop to zero).
    audits: HashMap<Arc<str>, Demand>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Demand {
    held: usize,
    waiting: usize,
}

impl PoolState {
    /// The most permits one audit may hold now.
    fn cap(&self, total: usize) -> usize {
        let active = self.audits.len().max(1);
        total.div_ceil(active)
    }
}

impl FairPool {
    pub fn new(total: usize) -> Arc<FairPool> {
        Arc::new(FairPool { total: total.max(1), state: Mutex::new(PoolState::default()), changed: Notify::new() })
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// Permits not held by anyone.
    pub fn available(&self) -> usize {
        self.total.saturating_sub(self.lock().in_flight)
    }

    /// The handle one audit acquires through.
    pub fn share(self: &Arc<Self>, audit: &str) -> FairShare {
        FairShare { pool: self.clone(), audit: Arc::from(audit) }
    }

    // A poisoned lock only means a panic elsewhere while counting; the counts themselves stay usable.
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One audit's access to the pool. Clones are the same audit.
#[derive(Clone, Debug)]
pub struct FairShare {
    pool: Arc<FairPool>,
    audit: Arc<str>,
}

impl FairShare {
    pub fn pool(&self) -> &Arc<FairPool> {
        &self.pool
    }

    /// Waits for a permit within this audit's share. Cancel-safe: a dropped wait leaves no demand behind.
    pub async fn acquire(&self) -> FairPermit {
        let mut waiting = Waiting { share: self, granted: false };
        waiting.register();
        loop {
            let notified = self.pool.changed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a release between the check and the await still wakes us.
            notified.as_mut().enable();
            if waiting.try_take() {
                return FairPermit { share: self.clone() };
            }
            notified.await;
        }
    }
}

/// Demand of one pending `acquire`; withdrawn on drop unless the permit was granted.
struct Waiting<'a> {
    share: &'a FairShare,
    granted: bool,
}

impl Waiting<'_> {
    fn register(&mut self) {
        let mut st = self.share.pool.lock();
        st.audits.entry(self.share.audit.clone()).or_default().waiting += 1;
    }

    fn try_take(&mut self) -> bool {
        let total = self.share.pool.total;
        let mut st = self.share.pool.lock();
        let cap = st.cap(total);
        let free = st.in_flight < total;
        let Some(d) = st.audits.get_mut(&self.share.audit) else { return false };
        if !free || d.held >= cap {
            return false;
        }
        d.held += 1;
        d.waiting = d.waiting.saturating_sub(1);
        st.in_flight += 1;
        self.granted = true;
        true
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.granted {
            return;
        }
        let mut st = self.share.pool.lock();
        if let Some(d) = st.audits.get_mut(&self.share.audit) {
            d.waiting = d.waiting.saturating_sub(1);
            if d.held == 0 && d.waiting == 0 {
                st.audits.remove(&self.share.audit);
            }
        }
        drop(st);
        // One audit fewer: the others' caps may have grown.
        self.share.pool.changed.notify_waiters();
    }
}

/// A held permit; released on drop.
#[derive(Debug)]
pub struct FairPermit {
    share: FairShare,
}

impl Drop for FairPermit {
    fn drop(&mut self) {
        let mut st = self.share.pool.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        if let Some(d) = st.audits.get_mut(&self.share.audit) {
            d.held = d.held.saturating_sub(1);
            if d.held == 0 && d.waiting == 0 {
                st.audits.remove(&self.share.audit);
            }
        }
        drop(st);
        self.share.pool.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Holds permits of `share` in tasks until told to stop; returns how many were granted.
    async fn grant_now(share: &FairShare, n: usize) -> Vec<FairPermit> {
        let mut held = Vec::new();
        for _ in 0..n {
            match tokio::time::timeout(Duration::from_millis(50), share.acquire()).await {
                Ok(p) => held.push(p),
                Err(_) => break,
            }
        }
        held
    }

    #[tokio::test]
    async fn an_audit_alone_gets_every_permit() {
        let pool = FairPool::new(4);
        let big = pool.share("ns/big");
        let held = grant_now(&big, 10).await;
        assert_eq!(held.len(), 4);
        assert_eq!(pool.available(), 0);
        drop(held);
        assert_eq!(pool.available(), 4);
        assert!(pool.lock().audits.is_empty(), "no demand left behind, timed-out waits included");
    }

    #[tokio::test]
    async fn a_small_audit_beside_a_big_one_is_served_at_the_next_release() {
        let pool = FairPool::new(4);
        let big = pool.share("ns/big");
        let small = pool.share("ns/small");
        let mut big_held = grant_now(&big, 4).await;
        // the big audit keeps a long queue of its own
        let queue: Vec<_> = (0..100)
            .map(|_| {
                let big = big.clone();
                tokio::spawn(async move {
                    let _p = big.acquire().await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                })
            })
            .collect();
        tokio::task::yield_now().await;
        let small_wait = {
            let small = small.clone();
            tokio::spawn(async move { small.acquire().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // two audits want permits: the big one may hold at most ceil(4/2) = 2, so its queue waits
        // until it is under its share, and the small one takes the first permit released.
        big_held.pop();
        let small_permit = tokio::time::timeout(Duration::from_secs(1), small_wait).await.unwrap().unwrap();
        {
            let st = pool.lock();
            assert_eq!(st.audits[&Arc::<str>::from("ns/small")].held, 1);
            assert!(st.audits[&Arc::<str>::from("ns/big")].held <= 3);
        }
        drop(small_permit);
        drop(big_held);
        for q in queue {
            q.await.unwrap();
        }
        assert_eq!(pool.available(), 4);
        assert!(pool.lock().audits.is_empty());
    }

    #[test]
    fn the_cap_is_the_ceiling_of_the_total_over_active_audits() {
        let mut st = PoolState::default();
        assert_eq!(st.cap(16), 16);
        for (i, want) in [(1, 16), (2, 8), (3, 6), (5, 4), (16, 1), (40, 1)] {
            st.audits = (0..i).map(|k| (Arc::<str>::from(format!("a{k}")), Demand::default())).collect();
            assert_eq!(st.cap(16), want, "{i} audits");
        }
    }
}
