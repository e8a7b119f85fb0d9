//! The bounds of a session registration: how long it may be kept.

use crate::config::Lifetimes;
use crate::domain::UnixTime;
use crate::store::StoreError;

/// Why a registration was not taken. The messages are written for API
/// callers.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("`expires_at` is in the past")]
    ExpiresInThePast,
    #[error("`expires_at` lies further ahead than lifetimes.max_token_exp")]
    ExpiresTooFar,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `expires_at` of a registration made at `now`, if in bounds: in the
/// future, and at most `lifetimes.max_token_exp` ahead. The registration
/// (or a refusal's revocations) is kept until then, so it is bounded like
/// a token revocation's `exp`.
pub(super) fn bound_expiry(
    expires_at: UnixTime,
    lifetimes: &Lifetimes,
    now: UnixTime,
) -> Result<UnixTime, RegisterError> {
    if expires_at <= now {
        return Err(RegisterError::ExpiresInThePast);
    }
    if expires_at > now.saturating_add(lifetimes.max_token_exp) {
        return Err(RegisterError::ExpiresTooFar);
    }
    Ok(expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revocations::tests::{DAY, lifetimes};
    use std::time::Duration;

    #[test]
    fn an_expiry_within_max_token_exp_is_kept_as_given() {
        let now = UnixTime::from_secs(1_000);
        for expires_at in [
            now.saturating_add(Duration::from_secs(1)),
            now.saturating_add(30 * DAY),
            now.saturating_add(400 * DAY),
        ] {
            assert_eq!(
                bound_expiry(expires_at, &lifetimes(), now).unwrap(),
                expires_at
            );
        }
    }

    #[test]
    fn an_expiry_now_or_before_is_refused() {
        let now = UnixTime::from_secs(1_000);
        for expires_at in [now, UnixTime::from_secs(999), UnixTime::from_secs(0)] {
            assert!(
                matches!(
                    bound_expiry(expires_at, &lifetimes(), now),
                    Err(RegisterError::ExpiresInThePast)
                ),
                "{expires_at:?}"
            );
        }
    }

    #[test]
    fn an_expiry_beyond_max_token_exp_is_refused() {
        let now = UnixTime::from_secs(1_000);
        let too_far = now.saturating_add(400 * DAY + Duration::from_secs(1));
        let err = bound_expiry(too_far, &lifetimes(), now).unwrap_err();
        assert!(matches!(err, RegisterError::ExpiresTooFar), "{err:?}");
        assert_eq!(
            err.to_string(),
            "`expires_at` lies further ahead than lifetimes.max_token_exp"
        );
    }
}
