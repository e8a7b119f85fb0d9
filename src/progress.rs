//! Progress of long work (loading a large mirror, building the Redis
//! snapshot index): a count, its rate and, when the total is known or
//! estimated, the time left. Logged at most every [`LOG_EVERY`] while the
//! work runs, so that an operator watching a start-up that takes minutes
//! sees it move; readable at any time for `/readyz`'s details.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Often enough to show movement, rarely enough not to flood the log.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// One piece of long work in progress. Shared (`&self`) between the worker
/// that advances it and the readers that describe it.
#[derive(Debug)]
pub struct Progress {
    /// What is being done, e.g. "loading the revocation mirror".
    what: &'static str,
    /// What is counted, e.g. "entries".
    unit: &'static str,
    /// The expected total, when known or estimated.
    total: Option<u64>,
    started: Instant,
    done: AtomicU64,
    last_logged: Mutex<Instant>,
    every: Duration,
}

impl Progress {
    pub fn new(what: &'static str, unit: &'static str, total: Option<u64>) -> Self {
        Self::starting_at(what, unit, total, Instant::now(), LOG_EVERY)
    }

    /// [`Progress::new`] with an explicit start and log interval (tests).
    pub fn starting_at(
        what: &'static str,
        unit: &'static str,
        total: Option<u64>,
        started: Instant,
        every: Duration,
    ) -> Self {
        Self {
            what,
            unit,
            total: total.filter(|t| *t > 0),
            started,
            done: AtomicU64::new(0),
            last_logged: Mutex::new(started),
            every,
        }
    }

    /// Counts `n` more; logs the progress when [`LOG_EVERY`] has passed
    /// since it was last logged.
    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
        let now = Instant::now();
        let due = {
            let mut last = self
                .last_logged
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if now.duration_since(*last) >= self.every {
                *last = now;
                true
            } else {
                false
            }
        };
        if due {
            tracing::info!(
                done = self.done(),
                total = self.total,
                "{}",
                self.describe_at(now)
            );
        }
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// One line: what, how many, how fast, how long left.
    pub fn describe(&self) -> String {
        self.describe_at(Instant::now())
    }

    /// [`Progress::describe`] as of `now`.
    pub fn describe_at(&self, now: Instant) -> String {
        let done = self.done();
        let elapsed = now.duration_since(self.started).as_secs_f64();
        let rate = if elapsed > 0.0 {
            done as f64 / elapsed
        } else {
            0.0
        };
        let mut text = match self.total {
            Some(total) => format!(
                "{}: {done} of about {total} {} ({}%)",
                self.what,
                self.unit,
                (done.min(total) * 100) / total
            ),
            None => format!("{}: {done} {}", self.what, self.unit),
        };
        text.push_str(&format!(", {rate:.0}/s, {elapsed:.0}s so far"));
        if let Some(total) = self.total
            && rate > 0.0
        {
            let left = total.saturating_sub(done) as f64 / rate;
            text.push_str(&format!(", about {left:.0}s left"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_rate_and_time_left() {
        let start = Instant::now();
        let progress = Progress::starting_at("loading", "entries", Some(1000), start, LOG_EVERY);
        progress.advance(250);
        assert_eq!(
            progress.describe_at(start + Duration::from_secs(5)),
            "loading: 250 of about 1000 entries (25%), 50/s, 5s so far, about 15s left"
        );
        let open = Progress::starting_at("building", "keys", None, start, LOG_EVERY);
        open.advance(30);
        assert_eq!(
            open.describe_at(start + Duration::from_secs(10)),
            "building: 30 keys, 3/s, 10s so far"
        );
    }

    #[test]
    fn more_than_the_estimate_stays_at_100_percent_with_nothing_left() {
        let start = Instant::now();
        let progress = Progress::starting_at("loading", "entries", Some(10), start, LOG_EVERY);
        progress.advance(15);
        assert_eq!(
            progress.describe_at(start + Duration::from_secs(1)),
            "loading: 15 of about 10 entries (100%), 15/s, 1s so far, about 0s left"
        );
    }
}
