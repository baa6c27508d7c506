//! Fair shares of the operator-wide scrape concurrency. One pool of `total` permits; while `n` audits
//! want permits (hold or wait for one), each may hold at most `ceil(total / n)`. A 2-target audit beside
//! a 1,000-target one thus never waits for the big audit's queue; an audit alone still gets every permit.
//!
//! An audit that holds fewer than `express` permits (`total / 8` rounded up) does not wait for one to
//! be released: it may take one of `express` permits above `total`. Without them a 2-target audit that
//! arrives while a big audit holds every permit waited for releases, a few ms each at hundreds of
//! targets a second, which was most of its time. The pool thus runs at most `total + express` scrapes.
//!
//! Waiters queue per audit (first come, first served) and a released permit is handed to exactly one
//! waiter, the audits taking turns: waking every waiter on each release cost O(targets²) wake-ups per
//! audit, which at 10,000 targets was most of the operator's CPU.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// The shared pool. Cheap to share through [`FairPool::share`].
#[derive(Debug)]
pub struct FairPool {
    total: usize,
    state: Mutex<PoolState>,
}

#[derive(Debug, Default)]
struct PoolState {
    in_flight: usize,
    /// Audits holding or waiting for permits (an entry is removed when both drop to zero).
    audits: HashMap<Arc<str>, Demand>,
    /// Audits with waiters, in the order they are served next.
    turns: VecDeque<Arc<str>>,
    next_waiter: u64,
}

#[derive(Debug, Default)]
struct Demand {
    held: usize,
    /// Pending acquires by arrival (ids increase), each with the channel its permit is sent on.
    waiters: BTreeMap<u64, oneshot::Sender<FairPermit>>,
}

impl PoolState {
    /// The most permits one audit may hold now.
    fn cap(&self, total: usize) -> usize {
        let active = self.audits.len().max(1);
        total.div_ceil(active)
    }

    /// Takes the permits that can be granted now out of the queues: one at a time, the audits with
    /// waiters taking turns, each up to its cap. The caller sends them after unlocking.
    fn grants(&mut self, total: usize, pool: &Arc<FairPool>) -> Vec<(oneshot::Sender<FairPermit>, FairPermit)> {
        let mut out = Vec::new();
        let cap = self.cap(total);
        let express = express(total);
        // Each pass over `turns` grants at least one permit or stops.
        let mut skipped = 0;
        while self.in_flight < total + express && skipped < self.turns.len() {
            let Some(audit) = self.turns.pop_front() else { break };
            let Some(d) = self.audits.get_mut(&audit) else {
                continue;
            };
            let room = if d.held < express { total + express } else { total };
            if d.held >= cap || self.in_flight >= room {
                self.turns.push_back(audit);
                skipped += 1;
                continue;
            }
            let Some((_, tx)) = d.waiters.pop_first() else { continue };
            d.held += 1;
            self.in_flight += 1;
            if !d.waiters.is_empty() {
                self.turns.push_back(audit.clone());
            }
            skipped = 0;
            let share = FairShare { pool: pool.clone(), audit };
            out.push((tx, FairPermit { share, released: false }));
        }
        out
    }

    /// Drops the entry of an audit that neither holds nor waits.
    fn forget_if_idle(&mut self, audit: &Arc<str>) {
        if self.audits.get(audit).is_some_and(|d| d.held == 0 && d.waiters.is_empty()) {
            self.audits.remove(audit);
        }
    }
}

/// Permits above `total` for audits that hold fewer than this many.
fn express(total: usize) -> usize {
    total.div_ceil(8).max(1)
}

impl FairPool {
    pub fn new(total: usize) -> Arc<FairPool> {
        Arc::new(FairPool { total: total.max(1), state: Mutex::new(PoolState::default()) })
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

    /// Hands out what can be granted. A waiter that went away meanwhile gives its permit straight back
    /// (without a nested dispatch), and the loop tries the next one.
    fn dispatch(self: &Arc<Self>) {
        loop {
            let grants = self.lock().grants(self.total, self);
            if grants.is_empty() {
                return;
            }
            let mut returned = false;
            for (tx, permit) in grants {
                if let Err(mut permit) = tx.send(permit) {
                    permit.release_counts();
                    returned = true;
                }
            }
            if !returned {
                return;
            }
        }
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

    /// Waits for a permit within this audit's share, behind this audit's earlier waiters. Cancel-safe: a
    /// dropped wait leaves no demand behind, and a permit granted to it returns to the pool.
    pub async fn acquire(&self) -> FairPermit {
        loop {
            let (tx, rx) = oneshot::channel();
            let id = {
                let mut st = self.pool.lock();
                let id = st.next_waiter;
                st.next_waiter += 1;
                let d = st.audits.entry(self.audit.clone()).or_default();
                let first = d.waiters.is_empty();
                d.waiters.insert(id, tx);
                if first {
                    st.turns.push_back(self.audit.clone());
                }
                id
            };
            let waiting = Waiting { share: self, id };
            self.pool.dispatch();
            let granted = rx.await;
            drop(waiting);
            // The sender is only dropped unsent when the pool itself is torn down: queue again.
            if let Ok(permit) = granted {
                return permit;
            }
        }
    }
}

/// One pending `acquire`; on drop, withdraws it if it is still queued.
struct Waiting<'a> {
    share: &'a FairShare,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let audit = &self.share.audit;
        let mut st = self.share.pool.lock();
        let Some(d) = st.audits.get_mut(audit) else { return };
        if d.waiters.remove(&self.id).is_none() {
            // Already granted: the permit travels in the channel (and returns to the pool if unread).
            return;
        }
        if d.waiters.is_empty() {
            st.turns.retain(|a| a != audit);
        }
        st.forget_if_idle(audit);
        drop(st);
        // One audit fewer may mean larger caps for the others.
        self.share.pool.dispatch();
    }
}

