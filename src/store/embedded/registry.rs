//! Registering and unregistering sessions: bindings of token ids to a
//! session and subject, each owner's registration record, the refusal of
//! a revoked session or disabled subject (its ids born revoked), and the
//! caps per session and per key.

use redb::{Database, ReadableTable};

use super::audit::append_event;
use super::open::{begin_write, db_error};
use super::tables::{FactTables, Records, decode_record, encode_record, live_record};
use crate::domain::{
    Change, Owner, Provenance, Reason, Registration, Session, SessionRegistration, Subject,
    TokenBinding, TokenId, UnixTime,
};
use crate::store::{FactKey, StoreError};

impl<'txn> FactTables<'txn> {
    /// Stores or merges a registration (the rules are on
    /// [`RevocationStore::register_session`]). Reads and checks first, so
    /// that a [`Registration::SessionFull`] writes nothing; every read and
    /// write is a point access, so the cost follows `reg`, not the size of
    /// the session (except once after the session's record expired, when
    /// its leftover rows, at most the cap, are cleared).
    pub(super) fn register(
        &mut self,
        reg: &SessionRegistration,
        now: UnixTime,
    ) -> Result<Registration, StoreError> {
        let subject = reg.subject();
        let session = reg.session();
        let owner = reg.owner();
        let expires_at = reg.expires_at().as_secs();
        self.drain_owned(owner.as_ref(), now)?;
        // Plan: (jti, binding key, registered_at, until, the expiry of the
        // owner's live binding) of the ids to bind.
        let mut plan = Vec::with_capacity(reg.token_ids().len());
        for jti in reg.token_ids() {
            let key = FactKey::Binding(jti).encode();
            let old: Option<(i64, TokenBinding)> = live_record(&self.bindings, &key, now)?;
            let (registered_at, until, held_until) = match old {
                Some((old_until, old))
                    if old.subject == subject
                        && old.session == session
                        && old.owner.as_ref() == Some(owner) =>
                {
                    (
                        old.registered_at,
                        old_until.max(expires_at),
                        Some(old_until),
                    )
                }
                // The first binding wins: see the trait docs.
                Some(_) => continue,
                None => (now, expires_at, None),
            };
            plan.push((jti, key, registered_at, until, held_until));
        }
        let record = match &session {
            None => None,
            Some(session) => {
                let key = FactKey::Registration(owner, session).encode();
                let old: Option<(i64, u64)> = live_record(&self.sessions, &key, now)?;
                let (until, held, live) = match old {
                    Some((old_until, held)) => (old_until.max(expires_at), held, true),
                    None => (expires_at, 0, false),
                };
                let mut adding = 0u64;
                for (jti, ..) in &plan {
                    let member = live
                        && self
                            .session_tokens
                            .get((key.as_str(), jti.as_ref()))
                            .map_err(db_error)?
                            .is_some();
                    if !member {
                        adding += 1;
                    }
                }
                let max = reg.max_per_session();
                if usize::try_from(held.saturating_add(adding)).unwrap_or(usize::MAX) > max {
                    return Ok(Registration::SessionFull {
                        held: usize::try_from(held).unwrap_or(usize::MAX),
                        adding: usize::try_from(adding).unwrap_or(usize::MAX),
                        max,
                    });
                }
                Some((key, until, held + adding, live))
            }
        };
        let held = self.owned_held(owner.as_ref())?;
        let adding = plan.iter().filter(|p| p.4.is_none()).count() as u64;
        let max = reg.max_per_key();
        if usize::try_from(held.saturating_add(adding)).unwrap_or(usize::MAX) > max {
            return Ok(Registration::KeyFull {
                held: usize::try_from(held).unwrap_or(usize::MAX),
                adding: usize::try_from(adding).unwrap_or(usize::MAX),
                max,
            });
        }
        for (jti, key, registered_at, until, held_until) in &plan {
            self.own(owner.as_ref(), jti.as_ref(), *held_until, *until)?;
            let binding = TokenBinding {
                subject: subject.clone(),
                session: session.clone(),
                registered_at: *registered_at,
                owner: Some(owner.clone()),
            };
            self.put_record(Records::Bindings, key, *until, &encode_record(&binding)?)?;
        }
        if let Some(session) = &session {
            self.bind_session(session, &subject, expires_at, now)?;
        }
        if let Some((key, until, count, live)) = record {
            if !live {
                // A dead record takes its token ids with it.
                self.drain_session_tokens(&key)?;
            }
            for (jti, ..) in &plan {
                self.session_tokens
                    .insert((key.as_str(), jti.as_ref()), ())
                    .map_err(db_error)?;
            }
            self.put_record(Records::Sessions, &key, until, &encode_record(&count)?)?;
        }
        Ok(Registration::Registered)
    }

