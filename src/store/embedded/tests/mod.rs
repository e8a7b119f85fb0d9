//! Tests of what only the embedded store has: opening and locking the
//! file, its id format and cursors, the sweep and the rows it leaves,
//! durability across restarts and crashes. The rules both stores share
//! are tested once, on both, by the store contract (`tests/store/`).

use std::path::Path;

use redb::{ReadableTable, ReadableTableMetadata};

use super::*;
use super::{audit::*, open::*, tables::*};
use crate::domain::{Note, RegistrationLimits, Subject, SubjectId};

const ISS: &str = "https://idp.example";

fn settings(dir: &Path, max_events: u64) -> EmbeddedSettings {
    EmbeddedSettings {
        path: dir.to_owned(),
        sweep_interval: Duration::from_secs(60),
        max_events,
        max_admin_events: max_events,
    }
}

fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open(&settings(dir, 1000)).unwrap()
}

fn t(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs)
}

fn jti(id: &str) -> TokenId {
    TokenId::parse(id).unwrap()
}

fn session(iss: &str, sid: &str) -> Session {
    Session {
        iss: Issuer::parse(iss).unwrap(),
        sid: SessionId::parse(sid).unwrap(),
    }
}

fn subject(iss: &str, sub: &str) -> Subject {
    Subject {
        iss: Issuer::parse(iss).unwrap(),
        sub: SubjectId::parse(sub).unwrap(),
    }
}

fn admin() -> Provenance {
    Provenance {
        actor: "admin:ops".into(),
        reason: None,
    }
}

fn token_revoked(id: &str, expires_at: i64) -> Change {
    Change::TokenRevoked {
        jti: jti(id),
        expires_at: t(expires_at),
    }
}

fn session_revoked(sid: &str, expires_at: i64) -> Change {
    Change::SessionRevoked {
        session: session(ISS, sid),
        expires_at: t(expires_at),
    }
}

fn disabled(sub: &str, expires_at: Option<i64>) -> Change {
    Change::SubjectDisabled {
        subject: subject(ISS, sub),
        expires_at: expires_at.map(t),
    }
}

fn enabled(sub: &str) -> Change {
    Change::SubjectEnabled {
        subject: subject(ISS, sub),
    }
}

fn revoked_before(sub: &str, before: i64, expires_at: i64) -> Change {
    Change::SubjectRevokedBefore {
        subject: subject(ISS, sub),
        before: t(before),
        expires_at: t(expires_at),
    }
}

async fn apply(store: &EmbeddedStore, change: Change, now: i64) -> Event {
    store.apply(change, admin(), t(now)).await.unwrap()
}

async fn token_facts(store: &EmbeddedStore, id: &str, now: i64) -> Facts {
    let id = jti(id);
    store
        .lookup(
            Lookup {
                jti: Some(&id),
                ..Lookup::default()
            },
            t(now),
        )
        .await
        .unwrap()
}

async fn session_facts(store: &EmbeddedStore, sid: &str, now: i64) -> Facts {
    let session = session(ISS, sid);
    store
        .lookup(
            Lookup {
                session: Some(&session),
                ..Lookup::default()
            },
            t(now),
        )
        .await
        .unwrap()
}

async fn subject_facts_of(store: &EmbeddedStore, subject: &Subject, now: i64) -> Facts {
    store
        .lookup(
            Lookup {
                subject: Some(subject),
                ..Lookup::default()
            },
            t(now),
        )
        .await
        .unwrap()
}

async fn subject_facts(store: &EmbeddedStore, sub: &str, now: i64) -> Facts {
    subject_facts_of(store, &subject(ISS, sub), now).await
}

async fn event_ids(store: &EmbeddedStore, before: Option<&str>, limit: usize) -> Vec<String> {
    let page = EventPage {
        before: before.map(|b| EventId(b.into())),
        limit,
    };
    store
        .events(&page)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id.0)
        .collect()
}

/// Rows in `facts` and in the expiry index, read straight from the file.
fn stored_rows(store: &EmbeddedStore) -> (u64, u64) {
    let txn = store.inner.db.begin_read().unwrap();
    let facts = txn.open_table(FACTS).unwrap().len().unwrap();
    let index = txn.open_table(EXPIRY).unwrap().len().unwrap();
    (facts, index)
}

