//! Reads: the facts of a lookup (with the bound session and subject), the
//! live set page by page, each owner's volume, and what a mirror reads
//! (current states of keys, a snapshot of everything mirrored).

use std::ops::Bound;

use redb::{Database, ReadableDatabase, ReadableTable};

use super::open::db_error;
use super::tables::{decode_record, live_fact, live_record};
use super::{BINDINGS, FACTS, NEVER, OWNED, OWNED_COUNT, SUBJECT_TOKENS};
use crate::domain::{
    BoundFacts, ChangeKinds, FactUpdate, Facts, Lookup, RegisteredToken, Subject,
    SubjectRegistrations, TokenBinding, TokenId, UnixTime,
};
use crate::store::{FactKey, LivePage, MirroredKey, StoreError, live_change};

/// Mirrored facts read per snapshot batch.
pub(super) const SNAPSHOT_BATCH: usize = 10_000;

/// The update that makes a mirror hold what `facts` holds under `key`.
pub(super) fn fact_state(
    facts: &impl ReadableTable<&'static str, (i64, i64)>,
    key: &MirroredKey,
) -> Result<FactUpdate, StoreError> {
    let stored = facts
        .get(key.encode().as_str())
        .map_err(db_error)?
        .map(|guard| guard.value());
    Ok(fact_update(key, stored))
}

/// A fact row (`(expires_at, payload)`, `None` when absent) as an update;
/// absence removes (or expires) the mirrored entry.
pub(super) fn fact_update(key: &MirroredKey, stored: Option<(i64, i64)>) -> FactUpdate {
    let (expires_at, payload) = stored.unwrap_or((0, 0));
    let at = UnixTime::from_secs;
    match key {
        MirroredKey::Token(jti) => FactUpdate::Token {
            jti: jti.clone(),
            expires_at: at(expires_at),
        },
        MirroredKey::Session(session) => FactUpdate::Session {
            session: session.clone(),
            expires_at: at(expires_at),
        },
        MirroredKey::SubjectDisabled(subject) => match stored {
            None => FactUpdate::SubjectEnabled {
                subject: subject.clone(),
            },
            Some(_) => FactUpdate::SubjectDisabled {
                subject: subject.clone(),
                expires_at: (expires_at != NEVER).then(|| at(expires_at)),
            },
        },
        MirroredKey::SubjectRevokedBefore(subject) => FactUpdate::SubjectRevokedBefore {
            subject: subject.clone(),
            before: at(payload),
            expires_at: at(expires_at),
        },
        MirroredKey::Binding(jti) => FactUpdate::Unbound { jti: jti.clone() },
        MirroredKey::SessionBinding(session) => FactUpdate::SessionUnbound {
            session: session.clone(),
        },
    }
}

/// A row of `bindings` as an update: a token id's binding, or a session's.
pub(super) fn bindings_row_update(
    key: &MirroredKey,
    expires_at: i64,
    binding: TokenBinding,
) -> Result<FactUpdate, StoreError> {
    match key {
        MirroredKey::Binding(jti) => Ok(binding_update(jti, expires_at, binding)),
        MirroredKey::SessionBinding(session) => Ok(FactUpdate::SessionBound {
            session: session.clone(),
            subject: binding.subject,
            registered_at: binding.registered_at,
            expires_at: UnixTime::from_secs(expires_at),
        }),
        other => Err(StoreError::Corrupt(format!(
            "`{}` is not a binding key",
            other.encode()
        ))),
    }
}

/// A binding row as an update.
pub(super) fn binding_update(jti: &TokenId, expires_at: i64, binding: TokenBinding) -> FactUpdate {
    FactUpdate::Binding {
        jti: jti.clone(),
        session: binding.session,
        subject: binding.subject,
        registered_at: binding.registered_at,
        expires_at: UnixTime::from_secs(expires_at),
    }
}

/// The current state of each key, in one read transaction.
pub(super) fn read_states(
    db: &Database,
    keys: &[MirroredKey],
) -> Result<Vec<FactUpdate>, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let facts = txn.open_table(FACTS).map_err(db_error)?;
    let bindings = txn.open_table(BINDINGS).map_err(db_error)?;
    keys.iter()
        .map(|key| match key {
            MirroredKey::Binding(_) | MirroredKey::SessionBinding(_) => {
                let name = key.encode();
                match bindings.get(name.as_str()).map_err(db_error)? {
                    Some(guard) => {
                        let (expires_at, json) = guard.value();
                        let binding: TokenBinding = decode_record(&name, json)?;
                        bindings_row_update(key, expires_at, binding)
                    }
                    None => Ok(fact_update(key, None)),
                }
            }
            other => fact_state(&facts, other),
        })
        .collect()
}

