//! The path of a change from its commit to every cache and subscriber, in the order it takes:
//!
//! 1. a write commits a row of the change log (the outbox) and hands it to the [`relay`];
//! 2. the relay turns it into an [`Event`] (once: the same value travels the rest of the way)
//!    and publishes it, in revision order, on the in-process [`bus`] (one process) or through
//!    the [`publisher`] on Redis (which drops the change's L2 views in the same script);
//! 3. every replica's [`subscriber`] puts what Redis delivers on its bus, replaying from the
//!    change log whatever a lost message or an outage hid from it;
//! 4. on the bus, [`bus::invalidate_on_events`] drops L1 and announces the drop to MCP
//!    sessions; Watch streams filter and forward the events.
//!
//! The proto and Redis forms exist only at the edges, converted in [`wire`].

pub mod bus;
pub mod event;
pub mod publisher;
pub mod relay;
pub mod subscriber;
pub mod wire;

pub use bus::{Bus, Dropped, ViewsDropped};
pub use event::{ChangeEvent, Event, silence_bound};
