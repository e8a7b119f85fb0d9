//! The Redis store: shared by every instance that points at the same Redis
//! and key prefix.
//!
//! # Layout in Redis
//!
//! SCIM users live in three hashes and a sorted set per client (`scim.rs`).
//!
//! Each fact is its own key, `{key_prefix}{FactKey::encode()}`, so that
//! Redis 7.0 (no per-field `HEXPIRE`) can expire every fact by itself with
//! `EXAT`/`EXPIREAT`. The value repeats the expiry, because Redis expires
//! keys on *its* clock while the contract filters on the caller's `now`:
//!
//! | fact                   | key                    | value                             |
//! |------------------------|------------------------|-----------------------------------|
//! | token revoked          | `tok:{jti}`            | `{expires_at}`                    |
//! | session revoked        | `ses:{n}:{iss}:{sid}`  | `{expires_at}`                    |
//! | subject disabled       | `dis:{n}:{iss}:{sub}`  | `{expires_at}` or `never`         |
//! | subject revoked-before | `rb:{n}:{iss}:{sub}`   | `{before} {expires_at or never}`  |
//! | logout token seen      | `seen:{n}:{iss}:{jti}` | `{expires_at}`                    |
//! | token binding          | `bnd:{jti}`            | hash: `exp`, `at` (registered_at), `iss`, `sub`, `sid` (absent without a session), `own` (the owner key's name) |
//! | registered session     | `reg:{n}:{owner}:{n}:{iss}:{sid}` | hash: `exp`, and `t:{jti}` → `1` per registered token id |
//! | session binding        | `sbn:{n}:{iss}:{sid}`  | `{expires_at} {registered_at} {sub}` (first registration; first subject wins) |
//! | a key's volume         | `own:{owner}`          | sorted set: each token id the owner has bound, scored by the binding's `expires_at` |
//! | a subject's registry   | `stk:{n}:{iss}:{sub}`  | sorted set: each token id bound to the subject, scored by the binding's `expires_at` (expires with its latest member) |
//!
//! Mirrored facts (`tok`, `ses`, `dis`, `rb`, `bnd`, `sbn`) are also copied, by
//! the same script that writes them, into the snapshot index
//! `{key_prefix}mirror:{hhhh}` that starting instances read (see `index.rs`).
//!
//! Times are decimal Unix seconds. A `never` key has no TTL. Identifiers
//! are stored as they are; hashes keep them out of any separator-parsing.
//!
//! Audit events live in one stream, `{key_prefix}events`, one field `event`
//! holding the JSON of the [`Event`] without its id: the stream entry id *is*
//! the [`EventId`], so ids increase monotonically and paging is a range read.
//! Every event not caused by a client key is also added, under the same id,
//! to `{key_prefix}admin-events`, trimmed by its own `max_admin_events`: the
//! audit log read ([`RevocationStore::events`]) merges the two, so a flood of
//! client-caused events cannot push an admin's out (the change feed for
//! consumers, [`RevocationStore::events_after`], reads the first only).
//!
//! # Atomicity
//!
//! Every write is one Lua script that reads the old values, merges, writes
//! and `XADD`s, so facts and their events commit together:
//! `lua/apply.lua` (`apply`, and `apply_once` with its seen-marker),
//! `lua/register.lua` and `lua/unregister.lua` (a local logout runs it in
//! batches of [`UNREGISTER_BATCH`] ids, so that no script's run grows with
//! the session). Redis does not roll a script
//! back, so each script reads and validates everything before its first
//! write. Durability is the server's: run Redis with `appendonly yes` and
//! `appendfsync always` when a 200 must survive a Redis crash.
//!
//! `lookup` is one read-only script too (`lua/lookup.lua`): it reads the
//! requested facts, the token id's binding, and then the facts of the bound
//! session and subject, in one round trip and one consistent snapshot.
//!
//! # Redis Cluster
//!
//! Every script touches several keys; Cluster only allows that within one
//! hash slot. Put a hash tag in the prefix (`key_prefix = "{revokd}:"`) to
//! keep every key of a deployment in one slot. `lookup` and
//! `unregister_session` also build key names from stored values (the bound
//! session's and subject's facts, the bindings of a session's token ids),
//! which Cluster accepts only under such a hash tag.
//!
//! The scripts are files under `lua/` (see `scripts.rs`); replies are read
//! in `reply.rs`, connections made in `connect.rs`. A mirror's load reads
//! the snapshot index on connections of its own as raw bytes (`raw.rs`,
//! `resp.rs`): no allocation per field.
//!
//! # Faults
//!
//! Every call is bounded by `connect_timeout + command_timeout`, on top of
//! the pool's own wait/create/recycle timeouts and the connection's response
//! timeout, and fails with [`StoreError::Unavailable`] when it runs out.
//! Nothing is cached between calls except pooled connections, and the pool
//! replaces dead ones (see [`RedisStore::connect`]), so calls succeed again
//! as soon as Redis is back.

