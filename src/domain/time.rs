//! Instants as whole seconds since the Unix epoch, the unit of JWT
//! `NumericDate` (RFC 7519 §2), so that `iat` and `exp` compare directly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Seconds since 1970-01-01T00:00:00Z.
///
/// Code that makes a decision takes a `UnixTime` as a parameter instead of
/// reading the clock, so that tests can pin time.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = i64, example = 1764331613)]
pub struct UnixTime(i64);

impl UnixTime {
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs)
    }

    /// Reads the system clock. Only the edges of the program (handlers,
    /// background tasks) call this.
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    pub const fn as_secs(self) -> i64 {
        self.0
    }

    /// `self + duration`, saturating instead of overflowing.
    pub fn saturating_add(self, duration: Duration) -> Self {
        let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(secs))
    }

    /// Time left from `now` until `self`; zero when `self` is not after `now`.
    pub fn remaining_after(self, now: UnixTime) -> Duration {
        Duration::from_secs(u64::try_from(self.0.saturating_sub(now.0)).unwrap_or(0))
    }
}

impl std::fmt::Display for UnixTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturating_add_does_not_overflow() {
        let t = UnixTime::from_secs(i64::MAX - 1);
        assert_eq!(
            t.saturating_add(Duration::from_secs(10)),
            UnixTime::from_secs(i64::MAX)
        );
    }

    #[test]
    fn remaining_after_is_zero_in_the_past() {
        let t = UnixTime::from_secs(100);
        assert_eq!(t.remaining_after(UnixTime::from_secs(150)), Duration::ZERO);
        assert_eq!(
            t.remaining_after(UnixTime::from_secs(40)),
            Duration::from_secs(60)
        );
    }
}
