//! SCIM users (issue 15 part 3): the same contract on both stores —
//! create, read, find by each unique attribute, list, replace as a
//! compare-and-swap on the version, uniqueness within one client only,
//! delete with its index entries.

use crate::fixtures::*;

use revokd::store::{ScimUnique, ScimUser, ScimUserStore, ScimWrite};

fn user(client: &str, id: &str, user_name: &str, external_id: Option<&str>) -> ScimUser {
    ScimUser {
        client: client.into(),
        id: id.into(),
        user_name: user_name.into(),
        external_id: external_id.map(Into::into),
        sub: format!("sub-of-{user_name}"),
        active: true,
        created: UnixTime::from_secs(1_000 + id.len() as i64),
        last_modified: UnixTime::from_secs(1_000),
        version: 1,
    }
}

async fn a_created_user_is_read_found_and_listed(store: &impl ScimUserStore) {
    let alice = user("entra", "id-1", "Alice@Example.com", Some("ext-a"));
    assert_eq!(
        store.create_scim_user(&alice).await.unwrap(),
        ScimWrite::Done
    );

    assert_eq!(
        store.scim_user("entra", "id-1").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.scim_user("entra", "id-2").await.unwrap(), None);
    // userName compares case-insensitively (RFC 7643 §4.1.1), externalId exactly.
    for name in [
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        "Alice@Example.com",
    ] {
        assert_eq!(
            store
                .find_scim_user("entra", ScimUnique::UserName, name)
                .await
                .unwrap(),
            Some(alice.clone()),
            "{name}"
        );
    }
    assert_eq!(
        store
            .find_scim_user("entra", ScimUnique::ExternalId, "ext-a")
            .await
            .unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store
            .find_scim_user("entra", ScimUnique::ExternalId, "EXT-A")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.scim_users("entra").await.unwrap(), vec![alice]);
}

async fn nothing_stored_reads_as_nothing(store: &impl ScimUserStore) {
    assert_eq!(store.scim_user("entra", "id-1").await.unwrap(), None);
    assert_eq!(
        store
            .find_scim_user("entra", ScimUnique::UserName, "x")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.scim_users("entra").await.unwrap(), Vec::new());
    assert_eq!(store.delete_scim_user("entra", "id-1").await.unwrap(), None);
    assert_eq!(
        store
            .replace_scim_user(&user("entra", "id-1", "a", None), 1)
            .await
            .unwrap(),
        ScimWrite::NotFound
    );
}

async fn a_taken_user_name_or_external_id_is_refused_and_nothing_is_written(
    store: &impl ScimUserStore,
) {
    store
        .create_scim_user(&user("entra", "id-1", "alice", Some("ext-a")))
        .await
        .unwrap();

    let same_name = user("entra", "id-2", "ALICE", Some("ext-b"));
    assert_eq!(
        store.create_scim_user(&same_name).await.unwrap(),
        ScimWrite::Taken(ScimUnique::UserName)
    );
    let same_external = user("entra", "id-3", "bob", Some("ext-a"));
    assert_eq!(
        store.create_scim_user(&same_external).await.unwrap(),
        ScimWrite::Taken(ScimUnique::ExternalId)
    );
    assert_eq!(store.scim_users("entra").await.unwrap().len(), 1);
    assert_eq!(
        store
            .find_scim_user("entra", ScimUnique::UserName, "bob")
            .await
            .unwrap(),
        None,
        "a refused create leaves no index entry"
    );
    assert_eq!(
        store
            .find_scim_user("entra", ScimUnique::ExternalId, "ext-b")
            .await
            .unwrap(),
        None
    );
}

async fn clients_do_not_see_each_others_users(store: &impl ScimUserStore) {
    let a = user("entra", "id-1", "alice", Some("ext-a"));
    let b = user("okta", "id-1", "alice", Some("ext-a"));
    assert_eq!(store.create_scim_user(&a).await.unwrap(), ScimWrite::Done);
    assert_eq!(store.create_scim_user(&b).await.unwrap(), ScimWrite::Done);
    assert_eq!(store.scim_users("entra").await.unwrap(), vec![a.clone()]);
    assert_eq!(store.scim_users("okta").await.unwrap(), vec![b.clone()]);
    // A client name that is a prefix of another's.
    assert_eq!(store.scim_users("ent").await.unwrap(), Vec::new());
    assert_eq!(
        store.delete_scim_user("okta", "id-1").await.unwrap(),
        Some(b)
    );
    assert_eq!(store.scim_user("entra", "id-1").await.unwrap(), Some(a));
}