mod connect;
mod connector;
mod events;
mod feed;
mod index;
mod inspect;
mod pending;
mod raw;
mod reply;
mod resp;
mod scim;
mod scripts;
mod tls;
mod validate;

pub use connect::RedisSettings;
pub use events::EventsWaiter;
pub use feed::{FeedBatch, FeedInfo, FeedReader};
pub use inspect::open_primary;
pub(super) use inspect::watch_eviction;
pub use validate::{check_redis_url, is_tls_redis_url};

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis::{self, Value};

use connect::{Fault, store_error};
use connector::Pool;
use reply::{
    StoredEvent, bound_facts, corrupt, decode_event, encode_event, is_live, live_mark, opt_str,
    parse_secs, parse_stream_id, secs, session_bound_facts, stream_id,
};
use scripts::{APPLY, EVENTS_AFTER, LOOKUP, REGISTER, SUBJECT_TOKENS, UNREGISTER};

use super::{FactKey, FeedPosition, LivePage, MirroredKey, RevocationStore, StoreError};
use crate::domain::{
    Change, ChangeKinds, Event, EventId, EventPage, FactUpdate, Facts, Issuer, Lookup, Owner,
    Provenance, Reason, RegisteredToken, Registration, SeenKey, Session, SessionId,
    SessionRegistration, Subject, SubjectRegistrations, TokenId, UnixTime, is_client_actor,
};

/// The error code the scripts answer with when a stored value is not in
/// the format this module writes. Mapped to [`StoreError::Corrupt`].
const CORRUPT_CODE: &str = "CORRUPT";

/// The stored value of a disable (or a revoked-before mark) that has no
/// expiry. Written as a word rather than a sentinel number so that nobody
/// reading the database with `redis-cli` mistakes it for an instant.
const NEVER: &str = "never";

/// The stream field that holds an event's JSON.
const EVENT_FIELD: &str = "event";

/// Token ids one run of `lua/unregister.lua` unbinds at most: about 2 ms of
/// Redis time (each id costs a read, an `UNLINK`, an index update and its
/// share of a feed entry), so a local logout of any session never holds
/// Redis for longer than that at a time.
const UNREGISTER_BATCH: usize = 64;

/// A Redis-backed [`RevocationStore`]. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct RedisStore {
    pool: Pool,
    prefix: Arc<str>,
    stream: Arc<str>,
    max_events: u64,
    max_admin_events: u64,
    /// Upper bound of every call, whatever the pool and the connection do:
    /// deadpool retries recycling one pooled connection after another, so
    /// its own timeouts alone could add up to `pool_size` times
    /// `command_timeout` against a Redis that accepts but does not answer.
    deadline: Duration,
    /// `connect_timeout` and `command_timeout`, for the connections of the
    /// blocking reads (the feed, the event wake-ups), opened outside the pool.
    connect_timeout: Duration,
    command_timeout: Duration,
}

