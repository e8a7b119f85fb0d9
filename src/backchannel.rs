//! Receiving one logout token: pick the provider ([`crate::providers`]),
//! verify ([`crate::oidc`]), revoke once (through [`Revocations`]).
//!
//! The HTTP handler only parses the form and maps the outcome; everything
//! OpenID Connect Back-Channel Logout 1.0 asks of the relying party after
//! that (§2.6 validation, §2.7 actions, §2.8 response semantics) is here.
//! Cheap checks come first — size and shape, a configured issuer, loaded
//! keys, a known or fetchable `kid` — and the signature after them, because
//! the endpoint is open to anyone until the signature is checked.
//!
//! A provider speaks once (DESIGN 10): a token that cannot be verified only
//! because its provider's keys are missing (not loaded yet, a JWKS outage, a
//! new `kid` within `jwks_min_refetch_interval`) is kept in the store —
//! bounded, for a configured provider, and only when its claims are
//! well-formed — answered 503, and applied by [`LogoutReceiver::retry_pending`]
//! as soon as the keys allow, through the same `apply_once` as a posted
//! token, so every instance and every re-post applies it at most once.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::domain::{Event, EventId, Provenance, SeenKey, UnixTime};
use crate::metrics::Metrics;
use crate::oidc::{LogoutTokenError, UnverifiedLogoutToken, VerifiedLogoutToken};
use crate::providers::{BackchannelSettings, Provider, Providers, Refetch};
use crate::revocations::Revocations;
use crate::store::{PendingLogout, PendingLogoutStore, PendingPut, StoreError};

/// Why a logout token was not acted on.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error(transparent)]
    Token(#[from] LogoutTokenError),
    #[error("logout token `iss` is not a configured provider")]
    UnknownIssuer,
    #[error("logout token `iss` is not the issuer of provider `{0}`")]
    WrongProvider(String),
    #[error("no provider is named `{0}`")]
    UnknownProvider(String),
    #[error(
        "encrypted logout token: post it to /backchannel-logout/{{provider}} so revokd knows which key opens it"
    )]
    EncryptedWithoutProvider,
    /// The provider's keys cannot verify the token yet (`why`); `kept`
    /// says whether it was kept to be applied once they can.
    #[error("{}", keys_unavailable_message(provider, why, *kept))]
    KeysUnavailable {
        provider: String,
        why: KeysMissing,
        kept: Kept,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a provider's keys cannot verify a token yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysMissing {
    /// Never loaded (start-up, or the provider unreachable since).
    NotLoaded,
    /// The token's `kid` is not in keys fetched less than
    /// `jwks_min_refetch_interval` ago.
    KidNotFetchedYet,
    /// Fetching the keys again for the token's `kid` failed.
    FetchFailed,
}

/// Whether a token waiting for keys was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Kept now, or already kept from an earlier post.
    Yes,
    /// Not kept: `backchannel.pending_max_tokens` are kept already.
    Full,
    /// Not kept: larger than `backchannel.pending_max_token_bytes`, or
    /// keeping is switched off.
    NotKept,
    /// A retry of a kept token: it stays kept.
    Retrying,
}

fn keys_unavailable_message(provider: &str, why: &KeysMissing, kept: Kept) -> String {
    let why = match why {
        KeysMissing::NotLoaded => "its keys are not loaded yet",
        KeysMissing::KidNotFetchedYet => {
            "its `kid` is not in the keys fetched less than jwks_min_refetch_interval ago"
        }
        KeysMissing::FetchFailed => "fetching its keys failed",
    };
    let then = match kept {
        Kept::Yes | Kept::Retrying => {
            "the token is kept and will be applied as soon as the keys allow; posting it again is safe"
        }
        Kept::Full => {
            "the token was not kept (backchannel.pending_max_tokens are kept already): retry later"
        }
        Kept::NotKept => "the token was not kept: retry later",
    };
    format!("provider `{provider}` cannot verify this logout token yet ({why}); {then}")
}

