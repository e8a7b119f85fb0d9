//! How many event streams may be open: `events.max_streams` on the
//! instance, `events.max_streams_per_key` per key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The open streams, counted against `events.max_streams` (all keys) and
/// `events.max_streams_per_key`. A stream holds a [`StreamSlot`] for its
/// whole life; dropping it frees the place.
#[derive(Debug)]
pub struct StreamSlots {
    max: usize,
    max_per_key: usize,
    /// Open streams per key name, and their total.
    open: Mutex<(usize, HashMap<String, usize>)>,
}

/// Why [`StreamSlots::open`] refused a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamsFull {
    #[error("{0} event streams are open on this instance (`events.max_streams`); retry later")]
    Instance(usize),
    #[error("this key has {0} event streams open (`events.max_streams_per_key`); close one")]
    Key(usize),
}

impl StreamSlots {
    pub fn new(max: usize, max_per_key: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            max_per_key,
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// A place for one more stream of `key`, if both caps allow.
    ///
    /// # Errors
    /// The instance or the key is at its cap.
    pub fn open(self: &Arc<Self>, key: &str) -> Result<StreamSlot, StreamsFull> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, per_key) = &mut *open;
        let mine = per_key.get(key).copied().unwrap_or(0);
        if mine >= self.max_per_key {
            return Err(StreamsFull::Key(mine));
        }
        if *total >= self.max {
            return Err(StreamsFull::Instance(*total));
        }
        *total += 1;
        per_key.insert(key.to_owned(), mine + 1);
        Ok(StreamSlot {
            slots: Arc::clone(self),
            key: key.to_owned(),
        })
    }

    /// Streams open now.
    pub fn total(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }
}

/// One open stream's place in [`StreamSlots`].
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    key: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, per_key) = &mut *open;
        *total -= 1;
        if let Some(n) = per_key.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                per_key.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_capped_per_key_then_per_instance_and_freed_on_drop() {
        let slots = StreamSlots::new(3, 2);
        let a1 = slots.open("a").unwrap();
        let _a2 = slots.open("a").unwrap();
        assert_eq!(slots.open("a").unwrap_err(), StreamsFull::Key(2));
        let _b1 = slots.open("b").unwrap();
        assert_eq!(slots.open("b").unwrap_err(), StreamsFull::Instance(3));
        drop(a1);
        assert_eq!(slots.total(), 2);
        let _b2 = slots.open("b").unwrap();
        assert_eq!(slots.total(), 3);
    }
}
