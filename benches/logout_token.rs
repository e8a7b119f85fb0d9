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
use josekit::jwk::Jwk;
use josekit::jws::JwsSigner;
use revokd::domain::{Issuer, UnixTime};
use revokd::oidc::{BACKCHANNEL_LOGOUT_EVENT, KeySet, LogoutTokenPolicy, UnverifiedLogoutToken};
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.example/realms/home";
const NOW: i64 = 1_764_331_613;

fn public(jwk: &Jwk, kid: &str) -> Value {
    let mut public = jwk.to_public_key().expect("public key");
    public.set_key_id(kid);
    Value::Object(public.into())
}

fn sign(alg: &str, kid: &str, signer: &dyn JwsSigner) -> String {
    let header = json!({"alg": alg, "typ": "logout+jwt", "kid": kid});
    let claims = json!({
        "iss": ISSUER,
        "aud": "revokd",
        "iat": NOW - 5,
        "exp": NOW + 115,
        "jti": "bWJq",
        "sid": "08a5019c-17e1-4977-8f42-65a12843ea02",
        "sub": "248289761001",
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    });
    let b64 = |s: &[u8]| URL_SAFE_NO_PAD.encode(s);
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = signer.sign(input.as_bytes()).expect("sign");
    format!("{input}.{}", b64(&signature))
}

fn logout_token(c: &mut Criterion) {
    let rsa = Jwk::generate_rsa_key(2048).expect("rsa key");
    let ec = Jwk::generate_ec_key(josekit::jwk::P_256).expect("ec key");
    let ed = Jwk::generate_ed_key(josekit::jwk::Ed25519).expect("ed key");
    let jwks = json!({"keys": [public(&rsa, "rsa"), public(&ec, "ec"), public(&ed, "ed")]});
    let keys = KeySet::from_jwks(jwks.to_string().as_bytes()).expect("jwks");
    let policy =
        LogoutTokenPolicy::new(Issuer::parse(ISSUER).expect("issuer"), ["revokd"]).expect("policy");
    let now = UnixTime::from_secs(NOW);

    let tokens = [
        (
            "RS256",
            sign(
                "RS256",
                "rsa",
                &josekit::jws::RS256.signer_from_jwk(&rsa).expect("signer"),
            ),
        ),
        (
            "ES256",
            sign(
                "ES256",
                "ec",
                &josekit::jws::ES256.signer_from_jwk(&ec).expect("signer"),
            ),
        ),
        (
            "EdDSA",
            sign(
                "EdDSA",
                "ed",
                &josekit::jws::EdDSA.signer_from_jwk(&ed).expect("signer"),
            ),
        ),
    ];

    let mut group = c.benchmark_group("logout_token");
    group.measurement_time(Duration::from_secs(5));
    for (name, token) in &tokens {
        // Fail loudly rather than measure a fast rejection.
        UnverifiedLogoutToken::decode(token)
            .and_then(|t| t.verify(&policy, &keys, now))
            .expect("the benchmark token verifies");
        group.bench_function(*name, |b| {
            b.iter(|| {
                let token = UnverifiedLogoutToken::decode(black_box(token)).expect("decode");
                black_box(token.verify(&policy, &keys, now).expect("verify"))
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
        .verifier_from_jwk(&rsa.to_public_key().expect("public key"))
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