/// Every mirrored fact, in batches, from one read transaction (one
/// consistent snapshot).
pub(super) fn snapshot(
    db: &Database,
    sink: &mut (dyn FnMut(Vec<FactUpdate>) + Send),
) -> Result<(), StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let facts = txn.open_table(FACTS).map_err(db_error)?;
    let mut batch = Vec::with_capacity(SNAPSHOT_BATCH);
    for row in facts.iter().map_err(db_error)? {
        let (name, value) = row.map_err(db_error)?;
        if let Some(key) = MirroredKey::decode(name.value()) {
            batch.push(fact_update(&key, Some(value.value())));
        }
        if batch.len() == SNAPSHOT_BATCH {
            sink(std::mem::take(&mut batch));
        }
    }
    let bindings = txn.open_table(BINDINGS).map_err(db_error)?;
    for row in bindings.iter().map_err(db_error)? {
        let (name, value) = row.map_err(db_error)?;
        let name = name.value();
        let Some(key) = MirroredKey::decode(name) else {
            return Err(StoreError::Corrupt(format!(
                "`{name}` is not a binding key"
            )));
        };
        let (expires_at, json) = value.value();
        batch.push(bindings_row_update(
            &key,
            expires_at,
            decode_record(name, json)?,
        )?);
        if batch.len() == SNAPSHOT_BATCH {
            sink(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        sink(batch);
    }
    Ok(())
}

/// A live-set cursor: the hex of the last fact key of the previous page,
/// so that it is opaque and URL-safe.
pub(super) fn decode_cursor(cursor: &str) -> Result<String, StoreError> {
    hex::decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|key| MirroredKey::decode(key).is_some())
        .ok_or(StoreError::InvalidCursor)
}

/// Live revocations of `kinds` in key order, strictly after `after`.
pub(super) fn read_live_page(
    db: &Database,
    after: Option<String>,
    limit: usize,
    kinds: ChangeKinds,
    now: UnixTime,
) -> Result<LivePage, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let facts = txn.open_table(FACTS).map_err(db_error)?;
    let mut from = after.map(Bound::Excluded);
    let mut revocations = Vec::new();
    // Keys sort by namespace (`tok:`, `ses:`, ...): a namespace this page
    // does not want is skipped whole, with a new range after its last key.
    loop {
        let lower = from
            .as_ref()
            .map_or(Bound::Unbounded, |b| b.as_ref().map(String::as_str));
        let mut skip_to = None;
        for row in facts
            .range::<&str>((lower, Bound::Unbounded))
            .map_err(db_error)?
        {
            let (name, value) = row.map_err(db_error)?;
            let name = name.value();
            if !MirroredKey::live_kind(name).is_some_and(|kind| kinds.contains(kind)) {
                let namespace = name.split_once(':').map_or(name, |(ns, _)| ns);
                skip_to = Some(format!("{namespace};"));
                break;
            }
            let Some(key) = MirroredKey::decode(name) else {
                continue;
            };
            if let Some(change) = live_change(fact_update(&key, Some(value.value())), now) {
                revocations.push(change);
                if revocations.len() == limit {
                    return Ok(LivePage {
                        revocations,
                        next: Some(hex::encode(name)),
                    });
                }
            }
        }
        match skip_to {
            Some(next) => from = Some(Bound::Included(next)),
            None => {
                return Ok(LivePage {
                    revocations,
                    next: None,
                });
            }
        }
    }
}

/// The encoded keys of a [`Lookup`], owned so they can move to the blocking
/// pool.
pub(super) struct LookupKeys {
    pub(super) token: Option<String>,
    pub(super) binding: Option<String>,
    pub(super) session_binding: Option<String>,
    pub(super) session: Option<String>,
    pub(super) disabled: Option<String>,
    pub(super) revoked_before: Option<String>,
}

impl LookupKeys {
    pub(super) fn new(lookup: &Lookup<'_>) -> Self {
        Self {
            token: lookup.jti.map(|jti| FactKey::Token(jti).encode()),
            binding: lookup.jti.map(|jti| FactKey::Binding(jti).encode()),
            session_binding: lookup.session.map(|s| FactKey::SessionBinding(s).encode()),
            session: lookup.session.map(|s| FactKey::Session(s).encode()),
            disabled: lookup.subject.map(|s| FactKey::SubjectDisabled(s).encode()),
            revoked_before: lookup
                .subject
                .map(|s| FactKey::SubjectRevokedBefore(s).encode()),
        }
    }
}

