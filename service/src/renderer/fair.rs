//! Render slots shared fairly between tenants (orgs, and the defaults).
//!
//! A plain semaphore lets whoever asks fastest hold every slot: one org rendering hostile
//! templates in a loop would make every other org wait for the deadline. Here a tenant may hold
//! at most `capacity - 1` slots (one when there is a single slot), so while one tenant is
//! saturated a slot stays free for the next, and a freed slot goes to the waiting tenant that
//! holds the fewest (first come among equals). A tenant may also queue only so many requests;
//! past that it is refused at once instead of growing the queue.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

/// Why a slot was not given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{tenant} already has {waiting} renders waiting for a slot")]
pub struct QueueFull {
    pub tenant: String,
    pub waiting: usize,
}

/// `capacity` places, each holding a `T` (a worker process, or `None` before one is started).
pub struct FairSlots<T> {
    state: Mutex<State<T>>,
    per_tenant: usize,
    max_waiting_per_tenant: usize,
}

struct State<T> {
    idle: Vec<T>,
    held: HashMap<String, usize>,
    waiting: Vec<Waiter<T>>,
    next_ticket: u64,
}

struct Waiter<T> {
    tenant: String,
    ticket: u64,
    give: oneshot::Sender<T>,
}

impl<T> State<T> {
    fn holds(&self, tenant: &str) -> usize {
        self.held.get(tenant).copied().unwrap_or(0)
    }

    fn take(&mut self, tenant: &str) {
        *self.held.entry(tenant.to_owned()).or_default() += 1;
    }

    fn give_back(&mut self, tenant: &str) {
        if let Some(count) = self.held.get_mut(tenant) {
            *count -= 1;
            if *count == 0 {
                self.held.remove(tenant);
            }
        }
    }
}

impl<T: Send + 'static> FairSlots<T> {
    pub fn new(places: Vec<T>, max_waiting_per_tenant: usize) -> Arc<Self> {
        let per_tenant = places.len().saturating_sub(1).max(1);
        Arc::new(Self {
            state: Mutex::new(State {
                idle: places,
                held: HashMap::new(),
                waiting: Vec::new(),
                next_ticket: 0,
            }),
            per_tenant,
            max_waiting_per_tenant,
        })
    }

    /// A place for `tenant`, when its turn comes. Cancelling the future (a deadline) gives up
    /// the turn, and a place handed over in that moment goes back.
    pub async fn acquire(self: &Arc<Self>, tenant: &str) -> Result<Lease<T>, QueueFull> {
        let receiver = {
            let mut state = self.state.lock().expect("render slots lock");
            if state.holds(tenant) < self.per_tenant
                && let Some(place) = state.idle.pop()
            {
                state.take(tenant);
                return Ok(self.lease(tenant, place));
            }
            let waiting = state.waiting.iter().filter(|w| w.tenant == tenant).count();
            if waiting >= self.max_waiting_per_tenant {
                return Err(QueueFull {
                    tenant: tenant.to_owned(),
                    waiting,
                });
            }
            let (give, receiver) = oneshot::channel();
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            state.waiting.push(Waiter {
                tenant: tenant.to_owned(),
                ticket,
                give,
            });
            receiver
        };
        let mut turn = Turn {
            slots: self.clone(),
            tenant,
            receiver,
        };
        let place = (&mut turn.receiver)
            .await
            .expect("a waiter is only dropped after it is answered");
        turn.receiver.close();
        Ok(self.lease(tenant, place))
    }

    fn lease(self: &Arc<Self>, tenant: &str, place: T) -> Lease<T> {
        Lease {
            slots: self.clone(),
            tenant: tenant.to_owned(),
            place: Some(place),
        }
    }

    /// Returns `tenant`'s place and hands it to the next waiter whose turn it is.
    fn release(&self, tenant: &str, mut place: T) {
        let mut state = self.state.lock().expect("render slots lock");
        state.give_back(tenant);
        loop {
            let next = state
                .waiting
                .iter()
                .enumerate()
                .filter(|(_, w)| state.holds(&w.tenant) < self.per_tenant)
                .min_by_key(|(_, w)| (state.holds(&w.tenant), w.ticket))
                .map(|(i, _)| i);
            let Some(index) = next else {
                state.idle.push(place);
                return;
            };
            let waiter = state.waiting.swap_remove(index);
            match waiter.give.send(place) {
                Ok(()) => {
                    state.take(&waiter.tenant);
                    return;
                }
                // That waiter gave up (its deadline passed): the next one.
                Err(back) => place = back,
            }
        }
    }

    /// Renders in progress per tenant, for tests and metrics.
    pub fn held(&self) -> HashMap<String, usize> {
        self.state.lock().expect("render slots lock").held.clone()
    }
}

