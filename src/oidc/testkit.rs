//! Test fixtures: keys generated once per test binary (RSA 2048, EC P-256,
//! Ed25519, with josekit on OpenSSL), and helpers that sign or encrypt any
//! header and claims, so that each rule can be broken on its own.

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::JweHeader;
use josekit::jwk::Jwk;
use josekit::jws::JwsSigner;
use serde_json::{Value, json};

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

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The published key that signs `alg`.
pub fn key_for(alg: JwsAlg) -> &'static Jwk {
    match alg {
        JwsAlg::Es256 => &KEYS.ec,
        JwsAlg::EdDsa => &KEYS.ed,
        _ => &KEYS.rsa,
    }
}

fn signer(alg: JwsAlg, key: &Jwk) -> Box<dyn JwsSigner> {
    use josekit::jws::{ES256, EdDSA, PS256, PS384, PS512, RS256, RS384, RS512};
    match alg {
        JwsAlg::Rs256 => Box::new(RS256.signer_from_jwk(key).unwrap()),
        JwsAlg::Rs384 => Box::new(RS384.signer_from_jwk(key).unwrap()),
        JwsAlg::Rs512 => Box::new(RS512.signer_from_jwk(key).unwrap()),
        JwsAlg::Ps256 => Box::new(PS256.signer_from_jwk(key).unwrap()),
        JwsAlg::Ps384 => Box::new(PS384.signer_from_jwk(key).unwrap()),
        JwsAlg::Ps512 => Box::new(PS512.signer_from_jwk(key).unwrap()),
        JwsAlg::Es256 => Box::new(ES256.signer_from_jwk(key).unwrap()),
        JwsAlg::EdDsa => Box::new(EdDSA.signer_from_jwk(key).unwrap()),
    }
}

/// A compact JWS of exactly `header` and `claims`, signed with `key`
/// using `alg`, whatever the header says.
pub fn sign_with(header: &Value, claims: &Value, alg: JwsAlg, key: &Jwk) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = signer(alg, key).sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(signature))
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
    use josekit::jwe::{ECDH_ES, ECDH_ES_A128KW, ECDH_ES_A256KW, RSA_OAEP, RSA_OAEP_256};
    let mut header = JweHeader::new();
    header.set_content_encryption(enc);
    header.set_content_type("JWT");
    for (name, value) in extra.as_object().unwrap() {
        let value = (!value.is_null()).then(|| value.clone());
        header.set_claim(name, value).unwrap();
    }
    let encrypter: Box<dyn josekit::jwe::JweEncrypter> = match alg {
        KeyManagementAlg::RsaOaep => {
            Box::new(RSA_OAEP.encrypter_from_jwk(&public(&KEYS.enc_rsa)).unwrap())
        }
        KeyManagementAlg::RsaOaep256 => Box::new(
            RSA_OAEP_256
                .encrypter_from_jwk(&public(&KEYS.enc_rsa))
                .unwrap(),
        ),
        KeyManagementAlg::EcdhEs => {
            Box::new(ECDH_ES.encrypter_from_jwk(&public(&KEYS.enc_ec)).unwrap())
        }
        KeyManagementAlg::EcdhEsA128Kw => Box::new(
            ECDH_ES_A128KW
                .encrypter_from_jwk(&public(&KEYS.enc_ec))
                .unwrap(),
        ),
        KeyManagementAlg::EcdhEsA256Kw => Box::new(
            ECDH_ES_A256KW
                .encrypter_from_jwk(&public(&KEYS.enc_ec))
                .unwrap(),
        ),
    };
    josekit::jwe::serialize_compact(nested.as_bytes(), &header, encrypter.as_ref()).unwrap()
}