async fn users_are_listed_oldest_first(store: &impl ScimUserStore) {
    // `created` grows with the id's length in `user`.
    let c = user("entra", "ccc", "carol", None);
    let a = user("entra", "a", "alice", None);
    let b = user("entra", "bb", "bob", None);
    for u in [&c, &a, &b] {
        store.create_scim_user(u).await.unwrap();
    }
    assert_eq!(store.scim_users("entra").await.unwrap(), vec![a, b, c]);
}

async fn a_replace_needs_the_stored_version_and_moves_the_indexes(store: &impl ScimUserStore) {
    let old = user("entra", "id-1", "alice", Some("ext-a"));
    store.create_scim_user(&old).await.unwrap();
    let mut new = old.clone();
    new.user_name = "alice2".into();
    new.external_id = Some("ext-a2".into());
    new.active = false;
    new.version = 2;

    assert_eq!(
        store.replace_scim_user(&new, 7).await.unwrap(),
        ScimWrite::VersionMismatch
    );
    assert_eq!(
        store.scim_user("entra", "id-1").await.unwrap(),
        Some(old.clone())
    );

    assert_eq!(
        store.replace_scim_user(&new, 1).await.unwrap(),
        ScimWrite::Done
    );
    assert_eq!(
        store.scim_user("entra", "id-1").await.unwrap(),
        Some(new.clone())
    );
    assert_eq!(
        store
            .find_scim_user("entra", ScimUnique::UserName, "alice")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_scim_user("entra", ScimUnique::ExternalId, "ext-a")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_scim_user("entra", ScimUnique::UserName, "ALICE2")
            .await
            .unwrap(),
        Some(new.clone())
    );
    // The same version again is stale now.
    assert_eq!(
        store.replace_scim_user(&new, 1).await.unwrap(),
        ScimWrite::VersionMismatch
    );
    // The freed name can be taken by another user.
    assert_eq!(
        store
            .create_scim_user(&user("entra", "id-2", "alice", Some("ext-a")))
            .await
            .unwrap(),
        ScimWrite::Done
    );
}

async fn a_replace_cannot_take_another_users_name(store: &impl ScimUserStore) {
    store
        .create_scim_user(&user("entra", "id-1", "alice", Some("ext-a")))
        .await
        .unwrap();
    let bob = user("entra", "id-2", "bob", Some("ext-b"));
    store.create_scim_user(&bob).await.unwrap();
    let mut taking = bob.clone();
    taking.user_name = "Alice".into();
    taking.version = 2;
    assert_eq!(
        store.replace_scim_user(&taking, 1).await.unwrap(),
        ScimWrite::Taken(ScimUnique::UserName)
    );
    let mut taking = bob.clone();
    taking.external_id = Some("ext-a".into());
    taking.version = 2;
    assert_eq!(
        store.replace_scim_user(&taking, 1).await.unwrap(),
        ScimWrite::Taken(ScimUnique::ExternalId)
    );
    assert_eq!(store.scim_user("entra", "id-2").await.unwrap(), Some(bob));
}

async fn a_delete_removes_the_user_and_frees_its_names(store: &impl ScimUserStore) {
    let alice = user("entra", "id-1", "alice", Some("ext-a"));
    store.create_scim_user(&alice).await.unwrap();
    assert_eq!(
        store.delete_scim_user("entra", "id-1").await.unwrap(),
        Some(alice)
    );
    assert_eq!(store.delete_scim_user("entra", "id-1").await.unwrap(), None);
    assert_eq!(store.scim_user("entra", "id-1").await.unwrap(), None);
    assert_eq!(
        store
            .find_scim_user("entra", ScimUnique::UserName, "alice")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.scim_users("entra").await.unwrap(), Vec::new());
    assert_eq!(
        store
            .create_scim_user(&user("entra", "id-2", "alice", Some("ext-a")))
            .await
            .unwrap(),
        ScimWrite::Done
    );
}

async fn concurrent_creates_of_one_name_store_exactly_one(store: &impl ScimUserStore) {
    let users: Vec<ScimUser> = (0..8)
        .map(|i| user("entra", &format!("id-{i}"), "same", None))
        .collect();
    let results = join_all(users.iter().map(|u| store.create_scim_user(u))).await;
    let done = results
        .into_iter()
        .filter(|r| *r.as_ref().unwrap() == ScimWrite::Done)
        .count();
    assert_eq!(done, 1);
    assert_eq!(store.scim_users("entra").await.unwrap().len(), 1);
}

contract!(
    a_created_user_is_read_found_and_listed,
    nothing_stored_reads_as_nothing,
    a_taken_user_name_or_external_id_is_refused_and_nothing_is_written,
    clients_do_not_see_each_others_users,
    users_are_listed_oldest_first,
    a_replace_needs_the_stored_version_and_moves_the_indexes,
    a_replace_cannot_take_another_users_name,
    a_delete_removes_the_user_and_frees_its_names,
    concurrent_creates_of_one_name_store_exactly_one,
);