/// A tenant's wait for a place; dropping it (cancelled) leaves the queue.
struct Turn<'a, T: Send + 'static> {
    slots: Arc<FairSlots<T>>,
    tenant: &'a str,
    receiver: oneshot::Receiver<T>,
}

impl<T: Send + 'static> Drop for Turn<'_, T> {
    fn drop(&mut self) {
        self.receiver.close();
        // Handed a place after giving up: it was counted as ours, so it goes back.
        if let Ok(place) = self.receiver.try_recv() {
            self.slots.release(self.tenant, place);
            return;
        }
        let mut state = self.slots.state.lock().expect("render slots lock");
        state.waiting.retain(|w| !w.give.is_closed());
    }
}

/// A place held by a tenant; given back (to the fairest waiter) when dropped.
pub struct Lease<T: Send + 'static> {
    slots: Arc<FairSlots<T>>,
    tenant: String,
    place: Option<T>,
}

impl<T: Send + 'static> Lease<T> {
    pub fn place(&mut self) -> &mut T {
        self.place.as_mut().expect("a lease holds its place")
    }
}

impl<T: Send + 'static> Drop for Lease<T> {
    fn drop(&mut self) {
        if let Some(place) = self.place.take() {
            self.slots.release(&self.tenant, place);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn soon<F: Future>(future: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::from_millis(50), future)
            .await
            .ok()
    }

    #[tokio::test]
    async fn one_tenant_never_holds_the_last_place() {
        let slots = FairSlots::new(vec![1, 2, 3], 8);
        let a1 = slots.acquire("a").await.unwrap();
        let a2 = slots.acquire("a").await.unwrap();
        assert!(soon(slots.acquire("a")).await.is_none(), "a waits");
        let b = soon(slots.acquire("b"))
            .await
            .expect("b gets the free place");
        assert!(b.is_ok());
        assert_eq!(
            slots.held(),
            HashMap::from([("a".into(), 2), ("b".into(), 1)])
        );
        drop((a1, a2));
    }

    #[tokio::test]
    async fn a_freed_place_goes_to_the_tenant_holding_fewest() {
        let slots = FairSlots::new(vec![1, 2], 8);
        let a = slots.acquire("a").await.unwrap();
        let b = slots.acquire("b").await.unwrap();
        // a asks first, c after; a holds one already, c none: c is served first.
        let a_again = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire("a").await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let c = tokio::spawn({
            let slots = slots.clone();
            async move {
                let lease = slots.acquire("c").await.unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
                drop(lease);
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(b);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(slots.held().get("c"), Some(&1), "{:?}", slots.held());
        assert!(!a_again.is_finished(), "a is at its share while c renders");
        c.await.unwrap();
        drop(a);
        a_again.await.unwrap().unwrap();
        assert!(slots.held().is_empty());
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_no_place_behind() {
        let slots = FairSlots::new(vec![1, 2], 8);
        let a = slots.acquire("a").await.unwrap();
        let b = slots.acquire("b").await.unwrap();
        assert!(soon(slots.acquire("c")).await.is_none());
        drop((a, b));
        assert!(slots.held().is_empty());
        let c1 = slots.acquire("c").await.unwrap();
        let d = slots.acquire("d").await.unwrap();
        assert_eq!(slots.held().len(), 2);
        drop((c1, d));
    }

    #[tokio::test]
    async fn a_tenant_with_a_full_queue_is_refused_at_once() {
        let slots = FairSlots::new(vec![1], 1);
        let _a = slots.acquire("a").await.unwrap();
        let queued = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire("a").await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let refused = slots.acquire("a").await.err().expect("a's queue is full");
        assert_eq!(refused.waiting, 1);
        queued.abort();
    }
}
