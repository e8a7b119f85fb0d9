//! The `/v1/forward-auth` token work done in-process, for
//! `benches/check_load.sh`: reading a token under a profile and, for the
//! `jwt` profile, verifying its signature, exactly as the gate does it for
//! a request (`Gate::identify`), on one thread, without HTTP.
//!
//! The load script reports the HTTP rate of forward-auth as a ratio to this
//! rate, so that the signature check (real work: an RS256 verification
//! costs more than the whole of a bare check request) is shown apart from
//! what the HTTP path adds.
//!
//! Run: `cargo bench --bench gate_verify -- <config.toml> <profile> <tokens file>`
//! (profile `jwt` or `home-assistant`; one token per line). Prints one line:
//! `<profile> <ns per token> <tokens per second>`.

use std::time::{Duration, Instant};

use revokd::config::Settings;
use revokd::domain::UnixTime;
use revokd::gateway::{Gate, ProfileKind};
use revokd::providers::Providers;

fn main() {
    // `cargo bench` adds `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [config, profile, tokens] = args.as_slice() else {
        eprintln!("usage: gate_verify <config.toml> <jwt|home-assistant> <tokens file>");
        std::process::exit(2);
    };
    let settings = Settings::load(Some(config.as_ref())).expect("configuration");
    let providers =
        Providers::from_settings(&settings.providers, &settings.backchannel).expect("providers");
    let gate = Gate::new(&settings.forward_auth, &providers).expect("gate");
    let kind = match profile.as_str() {
        "jwt" => ProfileKind::Jwt,
        "home-assistant" => ProfileKind::HomeAssistant,
        other => panic!("unknown profile {other}"),
    };
    let tokens: Vec<String> = std::fs::read_to_string(tokens)
        .expect("tokens file")
        .lines()
        .map(str::to_owned)
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (done, elapsed) = runtime.block_on(async {
        let now = UnixTime::now();
        for token in &tokens {
            let identified = gate
                .identify(kind, token, now)
                .await
                .expect("a valid token");
            assert_eq!(identified.verified, kind == ProfileKind::Jwt);
        }
        let started = Instant::now();
        let mut done = 0u64;
        while started.elapsed() < Duration::from_secs(2) {
            for token in &tokens {
                std::hint::black_box(gate.identify(kind, token, now).await.ok());
            }
            done += tokens.len() as u64;
        }
        (done, started.elapsed())
    });
    let ns = elapsed.as_nanos() as f64 / done as f64;
    println!("{profile} {ns:.0} {:.0}", 1e9 / ns);
}
