//! The audit log: newest first, paging with `before`, cursors with `after`.

use crate::fixtures::*;

pub(crate) async fn events_are_newest_first_with_actor_and_reason(store: &impl RevocationStore) {
    let t = now();
    let alice = subject(IDP_A, "alice");
    let changes = [
        (
            Change::TokenRevoked {
                jti: jti("t1"),
                expires_at: at(t, 3600),
            },
            because("admin:ops", "leaked in a log"),
        ),
        (
            Change::SubjectDisabled {
                subject: alice.clone(),
                expires_at: None,
            },
            by("client:gateway"),
        ),
        (
            Change::SubjectEnabled { subject: alice },
            because("admin:ops", "back from leave"),
        ),
    ];
    let mut applied = Vec::new();
    for (i, (change, provenance)) in changes.iter().enumerate() {
        let when = at(t, i as i64);
        let event = store
            .apply(change.clone(), provenance.clone(), when)
            .await
            .expect("apply");
        assert_eq!(
            (&event.change, &event.actor, &event.reason, event.at),
            (change, &provenance.actor, &provenance.reason, when),
            "apply returns the event it recorded"
        );
        applied.push(event);
    }

    let listed = all_events(store).await;

    applied.reverse();
    assert_eq!(listed, applied);
}

pub(crate) async fn events_respect_the_limit(store: &impl RevocationStore) {
    let t = now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let event = revoke_token(store, jti(&format!("t{i}")), at(t, 3600), t).await;
        ids.push(event.id);
    }

    let page = store
        .events(&EventPage {
            before: None,
            limit: 2,
        })
        .await
        .expect("events");

    let got: Vec<&EventId> = page.iter().map(|e| &e.id).collect();
    assert_eq!(got, vec![&ids[4], &ids[3]]);
}

pub(crate) async fn paging_with_before_yields_each_event_once(store: &impl RevocationStore) {
    // Arrange: seven events, read three at a time.
    let t = now();
    let mut ids = Vec::new();
    for i in 0..7 {
        let event = revoke_token(store, jti(&format!("t{i}")), at(t, 3600), t).await;
        ids.push(event.id);
    }

    // Act
    let mut seen = Vec::new();
    let mut before = None;
    for _ in 0..10 {
        let page = store
            .events(&EventPage {
                before: before.clone(),
                limit: 3,
            })
            .await
            .expect("events");
        let Some(last) = page.last() else { break };
        before = Some(last.id.clone());
        seen.extend(page.into_iter().map(|e| e.id));
    }

    // Assert: every id once, newest first, and nothing after the last page.
    ids.reverse();
    assert_eq!(seen, ids);
}

/// An id that sorts after `id`, in the same store's format.
pub(crate) fn beyond(id: &EventId) -> EventId {
    let (major, minor) = id.order().expect("a store id");
    EventId(match id.0.contains('-') {
        true => format!("{}-{minor}", major + 1000),
        false => (major + 10).to_string(),
    })
}

pub(crate) async fn revoke_n(store: &impl RevocationStore, n: usize) -> Vec<Event> {
    let t = now();
    let mut events = Vec::new();
    for i in 0..n {
        let change = Change::TokenRevoked {
            jti: jti(&format!("t{i}")),
            expires_at: at(t, 3600),
        };
        events.push(apply(store, change, t).await);
    }
    events
}

pub(crate) async fn events_after_a_cursor_are_oldest_first_and_exclusive(
    store: &impl RevocationStore,
) {
    let events = revoke_n(store, 5).await;
    let ids = |events: Vec<Event>| events.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let after = |i: usize, limit| store.events_after(&events[i].id, limit);

    let page = after(0, 2).await.expect("read").expect("all retained");
    assert_eq!(ids(page), [events[1].id.clone(), events[2].id.clone()]);
    let rest = after(2, 100).await.expect("read").expect("all retained");
    assert_eq!(rest, events[3..].to_vec(), "whole events, oldest first");
    let none = after(4, 100).await.expect("read").expect("all retained");
    assert!(none.is_empty(), "nothing after the newest");
    // Ids increase in the order the store wrote them.
    let orders: Vec<_> = events
        .iter()
        .map(|e| e.id.order().expect("order"))
        .collect();
    assert!(orders.windows(2).all(|w| w[0] < w[1]), "{orders:?}");
}

pub(crate) async fn a_cursor_beyond_the_newest_event_means_resync(store: &impl RevocationStore) {
    let events = revoke_n(store, 2).await;
    let ahead = beyond(&events[1].id);
    assert_eq!(
        store.events_after(&ahead, 10).await.expect("read"),
        None,
        "an id this log never handed out: it was reset, or belongs to another"
    );
}

pub(crate) async fn an_invalid_cursor_after_is_rejected(store: &impl RevocationStore) {
    revoke_n(store, 1).await;
    for cursor in ["not an id", "", "1.5", "-1", "1-x"] {
        let result = store.events_after(&EventId(cursor.to_owned()), 10).await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "{cursor:?}: {result:?}"
        );
    }
}

pub(crate) async fn an_invalid_cursor_is_rejected(store: &impl RevocationStore) {
    let t = now();
    revoke_token(store, jti("t1"), at(t, 3600), t).await;

    for cursor in ["not an id", "", "1.5"] {
        let result = store
            .events(&EventPage {
                before: Some(EventId(cursor.to_owned())),
                limit: 10,
            })
            .await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "cursor {cursor:?}: {result:?}"
        );
    }
}
