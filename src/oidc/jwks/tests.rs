//! Tests for [`super`]: each key type read, each unusable key skipped with
//! its reason, look-up rules, and property tests on hostile input.

use super::*;
use crate::oidc::testkit::{KEYS, b64, jwks_json, public};
use proptest::prelude::*;
use serde_json::json;

fn jwk(key: &Jwk) -> Value {
    Value::Object(public(key).into())
}

fn with(mut key: Value, patch: Value) -> Value {
    for (name, value) in patch.as_object().unwrap() {
        if value.is_null() {
            key.as_object_mut().unwrap().remove(name);
        } else {
            key[name] = value.clone();
        }
    }
    key
}

fn parse(keys: Vec<Value>) -> Result<KeySet, KeySetError> {
    KeySet::from_jwks(json!({ "keys": keys }).to_string().as_bytes())
}

#[test]
fn reads_rsa_ec_and_ed25519_keys_with_kid_and_alg() {
    let set = KeySet::from_jwks(jwks_json().as_bytes()).unwrap();
    assert_eq!(set.len(), 3);
    assert_eq!(
        set.kids().collect::<Vec<_>>(),
        [Some("rsa"), Some("ec"), Some("ed")]
    );
    assert!(set.skipped().is_empty());
    for alg in [JwsAlg::Rs256, JwsAlg::Ps512] {
        assert!(set.verifier(Some("rsa"), alg).is_ok(), "{alg}");
    }
    assert!(set.verifier(Some("ec"), JwsAlg::Es256).is_ok());
    assert!(set.verifier(Some("ed"), JwsAlg::EdDsa).is_ok());
    let debug = format!("{set:?}");
    assert!(
        debug.contains("Rsa") && !debug.contains(&KEYS.rsa.parameter("n").unwrap().to_string())
    );
}

#[test]
fn each_unusable_key_is_skipped_with_its_reason() {
    let rsa = jwk(&KEYS.rsa);
    let ec = jwk(&KEYS.ec);
    let cases = [
        (json!("not an object"), SkipReason::Malformed),
        (with(rsa.clone(), json!({"kid": 5})), SkipReason::Malformed),
        (with(rsa.clone(), json!({"kid": ""})), SkipReason::Malformed),
        (
            with(rsa.clone(), json!({"kty": null})),
            SkipReason::Malformed,
        ),
        (with(rsa.clone(), json!({"n": 5})), SkipReason::Malformed),
        (with(rsa.clone(), json!({"use": 1})), SkipReason::Malformed),
        (
            with(rsa.clone(), json!({"key_ops": "verify"})),
            SkipReason::Malformed,
        ),
        (
            with(rsa.clone(), json!({"use": "enc"})),
            SkipReason::NotForSignatures,
        ),
        (
            with(rsa.clone(), json!({"key_ops": ["encrypt"]})),
            SkipReason::NotForSignatures,
        ),
        (
            Value::Object(KEYS.rsa.as_ref().clone()),
            SkipReason::PrivateKeyMaterial,
        ),
        (
            json!({"kty": "oct", "k": "c2VjcmV0"}),
            SkipReason::PrivateKeyMaterial,
        ),
        (json!({"kty": "oct"}), SkipReason::UnsupportedKeyType),
        (json!({"kty": "RSA-PSS"}), SkipReason::UnsupportedKeyType),
        (
            with(ec.clone(), json!({"crv": "P-384"})),
            SkipReason::UnsupportedCurve,
        ),
        (
            json!({"kty": "OKP", "crv": "X25519", "x": b64([9; 32])}),
            SkipReason::UnsupportedCurve,
        ),
        (
            with(rsa.clone(), json!({"alg": "RSA-OAEP"})),
            SkipReason::UnsupportedAlg,
        ),
        (
            with(rsa.clone(), json!({"alg": "HS256"})),
            SkipReason::UnsupportedAlg,
        ),
        (
            with(rsa.clone(), json!({"alg": "ES256"})),
            SkipReason::UnsupportedAlg,
        ),
        (
            with(rsa.clone(), json!({"n": b64([0xc5; 128])})),
            SkipReason::RsaKeySize,
        ),
        (
            with(rsa.clone(), json!({"n": b64([0xc5; 1100])})),
            SkipReason::RsaKeySize,
        ),
        (
            with(ec.clone(), json!({"x": b64([0; 32]), "y": b64([0; 32])})),
            SkipReason::InvalidKey,
        ),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64([1; 5])}),
            SkipReason::InvalidKey,
        ),
    ];
    for (entry, reason) in cases {
        let set = parse(vec![entry.clone(), jwk(&KEYS.ed)]).unwrap();
        assert_eq!(set.len(), 1, "{entry}");
        assert_eq!(set.skipped().len(), 1, "{entry}");
        assert_eq!(set.skipped()[0].reason, reason, "{entry}");
        assert_eq!(set.skipped()[0].index, 0);
    }
}

#[test]
fn unrelated_members_do_not_spoil_a_key() {
    let rsa = with(
        jwk(&KEYS.rsa),
        json!({"x5c": ["not base64!"], "x5t": 5, "use": "sig", "key_ops": ["verify"]}),
    );
    let set = parse(vec![rsa]).unwrap();
    assert_eq!(set.len(), 1);
}

