//! The one answer `/v1/check`, `/v1/forward-auth` and `/v1/introspect`
//! give: the verdict of the facts at hand, with `check.fail_mode` applied
//! to what those facts cannot cover. The handlers only map it to HTTP, so
//! the fail-mode rule (decision 9 of DESIGN.md) lives here and nowhere else.

use super::LookupError;
use crate::config::FailMode;
use crate::domain::Verdict;

/// How a check is answered.
#[derive(Debug)]
pub enum CheckAnswer {
    /// From facts that settle the question: current facts, or a
    /// revocation the mirror holds even while it may be missing changes.
    Known(Verdict),
    /// Nothing known revokes the token, but the facts may be incomplete
    /// (the error says why) and `check.fail_mode = "open"`: the token is
    /// let through, flagged as degraded.
    Degraded(LookupError),
}

/// Why an answer was given on facts that may be incomplete: what the
/// `Revokd-Degraded` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degradation {
    /// The store could not be read, or this instance's mirror is behind
    /// it. One value for both: proxies match on it, and it predates the
    /// mirror.
    StoreUnavailable,
}

impl Degradation {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StoreUnavailable => "store_unavailable",
        }
    }
}

impl CheckAnswer {
    /// What the caller acts on: a degraded answer lets the token through.
    pub fn verdict(&self) -> Verdict {
        match self {
            Self::Known(verdict) => *verdict,
            Self::Degraded(_) => Verdict::Active,
        }
    }

    /// Set when the answer must be flagged (`Revokd-Degraded`), so that a
    /// proxy or an app can tell an answer vouched for by current facts
    /// from one the fail mode gave.
    pub fn degraded(&self) -> Option<Degradation> {
        match self {
            Self::Known(_) => None,
            Self::Degraded(_) => Some(Degradation::StoreUnavailable),
        }
    }
}

/// The fail-mode rule (decision 9 of DESIGN.md: a degraded answer is given
/// only for what the instance cannot know).
///
/// `known` is the verdict of the facts at hand (of no facts at all when the
/// store could not be read); `uncertain` says why they may be incomplete.
/// A token they revoke is refused whatever the fail mode and however stale
/// they are: a mirror that is behind may be missing revocations, but one it
/// holds was true, and lifting it (an enable) is rare and safe to delay. Only
/// "active" depends on completeness: `closed` refuses to vouch for it (503),
/// `open` answers it flagged.
///
/// # Errors
/// `known` is active, the facts may be incomplete, and `fail_mode` is
/// closed: `uncertain` is returned.
pub fn answer(
    known: Verdict,
    uncertain: Option<LookupError>,
    fail_mode: FailMode,
) -> Result<CheckAnswer, LookupError> {
    match (known, uncertain) {
        (verdict, None) => Ok(CheckAnswer::Known(verdict)),
        (Verdict::Inactive(reason), Some(_)) => Ok(CheckAnswer::Known(Verdict::Inactive(reason))),
        (Verdict::Active, Some(err)) => match fail_mode {
            FailMode::Closed => Err(err),
            FailMode::Open => Ok(CheckAnswer::Degraded(err)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Reason;
    use crate::mirror::MirrorError;
    use crate::store::StoreError;

    /// Each way a lookup can leave the facts incomplete, by name.
    fn uncertain(outcome: &str) -> Option<LookupError> {
        match outcome {
            "current" => None,
            "store" => Some(LookupError::Store(StoreError::unavailable(
                std::io::Error::other("connection refused"),
            ))),
            "mirror" => Some(LookupError::Mirror(MirrorError::Loading)),
            other => unreachable!("{other}"),
        }
    }

    /// The expected answer: `Ok((verdict, degraded))` or `Err(outcome)`.
    type Expected = Result<(Verdict, Option<Degradation>), &'static str>;

    fn check(mode: FailMode, known: Verdict, outcome: &'static str, expected: Expected) {
        let got = answer(known, uncertain(outcome), mode);
        let case = format!("{mode:?}, facts {outcome}, {known:?}: {got:?}");
        match (got, expected) {
            (Ok(answer), Ok((verdict, degraded))) => {
                assert_eq!(answer.verdict(), verdict, "{case}");
                assert_eq!(answer.degraded(), degraded, "{case}");
            }
            (Err(LookupError::Store(_)), Err("store"))
            | (Err(LookupError::Mirror(_)), Err("mirror")) => {}
            _ => panic!("{case}, expected {expected:?}"),
        }
    }

    #[test]
    fn current_facts_answer_as_they_are_in_both_fail_modes() {
        for mode in [FailMode::Closed, FailMode::Open] {
            check(
                mode,
                Verdict::Active,
                "current",
                Ok((Verdict::Active, None)),
            );
            for reason in Reason::ALL {
                let inactive = Verdict::Inactive(reason);
                check(mode, inactive, "current", Ok((inactive, None)));
            }
        }
    }

    #[test]
    fn a_known_revocation_is_enforced_while_the_facts_may_be_incomplete() {
        for mode in [FailMode::Closed, FailMode::Open] {
            for outcome in ["store", "mirror"] {
                for reason in Reason::ALL {
                    let inactive = Verdict::Inactive(reason);
                    check(mode, inactive, outcome, Ok((inactive, None)));
                }
            }
        }
    }

    #[test]
    fn fail_closed_refuses_to_vouch_without_complete_facts() {
        for outcome in ["store", "mirror"] {
            check(FailMode::Closed, Verdict::Active, outcome, Err(outcome));
        }
    }

    #[test]
    fn fail_open_lets_the_token_through_flagged_as_degraded() {
        for outcome in ["store", "mirror"] {
            check(
                FailMode::Open,
                Verdict::Active,
                outcome,
                Ok((Verdict::Active, Some(Degradation::StoreUnavailable))),
            );
        }
    }

    #[test]
    fn the_degraded_flag_keeps_the_value_proxies_match_on() {
        assert_eq!(Degradation::StoreUnavailable.as_str(), "store_unavailable");
    }
}
