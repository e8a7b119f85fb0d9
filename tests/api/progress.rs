//! Progress of long work (issue 16 part 5): a mirror load logs how many
//! entries it read and at what rate. (`/readyz`'s detail while loading is
//! a unit test in src/mirror/sync.rs: a load on a real store is over
//! before a test can ask.)

use serde_json::json;
use tempfile::TempDir;

use crate::binary::{Process, base_url};
use crate::common::redis_server::RedisServer;
use crate::helpers::ADMIN_KEY;

#[tokio::test]
async fn the_mirror_load_logs_its_count_and_rate() {
    let dir = TempDir::new().unwrap();
    let server = RedisServer::start();
    let keys = format!(r#"[{{name="ops", role="admin", key="{ADMIN_KEY}"}}]"#);
    let url_env = server.url();
    let env = [
        ("REVOKD_STORE", "redis"),
        ("REVOKD_REDIS__URL", url_env.as_str()),
        ("REVOKD_KEYS", keys.as_str()),
    ];
    let client = reqwest::Client::new();
    {
        let (_writer, listening) = Process::start(dir.path(), &env);
        let url = base_url(&listening);
        for n in 0..3 {
            let status = client
                .post(format!("{url}/v1/admin/tokens/revoke"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"jti": format!("progress-{n}")}))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 200);
        }
    }

    let (mut process, _listening) = Process::start(dir.path(), &env);
    let loaded = process.wait_for_any("revocation mirror loaded");
    assert_eq!(loaded["entries"], 3, "{loaded}");
    let progress = loaded["progress"].as_str().unwrap();
    assert!(
        progress.starts_with("loading the revocation mirror: 3 entries, "),
        "{progress}"
    );
    assert!(progress.contains("/s, "), "{progress}");
}
