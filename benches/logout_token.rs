//! Full logout-token validation (`decode` + `verify`) per signature
//! algorithm, keys preloaded, as the back-channel logout endpoint runs it.
//! Signature verification speed is an attack surface: anyone can POST
//! tokens. `benches/logout_token_ratio.sh` compares the RS256 rate with
//! `openssl speed rsa2048`.
//!
//! Run: `cargo bench --bench logout_token` (filter e.g. `-- RS256`).

use std::hint::black_box;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use revokd::oidc::testkit::{KEY_SET, KEYS, claims, header, now, policy, sign};
use revokd::oidc::{JwsAlg, UnverifiedLogoutToken};

/// Tokens and keys from the crate's forging kit (`revokd::oidc::testkit`),
/// the ones the unit tests verify.
fn logout_token(c: &mut Criterion) {
    let keys = &*KEY_SET;
    let policy = policy();
    let now = now();
    let tokens = [
        ("RS256", JwsAlg::Rs256),
        ("ES256", JwsAlg::Es256),
        ("EdDSA", JwsAlg::EdDsa),
    ]
    .map(|(name, alg)| (name, sign(&header(alg), &claims(), alg)));

    let mut group = c.benchmark_group("logout_token");
    group.measurement_time(Duration::from_secs(5));
    for (name, token) in &tokens {
        // Fail loudly rather than measure a fast rejection.
        UnverifiedLogoutToken::decode(token)
            .and_then(|t| t.verify(&policy, keys, now))
            .expect("the benchmark token verifies");
        group.bench_function(*name, |b| {
            b.iter(|| {
                let token = UnverifiedLogoutToken::decode(black_box(token)).expect("decode");
                black_box(token.verify(&policy, keys, now).expect("verify"))
            })
        });
    }
    // Where the time goes, for RS256: parsing alone, and the signature
    // check alone through the same josekit/OpenSSL call `verify` makes.
    let (_, rs256) = &tokens[0];
    group.bench_function("RS256 decode only", |b| {
        b.iter(|| UnverifiedLogoutToken::decode(black_box(rs256)).expect("decode"))
    });
    let verifier = josekit::jws::RS256
        .verifier_from_jwk(&KEYS.rsa.to_public_key().expect("public key"))
        .expect("verifier");
    let (input, signature) = rs256.rsplit_once('.').expect("three parts");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64");
    group.bench_function("RS256 signature only", |b| {
        b.iter(|| {
            josekit::jws::JwsVerifier::verify(&verifier, black_box(input.as_bytes()), &signature)
                .expect("signature")
        })
    });
    group.finish();
}

criterion_group!(benches, logout_token);
criterion_main!(benches);
