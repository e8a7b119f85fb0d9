//! The SCIM 2.0 service provider (RFC 7643, RFC 7644) that identity
//! providers provision into, so that disabling or deleting an account
//! there reaches every app behind revokd (issue 15 part 3; DESIGN.md
//! decision 12).
//!
//! Each `[[scim]]` client authenticates with its own bearer token
//! (compared in constant time, never logged) and sees only its own users.
//! A user maps to `(issuer, sub)`: the client's issuer and the value of its
//! `subject_attribute`. What changes is turned into the revocation model
//! through [`Revocations`], durably and in the audit log (actor
//! `scim:<client>`) before the answer:
//!
//! - `active` true → false (PUT, PATCH), a user created inactive, and
//!   DELETE: the subject is disabled and every token it holds revoked
//!   (revoked-before now);
//! - `active` false → true, or a user created active whose subject is
//!   disabled: the subject is enabled (its old tokens stay revoked);
//! - a change of the mapped `sub` applies the user's state to the new one.
//!
//! The revocation is recorded before the user record, so a failure
//! between the two leaves the record as it was and the provider's retry
//! (it sees an error) makes the same change again; nothing is lost and a
//! refused request (bad syntax, a taken `userName`, a stale `If-Match`)
//! applies nothing.

use std::sync::Arc;

use prometheus::{IntCounterVec, Opts};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::error::ConfigError;
use crate::domain::{Issuer, Note, Provenance, Subject, SubjectId, UnixTime};
use crate::metrics::Metrics;
use crate::revocations::Revocations;
use crate::store::{ScimUnique, ScimUser, ScimUserStore, ScimWrite};

pub mod discovery;
mod error;
mod filter;
pub mod json;
pub mod user;

pub use crate::providers::scim_settings::{self as settings, ScimClientSettings, SubjectAttribute};
pub use error::ScimError;
use user::Fields;

/// The media type of SCIM messages (RFC 7644 §3.1).
pub const SCIM_MEDIA_TYPE: &str = "application/scim+json";
/// The error response schema (RFC 7644 §3.12).
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Attempts of a read-modify-write racing other writers of one user.
const ATTEMPTS: usize = 5;

/// One configured provisioning client.
pub struct Client {
    pub name: String,
    issuer: Issuer,
    digest: [u8; 32],
    mapping: SubjectAttribute,
}

impl Client {
    fn actor(&self) -> String {
        format!("scim:{}", self.name)
    }
}

/// A page of users (RFC 7644 §3.4.2.4).
#[derive(Debug)]
pub struct Page {
    pub total: usize,
    /// 1-based.
    pub start_index: usize,
    pub users: Vec<ScimUser>,
}

/// The SCIM service. Cheap to clone.
#[derive(Clone)]
pub struct ScimService {
    inner: Arc<Inner>,
}

struct Inner {
    clients: Vec<Client>,
    revocations: Revocations,
    requests: IntCounterVec,
}

fn token_digest(i: usize, s: &ScimClientSettings) -> Result<[u8; 32], ConfigError> {
    if let Some(hex) = &s.token_sha256 {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex, &mut digest)
            .map_err(|e| ConfigError::invalid(format!("scim[{i}].token_sha256"), e.to_string()))?;
        return Ok(digest);
    }
    let token = match (&s.token, &s.token_file) {
        (Some(token), _) => token.expose_secret().trim().to_owned(),
        (None, Some(path)) => {
            let at = format!("scim[{i}].token_file");
            let bytes = crate::config::secret_file::read_secret_file(&at, path)?;
            let token = String::from_utf8(bytes)
                .map_err(|_| ConfigError::invalid(&at, "the token is not UTF-8 text"))?;
            let token = token.trim().to_owned();
            if token.len() < settings::MIN_TOKEN_LEN {
                return Err(ConfigError::invalid(
                    at,
                    format!(
                        "the token is shorter than {} characters",
                        settings::MIN_TOKEN_LEN
                    ),
                ));
            }
            token
        }
        (None, None) => {
            return Err(ConfigError::invalid(
                format!("scim[{i}].token"),
                "give exactly one of token, token_sha256 or token_file",
            ));
        }
    };
    Ok(Sha256::digest(token.as_bytes()).into())
}

/// A new resource id: 122 random bits in the UUID v4 form.
fn new_id() -> Result<String, ScimError> {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b)
        .map_err(|e| ScimError::Store(crate::store::StoreError::unavailable(e)))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// Whether `if_match` (an `If-Match` header, RFC 9110 §13.1.1) admits
