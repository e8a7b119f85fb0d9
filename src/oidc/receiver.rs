//! Receiving one logout token: pick the provider, verify, revoke once.
//!
//! The HTTP handler only parses the form and maps the outcome; everything
//! OpenID Connect Back-Channel Logout 1.0 asks of the relying party after
//! that (§2.6 validation, §2.7 actions, §2.8 response semantics) is here.
//! Cheap checks come first — size and shape, a configured issuer, loaded
//! keys, a known or fetchable `kid` — and the signature after them, because
//! the endpoint is open to anyone until the signature is checked.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::logout_token::{LogoutTokenError, UnverifiedLogoutToken, VerifiedLogoutToken};
use super::provider::{Provider, Providers};
use crate::domain::{Change, Event, EventId, Provenance, SeenKey, Session, UnixTime};
use crate::metrics::Metrics;
use crate::revocations::Revocations;
use crate::store::StoreError;

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
    /// The provider's keys were never loaded: the provider may retry.
    #[error("the keys of provider `{0}` are not loaded yet; retry later")]
    KeysNotLoaded(String),
    #[error(transparent)]
    Store(#[from] StoreError),
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
            Self::KeysNotLoaded(_) => "keys_not_loaded",
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
    /// `revoked`, `replayed`, `rejected` or `unavailable`.
    pub outcome: &'static str,
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

/// The receiving side of back-channel logout.
pub struct LogoutReceiver {
    providers: Arc<Providers>,
    revocations: Revocations,
    metrics: Metrics,
    recent: Mutex<VecDeque<LogoutRecord>>,
    recent_capacity: usize,
}

impl LogoutReceiver {
    pub fn new(
        providers: Arc<Providers>,
        revocations: Revocations,
        metrics: Metrics,
        recent_capacity: usize,
    ) -> Self {
        Self {
            providers,
            revocations,
            metrics,
            recent: Mutex::new(VecDeque::new()),
            recent_capacity,
        }
    }

    pub fn providers(&self) -> &Arc<Providers> {
        &self.providers
    }

    /// Judges `token` (posted to the endpoint of provider `pinned`, if any)
    /// and, when valid, revokes what it names — once per (`iss`, `jti`).
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
        let result = self
            .judge_and_act(pinned, token, now, &mut provider_name)
            .await;
        self.record(provider_name, &result, now);
        result.map(|(received, _)| received)
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

        // §2.7: a `sid` ends that session; `sub` alone every session of the
        // subject, which for revokd means every token issued until now.
        let change = match (verified.sid(), verified.subject()) {
            (Some(sid), _) => Change::SessionRevoked {
                session: Session {
                    iss: verified.iss().clone(),
                    sid: sid.clone(),
                },
                expires_at: self.revocations.session_expiry(now),
            },
            (None, Some(subject)) => Change::SubjectRevokedBefore {
                subject,
                before: now,
                expires_at: self.revocations.revoked_before_expiry(now),
            },
            (None, None) => return Err(LogoutTokenError::MissingSubAndSid.into()),
        };
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
        let received = match self
            .revocations
            .apply_once(&seen, change, provenance, now)
            .await?
        {
            Some(event) => {
                let delay = now
                    .as_secs()
                    .saturating_sub(verified.iat().as_secs())
                    .max(0);
                self.metrics
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
        if let Some(name) = pinned {
            let provider = self
                .providers
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
            let mut decrypting = self.providers.iter().filter(|p| p.decrypts());
            return match (decrypting.next(), decrypting.next()) {
                (Some(only), None) => Ok(only.clone()),
                _ => Err(ReceiveError::EncryptedWithoutProvider),
            };
        }
        let iss = token.issuer_hint().ok_or(ReceiveError::UnknownIssuer)?;
        self.providers
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
        let loaded = provider
            .loaded()
            .ok_or_else(|| ReceiveError::KeysNotLoaded(provider.name.clone()))?;
        match token.verify(&loaded.policy, &loaded.keys, now) {
            Err(LogoutTokenError::UnknownKid) if provider.refetch_for_unknown_kid().await => {
                let loaded = provider
                    .loaded()
                    .ok_or_else(|| ReceiveError::KeysNotLoaded(provider.name.clone()))?;
                Ok(token.verify(&loaded.policy, &loaded.keys, now)?)
            }
            result => Ok(result?),
        }
    }

    fn record(
        &self,
        provider: Option<String>,
        result: &Result<(Received, VerifiedLogoutToken), ReceiveError>,
        now: UnixTime,
    ) {
        let label = provider.as_deref().unwrap_or("unknown");
        let mut record = LogoutRecord {
            at: now,
            provider: provider.clone(),
            outcome: "rejected",
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
                if matches!(err, ReceiveError::KeysNotLoaded(_) | ReceiveError::Store(_)) {
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
        self.metrics
            .logout_tokens
            .with_label_values(&[label, record.outcome, record.rule.unwrap_or("")])
            .inc();
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == self.recent_capacity {
            recent.pop_back();
        }
        if self.recent_capacity > 0 {
            recent.push_front(record);
        }
    }

    /// The most recent logout tokens, newest first.
    pub fn recent(&self) -> Vec<LogoutRecord> {
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}
