//! This instance's in-memory copy of the live revocations: what checks
//! read. [`Mirror`] (this file) is the data structure; [`sync`] keeps it
//! current from the store ([`MirrorSync`]: local writes, the Redis change
//! feed, resyncs, staleness, sweeps). The store reports facts as
//! [`FactUpdate`]s (shared vocabulary in [`crate::domain`]), so the store
//! never imports this module: the mirror sits above it.
//!
//! # Compactness
//!
//! Identifiers are never stored. Each is reduced to a 64-bit keyed hash
//! (SipHash-1-3 with a per-process random key, [`RandomState`]), so nobody
//! can precompute colliding identifiers, and instants to `u32` seconds
//! (saturating: 2106 and later, and "until enabled", are `u32::MAX`). One map
//! per kind, each a [`DashMap`] (sharded read-write locks: readers never wait
//! for each other, and a writer blocks one shard only) keyed by the hash
//! through an identity hasher, since the key already is a hash:
//!
//! | kind | value | bytes per entry (payload) |
//! |---|---|---|
//! | token revoked, session revoked, subject disabled | expiry | 16 |
//! | subject revoked-before | `before`, expiry | 16 |
//! | binding (registered token id) | session and subject hashes, `registered_at`, expiry | 32 |
//! | session binding (registered session) | subject hash, first `registered_at`, expiry | 24 |
//!
//! plus a control byte per slot and the table's load factor (7/8 at most).
//! `benches/mirror.rs` measures the real heap use.
//!
//! # Collisions
//!
//! Two identifiers of one kind share a hash with probability 2^-64 per pair:
//! with 10 million revoked tokens, a given live token is mistaken for a
//! revoked one with probability about 5 × 10^-13. A collision can only make a
//! token look revoked, never look active: it fails closed.
//!
//! # Semantics
//!
//! [`Mirror::apply`] *replaces* an entry with the state a store reports
//! ([`FactUpdate`]); it never merges, so the store's merge rules live in the
//! store alone. [`Mirror::lookup`] answers exactly as
//! [`crate::store::RevocationStore::lookup`] does for the same contents: an
//! entry whose expiry is at or before `now` is absent.

#[cfg(test)]
mod reference;
pub mod sync;
#[cfg(test)]
mod tests;

use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use dashmap::DashMap;

pub use sync::{MirrorError, MirrorFacts, MirrorStatus, MirrorSync};

use crate::domain::{
    BoundFacts, FactUpdate, Facts, Lookup, Session, Subject, TokenBatch, TokenId, UnixTime,
};

/// A `u64` key is already a uniformly distributed hash: use it as is.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in, just in case.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Table<V> = DashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// An instant as stored: seconds since the epoch, saturating.
type Secs = u32;
const FOREVER: Secs = Secs::MAX;

fn secs(t: UnixTime) -> Secs {
    Secs::try_from(t.as_secs().max(0)).unwrap_or(FOREVER)
}

fn is_live(expires: Secs, now: Secs) -> bool {
    expires > now
}

#[derive(Debug, Clone, Copy)]
struct Mark {
    before: Secs,
    expires: Secs,
}

#[derive(Debug, Clone, Copy)]
struct Binding {
    /// 0: no session.
    session: u64,
    subject: u64,
    registered_at: Secs,
    expires: Secs,
}

/// A registered session's binding: [`Binding`] without a session.
#[derive(Debug, Clone, Copy)]
struct SessionBinding {
    subject: u64,
    registered_at: Secs,
    expires: Secs,
}

/// See the module documentation.
pub struct Mirror {
    keys: RandomState,
    tokens: Table<Secs>,
    /// The token table's shard count (a power of two), for
    /// [`Mirror::apply_tokens`] to order a batch as the table lays it out.
    token_shards: usize,
    sessions: Table<Secs>,
    disabled: Table<Secs>,
    marks: Table<Mark>,
    bindings: Table<Binding>,
    session_bindings: Table<SessionBinding>,
}

/// Entries by kind and the heap the tables hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MirrorStats {
    pub tokens: usize,
    pub sessions: usize,
    pub subjects_disabled: usize,
    pub subjects_revoked_before: usize,
    /// Token and session bindings.
    pub bindings: usize,
    /// Table capacity times slot size (entry plus control byte): what the
    /// tables hold on the heap, whether or not every slot is used.
    pub bytes: usize,
}

impl MirrorStats {
    pub fn total(&self) -> usize {
        self.tokens
            + self.sessions
            + self.subjects_disabled
            + self.subjects_revoked_before
            + self.bindings
    }

