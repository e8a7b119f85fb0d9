//! Facts, events and registrations survive a restart and a crash.

use super::*;

#[tokio::test]
async fn registrations_and_seen_markers_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let seen = SeenKey {
        iss: Issuer::parse(ISS).unwrap(),
        jti: jti("logout-1"),
        expires_at: t(500),
    };
    {
        let store = open(dir.path());
        store
            .register_session(&registration("s1", &["t1"], 500), admin(), t(100))
            .await
            .unwrap();
        store
            .apply_once(&seen, session_revoked("s1", 500), admin(), t(100))
            .await
            .unwrap();
    }

    let store = open(dir.path());

    let bound = token_facts(&store, "t1", 150).await.bound.unwrap();
    assert!(bound.session_revoked);
    assert_eq!(bound.registered_at, t(100));
    assert_eq!(
        store
            .apply_once(&seen, session_revoked("s1", 500), admin(), t(150))
            .await
            .unwrap(),
        None
    );
}

// --- durability ----------------------------------------------------------

#[tokio::test]
async fn facts_and_events_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let written = {
        let store = open(dir.path());
        apply(&store, token_revoked("t1", 500), 100).await;
        apply(&store, session_revoked("s1", 500), 100).await;
        apply(&store, disabled("alice", None), 100).await;
        store
            .events(&EventPage {
                before: None,
                limit: 10,
            })
            .await
            .unwrap()
    };

    let store = open(dir.path());

    assert!(token_facts(&store, "t1", 150).await.token_revoked);
    assert!(session_facts(&store, "s1", 150).await.session_revoked);
    let alice = subject_facts(&store, "alice", 150).await;
    assert!(alice.subject_disabled);
    assert_eq!(
        store
            .events(&EventPage {
                before: None,
                limit: 10
            })
            .await
            .unwrap(),
        written
    );
    assert_eq!(apply(&store, enabled("alice"), 200).await.id.0, "4");
}

/// The environment variable that turns [`crash_child`] on.
const CRASH_DIR: &str = "REVOKD_EMBEDDED_CRASH_DIR";

/// Not a test by itself: [`an_acknowledged_apply_survives_a_crash`] runs
/// it in a child process, which applies one change and then aborts
/// without running any destructor, as `kill -9` would.
#[tokio::test]
#[ignore = "run by an_acknowledged_apply_survives_a_crash in a child process"]
async fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR) else {
        return;
    };
    let store = open(Path::new(&dir));
    apply(&store, token_revoked("crash", 500), 100).await;
    std::process::abort();
}

#[tokio::test]
async fn an_acknowledged_apply_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let test_name = module_path!()
        .split_once("::")
        .map_or("", |(_, rest)| rest)
        .to_owned()
        + "::crash_child";

    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            test_name.as_str(),
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DIR, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();

    assert!(
        !status.success(),
        "the child should have aborted after applying"
    );
    let store = open(dir.path());
    assert!(token_facts(&store, "crash", 150).await.token_revoked);
    assert_eq!(event_ids(&store, None, 10).await, ["1"]);
}
