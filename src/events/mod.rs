//! The event stream behind `GET /v1/events`: every audit event, once per
//! instance, fanned out to this instance's subscribers, each of which can
//! resume after the last id it saw.
//!
//! - `hub.rs`: [`EventHub`] follows the store's audit log (woken by writes
//!   here, by the store's wake-ups, and by a poll) and broadcasts each
//!   event, serialised once into its SSE frame.
//! - `subscriber.rs`: [`EventHub::open_stream`], one subscriber's catch-up
//!   from the store merged with the live broadcast. Subscribers never read
//!   the store per event; they read it only to catch up (a resume, or
//!   after falling behind the broadcast).
//! - `slots.rs`: [`StreamSlots`], the caps on open streams, globally and
//!   per key.
//!
//! The HTTP handler only reads the cursor, takes a slot and writes the
//! frames this module hands it.

mod hub;
mod slots;
mod subscriber;

pub use hub::{
    EventHub, HubMessage, SharedEvent, event_frame, is_after, newest_event_id, wake_on_store,
};
pub use slots::{StreamSlot, StreamSlots, StreamsFull};
pub use subscriber::SubscribeError;
