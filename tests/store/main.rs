//! The storage contract of [`RevocationStore`], written once and run
//! against every backend.
//!
//! Each behaviour is a generic `async fn(&impl RevocationStore)`; the
//! [`contract!`] macro instantiates it as `embedded::<case>` (a `redb` file
//! in a temporary directory) and `redis::<case>` (a real `redis-server` per
//! test, see `common::redis_server`). Behaviour that only Redis has (key
//! prefixes, real TTLs, a server that goes away) lives in `redis_only`.
//!
//! Redis expires keys on the wall clock, so every case works with instants
//! around the real `UnixTime::now()` and moves only the `now` it *passes*,
//! never relying on the store's own clock.
//!
//! One module per concern: `fixtures` (shared names, writers and backend
//! harnesses), the contract cases in `facts`, `events`, `live_set`,
//! `replay`, `registry`, `registry_lifecycle`, `volume` and `mirror_reads`,
//! and the suites with their own instantiation: `pending_logouts`, `scim_users`,
//! `audit_retention`, `redis_only` (with the Sentinel failover tests, once
//! a binary of their own). The Cargo target keeps its old name,
//! `store_contract`.

#[path = "../common/mod.rs"]
mod common;
mod fixtures;

mod events;
mod facts;
mod live_set;
mod mirror_reads;
mod registry;
mod registry_lifecycle;
mod replay;
mod subject_registry;
mod volume;

use events::*;
use facts::*;
use fixtures::*;
use live_set::*;
use mirror_reads::*;
use registry::*;
use registry_lifecycle::*;
use replay::*;
use subject_registry::*;
use volume::*;

/// Instantiates every listed case once per backend: `embedded::<case>`,
/// `redis::<case>` and `redis_tls::<case>` (Redis over TLS).
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = super::embedded();
                    super::$case(&harness.store).await;
                }
            )*
        }

        mod redis {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = super::redis();
                    super::$case(&harness.store).await;
                }
            )*
        }

        mod redis_tls {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = super::redis_tls();
                    super::$case(&harness.store).await;
                }
            )*
        }
    };
}

contract!(
    ping_succeeds,
    an_empty_lookup_finds_nothing,
    a_revoked_token_or_session_is_visible,
    a_disabled_subject_is_visible,
    a_revoked_before_mark_is_visible,
    facts_expired_for_the_given_now_are_not_returned,
    a_token_or_session_revocation_keeps_the_later_expiry,
    a_revoked_before_mark_never_moves_back,
    a_revoked_before_mark_keeps_the_later_expiry,
    an_expired_mark_is_not_revived_by_a_later_one,
    a_disable_leaves_the_revoked_before_mark_alone,
    a_disable_keeps_the_later_expiry,
    a_disable_without_expiry_stays,
    enabling_lifts_only_the_disable,
    events_are_newest_first_with_actor_and_reason,
    events_respect_the_limit,
    paging_with_before_yields_each_event_once,
    an_invalid_cursor_is_rejected,
    events_after_a_cursor_are_oldest_first_and_exclusive,
    a_cursor_beyond_the_newest_event_means_resync,
    an_invalid_cursor_after_is_rejected,
    the_live_set_pages_through_live_revocations_only,
    live_set_pages_are_not_shifted_by_changes_between_them,
    the_live_set_of_some_kinds_holds_those_only,
    an_invalid_live_set_cursor_is_rejected,
    issuers_sharing_a_sub_or_sid_do_not_collide,
    apply_once_applies_then_ignores_a_replay,
    concurrent_apply_once_with_one_key_applies_exactly_once,
    a_seen_marker_expires,
    seen_markers_of_different_issuers_are_independent,
    a_registered_token_id_reports_its_binding,
    revoking_the_bound_session_reaches_the_token,
    disabling_the_bound_subject_reaches_the_token,
    a_revoked_before_mark_after_registration_kills_bound_tokens_one_before_does_not,
    a_sub_only_mark_reaches_a_registered_session_checked_by_sid,
    a_disabled_subject_reaches_a_registered_session_checked_by_sid,
    a_session_binding_keeps_its_first_subject_and_registration,
    re_registration_adds_ids_and_keeps_the_first_registered_at,
    a_registration_for_a_revoked_session_is_refused_and_its_tokens_are_born_revoked,
    a_registration_for_a_disabled_subject_is_refused_and_its_tokens_are_born_revoked,
    a_revoked_session_is_the_reason_when_the_subject_is_disabled_too,
    a_registration_without_sid_binds_to_the_subject_only,
    unregister_removes_the_session_and_its_bindings,
    registrations_expire,
    a_token_id_bound_elsewhere_keeps_its_first_binding,
    two_issuers_with_the_same_sid_and_sub_do_not_collide_in_the_registry,
    bound_facts_are_found_for_an_issuer_with_non_ascii_characters,
    a_session_holds_token_ids_up_to_its_cap_and_not_one_more,
    the_session_cap_counts_each_owner_separately,
    a_key_holds_token_ids_up_to_its_volume_and_not_one_more,
    expiry_frees_room_in_a_key_volume_exactly_at_the_expiry,
    unregistering_frees_room_in_a_key_volume,
    another_key_cannot_unregister_a_registration,
    another_key_cannot_rebind_or_refresh_a_token_id,
    a_refused_registration_does_not_revoke_another_keys_token_ids,
    an_owner_unregisters_every_token_id_of_a_large_session,
    a_refusal_of_a_hundred_ids_writes_one_event,
    read_states_reports_each_mirrored_fact_as_stored,
    a_snapshot_holds_every_mirrored_fact_and_nothing_else,
    a_subjects_registry_lists_its_live_token_ids_latest_expiry_first,
    a_subjects_registry_is_bounded_by_the_limit,
    a_local_logout_removes_its_token_ids_from_the_subjects_registry,
    expired_token_ids_leave_the_subjects_registry_and_a_refresh_moves_them,
    a_token_id_bound_to_another_subject_is_not_in_the_registry,
    a_refused_registration_is_not_in_the_registry,
);

// After `contract!`: these modules instantiate it too.
mod audit_retention;
mod pending_logouts;
mod redis_only;
mod scim_users;