#[test]
fn a_duplicate_kid_of_the_same_kind_is_skipped_but_other_kinds_may_share_it() {
    let set = parse(vec![
        jwk(&KEYS.rsa),
        with(jwk(&KEYS.stranger), json!({"kid": "rsa"})),
        with(jwk(&KEYS.ec), json!({"kid": "rsa"})),
    ])
    .unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(set.skipped()[0].reason, SkipReason::DuplicateKid);
    assert_eq!(set.skipped()[0].kid.as_deref(), Some("rsa"));
    assert!(set.verifier(Some("rsa"), JwsAlg::Rs256).is_ok());
    assert!(set.verifier(Some("rsa"), JwsAlg::Es256).is_ok());
    assert_eq!(
        set.verifier(Some("rsa"), JwsAlg::EdDsa).err(),
        Some(KeyLookupError::AlgKeyMismatch)
    );
}

#[test]
fn lookup_rules() {
    let set = KeySet::from_jwks(jwks_json().as_bytes()).unwrap();
    assert_eq!(
        set.verifier(None, JwsAlg::Rs256).err(),
        Some(KeyLookupError::MissingKid)
    );
    assert_eq!(
        set.verifier(Some("x"), JwsAlg::Rs256).err(),
        Some(KeyLookupError::UnknownKid)
    );
    // The EC key's JWK pins ES256.
    assert_eq!(
        set.verifier(Some("ec"), JwsAlg::EdDsa).err(),
        Some(KeyLookupError::AlgKeyMismatch)
    );
    // A JWK `alg` pins the algorithm among those the key type allows.
    let pinned = parse(vec![with(jwk(&KEYS.rsa), json!({"alg": "PS256"}))]).unwrap();
    assert!(pinned.verifier(None, JwsAlg::Ps256).is_ok());
    assert_eq!(
        pinned.verifier(None, JwsAlg::Rs256).err(),
        Some(KeyLookupError::AlgKeyMismatch)
    );
    // A single key without `kid` serves tokens without `kid`, not with one.
    let single = parse(vec![with(jwk(&KEYS.ed), json!({"kid": null}))]).unwrap();
    assert!(single.verifier(None, JwsAlg::EdDsa).is_ok());
    assert_eq!(
        single.verifier(Some("ed"), JwsAlg::EdDsa).err(),
        Some(KeyLookupError::UnknownKid)
    );
}

#[test]
fn refuses_unusable_documents() {
    let cases: Vec<(Vec<u8>, KeySetError)> = vec![
        (
            vec![b' '; MAX_JWKS_BYTES + 1],
            KeySetError::TooLarge {
                max: MAX_JWKS_BYTES,
            },
        ),
        (b"not json".to_vec(), KeySetError::NotJson),
        (b"[]".to_vec(), KeySetError::NotJson),
        (
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            KeySetError::NotJson,
        ),
        (
            format!("{{\"keys\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            KeySetError::NotJson,
        ),
        (b"{}".to_vec(), KeySetError::NoKeysArray),
        (br#"{"keys":{}}"#.to_vec(), KeySetError::NoKeysArray),
        (br#"{"keys":[]}"#.to_vec(), KeySetError::NoUsableKeys),
        (
            br#"{"keys":[{"kty":"oct","k":"AA"}]}"#.to_vec(),
            KeySetError::NoUsableKeys,
        ),
        (
            json!({ "keys": vec![json!({}); MAX_KEYS + 1] })
                .to_string()
                .into_bytes(),
            KeySetError::TooManyKeys { max: MAX_KEYS },
        ),
    ];
    for (document, expected) in cases {
        assert_eq!(KeySet::from_jwks(&document).unwrap_err(), expected);
    }
}

#[test]
fn algorithm_names_round_trip() {
    for alg in JwsAlg::ALL {
        assert_eq!(JwsAlg::from_name(alg.name()), Some(alg));
    }
    assert_eq!(JwsAlg::from_name("none"), None);
    assert_eq!(JwsAlg::from_name("HS256"), None);
    assert_eq!(JwsAlg::from_name("rs256"), None);
}

proptest! {
    #[test]
    fn from_jwks_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = KeySet::from_jwks(&bytes);
    }

    #[test]
    fn from_jwks_never_panics_on_key_shaped_json(
        kty in prop::sample::select(vec!["RSA", "EC", "OKP", "oct", ""]),
        crv in prop::sample::select(vec!["P-256", "Ed25519", "X25519", "P-521"]),
        n in prop::collection::vec(any::<u8>(), 0..300),
        x in prop::collection::vec(any::<u8>(), 0..40),
        alg in prop::sample::select(vec!["RS256", "ES256", "EdDSA", "none", "HS256"]),
    ) {
        let key = json!({"kty": kty, "crv": crv, "n": b64(&n), "e": "AQAB", "x": b64(&x), "y": b64(&x), "alg": alg});
        let _ = parse(vec![key]);
    }
}
