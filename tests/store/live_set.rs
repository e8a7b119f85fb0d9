//! The live set: paging through live revocations, filtered by kind.

use crate::fixtures::*;
use crate::mirror_reads::one_of_each;

pub(crate) async fn the_live_set_pages_through_live_revocations_only(store: &impl RevocationStore) {
    let t = now();
    // Live: 30 tokens, a session, a disable, a revoked-before mark, and the
    // facts of one_of_each (minus what is not a revocation).
    let mut expected: Vec<Change> = Vec::new();
    for i in 0..30 {
        let change = Change::TokenRevoked {
            jti: jti(&format!("live-{i}")),
            expires_at: at(t, 600),
        };
        apply(store, change.clone(), t).await;
        expected.push(change);
    }
    for update in one_of_each(store, t).await {
        if let Some(change) = revokd::store::live_change(update, t) {
            expected.push(change);
        }
    }
    // Not live: expired by the time of reading, enabled again.
    revoke_token(store, jti("short"), at(t, 5), t).await;
    let bob = subject(IDP_A, "bob");
    disable_subject(store, bob.clone(), None, t).await;
    apply(store, Change::SubjectEnabled { subject: bob }, t).await;

    let seen = read_live_set(store, 4, ChangeKinds::ALL, at(t, 10)).await;
    expected.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(seen, expected);
}

/// Every page of the live set of `kinds`, sorted; each page must hold
/// exactly `limit` revocations but the last, which holds at most that.
pub(crate) async fn read_live_set(
    store: &impl RevocationStore,
    limit: usize,
    kinds: ChangeKinds,
    now: UnixTime,
) -> Vec<Change> {
    let mut seen: Vec<Change> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let page = store
            .live_page(cursor.as_deref(), limit, kinds, now)
            .await
            .expect("page");
        assert!(
            page.revocations.len() <= limit,
            "a page holds at most limit"
        );
        if page.next.is_some() {
            assert_eq!(page.revocations.len(), limit, "only the last page is short");
        }
        seen.extend(page.revocations);
        match page.next {
            Some(next) => cursor = Some(next),
            None => {
                seen.sort_by_key(|c| format!("{c:?}"));
                return seen;
            }
        }
    }
    panic!("the cursor must move on");
}

pub(crate) async fn live_set_pages_are_not_shifted_by_changes_between_them(
    store: &impl RevocationStore,
) {
    let t = now();
    let token = |i: usize| Change::TokenRevoked {
        jti: jti(&format!("stable-{i}")),
        expires_at: at(t, 600),
    };
    for i in 0..40 {
        apply(store, token(i), t).await;
    }
    let mut seen: Vec<Change> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut round = 0;
    loop {
        let page = store
            .live_page(cursor.as_deref(), 3, ChangeKinds::ALL, t)
            .await
            .expect("page");
        seen.extend(page.revocations);
        // Between pages, a new revocation lands somewhere in the store's
        // order: before or after the cursor.
        round += 1;
        apply(store, token(1000 + round), t).await;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    // Every revocation live from the first page to the last shows exactly
    // once; those recorded meanwhile may or may not.
    for i in 0..40 {
        let expected = token(i);
        let count = seen.iter().filter(|c| **c == expected).count();
        assert_eq!(count, 1, "{expected:?} seen {count} times");
    }
    let mut unique = seen.clone();
    unique.sort_by_key(|c| format!("{c:?}"));
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a revocation served twice");
}

pub(crate) async fn the_live_set_of_some_kinds_holds_those_only(store: &impl RevocationStore) {
    let t = now();
    let mut tokens = Vec::new();
    for i in 0..25 {
        let change = Change::TokenRevoked {
            jti: jti(&format!("many-{i}")),
            expires_at: at(t, 600),
        };
        apply(store, change.clone(), t).await;
        tokens.push(change);
    }
    let mut people = vec![
        Change::SessionRevoked {
            session: session(IDP_A, "s1"),
            expires_at: at(t, 600),
        },
        Change::SessionRevoked {
            session: session(IDP_B, "s2"),
            expires_at: at(t, 600),
        },
        Change::SubjectDisabled {
            subject: subject(IDP_A, "alice"),
            expires_at: None,
        },
        Change::SubjectRevokedBefore {
            subject: subject(IDP_U, "bob"),
            before: at(t, -10),
            expires_at: at(t, 600),
        },
    ];
    for change in &people {
        apply(store, change.clone(), t).await;
    }
    // A binding is never a revocation, whatever the kinds.
    register(
        store,
        &registration(IDP_A, Some("s9"), "carol", &["app-1"], at(t, 600)),
        t,
    )
    .await;

    let read = |kinds: &str, limit| read_live_set(store, limit, kinds.parse().unwrap(), t);
    people.sort_by_key(|c| format!("{c:?}"));
    tokens.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        read("session_revoked,subject_disabled,subject_revoked_before", 2).await,
        people
    );
    assert_eq!(read("token_revoked", 7).await, tokens);
    let sessions: Vec<Change> = people
        .iter()
        .filter(|c| matches!(c, Change::SessionRevoked { .. }))
        .cloned()
        .collect();
    assert_eq!(read("session_revoked", 1).await, sessions);
    assert_eq!(read("subject_enabled", 5).await, Vec::<Change>::new());
}

pub(crate) async fn an_invalid_live_set_cursor_is_rejected(store: &impl RevocationStore) {
    for cursor in ["zz", "", "99999999", "-1", "not a cursor"] {
        let result = store
            .live_page(Some(cursor), 10, ChangeKinds::ALL, now())
            .await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "{cursor:?}: {result:?}"
        );
    }
}