/// A held permit; released on drop.
#[derive(Debug)]
pub struct FairPermit {
    share: FairShare,
    released: bool,
}

impl FairPermit {
    /// Gives the permit back to the counts, without handing it on.
    fn release_counts(&mut self) {
        if std::mem::replace(&mut self.released, true) {
            return;
        }
        let mut st = self.share.pool.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        if let Some(d) = st.audits.get_mut(&self.share.audit) {
            d.held = d.held.saturating_sub(1);
        }
        st.forget_if_idle(&self.share.audit);
    }
}

impl Drop for FairPermit {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        self.release_counts();
        self.share.pool.dispatch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Acquires up to `n` permits of `share`, each wait given up after 50 ms; returns those granted.
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

    fn idle(pool: &FairPool) -> bool {
        let st = pool.lock();
        st.audits.is_empty() && st.turns.is_empty() && st.in_flight == 0
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
        assert!(idle(&pool), "no demand left behind, timed-out waits included");
    }

    #[tokio::test]
    async fn a_small_audit_beside_a_big_one_starts_at_once_then_gets_its_share() {
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
        // express: the small audit holds none, so its first permit comes above the total, now
        let first = tokio::time::timeout(Duration::from_millis(50), small.acquire()).await.expect("express permit");
        assert_eq!(pool.lock().in_flight, 5, "total 4 + express 1");
        // its second waits for a release; the big one may then hold at most ceil(4/2) = 2
        let second_wait = {
            let small = small.clone();
            tokio::spawn(async move { small.acquire().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!second_wait.is_finished(), "no express beyond the first permit");
        big_held.pop();
        big_held.pop();
        let second = tokio::time::timeout(Duration::from_secs(1), second_wait).await.unwrap().unwrap();
        {
            let st = pool.lock();
            assert_eq!(st.audits[&Arc::<str>::from("ns/small")].held, 2);
            assert!(st.audits[&Arc::<str>::from("ns/big")].held <= 2);
            assert!(st.in_flight <= 4);
        }
        drop((first, second));
        drop(big_held);
        for q in queue {
            q.await.unwrap();
        }
        assert_eq!(pool.available(), 4);
        assert!(idle(&pool));
    }

    #[tokio::test]
    async fn waiters_of_one_audit_are_served_in_arrival_order() {
        let pool = FairPool::new(1);
        let a = pool.share("ns/a");
        let first = a.acquire().await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let (a, order) = (a.clone(), order.clone());
                tokio::spawn(async move {
                    let _p = a.acquire().await;
                    order.lock().unwrap().push(i);
                })
            })
            .collect();
        // let every task queue, in spawn order
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order.len(), 5);
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
        assert!(idle(&pool));
    }

    #[tokio::test]
    async fn a_permit_granted_to_a_wait_given_up_returns_to_the_pool() {
        let pool = FairPool::new(1);
        let a = pool.share("ns/a");
        let held = a.acquire().await;
        // queued, then the permit is sent to it, then the wait is dropped before it reads the permit
        let mut wait = Box::pin(a.acquire());
        assert!(futures::poll!(wait.as_mut()).is_pending());
        drop(held);
        assert_eq!(pool.available(), 0, "granted to the queued wait");
        drop(wait);
        assert_eq!(pool.available(), 1);
        assert!(idle(&pool));
        // and the next one gets it
        let again = tokio::time::timeout(Duration::from_secs(1), a.acquire()).await.unwrap();
        drop(again);
        assert!(idle(&pool));
    }

    #[tokio::test]
    async fn a_release_wakes_one_waiter_only() {
        let pool = FairPool::new(2);
        let a = pool.share("ns/a");
        let held = grant_now(&a, 2).await;
        let mut waits: Vec<_> = (0..50).map(|_| Box::pin(a.acquire())).collect();
        for w in &mut waits {
            assert!(futures::poll!(w.as_mut()).is_pending());
        }
        drop(held);
        let mut granted = Vec::new();
        for w in &mut waits {
            if let std::task::Poll::Ready(p) = futures::poll!(w.as_mut()) {
                granted.push(p);
            }
        }
        assert_eq!(granted.len(), 2, "two releases, two grants");
        assert_eq!(pool.lock().audits[&Arc::<str>::from("ns/a")].waiters.len(), 48);
        drop(granted);
        drop(waits);
        assert!(idle(&pool));
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