impl RedisStore {
    fn key(&self, fact: FactKey<'_>) -> String {
        format!("{}{}", self.prefix, fact.encode())
    }

    /// The `max_kept` argument of the scripts for an event by `actor`:
    /// `max_admin_events`, or empty for a client-caused event (not kept).
    fn max_kept(&self, actor: &str) -> String {
        if is_client_actor(actor) {
            String::new()
        } else {
            self.max_admin_events.to_string()
        }
    }

    /// The fact key and the kind-specific arguments (after the common five)
    /// that `lua/apply.lua` expects for `change`; `None` for a
    /// [`Change::TokensRevoked`], which only `lua/register.lua` writes.
    fn script_input(&self, change: &Change) -> Option<(String, Vec<String>)> {
        Some(match change {
            Change::TokenRevoked { jti, expires_at } => {
                (self.key(FactKey::Token(jti)), vec![secs(*expires_at)])
            }
            Change::TokensRevoked { .. } => return None,
            Change::SessionRevoked {
                session,
                expires_at,
            } => (self.key(FactKey::Session(session)), vec![secs(*expires_at)]),
            Change::SubjectDisabled {
                subject,
                expires_at,
            } => (
                self.key(FactKey::SubjectDisabled(subject)),
                vec![expires_at.map_or_else(|| NEVER.to_owned(), secs)],
            ),
            Change::SubjectEnabled { subject } => {
                (self.key(FactKey::SubjectDisabled(subject)), vec![])
            }
            Change::SubjectRevokedBefore {
                subject,
                before,
                expires_at,
            } => (
                self.key(FactKey::SubjectRevokedBefore(subject)),
                vec![secs(*before), secs(*expires_at)],
            ),
        })
    }