impl ReceiveError {
    /// A stable label: the metric's `rule` and the recent-token log's reason.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Token(err) => err.rule(),
            Self::UnknownIssuer => "unknown_issuer",
            Self::WrongProvider(_) => "wrong_provider",
            Self::UnknownProvider(_) => "unknown_provider",
            Self::EncryptedWithoutProvider => "encrypted_without_provider",
            Self::KeysUnavailable { why, .. } => match why {
                KeysMissing::NotLoaded => "keys_not_loaded",
                KeysMissing::KidNotFetchedYet => "kid_not_fetched_yet",
                KeysMissing::FetchFailed => "keys_fetch_failed",
            },
            Self::Store(_) => "store_unavailable",
        }
    }
}

/// What a valid logout token did.
#[derive(Debug)]
pub enum Received {
    /// The revocation was recorded durably.
    Revoked(Event),
    /// The same token (`iss`, `jti`) was already acted on: nothing new.
    Replayed,
}

/// One line of `GET /v1/admin/logout-tokens`: what arrived and what became
/// of it. Never the token itself.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogoutRecord {
    pub at: UnixTime,
    /// The provider that judged it, when one could be chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `revoked`, `replayed`, `rejected`, `unavailable`, `pending` (kept
    /// until its provider's keys can verify it), or `dropped` (a kept token
    /// whose `iat` window closed before it could be verified).
    pub outcome: &'static str,
    /// For a token that was kept: when it arrived. Its later record says
    /// what became of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_since: Option<UnixTime>,
    /// For a kept token: the SHA-256 of the token, to follow it from
    /// `pending` to its outcome (never the token itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_id: Option<String>,
    /// The broken rule, when not revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The verified claims, when the token was valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The audit event the revocation produced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventId>,
}

/// The receiving side of back-channel logout. Cheap to clone: clones
/// share everything (the retry task holds one).
#[derive(Clone)]
pub struct LogoutReceiver {
    inner: Arc<Inner>,
}

struct Inner {
    providers: Arc<Providers>,
    revocations: Revocations,
    metrics: Metrics,
    recent: Mutex<VecDeque<LogoutRecord>>,
    recent_capacity: usize,
    pending: PendingLimits,
    /// Kept tokens, by id, for `/readyz` and the pending gauge.
    kept: Mutex<KeptTally>,
}

/// The kept tokens this instance knows of: every id the last retry pass
/// listed in the store and still kept, plus those kept since.
///
/// A keep and a retry pass run concurrently, and a pass ends by replacing
/// what it listed. A plain count raced: a token kept between the pass's
/// listing and its end was counted by both (two kept where the store held
/// one). Ids make a keep idempotent, and the round marks ids kept while a
/// pass ran, which that pass may not have listed and must not drop.
#[derive(Debug, Default)]
struct KeptTally {
    round: u64,
    /// id -> (provider name, round in which it was last seen or kept).
    ids: BTreeMap<String, (String, u64)>,
}

impl KeptTally {
    fn kept(&mut self, id: &str, provider: &str) {
        self.ids
            .insert(id.to_owned(), (provider.to_owned(), self.round));
    }

    /// Starts a retry pass; its listing of the store comes after this.
    fn begin_pass(&mut self) -> u64 {
        self.round += 1;
        self.round
    }

    /// Ends pass `round`: what it listed and still keeps, and what was kept
    /// while it ran. Ids kept before it began are in its listing if still
    /// kept (a keep writes the store first), so the rest are gone.
    fn end_pass(&mut self, round: u64, still: impl IntoIterator<Item = (String, String)>) {
        self.ids.retain(|_, (_, seen)| *seen >= round);
        for (id, provider) in still {
            self.ids.insert(id, (provider, round));
        }
    }

    fn count(&self) -> usize {
        self.ids.len()
    }

    fn count_for(&self, provider: &str) -> usize {
        self.ids.values().filter(|(p, _)| p == provider).count()
    }
}