// --- opening -----------------------------------------------------------

#[test]
fn store_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<EmbeddedStore>();
}

#[tokio::test]
async fn open_creates_missing_directories_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a").join("b");

    let store = open(&nested);

    assert!(nested.join(FILE_NAME).is_file());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_file_already_open_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());

    let Err(err) = EmbeddedStore::open(&settings(dir.path(), 10)) else {
        panic!("a second open of a locked file succeeded");
    };

    let source = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(source.contains("in use by another process"), "{source}");
    assert!(source.contains(FILE_NAME), "{source}");
    drop(first);
    assert!(
        EmbeddedStore::open(&settings(dir.path(), 10)).is_ok(),
        "the lock outlived the store"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(FILE_NAME),
        b"not a redb file, just some text",
    )
    .unwrap();

    let result = EmbeddedStore::open(&settings(dir.path(), 10));

    assert!(
        matches!(result, Err(StoreError::Corrupt(_))),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn ping_answers_on_an_open_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());

    assert!(store.ping().await.is_ok());
}

// --- each change kind --------------------------------------------------

#[tokio::test]
async fn enabling_a_subject_that_is_not_disabled_is_recorded_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());

    let event = apply(&store, enabled("alice"), 100).await;

    assert_eq!(event.change, enabled("alice"));
    assert_eq!(subject_facts(&store, "alice", 100).await, Facts::default());
    assert_eq!(stored_rows(&store), (0, 0));
}

#[tokio::test]
async fn one_lookup_reports_every_kind_of_fact() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    apply(&store, token_revoked("t1", 500), 100).await;
    apply(&store, session_revoked("s1", 500), 100).await;
    apply(&store, disabled("alice", Some(500)), 100).await;
    apply(&store, revoked_before("alice", 100, 500), 100).await;
    let (id, session, subject) = (jti("t1"), session(ISS, "s1"), subject(ISS, "alice"));

    let facts = store
        .lookup(
            Lookup {
                jti: Some(&id),
                session: Some(&session),
                subject: Some(&subject),
            },
            t(150),
        )
        .await
        .unwrap();

    assert_eq!(
        facts,
        Facts {
            token_revoked: true,
            session_revoked: true,
            subject_disabled: true,
            subject_revoked_before: Some(t(100)),
            bound: None,
            session_bound: None,
        }
    );
}

// --- events ------------------------------------------------------------

#[tokio::test]
async fn apply_returns_the_recorded_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let provenance = Provenance {
        actor: "client:ha".into(),
        reason: Some(Note::parse("lost phone").unwrap()),
    };

    let event = store
        .apply(token_revoked("t1", 500), provenance, t(100))
        .await
        .unwrap();

    assert_eq!(event.at, t(100));
    assert_eq!(event.change, token_revoked("t1", 500));
    assert_eq!(event.actor, "client:ha");
    assert_eq!(event.reason.as_ref().map(AsRef::as_ref), Some("lost phone"));
    let page = store
        .events(&EventPage {
            before: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(page, vec![event]);
}

#[tokio::test]
async fn event_ids_are_decimal_and_strictly_increasing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());

    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            apply(&store, token_revoked(&format!("t{i}"), 500), 100)
                .await
                .id
                .0
                .parse::<u64>()
                .unwrap(),
        );
    }

    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

#[tokio::test]
async fn concurrent_applies_get_distinct_ids_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());

    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .apply(token_revoked(&format!("t{i}"), 500), admin(), t(100))
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap().id.0);
    }

    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 16);
    assert_eq!(event_ids(&store, None, 100).await.len(), 16);
    for i in 0..16 {
        assert!(
            token_facts(&store, &format!("t{i}"), 100)
                .await
                .token_revoked,
            "t{i}"
        );
    }
}