    pub fn by_kind(&self) -> [(&'static str, usize); 5] {
        [
            ("token", self.tokens),
            ("session", self.sessions),
            ("subject_disabled", self.subjects_disabled),
            ("subject_revoked_before", self.subjects_revoked_before),
            ("binding", self.bindings),
        ]
    }
}

impl Default for Mirror {
    fn default() -> Self {
        Self::new()
    }
}

impl Mirror {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Room for `tokens` token entries without growing (a bulk load).
    pub fn with_capacity(tokens: usize) -> Self {
        // DashMap's own default: four shards per core, a power of two.
        let token_shards = (std::thread::available_parallelism().map_or(1, usize::from) * 4)
            .next_power_of_two()
            .max(2);
        Self {
            keys: RandomState::new(),
            tokens: Table::with_capacity_and_hasher_and_shard_amount(
                tokens,
                BuildHasherDefault::default(),
                token_shards,
            ),
            token_shards,
            sessions: Table::default(),
            disabled: Table::default(),
            marks: Table::default(),
            bindings: Table::default(),
            session_bindings: Table::default(),
        }
    }

    /// Never 0, which a binding uses for "no session".
    fn hash(&self, kind: u8, parts: &[&str]) -> u64 {
        let mut h = self.keys.build_hasher();
        h.write_u8(kind);
        for part in parts {
            // Length-prefixed: ("ab", "c") and ("a", "bc") differ.
            h.write_usize(part.len());
            h.write(part.as_bytes());
        }
        h.finish().max(1)
    }

    fn token(&self, jti: &TokenId) -> u64 {
        self.hash(b't', &[jti.as_ref()])
    }

    fn session(&self, s: &Session) -> u64 {
        self.hash(b's', &[s.iss.as_ref(), s.sid.as_ref()])
    }

    fn subject(&self, s: &Subject) -> u64 {
        self.hash(b'u', &[s.iss.as_ref(), s.sub.as_ref()])
    }

    /// Makes the entry of `update`'s key hold what the store holds.
    pub fn apply(&self, update: &FactUpdate) {
        match update {
            FactUpdate::Token { jti, expires_at } => {
                self.tokens.insert(self.token(jti), secs(*expires_at));
            }
            FactUpdate::Session {
                session,
                expires_at,
            } => {
                self.sessions
                    .insert(self.session(session), secs(*expires_at));
            }
            FactUpdate::SubjectDisabled {
                subject,
                expires_at,
            } => {
                let expires = expires_at.map_or(FOREVER, secs);
                self.disabled.insert(self.subject(subject), expires);
            }
            FactUpdate::SubjectEnabled { subject } => {
                self.disabled.remove(&self.subject(subject));
            }
            FactUpdate::SubjectRevokedBefore {
                subject,
                before,
                expires_at,
            } => {
                let mark = Mark {
                    before: secs(*before),
                    expires: secs(*expires_at),
                };
                self.marks.insert(self.subject(subject), mark);
            }
            FactUpdate::Binding {
                jti,
                session,
                subject,
                registered_at,
                expires_at,
            } => {
                let binding = Binding {
                    session: session.as_ref().map_or(0, |s| self.session(s)),
                    subject: self.subject(subject),
                    registered_at: secs(*registered_at),
                    expires: secs(*expires_at),
                };
                self.bindings.insert(self.token(jti), binding);
            }
            FactUpdate::Unbound { jti } => {
                self.bindings.remove(&self.token(jti));
            }
            FactUpdate::SessionBound {
                session,
                subject,
                registered_at,
                expires_at,
            } => {
                let binding = SessionBinding {
                    subject: self.subject(subject),
                    registered_at: secs(*registered_at),
                    expires: secs(*expires_at),
                };
                self.session_bindings.insert(self.session(session), binding);
            }
            FactUpdate::SessionUnbound { session } => {
                self.session_bindings.remove(&self.session(session));
            }
        }
    }

