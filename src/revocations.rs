//! The operations behind the API: turn a request into a [`Change`] with the
//! right lifetime, apply it, count it. Handlers and the back-channel
//! receiver (`crate::backchannel`) call these; nothing here knows HTTP.

use std::time::Duration;

use crate::config::{FailMode, Lifetimes};
use crate::domain::{
    Change, ChangeKinds, CheckRequest, Event, EventId, EventPage, Facts, Issuer, Lookup, Owner,
    Provenance, Registration, RegistrationLimits, SeenKey, Session, SessionId, SessionRegistration,
    Subject, SubjectRegistrations, TokenId, UnixTime, decide,
};
use std::sync::Arc;

use crate::events::{EventHub, newest_event_id};
use crate::metrics::Metrics;
use crate::mirror::{MirrorError, MirrorSync};
use crate::store::{LivePage, MirroredKey, RevocationStore, Store, StoreError};

pub mod answer;
mod registration;

pub use answer::{CheckAnswer, Degradation};
pub use registration::RegisterError;

/// Verifiers commonly accept a token up to a minute past its `exp` to
/// absorb clock skew, so a revocation outlives the token by as much.
pub const EXPIRY_LEEWAY: Duration = Duration::from_secs(60);

/// Why a check cannot vouch that a token is active: the facts it read may
/// be incomplete. Kept apart from [`StoreError`] because the two call for
/// different words: a mirror that is still loading or behind the store is
/// not "the store is unavailable" (the store may be up), and a check never
/// records anything.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The store could not be read (`check.source = "store"`).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This instance's mirror may be missing changes.
    #[error(transparent)]
    Mirror(#[from] MirrorError),
}