    /// Binds a registered session to its subject until `expires_at` (or
    /// later), keeping the first registration instant: like a token id's,
    /// it is never moved forward. The first subject wins, whichever key
    /// registered it; the binding outlives `DELETE /v1/sessions` (the
    /// session still belonged to that subject) and goes at its expiry.
    pub(super) fn bind_session(
        &mut self,
        session: &Session,
        subject: &Subject,
        expires_at: i64,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let key = FactKey::SessionBinding(session).encode();
        let old: Option<(i64, TokenBinding)> = live_record(&self.bindings, &key, now)?;
        let (registered_at, until) = match old {
            Some((_, old)) if &old.subject != subject => return Ok(()),
            Some((old_until, old)) => (old.registered_at, old_until.max(expires_at)),
            None => (now, expires_at),
        };
        let binding = TokenBinding {
            subject: subject.clone(),
            session: Some(session.clone()),
            registered_at,
            owner: None,
        };
        self.put_record(Records::Bindings, &key, until, &encode_record(&binding)?)
    }

    /// Removes `owner`'s live record of the session and the bindings still
    /// pointing at it from that owner; `None` without a live record, else
    /// the unbound token ids. One transaction: the record holds at most the
    /// per-session cap of ids.
    pub(super) fn unregister(
        &mut self,
        owner: &Owner,
        session: &Session,
        now: UnixTime,
    ) -> Result<Option<Vec<TokenId>>, StoreError> {
        let key = FactKey::Registration(owner, session).encode();
        if live_record::<u64>(&self.sessions, &key, now)?.is_none() {
            return Ok(None);
        }
        let mut unbound = Vec::new();
        for jti in self.drain_session_tokens(&key)? {
            let binding_key = format!("bnd:{jti}");
            // Expired or not: a binding to this session has no use left.
            let bound_here = match self.bindings.get(binding_key.as_str()).map_err(db_error)? {
                Some(guard) => {
                    let (until, json) = guard.value();
                    let binding: TokenBinding = decode_record(&binding_key, json)?;
                    (binding.session.as_ref() == Some(session)
                        && binding.owner.as_ref() == Some(owner))
                    .then_some(until)
                }
                None => None,
            };
            if let Some(until) = bound_here {
                self.delete_record(Records::Bindings, &binding_key)?;
                self.disown(owner.as_ref(), &jti, until)?;
                unbound.push(TokenId::parse(jti).map_err(|err| {
                    StoreError::Corrupt(format!("`{key}` holds a bad token id: {err}"))
                })?);
            }
        }
        self.delete_record(Records::Sessions, &key)?;
        Ok(Some(unbound))
    }

    /// Whether `jti` has a live binding that `owner` did not make.
    pub(super) fn bound_by_another(
        &self,
        jti: &TokenId,
        owner: &Owner,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let key = FactKey::Binding(jti).encode();
        let binding: Option<(i64, TokenBinding)> = live_record(&self.bindings, &key, now)?;
        Ok(binding.is_some_and(|(_, b)| b.owner.as_ref() != Some(owner)))
    }
}

/// A registration, or its refusal with the born-revoked tokens and their
/// events, in one durable transaction.
pub(super) fn register_in_transaction(
    db: &Database,
    reg: &SessionRegistration,
    provenance: Provenance,
    now: UnixTime,
) -> Result<Registration, StoreError> {
    let txn = begin_write(db)?;
    let outcome = {
        let mut tables = FactTables::open(&txn)?;
        match refusal(&tables, reg, now)? {
            None => tables.register(reg, now)?,
            Some(reason) => {
                let mut jtis = Vec::with_capacity(reg.token_ids().len());
                for jti in reg.token_ids() {
                    // Only an admin revokes what another app holds.
                    if !tables.bound_by_another(jti, reg.owner(), now)? {
                        jtis.push(jti.clone());
                    }
                }
                let event = if jtis.is_empty() {
                    None
                } else {
                    let change = Change::TokensRevoked {
                        jtis,
                        expires_at: reg.expires_at(),
                    };
                    tables.apply(&change, now)?;
                    Some(append_event(&txn, change, provenance, now)?)
                };
                Registration::Refused { reason, event }
            }
        }
    };
    if matches!(
        outcome,
        Registration::SessionFull { .. } | Registration::KeyFull { .. }
    ) {
        txn.abort().map_err(db_error)?;
    } else {
        txn.commit().map_err(db_error)?;
    }
    Ok(outcome)
}

/// Why `reg` may not be registered at `now`, if it may not: the session's
/// tombstone first, then the subject's disable.
pub(super) fn refusal(
    tables: &FactTables<'_>,
    reg: &SessionRegistration,
    now: UnixTime,
) -> Result<Option<Reason>, StoreError> {
    if let Some(session) = reg.session()
        && tables
            .live(&FactKey::Session(&session).encode(), now)?
            .is_some()
    {
        return Ok(Some(Reason::SessionRevoked));
    }
    let subject = reg.subject();
    if tables
        .live(&FactKey::SubjectDisabled(&subject).encode(), now)?
        .is_some()
    {
        return Ok(Some(Reason::SubjectDisabled));
    }
    Ok(None)
}

pub(super) fn unregister_in_transaction(
    db: &Database,
    owner: &Owner,
    session: &Session,
    now: UnixTime,
) -> Result<Option<Vec<TokenId>>, StoreError> {
    let txn = begin_write(db)?;
    let unbound = FactTables::open(&txn)?.unregister(owner, session, now)?;
    if unbound.is_some() {
        txn.commit().map_err(db_error)?;
    } else {
        txn.abort().map_err(db_error)?;
    }
    Ok(unbound)
}
