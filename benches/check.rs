//! The in-process cost of one check: the decision, and reading a JWT's
//! claims for `POST /v1/check {"token"}`, each beside a baseline measured in
//! the same run (one `HashSet` probe; `serde_json` parsing the same claims).
//!
//! cargo bench --bench check

use std::collections::HashSet;
use std::hint::black_box;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use revokd::domain::{
    CheckRequest, Facts, Issuer, SessionId, SubjectId, TokenId, UnixTime, decide,
};
use revokd::jwt::check_request_from_jwt;

fn decision(c: &mut Criterion) {
    let request = CheckRequest::new(
        Some(Issuer::parse("https://auth.example.com/application/o/home-assistant/").unwrap()),
        Some(TokenId::parse("0b5e7cf4c2a64d7f9a1e3b5c7d9f1a3b").unwrap()),
        Some(SessionId::parse("f3a1c9e7b5d3f1a9c7e5b3d1f9a7c5e3").unwrap()),
        Some(SubjectId::parse("alice").unwrap()),
        Some(UnixTime::from_secs(1_764_331_613)),
    )
    .unwrap();
    let facts = Facts {
        subject_revoked_before: Some(UnixTime::from_secs(1_764_000_000)),
        ..Facts::default()
    };
    let set: HashSet<String> = (0..1000).map(|i| format!("token-{i}")).collect();
    let probe = "0b5e7cf4c2a64d7f9a1e3b5c7d9f1a3b".to_owned();

    let mut group = c.benchmark_group("decision");
    group.bench_function("baseline: one HashSet<String> probe", |b| {
        b.iter(|| black_box(&set).contains(black_box(&probe)))
    });
    group.bench_function("decide (all four facts)", |b| {
        b.iter(|| decide(black_box(&request), black_box(&facts)))
    });
    group.finish();
}

fn jwt_claims(c: &mut Criterion) {
    let claims = serde_json::json!({
        "iss": "https://auth.example.com/application/o/home-assistant/", "sub": "alice",
        "aud": "home-assistant", "exp": 1_764_335_213, "iat": 1_764_331_613,
        "jti": "0b5e7cf4c2a64d7f9a1e3b5c7d9f1a3b", "sid": "f3a1c9e7b5d3f1a9c7e5b3d1f9a7c5e3",
        "email": "alice@example.com", "groups": ["home", "admins"]
    })
    .to_string();
    let token = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(&claims),
        URL_SAFE_NO_PAD.encode([7u8; 256])
    );

    let mut group = c.benchmark_group("jwt claims");
    group.bench_function("baseline: serde_json::Value from the claims", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&claims)).unwrap())
    });
    group.bench_function("check_request_from_jwt", |b| {
        b.iter(|| check_request_from_jwt(black_box(&token)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, decision, jwt_claims);
criterion_main!(benches);