    /// [`Mirror::apply`] of a [`FactUpdate::Token`] for each revocation
    /// of `batch`, without a [`TokenId`] each (a bulk load). Several
    /// threads may call it at once: the table's shards lock apart.
    ///
    /// A bulk load of millions is bound by memory: each insert lands on a
    /// random slot of a table of hundreds of MB, a cache and TLB miss. So
    /// the batch is first ordered as the table lays it out (by shard, then
    /// by the slot an entry's probe starts at: the hash's low bits), which
    /// turns those misses into a sweep through each shard. Entries of one
    /// token keep their order: the last one wins, as with `apply`.
    pub fn apply_tokens(&self, batch: &TokenBatch) {
        let shards = self.token_shards.max(1);
        // DashMap: the shard is the hash's bits below the top 7 (kept for
        // the table's tag); hashbrown: the probe starts at `hash & mask`,
        // `mask` one less than the shard's buckets (a power of two, 8/7 of
        // its capacity).
        let shift = 64 - shards.trailing_zeros();
        let buckets = (self.tokens.capacity() / shards)
            .saturating_mul(8)
            .div_ceil(7)
            .next_power_of_two();
        let mask = u64::try_from(buckets).unwrap_or(u64::MAX).wrapping_sub(1);
        let mut keyed: Vec<(u64, u64, u32)> = batch
            .iter()
            .map(|(jti, expires_at)| {
                let key = self.hash(b't', &[jti]);
                let shard = (key << 7).checked_shr(shift).unwrap_or(0);
                (shard, key, secs(expires_at))
            })
            .collect();
        keyed.sort_by_key(|&(shard, key, _)| (shard, key & mask));
        for (_, key, expires) in keyed {
            self.tokens.insert(key, expires);
        }
    }

    fn live(table: &Table<Secs>, key: u64, now: Secs) -> bool {
        table.get(&key).is_some_and(|e| is_live(*e, now))
    }

    fn mark(&self, subject: u64, now: Secs) -> Option<UnixTime> {
        self.marks
            .get(&subject)
            .filter(|m| is_live(m.expires, now))
            .map(|m| UnixTime::from_secs(i64::from(m.before)))
    }

    /// The live facts about `lookup`'s keys at `now`.
    pub fn lookup(&self, lookup: Lookup<'_>, now: UnixTime) -> Facts {
        let now = secs(now);
        let token = lookup.jti.map(|jti| self.token(jti));
        let subject = lookup.subject.map(|s| self.subject(s));
        let bound = token.and_then(|t| {
            let binding = *self.bindings.get(&t)?;
            is_live(binding.expires, now).then(|| BoundFacts {
                session_revoked: binding.session != 0
                    && Self::live(&self.sessions, binding.session, now),
                subject_disabled: Self::live(&self.disabled, binding.subject, now),
                subject_revoked_before: self.mark(binding.subject, now),
                registered_at: UnixTime::from_secs(i64::from(binding.registered_at)),
            })
        });
        let session = lookup.session.map(|s| self.session(s));
        let session_bound = session.and_then(|s| {
            let binding = *self.session_bindings.get(&s)?;
            is_live(binding.expires, now).then(|| BoundFacts {
                session_revoked: false,
                subject_disabled: Self::live(&self.disabled, binding.subject, now),
                subject_revoked_before: self.mark(binding.subject, now),
                registered_at: UnixTime::from_secs(i64::from(binding.registered_at)),
            })
        });
        Facts {
            token_revoked: token.is_some_and(|t| Self::live(&self.tokens, t, now)),
            session_revoked: session.is_some_and(|s| Self::live(&self.sessions, s, now)),
            subject_disabled: subject.is_some_and(|s| Self::live(&self.disabled, s, now)),
            subject_revoked_before: subject.and_then(|s| self.mark(s, now)),
            bound,
            session_bound,
        }
    }

    /// Drops every entry expired at `now`; returns how many.
    pub fn sweep(&self, now: UnixTime) -> usize {
        let now = secs(now);
        let mut removed = 0;
        let mut retain = |live: bool| {
            if !live {
                removed += 1;
            }
            live
        };
        self.tokens.retain(|_, e| retain(is_live(*e, now)));
        self.sessions.retain(|_, e| retain(is_live(*e, now)));
        self.disabled.retain(|_, e| retain(is_live(*e, now)));
        self.marks.retain(|_, m| retain(is_live(m.expires, now)));
        self.bindings.retain(|_, b| retain(is_live(b.expires, now)));
        self.session_bindings
            .retain(|_, b| retain(is_live(b.expires, now)));
        removed
    }

    /// Entries by kind, and heap bytes.
    pub fn stats(&self) -> MirrorStats {
        fn heap<V>(table: &Table<V>) -> usize {
            table.capacity() * (std::mem::size_of::<(u64, V)>() + 1)
        }
        MirrorStats {
            tokens: self.tokens.len(),
            sessions: self.sessions.len(),
            subjects_disabled: self.disabled.len(),
            subjects_revoked_before: self.marks.len(),
            bindings: self.bindings.len() + self.session_bindings.len(),
            bytes: heap(&self.tokens)
                + heap(&self.sessions)
                + heap(&self.disabled)
                + heap(&self.marks)
                + heap(&self.bindings)
                + heap(&self.session_bindings),
        }
    }
}
