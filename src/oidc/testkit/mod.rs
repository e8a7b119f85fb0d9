//! The one token-forging kit, shared by unit tests, integration tests
//! (`tests/common/forging_idp.rs`) and benches: compiled for this crate's
//! tests and, with the `testkit` cargo feature, for the others (the crate
//! dev-depends on itself with that feature). Never in a release build.
//!
//! - [`forge`]: JWS with exactly the header and claims given, signed
//!   properly, under HS256 with any secret, or not at all; JWE to any
//!   recipient; the relying party's decryption key pair.
//! - [`generations`]: a provider's signing keys over time (rotation,
//!   unpublished keys, the JWK Set they make).
//! - Here: fixed fixtures for the rule-by-rule unit tests: keys generated
//!   once per test binary (RSA 2048, EC P-256, Ed25519, with josekit on
//!   OpenSSL), claims that pass every rule at [`NOW`], and the policy
//!   they pass.

use std::sync::LazyLock;
use std::time::Duration;

use josekit::jwk::Jwk;
use serde_json::{Value, json};

pub mod forge;
pub mod generations;

pub use forge::{
    NESTED_JWT_CTY, Recipient, RelyingPartyKey, b64, corrupt_signature, encrypt_jwe, hs256_jws,
    sign_jws, unsigned_jws,
};
pub use generations::{KeyGenerations, SigningKey, default_alg, kind_for};

use super::decryption_key::{DecryptionKey, KeyManagementAlg};
use super::jwks::{JwsAlg, KeySet};
use super::logout_token::{BACKCHANNEL_LOGOUT_EVENT, LogoutTokenPolicy};
use crate::domain::{Issuer, UnixTime};

pub const ISSUER: &str = "https://idp.example/realms/home";
pub const CLIENT: &str = "revokd";
pub const NOW: i64 = 1_764_331_613;

pub fn now() -> UnixTime {
    UnixTime::from_secs(NOW)
}

pub struct TestKeys {
    /// Signs RS* and PS*; published without `alg`, as `kid` "rsa".
    pub rsa: Jwk,
    /// Published with `alg` "ES256", as `kid` "ec".
    pub ec: Jwk,
    /// Published without `alg`, as `kid` "ed".
    pub ed: Jwk,
    /// Not published: signatures by it must fail.
    pub stranger: Jwk,
    /// Our decryption keys.
    pub enc_rsa: Jwk,
    pub enc_ec: Jwk,
}

fn with_kid(mut jwk: Jwk, kid: &str) -> Jwk {
    jwk.set_key_id(kid);
    jwk
}

pub static KEYS: LazyLock<TestKeys> = LazyLock::new(|| {
    let mut ec = with_kid(Jwk::generate_ec_key(josekit::jwk::P_256).unwrap(), "ec");
    ec.set_algorithm("ES256");
    TestKeys {
        rsa: with_kid(Jwk::generate_rsa_key(2048).unwrap(), "rsa"),
        ec,
        ed: with_kid(Jwk::generate_ed_key(josekit::jwk::Ed25519).unwrap(), "ed"),
        stranger: with_kid(Jwk::generate_rsa_key(2048).unwrap(), "rsa"),
        enc_rsa: with_kid(Jwk::generate_rsa_key(2048).unwrap(), "enc-rsa"),
        enc_ec: with_kid(Jwk::generate_ec_key(josekit::jwk::P_256).unwrap(), "enc-ec"),
    }
});

/// The provider's published JWK Set: public halves of `rsa`, `ec`, `ed`.
pub fn jwks_json() -> String {
    let keys = &*KEYS;
    let public: Vec<Value> = [&keys.rsa, &keys.ec, &keys.ed]
        .into_iter()
        .map(|k| Value::Object(public(k).into()))
        .collect();
    json!({ "keys": public }).to_string()
}

/// The public half of `jwk`, keeping its `kid` and `alg`.
pub fn public(jwk: &Jwk) -> Jwk {
    let mut public = jwk.to_public_key().unwrap();
    if let Some(kid) = jwk.key_id() {
        public.set_key_id(kid);
    }
    if let Some(alg) = jwk.algorithm() {
        public.set_algorithm(alg);
    }
    public
}

pub static KEY_SET: LazyLock<KeySet> =
    LazyLock::new(|| KeySet::from_jwks(jwks_json().as_bytes()).unwrap());

/// The published key that signs `alg`.
pub fn key_for(alg: JwsAlg) -> &'static Jwk {
    match alg {
        JwsAlg::Es256 => &KEYS.ec,
        JwsAlg::EdDsa => &KEYS.ed,
        _ => &KEYS.rsa,
    }
}

/// A compact JWS of exactly `header` and `claims`, signed with `key`
/// using `alg`, whatever the header says.
pub fn sign_with(header: &Value, claims: &Value, alg: JwsAlg, key: &Jwk) -> String {
    sign_jws(header, claims, alg, key)
}

/// A compact JWS signed with the published key for `alg`.
pub fn sign(header: &Value, claims: &Value, alg: JwsAlg) -> String {
    sign_with(header, claims, alg, key_for(alg))
}

/// `{"alg", "typ": "logout+jwt", "kid"}` for the published key for `alg`.
pub fn header(alg: JwsAlg) -> Value {
    json!({
        "alg": alg.name(),
        "typ": "logout+jwt",
        "kid": key_for(alg).key_id().unwrap(),
    })
}

/// Claims that pass every rule at [`NOW`] under [`policy`].
pub fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": NOW - 5,
        "exp": NOW + 115,
        "jti": "bWJq",
        "sid": "08a5019c-17e1-4977-8f42-65a12843ea02",
        "sub": "248289761001",
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    })
}

/// `claims()` with `patch` applied: a `null` member removes that claim.
pub fn claims_with(patch: Value) -> Value {
    let mut claims = claims();
    let object = claims.as_object_mut().unwrap();
    for (name, value) in patch.as_object().unwrap() {
        if value.is_null() {
            object.remove(name);
        } else {
            object.insert(name.clone(), value.clone());
        }
    }
    claims
}

/// A valid RS256 logout token with `claims`.
pub fn token(claims: &Value) -> String {
    sign(&header(JwsAlg::Rs256), claims, JwsAlg::Rs256)
}

pub fn policy() -> LogoutTokenPolicy {
    LogoutTokenPolicy::new(Issuer::parse(ISSUER).unwrap(), [CLIENT])
        .unwrap()
        .with_clock_skew(Duration::from_secs(60))
        .with_max_age(Duration::from_secs(300))
}

pub fn decryption_key(alg: KeyManagementAlg) -> DecryptionKey {
    let jwk = match alg {
        KeyManagementAlg::RsaOaep | KeyManagementAlg::RsaOaep256 => &KEYS.enc_rsa,
        _ => &KEYS.enc_ec,
    };
    DecryptionKey::from_jwk(alg, jwk.to_string().as_bytes()).unwrap()
}

/// Encrypts `nested` to our key for `alg` with content encryption `enc`;
/// `extra` header members are added (a `null` one is removed, `cty`
/// defaults to "JWT").
pub fn encrypt(nested: &str, alg: KeyManagementAlg, enc: &str, extra: Value) -> String {
    let recipient = match alg {
        KeyManagementAlg::RsaOaep | KeyManagementAlg::RsaOaep256 => public(&KEYS.enc_rsa),
        _ => public(&KEYS.enc_ec),
    };
    let edits = extra
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| (name.as_str(), (!value.is_null()).then(|| value.clone())));
    encrypt_jwe(nested, &recipient.into(), alg.name(), enc, edits)
}
