//! SCIM users (issue 15 part 3): the same contract on both stores —
//! create, read, find by each unique attribute, list in pages (ordered,
//! counted, bounded), replace as a compare-and-swap on the version,
//! uniqueness within one client only, delete with its index entries.

use crate::fixtures::*;

use revokd::store::{SCIM_PAGE_MAX, ScimUnique, ScimUser, ScimUserPage, ScimUserStore, ScimWrite};

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

/// The first page of `client`'s users, as big as a page may be.
async fn listed(store: &impl ScimUserStore, client: &str) -> Vec<ScimUser> {
    store
        .scim_users_page(client, 0, SCIM_PAGE_MAX)
        .await
        .unwrap()
        .users
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
    assert_eq!(listed(store, "entra").await, vec![alice]);
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
    assert_eq!(listed(store, "entra").await, Vec::new());
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
    assert_eq!(listed(store, "entra").await.len(), 1);
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
    assert_eq!(listed(store, "entra").await, vec![a.clone()]);
    assert_eq!(listed(store, "okta").await, vec![b.clone()]);
    // A client name that is a prefix of another's.
    assert_eq!(listed(store, "ent").await, Vec::new());
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
    assert_eq!(listed(store, "entra").await, vec![a, b, c]);
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
    assert_eq!(listed(store, "entra").await, Vec::new());
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
    assert_eq!(listed(store, "entra").await.len(), 1);
}

/// A user of `client` created at `created` seconds.
fn user_at(client: &str, id: &str, created: i64) -> ScimUser {
    let mut u = user(
        client,
        id,
        &format!("name-{id}"),
        Some(&format!("ext-{id}")),
    );
    u.created = UnixTime::from_secs(created);
    u
}

fn ids(page: &ScimUserPage) -> Vec<&str> {
    page.users.iter().map(|u| u.id.as_str()).collect()
}

async fn pages_follow_creation_then_id_and_count_every_user(store: &impl ScimUserStore) {
    // Created out of order; "b" and "c" share an instant, so the id decides.
    for (id, created) in [("e", 50), ("c", 20), ("a", 30), ("b", 20), ("d", 40)] {
        store
            .create_scim_user(&user_at("entra", id, created))
            .await
            .unwrap();
    }

    let first = store.scim_users_page("entra", 0, 2).await.unwrap();
    let second = store.scim_users_page("entra", 2, 2).await.unwrap();
    let last = store.scim_users_page("entra", 4, 2).await.unwrap();
    assert_eq!((first.total, ids(&first)), (5, vec!["b", "c"]));
    assert_eq!((second.total, ids(&second)), (5, vec!["a", "d"]));
    assert_eq!((last.total, ids(&last)), (5, vec!["e"]));
    assert_eq!(first.users[0], user_at("entra", "b", 20), "whole records");

    // Past the end, and a count of 0: the total alone.
    for (offset, count) in [(5, 2), (1_000_000, 2), (0, 0)] {
        let page = store.scim_users_page("entra", offset, count).await.unwrap();
        assert_eq!(
            page,
            ScimUserPage {
                total: 5,
                users: Vec::new()
            },
            "offset {offset}, count {count}"
        );
    }
}

async fn a_page_holds_at_most_the_page_bound(store: &impl ScimUserStore) {
    let n = SCIM_PAGE_MAX + 3;
    for i in 0..n {
        store
            .create_scim_user(&user_at("entra", &format!("id-{i:04}"), 100))
            .await
            .unwrap();
    }
    let page = store.scim_users_page("entra", 0, usize::MAX).await.unwrap();
    assert_eq!(page.total, n as u64);
    assert_eq!(page.users.len(), SCIM_PAGE_MAX);
    let rest = store
        .scim_users_page("entra", SCIM_PAGE_MAX, SCIM_PAGE_MAX)
        .await
        .unwrap();
    assert_eq!(ids(&rest), vec!["id-0100", "id-0101", "id-0102"]);
}

