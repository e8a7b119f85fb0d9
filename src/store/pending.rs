//! Logout tokens kept until they can be verified (DESIGN 10, issue 17
//! item 18): a provider posts a logout token once, so a token that arrives
//! while its provider's keys are missing is kept here, bounded, and applied
//! by the receiver as soon as the keys allow (see
//! `backchannel::LogoutReceiver`).
//!
//! A separate trait from [`super::RevocationStore`] because it holds raw,
//! not yet verified tokens and nothing here is a revocation: applying one
//! goes through `apply_once`, whose seen-marker makes every instance and
//! every retry apply it at most once.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Backend, Store, StoreError};
use crate::domain::UnixTime;

/// One kept logout token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogout {
    /// [`PendingLogout::id_of`] the token: the same token posted twice is
    /// kept once.
    pub id: String,
    /// The configured provider that will verify it.
    pub provider: String,
    /// The compact JWS or JWE exactly as received.
    pub token: String,
    pub received_at: UnixTime,
    /// When its `iat` window closes: after this it can never be accepted,
    /// and it is dropped.
    pub expires_at: UnixTime,
}

impl PendingLogout {
    /// The hex SHA-256 of `token`: an id that names the token without
    /// holding it, safe to log.
    pub fn id_of(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }
}

/// What [`PendingLogoutStore::keep_pending_logout`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingPut {
    /// Stored now.
    Kept,
    /// A token with this id was already kept; nothing changed.
    AlreadyKept,
    /// `max_count` tokens are already kept; nothing was stored.
    Full,
}

/// The storage of kept logout tokens. Part of the store contract
/// (`tests/store/pending_logouts.rs`).
pub trait PendingLogoutStore {
    /// Keeps `pending` unless a token with its id is already kept or
    /// `max_count` tokens (live or expired, until forgotten) are: in one
    /// atomic, durable step.
    fn keep_pending_logout(
        &self,
        pending: &PendingLogout,
        max_count: usize,
    ) -> impl Future<Output = Result<PendingPut, StoreError>> + Send;

    /// Every kept token, expired ones included (the caller drops those with
    /// a record of why), oldest `received_at` first. At most `max_count`
    /// of [`keep_pending_logout`](Self::keep_pending_logout) entries exist.
    fn pending_logouts(
        &self,
    ) -> impl Future<Output = Result<Vec<PendingLogout>, StoreError>> + Send;

    /// Forgets the token with `id`; whether it was kept.
    fn forget_pending_logout(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Sorts kept tokens oldest first (then by id, for a stable order).
pub(super) fn oldest_first(mut pending: Vec<PendingLogout>) -> Vec<PendingLogout> {
    pending.sort_by(|a, b| (a.received_at, &a.id).cmp(&(b.received_at, &b.id)));
    pending
}

impl PendingLogoutStore for Store {
    async fn keep_pending_logout(
        &self,
        pending: &PendingLogout,
        max_count: usize,
    ) -> Result<PendingPut, StoreError> {
        self.timed("keep_pending_logout", async {
            match &self.backend {
                Backend::Embedded(s) => s.keep_pending_logout(pending, max_count).await,
                Backend::Redis(s) => s.keep_pending_logout(pending, max_count).await,
            }
        })
        .await
    }

    async fn pending_logouts(&self) -> Result<Vec<PendingLogout>, StoreError> {
        self.timed("pending_logouts", async {
            match &self.backend {
                Backend::Embedded(s) => s.pending_logouts().await,
                Backend::Redis(s) => s.pending_logouts().await,
            }
        })
        .await
    }

    async fn forget_pending_logout(&self, id: &str) -> Result<bool, StoreError> {
        self.timed("forget_pending_logout", async {
            match &self.backend {
                Backend::Embedded(s) => s.forget_pending_logout(id).await,
                Backend::Redis(s) => s.forget_pending_logout(id).await,
            }
        })
        .await
    }
}