#[tokio::test]
async fn events_after_know_exactly_what_was_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 0..5 {
        apply(&store, token_revoked(&format!("t{i}"), 500), 100 + i).await;
    }
    trim_events(&store.inner.db, EVENTS, 2).unwrap();
    let store = &store;
    let after =
        |id: &'static str| async move { store.events_after(&EventId(id.to_owned()), 10).await };
    let ids = |events: Option<Vec<Event>>| {
        events.map(|e| e.into_iter().map(|e| e.id.0).collect::<Vec<_>>())
    };

    // 4 and 5 remain; ids are gapless, so a consumer at 3 missed nothing.
    assert_eq!(
        ids(after("3").await.unwrap()),
        Some(vec!["4".into(), "5".into()])
    );
    assert_eq!(after("2").await.unwrap(), None, "3 was trimmed");
    assert_eq!(after("0").await.unwrap(), None);
    assert_eq!(after("6").await.unwrap(), None, "never handed out");
    assert_eq!(ids(after("5").await.unwrap()), Some(vec![]));
}

#[tokio::test]
async fn events_after_the_beginning_of_an_empty_log_are_none_yet() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(
        store.events_after(&EventId("0".into()), 10).await.unwrap(),
        Some(vec![])
    );
    assert_eq!(
        store.events_after(&EventId("1".into()), 10).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_cursor_that_is_not_an_event_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    apply(&store, token_revoked("t1", 500), 100).await;

    for cursor in [
        "",
        "abc",
        "-1",
        "+1",
        "01",
        " 1",
        "1.0",
        "18446744073709551616",
        "1-0",
    ] {
        let page = EventPage {
            before: Some(EventId(cursor.into())),
            limit: 10,
        };
        let result = store.events(&page).await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "cursor {cursor:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn an_undecodable_event_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let txn = store.inner.db.begin_write().unwrap();
    txn.open_table(EVENTS)
        .unwrap()
        .insert(1, b"{not json".as_slice())
        .unwrap();
    txn.commit().unwrap();

    let result = store
        .events(&EventPage {
            before: None,
            limit: 10,
        })
        .await;

    assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
}

// --- registry rows -------------------------------------------------------

fn registration(sid: &str, ids: &[&str], expires_at: i64) -> SessionRegistration {
    SessionRegistration::new(
        Owner::parse("app").unwrap(),
        RegistrationLimits::default(),
        Issuer::parse(ISS).unwrap(),
        Some(SessionId::parse(sid).unwrap()),
        SubjectId::parse("alice").unwrap(),
        ids.iter().map(|id| jti(id)).collect(),
        t(expires_at),
    )
    .unwrap()
}

/// Rows in `bindings` and in `sessions` plus `session_tokens`, and in
/// the expiry index.
fn registry_rows(store: &EmbeddedStore) -> (u64, u64, u64) {
    let txn = store.inner.db.begin_read().unwrap();
    let bindings = txn.open_table(BINDINGS).unwrap().len().unwrap();
    let sessions = txn.open_table(SESSIONS).unwrap().len().unwrap()
        + txn.open_table(SESSION_TOKENS).unwrap().len().unwrap();
    let index = txn.open_table(EXPIRY).unwrap().len().unwrap();
    (bindings, sessions, index)
}

/// Rows of `subject_tokens`, the subjects' registries.
fn subject_token_rows(store: &EmbeddedStore) -> u64 {
    let txn = store.inner.db.begin_read().unwrap();
    txn.open_table(SUBJECT_TOKENS).unwrap().len().unwrap()
}

// --- pure helpers --------------------------------------------------------

#[test]
fn raising_a_fact_keeps_each_later_field() {
    let old = Fact {
        expires_at: 500,
        payload: 10,
    };
    assert_eq!(
        old.raised_by(Fact {
            expires_at: 300,
            payload: 20
        }),
        Fact {
            expires_at: 500,
            payload: 20
        }
    );
    assert_eq!(
        old.raised_by(Fact {
            expires_at: 900,
            payload: 5
        }),
        Fact {
            expires_at: 900,
            payload: 10
        }
    );
    assert_eq!(old.raised_by(Fact::revocation(NEVER)).expires_at, NEVER);
}

#[test]
fn canonical_event_ids_parse() {
    for (text, id) in [("0", 0), ("1", 1), ("18446744073709551615", u64::MAX)] {
        assert_eq!(parse_event_id(&EventId(text.into())).unwrap(), id, "{text}");
    }
}

mod durability;
mod sweep;