async fn a_deleted_user_leaves_the_pages_and_the_total(store: &impl ScimUserStore) {
    for (id, created) in [("a", 1), ("b", 2), ("c", 3)] {
        store
            .create_scim_user(&user_at("entra", id, created))
            .await
            .unwrap();
    }
    store.delete_scim_user("entra", "b").await.unwrap().unwrap();
    let page = store.scim_users_page("entra", 0, 10).await.unwrap();
    assert_eq!((page.total, ids(&page)), (2, vec!["a", "c"]));
    let second = store.scim_users_page("entra", 1, 10).await.unwrap();
    assert_eq!(ids(&second), vec!["c"], "offsets count the remaining users");

    // Deleting what is not there changes no count.
    assert_eq!(store.delete_scim_user("entra", "b").await.unwrap(), None);
    for id in ["a", "c"] {
        store.delete_scim_user("entra", id).await.unwrap().unwrap();
    }
    assert_eq!(
        store.scim_users_page("entra", 0, 10).await.unwrap(),
        ScimUserPage {
            total: 0,
            users: Vec::new()
        }
    );
    // A new user after all were deleted is counted from zero.
    store
        .create_scim_user(&user_at("entra", "d", 4))
        .await
        .unwrap();
    let page = store.scim_users_page("entra", 0, 10).await.unwrap();
    assert_eq!((page.total, ids(&page)), (1, vec!["d"]));
}

async fn a_replace_keeps_the_place_and_the_total(store: &impl ScimUserStore) {
    for (id, created) in [("a", 1), ("b", 2), ("c", 3)] {
        store
            .create_scim_user(&user_at("entra", id, created))
            .await
            .unwrap();
    }
    let mut b = user_at("entra", "b", 2);
    b.active = false;
    b.user_name = "renamed".into();
    b.version = 2;
    assert_eq!(
        store.replace_scim_user(&b, 1).await.unwrap(),
        ScimWrite::Done
    );
    // A refused replace changes nothing either.
    assert_eq!(
        store.replace_scim_user(&b, 1).await.unwrap(),
        ScimWrite::VersionMismatch
    );
    let page = store.scim_users_page("entra", 0, 10).await.unwrap();
    assert_eq!((page.total, ids(&page)), (3, vec!["a", "b", "c"]));
    assert_eq!(page.users[1], b, "the page holds the replaced record");
}

async fn another_clients_users_are_neither_listed_nor_counted(store: &impl ScimUserStore) {
    // "ent" is a prefix of "entra", "entra-b" extends it.
    for (client, id, created) in [
        ("entra", "a", 1),
        ("ent", "b", 0),
        ("entra-b", "c", 0),
        ("okta", "d", 0),
        ("entra", "e", 2),
        ("entra-b", "f", 3),
    ] {
        store
            .create_scim_user(&user_at(client, id, created))
            .await
            .unwrap();
    }
    let entra = store.scim_users_page("entra", 0, 10).await.unwrap();
    assert_eq!((entra.total, ids(&entra)), (2, vec!["a", "e"]));
    assert!(entra.users.iter().all(|u| u.client == "entra"));
    let ent = store.scim_users_page("ent", 0, 10).await.unwrap();
    assert_eq!((ent.total, ids(&ent)), (1, vec!["b"]));
    let entra_b = store.scim_users_page("entra-b", 0, 10).await.unwrap();
    assert_eq!((entra_b.total, ids(&entra_b)), (2, vec!["c", "f"]));
    // The second page of a client never runs into the next client's users.
    let tail = store.scim_users_page("entra", 1, 10).await.unwrap();
    assert_eq!(ids(&tail), vec!["e"]);
    let none = store.scim_users_page("azure", 0, 10).await.unwrap();
    assert_eq!(
        none,
        ScimUserPage {
            total: 0,
            users: Vec::new()
        }
    );
    // A delete of one client's user leaves the other's count alone.
    store.delete_scim_user("okta", "d").await.unwrap().unwrap();
    assert_eq!(store.scim_users_page("entra", 0, 0).await.unwrap().total, 2);
    assert_eq!(store.scim_users_page("okta", 0, 0).await.unwrap().total, 0);
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
    pages_follow_creation_then_id_and_count_every_user,
    a_page_holds_at_most_the_page_bound,
    a_deleted_user_leaves_the_pages_and_the_total,
    a_replace_keeps_the_place_and_the_total,
    another_clients_users_are_neither_listed_nor_counted,
);
