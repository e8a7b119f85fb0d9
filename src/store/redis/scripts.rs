//! The Lua scripts of the Redis store. Each lives in `lua/` as a file a
//! Lua tool can read and lint, with a header saying its `KEYS`, `ARGV` and
//! reply; the scripts that merge facts get `lua/prelude.lua` (the merge
//! rules, the feed and the snapshot index) put in front of them at build
//! time. Each runs by `EVALSHA` (loaded on first use) as one atomic step.

use std::sync::LazyLock;

use deadpool_redis::redis::Script;

/// `lua/apply.lua`: applies one `Change` and appends its event, atomically; with a seen-marker,
/// only if the marker is not live.
pub(super) const APPLY_LUA: &str = concat!(
    include_str!("lua/prelude.lua"),
    include_str!("lua/apply.lua")
);
pub(super) static APPLY: LazyLock<Script> = LazyLock::new(|| Script::new(APPLY_LUA));

/// `lua/register.lua`: registers a session, or refuses it and revokes its token ids.
pub(super) const REGISTER_LUA: &str = concat!(
    include_str!("lua/prelude.lua"),
    include_str!("lua/register.lua")
);
pub(super) static REGISTER: LazyLock<Script> = LazyLock::new(|| Script::new(REGISTER_LUA));

/// `lua/unregister.lua`: one step of a local logout: unbinds up to `ARGV[7]` of the token ids of
/// one owner's registration, the bindings that still point at its session and owner, and removes
/// them from the record; removes the record once it holds no more ids.
pub(super) const UNREGISTER_LUA: &str = concat!(
    include_str!("lua/prelude.lua"),
    include_str!("lua/unregister.lua")
);
pub(super) static UNREGISTER: LazyLock<Script> = LazyLock::new(|| Script::new(UNREGISTER_LUA));

/// `lua/subject_tokens.lua`: a subject's live registered token ids with their bindings, the
/// latest expiry first, bounded; trims a bounded number of expired members.
pub(super) const SUBJECT_TOKENS_LUA: &str = include_str!("lua/subject_tokens.lua");
pub(super) static SUBJECT_TOKENS: LazyLock<Script> =
    LazyLock::new(|| Script::new(SUBJECT_TOKENS_LUA));

/// `lua/events_after.lua`: audit events strictly after a stream id, oldest first, or word that the
/// stream no longer holds all of them.
pub(super) const EVENTS_AFTER_LUA: &str = include_str!("lua/events_after.lua");
pub(super) static EVENTS_AFTER: LazyLock<Script> = LazyLock::new(|| Script::new(EVENTS_AFTER_LUA));

/// `lua/lookup.lua`: reads the facts of a lookup and, for a token id, its binding and the facts of
/// the bound session and subject; for a session, its session binding and the facts of the bound
/// subject.
pub(super) const LOOKUP_LUA: &str = include_str!("lua/lookup.lua");
pub(super) static LOOKUP: LazyLock<Script> = LazyLock::new(|| Script::new(LOOKUP_LUA));

/// `lua/read.lua`: the current state of mirrored keys, in one step.
pub(super) const READ_LUA: &str = include_str!("lua/read.lua");
pub(super) static READ: LazyLock<Script> = LazyLock::new(|| Script::new(READ_LUA));

/// `lua/head.lua`: the feed's newest id and `entries-added`, in one step.
pub(super) const HEAD_LUA: &str = include_str!("lua/head.lua");
pub(super) static HEAD: LazyLock<Script> = LazyLock::new(|| Script::new(HEAD_LUA));

/// `lua/index_build.lua`: one `SCAN` step over the deployment's keys that also copies each mirrored
/// key into the index, with the write scripts' own `index` (so the encoding has one source).
pub(super) const BUILD_LUA: &str = concat!(
    include_str!("lua/prelude.lua"),
    include_str!("lua/index_build.lua")
);
pub(super) static BUILD: LazyLock<Script> = LazyLock::new(|| Script::new(BUILD_LUA));

/// `lua/index_sweep.lua`: one step of the sweep: drops the entries of up to `ARGV[2]` buckets whose
/// fact expired before `now`, starting at the record's `sweep`.
pub(super) const SWEEP_LUA: &str = include_str!("lua/index_sweep.lua");
pub(super) static SWEEP: LazyLock<Script> = LazyLock::new(|| Script::new(SWEEP_LUA));

/// `lua/pending_keep.lua`: keeps one pending logout unless the hash is full.
pub(super) const KEEP_LUA: &str = include_str!("lua/pending_keep.lua");
pub(super) static KEEP: LazyLock<Script> = LazyLock::new(|| Script::new(KEEP_LUA));

/// `lua/scim_write.lua`: creates or replaces one SCIM user with its unique indexes and its place in
/// the listing order.
pub(super) const SCIM_WRITE_LUA: &str = include_str!("lua/scim_write.lua");
pub(super) static SCIM_WRITE: LazyLock<Script> = LazyLock::new(|| Script::new(SCIM_WRITE_LUA));

/// `lua/scim_delete.lua`: removes one SCIM user, its unique index entries and its place in the
/// listing order.
pub(super) const SCIM_DELETE_LUA: &str = include_str!("lua/scim_delete.lua");
pub(super) static SCIM_DELETE: LazyLock<Script> = LazyLock::new(|| Script::new(SCIM_DELETE_LUA));

/// `lua/scim_page.lua`: one page of a client's SCIM users in listing order, and their number.
pub(super) const SCIM_PAGE_LUA: &str = include_str!("lua/scim_page.lua");
pub(super) static SCIM_PAGE: LazyLock<Script> = LazyLock::new(|| Script::new(SCIM_PAGE_LUA));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redis::EVENT_FIELD;

    #[test]
    fn the_script_writes_the_field_that_events_reads() {
        assert!(APPLY_LUA.contains(&format!("'{EVENT_FIELD}', event)")));
    }
}