/// `version`; absent admits every version.
///
/// # Errors
/// 412 when it names other versions only.
fn check_if_match(if_match: Option<&str>, version: u64) -> Result<(), ScimError> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let current = user::etag(version);
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let admits = header
        .split(',')
        .any(|tag| tag.trim() == "*" || opaque(tag) == opaque(&current));
    if admits {
        Ok(())
    } else {
        Err(ScimError::PreconditionFailed {
            presented: header
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect(),
            current,
        })
    }
}

impl ScimService {
    /// # Errors
    /// A token file cannot be read; the metrics cannot be registered.
    pub fn new(
        settings: &[ScimClientSettings],
        revocations: Revocations,
        metrics: &Metrics,
    ) -> Result<Self, ConfigError> {
        settings::validate_all(settings)?;
        let mut clients = Vec::with_capacity(settings.len());
        for (i, s) in settings.iter().enumerate() {
            clients.push(Client {
                name: s.name.clone(),
                issuer: Issuer::parse(s.issuer.clone()).map_err(|e| {
                    ConfigError::invalid(format!("scim[{i}].issuer"), e.to_string())
                })?,
                digest: token_digest(i, s)?,
                mapping: SubjectAttribute::parse(&s.subject_attribute)
                    .map_err(|e| ConfigError::invalid(format!("scim[{i}].subject_attribute"), e))?,
            });
        }
        let requests = IntCounterVec::new(
            Opts::new(
                "scim_requests_total",
                "SCIM requests by client (or unknown), operation (create, get, list, replace, patch, delete, discovery), outcome (ok, rejected, unavailable) and rule (the scimType or reason of a refusal).",
            ),
            &["client", "operation", "outcome", "rule"],
        )
        .expect("valid metric");
        metrics
            .register(Box::new(requests.clone()))
            .map_err(|e| ConfigError::invalid("scim", e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                clients,
                revocations,
                requests,
            }),
        })
    }

    /// The client whose token `bearer` is. Every configured token is
    /// compared, in constant time, whichever matches.
    ///
    /// # Errors
    /// No or an unknown token.
    pub fn authenticate(&self, bearer: Option<&str>) -> Result<&Client, ScimError> {
        let bearer = bearer.ok_or(ScimError::Unauthorized)?;
        let presented: [u8; 32] = Sha256::digest(bearer.as_bytes()).into();
        let mut found = None;
        for client in &self.inner.clients {
            if bool::from(presented.ct_eq(&client.digest)) {
                found = Some(client);
            }
        }
        found.ok_or(ScimError::Unauthorized)
    }

    /// Counts and logs one request's result.
    pub fn count<T>(&self, client: Option<&str>, operation: &str, result: &Result<T, ScimError>) {
        let client = client.unwrap_or("unknown");
        let (outcome, rule) = match result {
            Ok(_) => ("ok", ""),
            Err(err @ ScimError::Store(_)) => ("unavailable", err.rule()),
            Err(err) => ("rejected", err.rule()),
        };
        match result {
            Ok(_) => tracing::debug!(client, operation, "scim request served"),
            Err(ScimError::Store(err)) => {
                tracing::error!(client, operation, error.cause_chain = ?err, "scim request failed: the store is unavailable");
            }
            Err(err) => tracing::info!(client, operation, rule, "scim request refused: {err}"),
        }
        self.inner
            .requests
            .with_label_values(&[client, operation, outcome, rule])
            .inc();
    }

    fn store(&self) -> &crate::store::Store {
        self.inner.revocations.store()
    }

    /// The `sub` of `fields` as an identifier.
    fn subject(client: &Client, fields: &Fields) -> Result<String, ScimError> {
        let sub = fields.sub(&client.mapping)?;
        SubjectId::parse(sub.clone()).map_err(|e| ScimError::InvalidValue(e.to_string()))?;
        Ok(sub)
    }

    /// Refuses `user` when another user of the client holds its
    /// `userName` or `externalId`, before anything is applied (the store
    /// checks again when it writes).
    async fn check_unique(&self, user: &ScimUser) -> Result<(), ScimError> {
        let mut wanted = vec![(ScimUnique::UserName, user.user_name.as_str())];
        if let Some(ext) = &user.external_id {
            wanted.push((ScimUnique::ExternalId, ext));
        }
        for (by, value) in wanted {
            if let Some(holder) = self.store().find_scim_user(&user.client, by, value).await?
                && holder.id != user.id
            {
                return Err(ScimError::Uniqueness(by.attribute()));
            }
        }
        Ok(())
    }

    /// Records what `user`'s state means for its subject: disabled (and
    /// its tokens revoked) when inactive, enabled when active.
    async fn apply_state(
        &self,
        client: &Client,
        user: &ScimUser,
        operation: &str,
        now: UnixTime,
    ) -> Result<(), ScimError> {
        let subject = Subject {
            iss: client.issuer.clone(),
            sub: SubjectId::parse(user.sub.clone())
                .map_err(|e| ScimError::InvalidValue(e.to_string()))?,
        };
        let provenance = Provenance {
            actor: client.actor(),
            reason: Note::parse(format!("scim {operation} of user {}", user.id)).ok(),
        };
        let revocations = &self.inner.revocations;
        if user.active {
            revocations.enable_subject(subject, provenance, now).await?;
        } else {
            revocations
                .disable_subject(subject, provenance, now)
                .await?;
        }
        Ok(())
    }

    /// POST /Users.
    ///
    /// # Errors
    /// A refused body, a taken `userName` or `externalId`, the store.
    pub async fn create(
        &self,
        client: &Client,
        body: &Value,
        now: UnixTime,
    ) -> Result<ScimUser, ScimError> {
        let fields = user::parse_resource(body, &client.mapping)?;
        let sub = Self::subject(client, &fields)?;
        let user = ScimUser {
            client: client.name.clone(),
            id: new_id()?,
            user_name: fields.user_name,
            external_id: fields.external_id,
            sub,
            active: fields.active,
            created: now,
            last_modified: now,
            version: 1,
        };
        self.check_unique(&user).await?;
        // An active user is enabled only when its subject is disabled:
        // provisioning every existing account writes no event.
        let needs_state = !user.active || {
            let subject = Subject {
                iss: client.issuer.clone(),
                sub: SubjectId::parse(user.sub.clone())
                    .map_err(|e| ScimError::InvalidValue(e.to_string()))?,
            };
            self.inner
                .revocations
                .subject_facts(&subject, now)
                .await?
                .subject_disabled
        };
        if needs_state {
            self.apply_state(client, &user, "create", now).await?;
        }
        match self.store().create_scim_user(&user).await? {
            ScimWrite::Done => Ok(user),
            ScimWrite::Taken(by) => Err(ScimError::Uniqueness(by.attribute())),
            ScimWrite::NotFound | ScimWrite::VersionMismatch => Err(ScimError::Store(
                crate::store::StoreError::Corrupt("a create answered as a replace".into()),
            )),
        }
    }

    fn not_found(id: &str) -> ScimError {
        ScimError::NotFound(format!(
            "no user `{}` of this client",
            id.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        ))
    }

    /// GET /Users/{id}.
    ///
    /// # Errors
    /// No such user of this client, the store.
    pub async fn get(&self, client: &Client, id: &str) -> Result<ScimUser, ScimError> {
        self.store()
            .scim_user(&client.name, id)
            .await?
            .ok_or_else(|| Self::not_found(id))
    }

    /// GET /Users: a filter lookup, or one page of the client's users
    /// (`start_index` 1-based, at most [`discovery::MAX_RESULTS`]) read
    /// from the store's ordered index: a call reads the page, never the
    /// whole directory.
    ///
    /// # Errors
    /// A filter revokd does not understand, the store.
    pub async fn list(
        &self,
        client: &Client,
        filter: Option<&str>,
        start_index: usize,
        count: usize,
    ) -> Result<Page, ScimError> {
        let store = self.store();
        let start_index = start_index.max(1);
        let count = count.min(discovery::MAX_RESULTS);
        let matching: Option<ScimUser> = match filter.map(filter::parse).transpose()? {
            None => {
                let page = store
                    .scim_users_page(&client.name, start_index - 1, count)
                    .await?;
                return Ok(Page {
                    total: usize::try_from(page.total).unwrap_or(usize::MAX),
                    start_index,
                    users: page.users,
                });
            }
            Some(filter::Filter::UserName(v)) => {
                store
                    .find_scim_user(&client.name, ScimUnique::UserName, &v)
                    .await?
            }
            Some(filter::Filter::ExternalId(v)) => {
                store
                    .find_scim_user(&client.name, ScimUnique::ExternalId, &v)
                    .await?
            }
            Some(filter::Filter::Id(v)) => store.scim_user(&client.name, &v).await?,
        };
        let total = usize::from(matching.is_some());
        let users = matching
            .into_iter()
            .skip(start_index - 1)
            .take(count)
            .collect();
        Ok(Page {
            total,
            start_index,
            users,
        })
    }

    /// PUT /Users/{id}: the user becomes `body` (RFC 7644 §3.5.1).
    ///
    /// # Errors
    /// See [`ScimService::patch`].
    pub async fn replace(
        &self,
        client: &Client,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        now: UnixTime,
    ) -> Result<ScimUser, ScimError> {
        let fields = user::parse_resource(body, &client.mapping)?;
        // A PUT without `active` keeps the current state: a provider whose
        // attribute mapping has no `active` (authentik's default) must not
        // enable a disabled person by leaving it out.
        let gives_active = body.as_object().is_some_and(|m| {
            m.iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("active") && !v.is_null())
        });
        self.update(client, id, if_match, "replace", now, |f| {
            // A PUT without a custom mapped attribute keeps the mapped sub:
            // revokd does not keep that attribute, and a provider sends
            // only what its mapping holds.
            let custom = fields.custom.clone().or_else(|| f.custom.clone());
            let active = if gives_active {
                fields.active
            } else {
                f.active
            };
            *f = Fields {
                custom,
                active,
                ..fields.clone()
            };
            Ok(())
        })
        .await
    }

    /// PATCH /Users/{id} (RFC 7644 §3.5.2).
    ///
    /// # Errors
    /// A refused body or operation, no such user, `If-Match` names another
    /// version, a taken `userName` or `externalId`, the store.
    pub async fn patch(
        &self,
        client: &Client,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        now: UnixTime,
    ) -> Result<ScimUser, ScimError> {
        // The body is judged before the user is read: a malformed request
        // is `400` whatever `If-Match` says.
        let mut probe = Fields {
            user_name: "probe".into(),
            external_id: None,
            active: true,
            custom: None,
        };
        user::apply_patch(&mut probe, body, &client.mapping)?;
        self.update(client, id, if_match, "patch", now, |f| {
            user::apply_patch(f, body, &client.mapping)
        })
        .await
    }

    /// Read, change, record the state, write with the version read.
    async fn update(
        &self,
        client: &Client,
        id: &str,
        if_match: Option<&str>,
        operation: &str,
        now: UnixTime,
        change: impl Fn(&mut Fields) -> Result<(), ScimError>,
    ) -> Result<ScimUser, ScimError> {
        let mut last_version = 0;
        for _ in 0..ATTEMPTS {
            let old = self.get(client, id).await?;
            check_if_match(if_match, old.version)?;
            last_version = old.version;
            let mut fields = Fields {
                user_name: old.user_name.clone(),
                external_id: old.external_id.clone(),
                active: old.active,
                custom: matches!(client.mapping, SubjectAttribute::Custom { .. })
                    .then(|| old.sub.clone()),
            };
            change(&mut fields)?;
            let sub = Self::subject(client, &fields)?;
            let new = ScimUser {
                user_name: fields.user_name,
                external_id: fields.external_id,
                active: fields.active,
                sub,
                last_modified: now,
                version: old.version + 1,
                ..old.clone()
            };
            let unchanged = new.user_name == old.user_name
                && new.external_id == old.external_id
                && new.active == old.active
                && new.sub == old.sub;
            if unchanged {
                return Ok(old);
            }
            self.check_unique(&new).await?;
            if new.active != old.active || new.sub != old.sub {
                self.apply_state(client, &new, operation, now).await?;
            }
            match self.store().replace_scim_user(&new, old.version).await? {
                ScimWrite::Done => return Ok(new),
                ScimWrite::Taken(by) => return Err(ScimError::Uniqueness(by.attribute())),
                ScimWrite::NotFound => return Err(Self::not_found(id)),
                // Another write came between: read again.
                ScimWrite::VersionMismatch => {}
            }
        }
        Err(ScimError::PreconditionFailed {
            presented: if_match.unwrap_or("(none)").to_owned(),
            current: user::etag(last_version + 1),
        })
    }

    /// DELETE /Users/{id}: the subject is disabled and its tokens revoked,
    /// then the user is forgotten.
    ///
    /// # Errors
    /// No such user, `If-Match` names another version, the store.
    pub async fn delete(
        &self,
        client: &Client,
        id: &str,
        if_match: Option<&str>,
        now: UnixTime,
    ) -> Result<(), ScimError> {
        let old = self.get(client, id).await?;
        check_if_match(if_match, old.version)?;
        let gone = ScimUser {
            active: false,
            ..old
        };
        self.apply_state(client, &gone, "delete", now).await?;
        self.store()
            .delete_scim_user(&client.name, id)
            .await?
            .ok_or_else(|| Self::not_found(id))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_admits_the_current_version_or_a_star_only() {
        check_if_match(None, 3).unwrap();
        check_if_match(Some("W/\"3\""), 3).unwrap();
        check_if_match(Some("\"3\""), 3).unwrap();
        check_if_match(Some("*"), 3).unwrap();
        check_if_match(Some("W/\"1\", W/\"3\""), 3).unwrap();
        for stale in ["W/\"2\"", "\"33\"", "", "W/\"\""] {
            assert_eq!(
                check_if_match(Some(stale), 3).unwrap_err().status(),
                412,
                "{stale}"
            );
        }
    }

    #[test]
    fn ids_are_uuid_v4_shaped_and_differ() {
        let (a, b) = (new_id().unwrap(), new_id().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
