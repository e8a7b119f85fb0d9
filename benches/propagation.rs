//! Propagation between instances: how long after instance A acknowledged a
//! revocation instance B answers it as revoked. Driven by
//! `benches/check_load.sh`, which starts both on one Redis; not a criterion
//! bench (the interesting number is a latency distribution across
//! processes).
//!
//! PROPAGATION_A=http://… PROPAGATION_B=http://… ADMIN_KEY=… CLIENT_KEY=… \
//!     cargo bench --bench propagation

use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Ok(a) = std::env::var("PROPAGATION_A") else {
        eprintln!("propagation: PROPAGATION_A is not set; run benches/check_load.sh");
        return;
    };
    let b = std::env::var("PROPAGATION_B").expect("PROPAGATION_B");
    let admin = std::env::var("ADMIN_KEY").expect("ADMIN_KEY");
    let client_key = std::env::var("CLIENT_KEY").expect("CLIENT_KEY");
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(300);
    let http = reqwest::Client::new();
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let jti = format!("propagation-{run}-{i}");
        let response = http
            .post(format!("{a}/v1/admin/tokens/revoke"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({ "jti": jti }))
            .send()
            .await
            .expect("revoke on A");
        assert!(
            response.status().is_success(),
            "A refused: {}",
            response.status()
        );
        let acknowledged = Instant::now();
        loop {
            let answer: serde_json::Value = http
                .get(format!("{b}/v1/check"))
                .bearer_auth(&client_key)
                .query(&[("jti", &jti)])
                .send()
                .await
                .expect("check on B")
                .json()
                .await
                .expect("JSON");
            if answer["active"] == false {
                samples.push(acknowledged.elapsed());
                break;
            }
            assert!(
                acknowledged.elapsed() < Duration::from_secs(5),
                "B never saw {jti}"
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "propagation A -> B over {rounds} revocations: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
}
