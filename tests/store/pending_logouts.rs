//! Kept logout tokens (issue 17 item 18): the same contract on both stores.

use crate::fixtures::*;

use revokd::store::{PendingLogout, PendingLogoutStore, PendingPut};

fn pending(token: &str, received_at: i64) -> PendingLogout {
    PendingLogout {
        id: PendingLogout::id_of(token),
        provider: "idp".into(),
        token: token.into(),
        received_at: UnixTime::from_secs(received_at),
        expires_at: UnixTime::from_secs(received_at + 360),
    }
}

async fn a_kept_token_is_listed_once_until_forgotten(store: &impl PendingLogoutStore) {
    let (a, b) = (pending("a.b.c", 200), pending("d.e.f", 100));
    assert_eq!(
        store.keep_pending_logout(&a, 10).await.unwrap(),
        PendingPut::Kept
    );
    assert_eq!(
        store.keep_pending_logout(&b, 10).await.unwrap(),
        PendingPut::Kept
    );
    assert_eq!(
        store.keep_pending_logout(&a, 10).await.unwrap(),
        PendingPut::AlreadyKept
    );
    assert_eq!(
        store.pending_logouts().await.unwrap(),
        vec![b.clone(), a.clone()]
    );

    assert!(store.forget_pending_logout(&a.id).await.unwrap());
    assert!(!store.forget_pending_logout(&a.id).await.unwrap());
    assert_eq!(store.pending_logouts().await.unwrap(), vec![b]);
}

async fn nothing_kept_is_an_empty_list(store: &impl PendingLogoutStore) {
    assert_eq!(store.pending_logouts().await.unwrap(), Vec::new());
    assert!(!store.forget_pending_logout("nope").await.unwrap());
}

async fn no_more_than_max_count_are_kept(store: &impl PendingLogoutStore) {
    let tokens: Vec<PendingLogout> = (0..3).map(|i| pending(&format!("t{i}"), i)).collect();
    assert_eq!(
        store.keep_pending_logout(&tokens[0], 2).await.unwrap(),
        PendingPut::Kept
    );
    assert_eq!(
        store.keep_pending_logout(&tokens[1], 2).await.unwrap(),
        PendingPut::Kept
    );
    assert_eq!(
        store.keep_pending_logout(&tokens[2], 2).await.unwrap(),
        PendingPut::Full
    );
    assert_eq!(store.pending_logouts().await.unwrap().len(), 2);
    store.forget_pending_logout(&tokens[0].id).await.unwrap();
    assert_eq!(
        store.keep_pending_logout(&tokens[2], 2).await.unwrap(),
        PendingPut::Kept
    );
}

async fn concurrent_keeps_never_exceed_max_count(store: &impl PendingLogoutStore) {
    let tokens: Vec<PendingLogout> = (0..12).map(|i| pending(&format!("c{i}"), i)).collect();
    let results = join_all(tokens.iter().map(|p| store.keep_pending_logout(p, 5))).await;
    let kept = results
        .into_iter()
        .filter(|r| *r.as_ref().unwrap() == PendingPut::Kept)
        .count();
    assert_eq!(kept, 5);
    assert_eq!(store.pending_logouts().await.unwrap().len(), 5);
}

contract!(
    a_kept_token_is_listed_once_until_forgotten,
    nothing_kept_is_an_empty_list,
    no_more_than_max_count_are_kept,
    concurrent_keeps_never_exceed_max_count,
);
