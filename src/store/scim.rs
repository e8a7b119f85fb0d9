//! SCIM users (RFC 7643 §4.1), as much of them as revokd needs to turn an
//! identity provider's provisioning into subject disables: the id revokd
//! handed out, `userName` and `externalId` (both unique within one SCIM
//! client, so filters find one user and the mapping to a `sub` is
//! unambiguous), the mapped `sub`, `active` and the `meta` instants and
//! version. Nothing else of what a provider sends is kept.
//!
//! A separate trait from [`super::RevocationStore`]: a user record is not a
//! revocation and never reaches the mirror; what a change of `active`
//! revokes goes through `apply` like every other signal (see
//! `crate::scim`). Every write is one atomic, durable step, and every
//! replace is a compare-and-swap on `version`, so two provisioning calls
//! racing on one user cannot lose each other's change unseen.

use serde::{Deserialize, Serialize};

use super::{Backend, Store, StoreError};
use crate::domain::UnixTime;

/// One provisioned user, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScimUser {
    /// The `[[scim]]` client that provisioned it: users of two clients
    /// never see each other.
    pub client: String,
    /// The SCIM `id` revokd assigned.
    pub id: String,
    pub user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The provider's `sub` this user maps to (with the client's issuer).
    pub sub: String,
    pub active: bool,
    pub created: UnixTime,
    pub last_modified: UnixTime,
    /// Raised by one on every replace; the `ETag` is built from it.
    pub version: u64,
}

impl ScimUser {
    /// `userName` as uniqueness compares it: RFC 7643 §4.1.1 makes it
    /// case-insensitive (`caseExact` false).
    pub fn user_name_key(&self) -> String {
        user_name_key(&self.user_name)
    }
}

/// `userName` folded for the uniqueness index and for `eq` filters.
pub fn user_name_key(user_name: &str) -> String {
    user_name.to_lowercase()
}

/// The unique attributes of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimUnique {
    UserName,
    ExternalId,
}

impl ScimUnique {
    /// The SCIM attribute name.
    pub const fn attribute(self) -> &'static str {
        match self {
            Self::UserName => "userName",
            Self::ExternalId => "externalId",
        }
    }
}

/// What a create or replace did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimWrite {
    Done,
    /// Another user of the client holds this value; nothing was written.
    Taken(ScimUnique),
    /// No user with this id (replace only).
    NotFound,
    /// The stored version is not the expected one (replace only).
    VersionMismatch,
}

/// The storage of SCIM users. Part of the store contract
/// (`tests/store/scim_users.rs`).
pub trait ScimUserStore {
    /// Stores a new user unless its id, `userName` (case-insensitively) or
    /// `externalId` is taken within its client.
    fn create_scim_user(
        &self,
        user: &ScimUser,
    ) -> impl Future<Output = Result<ScimWrite, StoreError>> + Send;

    /// The user `id` of `client`.
    fn scim_user(
        &self,
        client: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<ScimUser>, StoreError>> + Send;

    /// The user of `client` whose `by` equals `value` (`userName`
    /// case-insensitively).
    fn find_scim_user(
        &self,
        client: &str,
        by: ScimUnique,
        value: &str,
    ) -> impl Future<Output = Result<Option<ScimUser>, StoreError>> + Send;

    /// Up to `count` (at most [`SCIM_PAGE_MAX`]) users of `client` from
    /// the `offset`-th (0-based) in the order oldest `created` first, then
    /// by id, and how many users `client` has. Reads an ordered index and
    /// a count kept in step with every create and delete, never the whole
    /// directory: on Redis `ZCARD` and `ZRANGE` by rank (O(log n + count)),
    /// on the embedded store the table length and a key range that steps
    /// over `offset` index keys (no user record) before reading `count`.
    fn scim_users_page(
        &self,
        client: &str,
        offset: usize,
        count: usize,
    ) -> impl Future<Output = Result<ScimUserPage, StoreError>> + Send;

    /// Replaces the stored user of the same client and id, if its version
    /// is `expected_version` and the new `userName` / `externalId` are not
    /// another user's; the unique indexes follow the new values.
    fn replace_scim_user(
        &self,
        user: &ScimUser,
        expected_version: u64,
    ) -> impl Future<Output = Result<ScimWrite, StoreError>> + Send;

    /// Removes the user and its index entries; returns what was removed.
    fn delete_scim_user(
        &self,
        client: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<ScimUser>, StoreError>> + Send;
}

/// The most users one [`ScimUserStore::scim_users_page`] call reads: the
/// `maxResults` revokd announces (RFC 7644 §3.4.2.4 lets a service
/// provider return fewer than asked for).
pub const SCIM_PAGE_MAX: usize = 100;

/// One page of a client's users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUserPage {
    /// How many users the client has (SCIM's `totalResults`).
    pub total: u64,
    /// The users of the page, oldest `created` first, then by id.
    pub users: Vec<ScimUser>,
}

pub(super) fn decode_user(json: &[u8]) -> Result<ScimUser, StoreError> {
    serde_json::from_slice(json).map_err(|e| StoreError::Corrupt(format!("scim user: {e}")))
}

/// The stored JSON: the user and its folded `userName`, so that a Redis
/// script can drop the old index entry without folding case itself.
pub(super) fn encode_user(user: &ScimUser) -> Result<String, StoreError> {
    #[derive(Serialize)]
    struct Stored<'a> {
        #[serde(flatten)]
        user: &'a ScimUser,
        name_key: String,
    }
    serde_json::to_string(&Stored {
        user,
        name_key: user.user_name_key(),
    })
    .map_err(|e| StoreError::Corrupt(format!("scim user: {e}")))
}

macro_rules! scim_dispatch {
    ($self:ident, $op:literal, $s:ident => $call:expr) => {
        $self
            .timed($op, async {
                match &$self.backend {
                    Backend::Embedded($s) => $call.await,
                    Backend::Redis($s) => $call.await,
                }
            })
            .await
    };
}

impl ScimUserStore for Store {
    async fn create_scim_user(&self, user: &ScimUser) -> Result<ScimWrite, StoreError> {
        scim_dispatch!(self, "create_scim_user", s => s.create_scim_user(user))
    }

    async fn scim_user(&self, client: &str, id: &str) -> Result<Option<ScimUser>, StoreError> {
        scim_dispatch!(self, "scim_user", s => s.scim_user(client, id))
    }

    async fn find_scim_user(
        &self,
        client: &str,
        by: ScimUnique,
        value: &str,
    ) -> Result<Option<ScimUser>, StoreError> {
        scim_dispatch!(self, "find_scim_user", s => s.find_scim_user(client, by, value))
    }

    async fn scim_users_page(
        &self,
        client: &str,
        offset: usize,
        count: usize,
    ) -> Result<ScimUserPage, StoreError> {
        scim_dispatch!(self, "scim_users_page", s => s.scim_users_page(client, offset, count))
    }

    async fn replace_scim_user(
        &self,
        user: &ScimUser,
        expected_version: u64,
    ) -> Result<ScimWrite, StoreError> {
        scim_dispatch!(self, "replace_scim_user", s => s.replace_scim_user(user, expected_version))
    }

    async fn delete_scim_user(
        &self,
        client: &str,
        id: &str,
    ) -> Result<Option<ScimUser>, StoreError> {
        scim_dispatch!(self, "delete_scim_user", s => s.delete_scim_user(client, id))
    }
}