#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("`exp` lies more than {} ahead; raise lifetimes.max_token_exp to keep revocations that long", humantime::format_duration(*max))]
    ExpTooFar { max: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a ping of the store found.
#[derive(Debug)]
pub struct StoreProbe {
    /// Which implementation: `embedded` or `redis`.
    pub kind: &'static str,
    pub latency: Duration,
    pub result: Result<(), StoreError>,
}

/// Revocation operations over one store.
#[derive(Clone)]
pub struct Revocations {
    store: Store,
    lifetimes: Lifetimes,
    metrics: Metrics,
    /// Where checks read when set; without one, every check asks the store
    /// (`check.source = "store"`).
    mirror_sync: Option<Arc<MirrorSync>>,
    /// Told of every write here, so that event streams see it at once.
    hub: Option<Arc<EventHub>>,
    /// `check.fail_mode`: what a check answers when its facts may be
    /// incomplete (see [`Revocations::answer`]).
    fail_mode: FailMode,
    /// `[sessions]`: how many token ids a registration and a session hold.
    registration_limits: RegistrationLimits,
}

impl Revocations {
    pub fn new(store: Store, lifetimes: Lifetimes, metrics: Metrics) -> Self {
        Self {
            store,
            lifetimes,
            metrics,
            mirror_sync: None,
            hub: None,
            fail_mode: FailMode::Closed,
            registration_limits: RegistrationLimits::default(),
        }
    }

    /// Checks answer under `fail_mode` (`check.fail_mode`; closed unless
    /// set).
    #[must_use]
    pub fn with_fail_mode(mut self, fail_mode: FailMode) -> Self {
        self.fail_mode = fail_mode;
        self
    }

    /// Registrations are bounded by `limits` (`[sessions]`).
    #[must_use]
    pub fn with_registration_limits(mut self, limits: RegistrationLimits) -> Self {
        self.registration_limits = limits;
        self
    }

    /// Every write here wakes `hub`.
    #[must_use]
    pub fn with_hub(mut self, hub: Arc<EventHub>) -> Self {
        self.hub = Some(hub);
        self
    }

    /// Checks read the mirror of `sync`, and every write here updates it
    /// before it is acknowledged.
    #[must_use]
    pub fn with_mirror_sync(mut self, sync: Arc<MirrorSync>) -> Self {
        self.mirror_sync = Some(sync);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn mirror_sync(&self) -> Option<&Arc<MirrorSync>> {
        self.mirror_sync.as_ref()
    }

    /// Pings the store, for readiness; sets `revokd_store_up`.
    pub async fn probe_store(&self) -> StoreProbe {
        let started = std::time::Instant::now();
        let result = self.store.ping().await;
        let latency = started.elapsed();
        self.metrics.store.up.set(i64::from(result.is_ok()));
        StoreProbe {
            kind: self.store.name(),
            latency,
            result,
        }
    }

    /// Brings this instance's mirror up to date with a write the store has
    /// accepted, and wakes the event streams. A failure cannot undo the
    /// write: it marks the mirror as needing a reload (checks fail closed
    /// until then) and is logged.
    async fn mirror(&self, keys: &[MirroredKey]) {
        if let Some(hub) = &self.hub {
            hub.wake();
        }
        if let Some(sync) = &self.mirror_sync
            && let Err(err) = sync.learn(&self.store, keys).await
        {
            tracing::error!(error.cause_chain = ?err, "a recorded change could not reach the mirror; reloading it");
            sync.invalidate();
        }
    }

    /// Applies `change` (idempotent changes only: a retry must be safe),
    /// updates the mirror and counts it.
    ///
    /// # Errors
    /// The store failed; nothing was applied.
    pub async fn apply(
        &self,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Event, StoreError> {
        let kind = change.kind();
        let keys = MirroredKey::of_change(&change);
        let event = self.store.apply(change, provenance, now).await?;
        self.mirror(&keys).await;
        self.metrics.record_change(kind);
        tracing::info!(event.id = %event.id, kind = kind.as_str(), actor = %event.actor, "revocation recorded");
        Ok(event)
    }

    /// When a session revocation recorded now may be forgotten.
    pub fn session_expiry(&self, now: UnixTime) -> UnixTime {
        now.saturating_add(self.lifetimes.session)
    }

    /// When a revoked-before mark recorded now may be forgotten.
    pub fn revoked_before_expiry(&self, now: UnixTime) -> UnixTime {
        now.saturating_add(self.lifetimes.revoked_before)
    }

    /// Applies `change` unless the logout token `seen` was already acted
    /// on (OIDC Back-Channel Logout 1.0 §2.6, replay protection). `None`
    /// means a replay: nothing changed, and the first call's effect is in
    /// place. How to answer a replay is the caller's decision.
    ///
    /// A logout token that needs more than one change should apply the
    /// others first (with the idempotent `apply`) and this one last: a
    /// failure in between then leaves no marker, and the provider's retry
    /// redoes everything.
    ///
    /// # Errors
    /// The store failed; neither the change nor the marker was stored, so
    /// the provider may retry.
    pub async fn apply_once(
        &self,
        seen: &SeenKey,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Option<Event>, StoreError> {
        let kind = change.kind();
        let keys = MirroredKey::of_change(&change);
        let event = self.store.apply_once(seen, change, provenance, now).await?;
        match &event {
            Some(event) => {
                self.mirror(&keys).await;
                self.metrics.record_change(kind);
                tracing::info!(event.id = %event.id, kind = kind.as_str(), actor = %event.actor, "revocation recorded");
            }
            None => {
                tracing::info!(iss = %seen.iss, jti = %seen.jti, kind = kind.as_str(), "logout token already applied; replay ignored");
            }
        }
        Ok(event)
    }

    /// Registers the token ids of a login with their session and subject,
    /// or, when the session is already revoked or the subject disabled,
    /// revokes them (see [`RevocationStore::register_session`]). Counts the
    /// revocations of a refusal like any other.
    ///
    /// `reg.expires_at()` decides how long the registration, or a
    /// refusal's revocations, are kept, so it is bounded like a token
    /// revocation's `exp` (see [`Revocations::registration_expiry`]).
    ///
    /// # Errors
    /// `reg.expires_at()` is out of bounds, or the store failed; nothing
    /// was registered or revoked.
    pub async fn register_session(
        &self,
        reg: &SessionRegistration,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Registration, RegisterError> {
        self.registration_expiry(reg.expires_at(), now)?;
        let outcome = self.store.register_session(reg, provenance, now).await?;
        if matches!(
            outcome,
            Registration::SessionFull { .. } | Registration::KeyFull { .. }
        ) {
            return Ok(outcome);
        }
        let keys: Vec<MirroredKey> = reg
            .token_ids()
            .iter()
            .flat_map(|jti| {
                [
                    MirroredKey::Token(jti.clone()),
                    MirroredKey::Binding(jti.clone()),
                ]
            })
            .chain(reg.session().map(MirroredKey::SessionBinding))
            .collect();
        self.mirror(&keys).await;
        if let Registration::Refused { reason, event } = &outcome {
            let revoked = match event.as_ref().map(|e| &e.change) {
                Some(Change::TokensRevoked { jtis, .. }) => jtis.len(),
                _ => 0,
            };
            for _ in 0..revoked {
                self.metrics
                    .record_change(crate::domain::ChangeKind::TokenRevoked);
            }
            tracing::info!(
                iss = %reg.iss(),
                reason = reason.as_str(),
                tokens = revoked,
                "session registration refused; its tokens are revoked"
            );
        }
        Ok(outcome)
    }

    /// Refuses a registration's `expires_at` that is not in the future, or
    /// lies further ahead than `lifetimes.max_token_exp`. Callers that
    /// build a [`SessionRegistration`] from a request check this first, so
    /// that the request is refused before any of it is taken further.
    ///
    /// # Errors
    /// `expires_at` is out of bounds.
    pub fn registration_expiry(
        &self,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<UnixTime, RegisterError> {
        registration::bound_expiry(expires_at, &self.lifetimes, now)
    }

    /// The bounds of a registration made by a key that may hold `per_key`
    /// live token ids (its quota's volume, `usize::MAX` for none).
    pub fn registration_limits(&self, per_key: usize) -> RegistrationLimits {
        RegistrationLimits {
            per_key,
            ..self.registration_limits
        }
    }

    /// How many live token ids `owner` holds bound (its volume, see
    /// [`RevocationStore::token_ids_held`]).
    ///
    /// # Errors
    /// The store failed.
    pub async fn token_ids_held(&self, owner: &Owner, now: UnixTime) -> Result<usize, StoreError> {
        self.store.token_ids_held(owner, now).await
    }

    /// Forgets `owner`'s registration of a session after a local logout.
    /// Returns whether one was live. Revokes nothing, and leaves other
    /// owners' registrations of the session alone.
    ///
    /// # Errors
    /// The store failed.
    pub async fn unregister_session(
        &self,
        owner: &Owner,
        iss: &Issuer,
        sid: &SessionId,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let Some(unbound) = self.store.unregister_session(owner, iss, sid, now).await? else {
            return Ok(false);
        };
        let keys: Vec<MirroredKey> = unbound.into_iter().map(MirroredKey::Binding).collect();
        self.mirror(&keys).await;
        Ok(true)
    }

    /// Revokes one token until its `exp` (plus [`EXPIRY_LEEWAY`]), or for
    /// `lifetimes.token` when the caller does not know it.
    ///
    /// # Errors
    /// `exp` beyond `lifetimes.max_token_exp`, or the store failed.
    pub async fn revoke_token(
        &self,
        jti: TokenId,
        exp: Option<UnixTime>,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Event, RevokeError> {
        let expires_at = token_expiry(exp, &self.lifetimes, now)?;
        Ok(self
            .apply(Change::TokenRevoked { jti, expires_at }, provenance, now)
            .await?)
    }

    /// # Errors
    /// The store failed.
    pub async fn revoke_session(
        &self,
        session: Session,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Event, StoreError> {
        let expires_at = now.saturating_add(self.lifetimes.session);
        self.apply(
            Change::SessionRevoked {
                session,
                expires_at,
            },
            provenance,
            now,
        )
        .await
    }

    /// Disables the subject until [`Revocations::enable_subject`], and kills
    /// every token it holds now, so that enabling it later lets the person
    /// sign in again without reviving old tokens.
    ///
    /// Two changes, two audit events: the revoked-before mark first, so that
    /// a failure between them leaves the safer half in place (and the caller
    /// gets 503 and retries). Returns the disable's event.
    ///
    /// # Errors
    /// The store failed.
    pub async fn disable_subject(
        &self,
        subject: Subject,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Event, StoreError> {
        self.revoke_subject_tokens(subject.clone(), provenance.clone(), now)
            .await?;
        self.apply(
            Change::SubjectDisabled {
                subject,
                expires_at: None,
            },
            provenance,
            now,
        )
        .await
    }

    /// # Errors
    /// The store failed.
    pub async fn enable_subject(
        &self,
        subject: Subject,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Event, StoreError> {
        self.apply(Change::SubjectEnabled { subject }, provenance, now)
            .await
    }

    /// Kills every token of the subject issued up to `now`.
    ///
    /// # Errors
    /// The store failed.
    pub async fn revoke_subject_tokens(
        &self,
        subject: Subject,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Event, StoreError> {
        let expires_at = self.revoked_before_expiry(now);
        self.apply(
            Change::SubjectRevokedBefore {
                subject,
                before: now,
                expires_at,
            },
            provenance,
            now,
        )
        .await
    }

    /// What is known about a subject now.
    ///
    /// # Errors
    /// The store failed.
    pub async fn subject_facts(
        &self,
        subject: &Subject,
        now: UnixTime,
    ) -> Result<Facts, StoreError> {
        self.store
            .lookup(
                Lookup {
                    subject: Some(subject),
                    ..Lookup::default()
                },
                now,
            )
            .await
    }

    /// The subject's session registry: its live registered token ids, the
    /// latest expiry first, at most `limit` (read from the store, never
    /// the mirror, which holds no registry).
    ///
    /// # Errors
    /// The store failed.
    pub async fn subject_registrations(
        &self,
        subject: &Subject,
        limit: usize,
        now: UnixTime,
    ) -> Result<SubjectRegistrations, StoreError> {
        self.store.subject_registrations(subject, limit, now).await
    }

    /// A page of the live set, and `as_of`: the newest event id read
    /// before it (with an empty log, the id before the first event). A
    /// consumer that reads every page, then follows the event stream from
    /// the first page's `as_of`, misses nothing.
    ///
    /// # Errors
    /// The cursor is not one of this store's, or the store failed.
    pub async fn live_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
        kinds: ChangeKinds,
        now: UnixTime,
    ) -> Result<(LivePage, EventId), StoreError> {
        let as_of = newest_event_id(&self.store)
            .await?
            .unwrap_or_else(|| self.store.log_start());
        let page = self.store.live_page(cursor, limit, kinds, now).await?;
        Ok((page, as_of))
    }

    /// A page of the audit log, newest first.
    ///
    /// # Errors
    /// The cursor is not an event id, or the store failed.
    pub async fn events(&self, page: &EventPage) -> Result<Vec<Event>, StoreError> {
        self.store.events(page).await
    }

    /// Is the token described by `request` active? The one answer of
    /// `/v1/check`, `/v1/forward-auth` and `/v1/introspect`. Counts it.
    ///
    /// Reads the mirror (or, without one, the store) and settles the answer
    /// with [`answer::answer`]: a revocation that is known is always
    /// enforced; the configured fail mode decides only what the facts
    /// cannot cover, and [`CheckAnswer::degraded`] says when the answer
    /// must be flagged.
    ///
    /// # Errors
    /// The facts may be incomplete, none of them revokes the token, and
    /// the fail mode is closed: the caller answers 503.
    pub async fn answer(
        &self,
        request: &CheckRequest,
        now: UnixTime,
    ) -> Result<CheckAnswer, LookupError> {
        let started = std::time::Instant::now();
        let (facts, uncertain) = match &self.mirror_sync {
            Some(sync) => {
                let read = sync.lookup(request.lookup(), now);
                (read.facts, read.behind.map(LookupError::Mirror))
            }
            // Boxed: the store's future is large, and inline it would make
            // every check's future (moved into a box per request by actix)
            // that large even when the mirror answers.
            None => match Box::pin(self.store.lookup(request.lookup(), now)).await {
                Ok(facts) => (facts, None),
                Err(err) => (Facts::default(), Some(LookupError::Store(err))),
            },
        };
        self.metrics
            .check_duration
            .observe(started.elapsed().as_secs_f64());
        match answer::answer(decide(request, &facts), uncertain, self.fail_mode) {
            Ok(CheckAnswer::Known(verdict)) => {
                self.metrics.record_check(verdict);
                Ok(CheckAnswer::Known(verdict))
            }
            Ok(CheckAnswer::Degraded(err)) => {
                tracing::warn!(error.cause_chain = ?err, "revocations may be missing; answering active (fail_mode = open)");
                self.metrics.record_check_degraded();
                Ok(CheckAnswer::Degraded(err))
            }
            Err(err) => {
                self.metrics.record_check_unavailable();
                Err(err)
            }
        }
    }
}

/// When a token revocation may be forgotten.
fn token_expiry(
    exp: Option<UnixTime>,
    lifetimes: &Lifetimes,
    now: UnixTime,
) -> Result<UnixTime, RevokeError> {
    let Some(exp) = exp else {
        return Ok(now.saturating_add(lifetimes.token));
    };
    if exp > now.saturating_add(lifetimes.max_token_exp) {
        return Err(RevokeError::ExpTooFar {
            max: lifetimes.max_token_exp,
        });
    }
    Ok(exp.max(now).saturating_add(EXPIRY_LEEWAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const DAY: Duration = Duration::from_secs(86_400);

    /// 30 days for each lifetime, 400 for `max_token_exp`.
    pub(super) fn lifetimes() -> Lifetimes {
        Lifetimes {
            token: 30 * DAY,
            session: 30 * DAY,
            revoked_before: 30 * DAY,
            max_token_exp: 400 * DAY,
        }
    }

    #[test]
    fn token_expiry_follows_exp_with_leeway() {
        let now = UnixTime::from_secs(1_000);
        let exp = UnixTime::from_secs(5_000);
        assert_eq!(
            token_expiry(Some(exp), &lifetimes(), now).unwrap(),
            UnixTime::from_secs(5_060)
        );
    }

    #[test]
    fn token_expiry_without_exp_uses_the_default_lifetime() {
        let now = UnixTime::from_secs(1_000);
        assert_eq!(
            token_expiry(None, &lifetimes(), now).unwrap(),
            now.saturating_add(30 * DAY)
        );
    }

    #[test]
    fn a_past_exp_is_still_kept_for_the_leeway() {
        let now = UnixTime::from_secs(1_000);
        let exp = UnixTime::from_secs(10);
        assert_eq!(
            token_expiry(Some(exp), &lifetimes(), now).unwrap(),
            UnixTime::from_secs(1_060)
        );
    }

    #[test]
    fn an_exp_beyond_the_maximum_is_refused() {
        let now = UnixTime::from_secs(0);
        let too_far = now.saturating_add(401 * DAY);
        assert!(matches!(
            token_expiry(Some(too_far), &lifetimes(), now),
            Err(RevokeError::ExpTooFar { .. })
        ));
        assert!(token_expiry(Some(now.saturating_add(400 * DAY)), &lifetimes(), now).is_ok());
    }
}