/// The facts of a lookup, and those of a live binding of its token id, in
/// one read transaction (one consistent snapshot).
pub(super) fn read_facts(
    db: &Database,
    keys: &LookupKeys,
    now: UnixTime,
) -> Result<Facts, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let facts = txn.open_table(FACTS).map_err(db_error)?;
    let live = |key: Option<&str>| match key {
        Some(key) => live_fact(&facts, key, now),
        None => Ok(None),
    };
    let mark = |key: Option<&str>| {
        live(key).map(|mark| mark.map(|mark| UnixTime::from_secs(mark.payload)))
    };
    let bindings = match (&keys.binding, &keys.session_binding) {
        (None, None) => None,
        _ => Some(txn.open_table(BINDINGS).map_err(db_error)?),
    };
    let binding = |key: Option<&String>| match (key, &bindings) {
        (Some(key), Some(bindings)) => live_record::<TokenBinding>(bindings, key, now),
        _ => Ok(None),
    };
    // The facts of a binding's subject, and of its session when
    // `with_session` (a session binding's session is the one looked up).
    let bound_facts = |binding: TokenBinding, with_session: bool| -> Result<_, StoreError> {
        let session = binding
            .session
            .as_ref()
            .filter(|_| with_session)
            .map(|s| FactKey::Session(s).encode());
        let subject: &Subject = &binding.subject;
        Ok(BoundFacts {
            session_revoked: live(session.as_deref())?.is_some(),
            subject_disabled: live(Some(&FactKey::SubjectDisabled(subject).encode()))?.is_some(),
            subject_revoked_before: mark(Some(&FactKey::SubjectRevokedBefore(subject).encode()))?,
            registered_at: binding.registered_at,
        })
    };
    let bound = binding(keys.binding.as_ref())?
        .map(|(_, b)| bound_facts(b, true))
        .transpose()?;
    let session_bound = binding(keys.session_binding.as_ref())?
        .map(|(_, b)| bound_facts(b, false))
        .transpose()?;
    Ok(Facts {
        token_revoked: live(keys.token.as_deref())?.is_some(),
        session_revoked: live(keys.session.as_deref())?.is_some(),
        subject_disabled: live(keys.disabled.as_deref())?.is_some(),
        subject_revoked_before: mark(keys.revoked_before.as_deref())?,
        bound,
        session_bound,
    })
}

// ---------------------------------------------------------------------------
// Events

/// Live token ids `owner` holds bound at `now`: its count, less the rows
/// that expired and are not drained yet.
pub(super) fn read_token_ids_held(
    db: &Database,
    owner: &str,
    now: UnixTime,
) -> Result<usize, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let counts = txn.open_table(OWNED_COUNT).map_err(db_error)?;
    let owned = txn.open_table(OWNED).map_err(db_error)?;
    let count = counts
        .get(owner)
        .map_err(db_error)?
        .map_or(0, |g| g.value());
    let end = now.as_secs().saturating_add(1);
    let mut dead = 0u64;
    for entry in owned
        .range((owner, i64::MIN, "")..(owner, end, ""))
        .map_err(db_error)?
    {
        entry.map_err(db_error)?;
        dead += 1;
    }
    Ok(usize::try_from(count.saturating_sub(dead)).unwrap_or(usize::MAX))
}

/// A subject's live registered token ids, the latest expiry first, at most
/// `limit` (one more row is read to tell whether the list is truncated).
/// A range read of `subject_tokens` from its end, then one point read of
/// each binding: the cost follows `limit`. Rows expired but not swept yet
/// are never reached (the range starts after `now`); a row whose binding
/// is gone or moved is skipped.
pub(super) fn read_subject_registrations(
    db: &Database,
    subject: &Subject,
    limit: usize,
    now: UnixTime,
) -> Result<SubjectRegistrations, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let index = txn.open_table(SUBJECT_TOKENS).map_err(db_error)?;
    let bindings = txn.open_table(BINDINGS).map_err(db_error)?;
    let key = FactKey::SubjectTokens(subject).encode();
    let start = now.as_secs().saturating_add(1);
    // A binding's expiry is bounded by the registration lifetimes, so no
    // row sits at `i64::MAX` itself.
    let rows = index
        .range((key.as_str(), start, "")..(key.as_str(), i64::MAX, ""))
        .map_err(db_error)?
        .rev()
        .take(limit.saturating_add(1));
    let mut out = SubjectRegistrations::default();
    for entry in rows {
        let (row, _) = entry.map_err(db_error)?;
        let (_, _, jti) = row.value();
        if out.tokens.len() == limit {
            out.truncated = true;
            break;
        }
        let binding_key = format!("bnd:{jti}");
        let Some((until, binding)) = live_record::<TokenBinding>(&bindings, &binding_key, now)?
        else {
            continue;
        };
        if &binding.subject != subject {
            continue;
        }
        out.tokens.push(RegisteredToken {
            jti: TokenId::parse(jti).map_err(|err| {
                StoreError::Corrupt(format!("`{key}` holds a bad token id: {err}"))
            })?,
            sid: binding.session.map(|session| session.sid),
            owner: binding.owner,
            registered_at: binding.registered_at,
            expires_at: UnixTime::from_secs(until),
        });
    }
    Ok(out)
}