/// The bounds of kept tokens (`backchannel.pending_*`).
#[derive(Debug, Clone, Copy)]
pub struct PendingLimits {
    pub max_tokens: usize,
    pub max_token_bytes: usize,
    pub retry_interval: std::time::Duration,
}

impl PendingLimits {
    pub fn from_settings(settings: &BackchannelSettings) -> Self {
        Self {
            max_tokens: settings.pending_max_tokens,
            max_token_bytes: settings.pending_max_token_bytes,
            retry_interval: settings.pending_retry_interval,
        }
    }
}

impl Default for PendingLimits {
    fn default() -> Self {
        Self {
            max_tokens: 1000,
            max_token_bytes: 8192,
            retry_interval: std::time::Duration::from_secs(5),
        }
    }
}

impl LogoutReceiver {
    pub fn new(
        providers: Arc<Providers>,
        revocations: Revocations,
        metrics: Metrics,
        recent_capacity: usize,
    ) -> Self {
        Self::with_pending_limits(
            providers,
            revocations,
            metrics,
            recent_capacity,
            PendingLimits::default(),
        )
    }

    /// [`new`](Self::new) with the bounds of kept tokens.
    pub fn with_pending_limits(
        providers: Arc<Providers>,
        revocations: Revocations,
        metrics: Metrics,
        recent_capacity: usize,
        pending: PendingLimits,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                providers,
                revocations,
                metrics,
                recent: Mutex::new(VecDeque::new()),
                recent_capacity,
                pending,
                kept: Mutex::new(KeptTally::default()),
            }),
        }
    }

    pub fn providers(&self) -> &Arc<Providers> {
        &self.inner.providers
    }

    /// Judges `token` (posted to the endpoint of provider `pinned`, if any)
    /// and, when valid, revokes what it names — once per (`iss`, `jti`).
    /// A token its provider's keys cannot verify yet is kept (see the
    /// [module documentation](self)) and answered
    /// [`ReceiveError::KeysUnavailable`].
    ///
    /// # Errors
    /// The token breaks a rule, names no configured provider, or its
    /// provider's keys or the store are unavailable.
    pub async fn receive(
        &self,
        pinned: Option<&str>,
        token: &str,
        now: UnixTime,
    ) -> Result<Received, ReceiveError> {
        // Only a configured provider's name may become a metric label.
        let mut provider_name = None;
        let mut result = self
            .judge_and_act(pinned, token, now, &mut provider_name)
            .await;
        let mut pending_id = None;
        if let Err(ReceiveError::KeysUnavailable { provider, why, .. }) = &result {
            let (provider, why) = (provider.clone(), *why);
            result = Err(match self.keep(&provider, token, now).await {
                Ok(kept) => {
                    if kept == Kept::Yes {
                        pending_id = Some(PendingLogout::id_of(token));
                    }
                    ReceiveError::KeysUnavailable {
                        provider,
                        why,
                        kept,
                    }
                }
                Err(err) => err,
            });
        } else if result.is_ok() && self.inner.pending.max_tokens > 0 {
            // Verified now: a copy kept earlier has nothing left to do. Its
            // retry would only find the seen-marker; forgetting it here
            // just saves that.
            let _ = self
                .inner
                .revocations
                .store()
                .forget_pending_logout(&PendingLogout::id_of(token))
                .await;
        }
        let mut record = self.record(provider_name, &result, now);
        if let Some(id) = pending_id {
            record.outcome = "pending";
            record.pending_since = Some(now);
            record.pending_id = Some(id);
        }
        self.push_recent(record);
        result.map(|(received, _)| received)
    }

    /// Keeps a token that waits for its provider's keys, if its unverified
    /// claims could still be accepted (DESIGN 10).
    ///
    /// # Errors
    /// The token breaks a rule that needs no key (so it will never be
    /// accepted: a 400 now), or the store failed.
    async fn keep(
        &self,
        provider_name: &str,
        token: &str,
        now: UnixTime,
    ) -> Result<Kept, ReceiveError> {
        let limits = self.inner.pending;
        if limits.max_tokens == 0 || token.len() > limits.max_token_bytes {
            self.count_pending("not_kept");
            return Ok(Kept::NotKept);
        }
        let Some(provider) = self.inner.providers.by_name(provider_name) else {
            return Err(ReceiveError::UnknownProvider(provider_name.to_owned()));
        };
        let Ok(policy) = provider.claims_policy() else {
            self.count_pending("not_kept");
            return Ok(Kept::NotKept);
        };
        let mut unverified = UnverifiedLogoutToken::decode(token)?;
        if unverified.is_encrypted() {
            let key = policy
                .decryption_key()
                .ok_or(LogoutTokenError::NoDecryptionKey)?;
            unverified = unverified.decrypt(key)?;
        }
        let expires_at = unverified.check_unverified(&policy, now)?;
        let pending = PendingLogout {
            id: PendingLogout::id_of(token),
            provider: provider.name.clone(),
            token: token.to_owned(),
            received_at: now,
            expires_at,
        };
        let put = self
            .inner
            .revocations
            .store()
            .keep_pending_logout(&pending, limits.max_tokens)
            .await?;
        Ok(match put {
            PendingPut::Kept => {
                self.count_pending("kept");
                self.inner.tally_kept(&pending.id, &provider.name);
                tracing::info!(provider = %provider.name, pending_id = %pending.id, "logout token kept until its provider's keys can verify it");
                Kept::Yes
            }
            PendingPut::AlreadyKept => {
                self.inner.tally_kept(&pending.id, &provider.name);
                Kept::Yes
            }
            PendingPut::Full => {
                self.count_pending("not_kept");
                tracing::warn!(provider = %provider.name, max = limits.max_tokens, "logout token not kept: backchannel.pending_max_tokens are kept already");
                Kept::Full
            }
        })
    }

    fn count_pending(&self, outcome: &str) {
        self.inner
            .metrics
            .pending_logouts
            .outcomes
            .with_label_values(&[outcome])
            .inc();
    }

    /// Tries every kept token once: applies those its provider's keys now
    /// verify (through `apply_once`: at most once, whichever instance or
    /// re-post gets there first), drops those whose `iat` window closed or
    /// that break a rule, and keeps the rest. Returns how many are still
    /// kept.
    ///
    /// # Errors
    /// The store failed; what was done so far stays done.
    pub async fn retry_pending(&self, now: UnixTime) -> Result<usize, StoreError> {
        let store = self.inner.revocations.store();
        let round = self.inner.tally().begin_pass();
        let all = store.pending_logouts().await?;
        let mut still = Vec::new();
        let mut all = all.into_iter();
        while let Some(pending) = all.next() {
            let mut provider_name = Some(pending.provider.clone());
            let result = if pending.expires_at <= now {
                Err(ReceiveError::Token(LogoutTokenError::TooOld))
            } else {
                self.judge_and_act(
                    Some(&pending.provider),
                    &pending.token,
                    now,
                    &mut provider_name,
                )
                .await
            };
            match &result {
                Err(ReceiveError::KeysUnavailable { .. }) => {
                    still.push((pending.id, pending.provider));
                    continue;
                }
                Err(ReceiveError::Store(_)) => {
                    // Untried, so still kept: this one and the rest.
                    still.push((pending.id, pending.provider));
                    still.extend(all.map(|p| (p.id, p.provider)));
                    break;
                }
                _ => {}
            }
            store.forget_pending_logout(&pending.id).await?;
            let mut record = self.record(provider_name, &result, now);
            record.pending_since = Some(pending.received_at);
            record.pending_id = Some(pending.id.clone());
            if result.is_ok() {
                self.count_pending("applied");
            } else {
                if pending.expires_at <= now {
                    record.outcome = "dropped";
                    record.description = Some(
                        "kept until its `iat` window closed; its provider's keys never verified it"
                            .into(),
                    );
                }
                self.count_pending("dropped");
                tracing::warn!(provider = %pending.provider, pending_id = %pending.id, outcome = record.outcome, rule = ?record.rule, "kept logout token dropped");
            }
            self.push_recent(record);
        }
        let count = {
            let mut tally = self.inner.tally();
            tally.end_pass(round, still);
            tally.count()
        };
        self.inner.set_pending_gauge(count);
        Ok(count)
    }

    /// Kept tokens of provider `name`, as last counted (for `/readyz`).
    pub fn pending_for(&self, name: &str) -> usize {
        self.inner.tally().count_for(name)
    }

    /// Runs [`retry_pending`](Self::retry_pending) until `cancel`: at once,
    /// whenever a provider's keys load or are fetched again, and every
    /// `backchannel.pending_retry_interval`.
    pub fn spawn_pending_retry(
        &self,
        cancel: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let receiver = self.clone();
        tokio::spawn(async move {
            let keys_changed = receiver.inner.providers.keys_changed().clone();
            loop {
                if let Err(err) = receiver.retry_pending(UnixTime::now()).await {
                    tracing::warn!(error = %err, "kept logout tokens could not be tried again");
                }
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = keys_changed.notified() => {}
                    () = tokio::time::sleep(receiver.inner.pending.retry_interval) => {}
                }
            }
        })
    }

    async fn judge_and_act(
        &self,
        pinned: Option<&str>,
        token: &str,
        now: UnixTime,
        provider_name: &mut Option<String>,
    ) -> Result<(Received, VerifiedLogoutToken), ReceiveError> {
        let unverified = UnverifiedLogoutToken::decode(token)?;
        let provider = self.choose(pinned, &unverified)?;
        *provider_name = Some(provider.name.clone());
        let verified = self.verify(&provider, &unverified, now).await?;
        let revocations = &self.inner.revocations;

        // §2.7, a pure rule beside the other token rules.
        let change = verified.change(
            now,
            revocations.session_expiry(now),
            revocations.revoked_before_expiry(now),
        )?;
        let seen = SeenKey {
            iss: verified.iss().clone(),
            jti: verified.jti().clone(),
            // The marker must outlive `now`, or nothing is remembered.
            expires_at: verified
                .accepted_until()
                .max(now.saturating_add(std::time::Duration::from_secs(1))),
        };
        let provenance = Provenance {
            actor: format!("backchannel:{}", provider.name),
            reason: None,
        };
        let received = match revocations
            .apply_once(&seen, change, provenance, now)
            .await?
        {
            Some(event) => {
                let delay = now
                    .as_secs()
                    .saturating_sub(verified.iat().as_secs())
                    .max(0);
                self.inner
                    .metrics
                    .logout_propagation
                    .with_label_values(&[&provider.name])
                    .observe(delay as f64);
                Received::Revoked(event)
            }
            None => Received::Replayed,
        };
        Ok((received, verified))
    }

    /// The provider whose policy judges the token: the pinned one, or the
    /// one whose issuer the (unverified) `iss` names.
    fn choose(
        &self,
        pinned: Option<&str>,
        token: &UnverifiedLogoutToken,
    ) -> Result<Arc<Provider>, ReceiveError> {
        let providers = &self.inner.providers;
        if let Some(name) = pinned {
            let provider = providers
                .by_name(name)
                .ok_or_else(|| ReceiveError::UnknownProvider(name.to_owned()))?;
            if let Some(iss) = token.issuer_hint()
                && iss != provider.issuer.as_ref()
            {
                return Err(ReceiveError::WrongProvider(provider.name.clone()));
            }
            return Ok(provider.clone());
        }
        if token.is_encrypted() {
            // Without a pinned provider, only an unambiguous key can open it.
            let mut decrypting = providers.iter().filter(|p| p.decrypts());
            return match (decrypting.next(), decrypting.next()) {
                (Some(only), None) => Ok(only.clone()),
                _ => Err(ReceiveError::EncryptedWithoutProvider),
            };
        }
        let iss = token.issuer_hint().ok_or(ReceiveError::UnknownIssuer)?;
        providers
            .by_issuer(iss)
            .cloned()
            .ok_or(ReceiveError::UnknownIssuer)
    }

    /// Verifies with the provider's current keys; an unknown `kid` fetches
    /// the keys again (rate-limited) and tries once more.
    async fn verify(
        &self,
        provider: &Provider,
        token: &UnverifiedLogoutToken,
        now: UnixTime,
    ) -> Result<VerifiedLogoutToken, ReceiveError> {
        let missing = |why| ReceiveError::KeysUnavailable {
            provider: provider.name.clone(),
            why,
            kept: Kept::Retrying,
        };
        let loaded = provider
            .loaded()
            .ok_or_else(|| missing(KeysMissing::NotLoaded))?;
        match token.verify(&loaded.policy, &loaded.keys, now) {
            Err(LogoutTokenError::UnknownKid) => {
                match provider.refetch_keys_for_unknown_kid().await {
                    Refetch::Fetched => {
                        let loaded = provider
                            .loaded()
                            .ok_or_else(|| missing(KeysMissing::NotLoaded))?;
                        Ok(token.verify(&loaded.policy, &loaded.keys, now)?)
                    }
                    Refetch::TooSoon => Err(missing(KeysMissing::KidNotFetchedYet)),
                    Refetch::Failed => Err(missing(KeysMissing::FetchFailed)),
                }
            }
            result => Ok(result?),
        }
    }

    /// The record of one judgement, counted in the metrics; the caller
    /// adds it to the recent log.
    fn record(
        &self,
        provider: Option<String>,
        result: &Result<(Received, VerifiedLogoutToken), ReceiveError>,
        now: UnixTime,
    ) -> LogoutRecord {
        let label = provider.as_deref().unwrap_or("unknown");
        let mut record = LogoutRecord {
            at: now,
            provider: provider.clone(),
            outcome: "rejected",
            pending_since: None,
            pending_id: None,
            rule: None,
            description: None,
            sid: None,
            sub: None,
            jti: None,
            event: None,
        };
        match result {
            Ok((received, verified)) => {
                record.sid = verified.sid().map(ToString::to_string);
                record.sub = verified.sub().map(ToString::to_string);
                record.jti = Some(verified.jti().to_string());
                match received {
                    Received::Revoked(event) => {
                        record.outcome = "revoked";
                        record.event = Some(event.id.clone());
                    }
                    Received::Replayed => record.outcome = "replayed",
                }
                tracing::info!(provider = label, outcome = record.outcome, jti = ?record.jti, sid = ?record.sid, sub = ?record.sub, "logout token accepted");
            }
            Err(err) => {
                if matches!(
                    err,
                    ReceiveError::KeysUnavailable { .. } | ReceiveError::Store(_)
                ) {
                    record.outcome = "unavailable";
                }
                record.rule = Some(err.rule());
                record.description = Some(err.to_string());
                tracing::warn!(
                    provider = label,
                    rule = err.rule(),
                    "logout token refused: {err}"
                );
            }
        }
        self.inner
            .metrics
            .logout_tokens
            .with_label_values(&[label, record.outcome, record.rule.unwrap_or("")])
            .inc();
        record
    }

    fn push_recent(&self, record: LogoutRecord) {
        let capacity = self.inner.recent_capacity;
        let mut recent = self
            .inner
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == capacity {
            recent.pop_back();
        }
        if capacity > 0 {
            recent.push_front(record);
        }
    }

    /// The most recent logout tokens, newest first.
    pub fn recent(&self) -> Vec<LogoutRecord> {
        self.inner
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

impl Inner {
    fn tally(&self) -> std::sync::MutexGuard<'_, KeptTally> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn tally_kept(&self, id: &str, provider: &str) {
        let count = {
            let mut tally = self.tally();
            tally.kept(id, provider);
            tally.count()
        };
        self.set_pending_gauge(count);
    }

    fn set_pending_gauge(&self, count: usize) {
        self.metrics
            .pending_logouts
            .pending
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests;