    /// `apply`, or with `seen`, `apply_once`: one run of `lua/apply.lua`.
    /// `None` only when the seen-marker was live.
    async fn apply_script(
        &self,
        seen: Option<&SeenKey>,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Option<Event>, StoreError> {
        super::refuse_bulk(&change)?;
        let (fact, extra) = self
            .script_input(&change)
            .ok_or_else(|| corrupt("no script input for a bulk change"))?;
        let stored = StoredEvent {
            at: now,
            change,
            actor: provenance.actor,
            reason: provenance.reason,
        };
        let json = encode_event(&stored)?;

        let mut call = APPLY.prepare_invoke();
        call.key(fact).key(&*self.stream);
        if let Some(seen) = seen {
            call.key(self.key(FactKey::Seen(seen)));
        }
        call.arg(stored.change.kind().as_str())
            .arg(now.as_secs())
            .arg(self.max_events)
            .arg(json)
            .arg(seen.map(|s| secs(s.expires_at)).unwrap_or_default())
            .arg(self.max_kept(&stored.actor));
        for arg in extra {
            call.arg(arg);
        }
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;

        if seen.is_some() && reply == Value::Nil {
            return Ok(None);
        }
        let id = stream_id(&reply)?;
        Ok(Some(stored.into_event(id)))
    }
}

impl RevocationStore for RedisStore {
    async fn apply(
        &self,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Event, StoreError> {
        self.apply_script(None, change, provenance, now)
            .await?
            .ok_or_else(|| corrupt("the apply script returned nil"))
    }

    async fn apply_once(
        &self,
        seen: &SeenKey,
        change: Change,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Option<Event>, StoreError> {
        self.apply_script(Some(seen), change, provenance, now).await
    }

    async fn register_session(
        &self,
        reg: &SessionRegistration,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Registration, StoreError> {
        let ids = reg.token_ids();
        // The event a refusal records, built here so that it is encoded
        // exactly as `apply` encodes events; the script fills in `jtis`.
        let refusal = StoredEvent {
            at: now,
            change: Change::TokensRevoked {
                jtis: Vec::new(),
                expires_at: reg.expires_at(),
            },
            actor: provenance.actor.clone(),
            reason: provenance.reason.clone(),
        };

        let mut call = REGISTER.prepare_invoke();
        call.key(&*self.stream)
            .key(self.key(FactKey::SubjectDisabled(&reg.subject())));
        for jti in ids {
            call.key(self.key(FactKey::Token(jti)));
        }
        for jti in ids {
            call.key(self.key(FactKey::Binding(jti)));
        }
        call.key(self.key(FactKey::Volume(reg.owner())));
        if let Some(session) = reg.session() {
            call.key(self.key(FactKey::Session(&session)))
                .key(self.key(FactKey::Registration(reg.owner(), &session)))
                .key(self.key(FactKey::SessionBinding(&session)));
        }
        call.key(self.key(FactKey::SubjectTokens(&reg.subject())));
        call.arg(now.as_secs())
            .arg(self.max_events)
            .arg(ids.len())
            .arg(secs(reg.expires_at()))
            .arg(reg.iss().as_ref())
            .arg(reg.sub().as_ref())
            .arg(reg.sid().map_or("", AsRef::as_ref))
            .arg(reg.owner().as_ref())
            .arg(reg.max_per_session())
            .arg(reg.max_per_key());
        for jti in ids {
            call.arg(jti.as_ref());
        }
        call.arg(encode_event(&refusal)?)
            .arg(self.max_kept(&provenance.actor));
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;

        let Value::Array(parts) = reply else {
            return Err(corrupt("the register script did not return an array"));
        };
        let (status, rest) = parts
            .split_first()
            .ok_or_else(|| corrupt("the register script returned nothing"))?;
        match opt_str(status, "register status")? {
            Some("registered") => Ok(Registration::Registered),
            Some(full @ ("full" | "keyfull")) => {
                let count = |value: Option<&Value>| match value {
                    Some(Value::Int(n)) => usize::try_from(*n).map_err(corrupt),
                    _ => Err(corrupt("a full session or key without its counts")),
                };
                let (held, adding) = (count(rest.first())?, count(rest.get(1))?);
                Ok(if full == "full" {
                    Registration::SessionFull {
                        held,
                        adding,
                        max: reg.max_per_session(),
                    }
                } else {
                    Registration::KeyFull {
                        held,
                        adding,
                        max: reg.max_per_key(),
                    }
                })
            }
            Some("refused") => {
                let (reason, ids) = rest
                    .split_first()
                    .ok_or_else(|| corrupt("a refusal without a reason"))?;
                let reason = match opt_str(reason, "refusal reason")? {
                    Some("session_revoked") => Reason::SessionRevoked,
                    Some("subject_disabled") => Reason::SubjectDisabled,
                    other => return Err(corrupt(format_args!("unknown refusal {other:?}"))),
                };
                let Some((id, revoked)) = ids.split_first() else {
                    return Err(corrupt("a refusal without its event id"));
                };
                let event = match opt_str(id, "refusal event id")? {
                    Some("") => None,
                    _ => {
                        let jtis = revoked
                            .iter()
                            .map(|jti| {
                                let jti = opt_str(jti, "revoked token id")?
                                    .ok_or_else(|| corrupt("a nil revoked token id"))?;
                                TokenId::parse(jti).map_err(corrupt)
                            })
                            .collect::<Result<Vec<_>, StoreError>>()?;
                        let mut stored = refusal;
                        stored.change = Change::TokensRevoked {
                            jtis,
                            expires_at: reg.expires_at(),
                        };
                        Some(stored.into_event(stream_id(id)?))
                    }
                };
                Ok(Registration::Refused { reason, event })
            }
            other => Err(corrupt(format_args!("unknown register status {other:?}"))),
        }
    }

    async fn unregister_session(
        &self,
        owner: &Owner,
        iss: &Issuer,
        sid: &SessionId,
        now: UnixTime,
    ) -> Result<Option<Vec<TokenId>>, StoreError> {
        let session = Session {
            iss: iss.clone(),
            sid: sid.clone(),
        };
        let key = self.key(FactKey::Registration(owner, &session));
        let volume = self.key(FactKey::Volume(owner));
        let unexpected = || corrupt("the unregister script returned an unexpected reply");
        let mut cursor = "0".to_owned();
        let mut unbound = Vec::new();
        // Each step unbinds a bounded batch; a session that grows meanwhile
        // only adds steps.
        loop {
            let mut call = UNREGISTER.prepare_invoke();
            call.key(&key)
                .key(&volume)
                .arg(now.as_secs())
                .arg(&*self.prefix)
                .arg(iss.as_ref())
                .arg(sid.as_ref())
                .arg(self.max_events)
                .arg(owner.as_ref())
                .arg(UNREGISTER_BATCH)
                .arg(&cursor);
            let reply: Value =
                self.run(|mut conn| async move {
                    call.invoke_async(&mut conn).await.map_err(store_error)
                })
                .await?;
            let Value::Array(items) = reply else {
                return Err(unexpected());
            };
            match items.as_slice() {
                // No live record: gone before this call, or between steps.
                [Value::Int(0)] if unbound.is_empty() && cursor == "0" => return Ok(None),
                [Value::Int(0)] => return Ok(Some(unbound)),
                [Value::Int(1), next, ids @ ..] => {
                    for id in ids {
                        let id = opt_str(id, "unbound token id")?.ok_or_else(unexpected)?;
                        unbound.push(TokenId::parse(id).map_err(corrupt)?);
                    }
                    match opt_str(next, "unregister cursor")?.ok_or_else(unexpected)? {
                        "done" => return Ok(Some(unbound)),
                        next => next.clone_into(&mut cursor),
                    }
                }
                _ => return Err(unexpected()),
            }
        }
    }

    async fn subject_registrations(
        &self,
        subject: &Subject,
        limit: usize,
        now: UnixTime,
    ) -> Result<SubjectRegistrations, StoreError> {
        let mut call = SUBJECT_TOKENS.prepare_invoke();
        call.key(self.key(FactKey::SubjectTokens(subject)))
            .arg(now.as_secs())
            .arg(&*self.prefix)
            .arg(subject.iss.as_ref())
            .arg(subject.sub.as_ref())
            .arg(limit);
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        let unexpected = || corrupt("the subject_tokens script returned an unexpected reply");
        let Value::Array(items) = reply else {
            return Err(unexpected());
        };
        let Some((Value::Int(truncated), rows)) = items.split_first() else {
            return Err(unexpected());
        };
        fn text(value: &Value) -> Result<&str, StoreError> {
            opt_str(value, "a subject registry entry")?
                .ok_or_else(|| corrupt("a nil in a subject registry entry"))
        }
        let mut tokens = Vec::with_capacity(rows.len() / 5);
        for row in rows.chunks(5) {
            let [jti, exp, at, sid, own] = row else {
                return Err(unexpected());
            };
            let (sid, own) = (text(sid)?, text(own)?);
            tokens.push(RegisteredToken {
                jti: TokenId::parse(text(jti)?).map_err(corrupt)?,
                sid: (!sid.is_empty())
                    .then(|| SessionId::parse(sid).map_err(corrupt))
                    .transpose()?,
                owner: (!own.is_empty())
                    .then(|| Owner::parse(own).map_err(corrupt))
                    .transpose()?,
                registered_at: UnixTime::from_secs(parse_secs(text(at)?, "a binding's `at`")?),
                expires_at: UnixTime::from_secs(parse_secs(text(exp)?, "a binding's `exp`")?),
            });
        }
        Ok(SubjectRegistrations {
            tokens,
            truncated: *truncated == 1,
        })
    }

    async fn token_ids_held(&self, owner: &Owner, now: UnixTime) -> Result<usize, StoreError> {
        let key = self.key(FactKey::Volume(owner));
        let held: u64 = self
            .run(|mut conn| async move {
                redis::cmd("ZCOUNT")
                    .arg(&key)
                    .arg(format!("({}", now.as_secs()))
                    .arg("+inf")
                    .query_async(&mut conn)
                    .await
                    .map_err(store_error)
            })
            .await?;
        usize::try_from(held).map_err(corrupt)
    }

    async fn lookup(&self, lookup: Lookup<'_>, now: UnixTime) -> Result<Facts, StoreError> {
        #[derive(Clone, Copy)]
        enum Slot {
            Token,
            Session,
            Disabled,
            RevokedBefore,
        }
        let mut slots = Vec::with_capacity(4);
        if let Some(jti) = lookup.jti {
            slots.push((Slot::Token, self.key(FactKey::Token(jti))));
        }
        if let Some(session) = lookup.session {
            slots.push((Slot::Session, self.key(FactKey::Session(session))));
        }
        if let Some(subject) = lookup.subject {
            slots.push((Slot::Disabled, self.key(FactKey::SubjectDisabled(subject))));
            slots.push((
                Slot::RevokedBefore,
                self.key(FactKey::SubjectRevokedBefore(subject)),
            ));
        }
        if slots.is_empty() {
            return Ok(Facts::default());
        }

        let mut call = LOOKUP.prepare_invoke();
        for (_, key) in &slots {
            call.key(key);
        }
        if let Some(jti) = lookup.jti {
            call.key(self.key(FactKey::Binding(jti)));
        }
        if let Some(session) = lookup.session {
            call.key(self.key(FactKey::SessionBinding(session)));
        }
        call.arg(&*self.prefix)
            .arg(slots.len())
            .arg(u8::from(lookup.jti.is_some()))
            .arg(u8::from(lookup.session.is_some()));
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        let Value::Array(values) = reply else {
            return Err(corrupt("the lookup script did not return an array"));
        };
        let wanted = slots.len()
            + if lookup.jti.is_some() { 8 } else { 0 }
            + if lookup.session.is_some() { 3 } else { 0 };
        if values.len() != wanted {
            return Err(corrupt(
                "the lookup script returned the wrong number of values",
            ));
        }
        let (values, tail) = values.split_at(slots.len());

        let mut facts = Facts::default();
        for ((slot, key), value) in slots.iter().zip(values) {
            let Some(text) = opt_str(value, key)? else {
                continue;
            };
            match slot {
                Slot::Token => facts.token_revoked = is_live(text, now, key)?,
                Slot::Session => facts.session_revoked = is_live(text, now, key)?,
                Slot::Disabled => facts.subject_disabled = is_live(text, now, key)?,
                Slot::RevokedBefore => facts.subject_revoked_before = live_mark(text, now, key)?,
            }
        }
        let tail = if lookup.jti.is_some() {
            let (binding, rest) = tail.split_at(8);
            facts.bound = bound_facts(binding, now)?;
            rest
        } else {
            tail
        };
        if lookup.session.is_some() {
            facts.session_bound = session_bound_facts(tail, now)?;
        }
        Ok(facts)
    }

    async fn events(&self, page: &EventPage) -> Result<Vec<Event>, StoreError> {
        let end = match &page.before {
            None => "+".to_owned(),
            Some(before) => match parse_stream_id(&before.0) {
                None => return Err(StoreError::InvalidCursor),
                // Nothing is older than the first possible id, and Redis
                // refuses to decrement it for an exclusive range.
                Some((0, 0)) => return Ok(Vec::new()),
                Some(_) => format!("({}", before.0),
            },
        };
        if page.limit == 0 {
            return Ok(Vec::new());
        }
        // The newest of each stream, merged: an event trimmed from the log
        // by a flood of client-caused ones is still in the kept stream.
        let kept = format!("{}admin-events", self.prefix);
        let mut pipe = redis::pipe();
        for stream in [&*self.stream, kept.as_str()] {
            pipe.cmd("XREVRANGE")
                .arg(stream)
                .arg(&end)
                .arg("-")
                .arg("COUNT")
                .arg(page.limit);
        }
        let replies: Vec<Value> = self
            .run(|mut conn| async move { pipe.query_async(&mut conn).await.map_err(store_error) })
            .await?;
        let mut merged = Vec::new();
        for reply in &replies {
            let Value::Array(entries) = reply else {
                return Err(corrupt("XREVRANGE did not return an array"));
            };
            for entry in entries {
                merged.push(decode_event(entry)?);
            }
        }
        let key = |event: &Event| parse_stream_id(&event.id.0).unwrap_or_default();
        merged.sort_by_key(|event| std::cmp::Reverse(key(event)));
        merged.dedup_by(|a, b| a.id == b.id);
        merged.truncate(page.limit);
        Ok(merged)
    }

    async fn events_after(
        &self,
        after: &EventId,
        limit: usize,
    ) -> Result<Option<Vec<Event>>, StoreError> {
        if parse_stream_id(&after.0).is_none() {
            return Err(StoreError::InvalidCursor);
        }
        let mut call = EVENTS_AFTER.prepare_invoke();
        call.key(&*self.stream).arg(&after.0).arg(limit.max(1));
        let reply: Value = self
            .run(|mut conn| async move { call.invoke_async(&mut conn).await.map_err(store_error) })
            .await?;
        let Value::Array(parts) = reply else {
            return Err(corrupt("the events-after script did not return an array"));
        };
        match parts.split_first() {
            Some((Value::Int(0), _)) => Ok(None),
            Some((Value::Int(1), entries)) => entries
                .iter()
                .take(limit)
                .map(decode_event)
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            _ => Err(corrupt("the events-after script returned the wrong shape")),
        }
    }

    async fn live_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
        kinds: ChangeKinds,
        now: UnixTime,
    ) -> Result<LivePage, StoreError> {
        self.read_live_page(cursor, limit, kinds, now).await
    }

    async fn read_states(&self, keys: &[MirroredKey]) -> Result<Vec<FactUpdate>, StoreError> {
        self.read_states_now(keys).await
    }

    async fn snapshot(
        &self,
        sink: &mut (dyn FnMut(Vec<FactUpdate>) + Send),
    ) -> Result<FeedPosition, StoreError> {
        // The same reads as a mirror's load, handed over on this task.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let load = self.read_snapshot(Arc::new(Forward(tx)));
        tokio::pin!(load);
        loop {
            tokio::select! {
                Some(batch) = rx.recv() => sink(batch),
                loaded = &mut load => {
                    while let Ok(batch) = rx.try_recv() {
                        sink(batch);
                    }
                    return loaded;
                }
            }
        }
    }

    async fn load_snapshot(
        &self,
        sink: Arc<dyn super::SnapshotSink>,
    ) -> Result<FeedPosition, StoreError> {
        self.read_snapshot(sink).await
    }

    async fn snapshot_tokens_hint(&self) -> Result<Option<u64>, StoreError> {
        self.index_tokens_hint().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let reply: Value = self
            .run(|mut conn| async move {
                redis::cmd("PING")
                    .query_async(&mut conn)
                    .await
                    .map_err(store_error)
            })
            .await?;
        match reply {
            Value::SimpleString(pong) if pong == "PONG" => Ok(()),
            _ => Err(StoreError::unavailable(Fault::NotPong)),
        }
    }
}

/// Hands a snapshot's batches over a channel, as [`FactUpdate`]s.
struct Forward(tokio::sync::mpsc::UnboundedSender<Vec<FactUpdate>>);

impl super::SnapshotSink for Forward {
    fn facts(&self, batch: Vec<FactUpdate>) {
        // A closed channel means the caller gave up.
        let _ = self.0.send(batch);
    }
}
