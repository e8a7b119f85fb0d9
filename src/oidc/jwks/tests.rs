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

/// RS256/384/512 verify on the key prepared at load, not through josekit:
/// both must agree on every signature, genuine or near miss, and every
/// block with valid padding but the wrong `DigestInfo` is refused.
#[test]
fn prepared_rsa_keys_verify_exactly_what_josekit_verifies() {
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::{Padding, Rsa};
    use openssl::sign::Signer;
    let private = Rsa::generate(2048).unwrap();
    let key = json!({"kty": "RSA", "kid": "k", "n": b64(private.n().to_vec()), "e": b64(private.e().to_vec())});
    let set = parse(vec![key.clone()]).unwrap();
    let josekit_jwk = Jwk::from_map(key.as_object().unwrap().clone()).unwrap();
    let pkey = PKey::from_rsa(private.clone()).unwrap();
    let message = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0";
    let agree = |alg: JwsAlg, message: &[u8], signature: &[u8]| -> bool {
        let ours = set
            .verifier(Some("k"), alg)
            .unwrap()
            .verify(message, signature)
            .is_ok();
        let reference = alg
            .verifier(&josekit_jwk)
            .unwrap()
            .verify(message, signature)
            .is_ok();
        assert_eq!(ours, reference, "{alg} disagrees with josekit");
        ours
    };
    let rs = [
        (JwsAlg::Rs256, MessageDigest::sha256()),
        (JwsAlg::Rs384, MessageDigest::sha384()),
        (JwsAlg::Rs512, MessageDigest::sha512()),
    ];
    for (alg, digest) in rs {
        let signature = Signer::new(digest, &pkey)
            .unwrap()
            .sign_oneshot_to_vec(message)
            .unwrap();
        assert!(agree(alg, message, &signature), "{alg}");
        assert!(!agree(
            alg,
            b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiIn0",
            &signature
        ));
        for (other, _) in rs.iter().filter(|(a, _)| *a != alg) {
            assert!(!agree(*other, message, &signature), "{alg} as {other}");
        }
        for at in [0, 1, 100, 255] {
            let mut flipped = signature.clone();
            flipped[at] ^= 0x01;
            assert!(!agree(alg, message, &flipped), "{alg}, byte {at}");
        }
        let mut pss = Signer::new(digest, &pkey).unwrap();
        pss.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
        let pss = pss.sign_oneshot_to_vec(message).unwrap();
        assert!(!agree(alg, message, &pss), "{alg}: a PSS signature");
    }
    // Blocks made with the private key and no padding by OpenSSL: valid
    // type-1 padding around everything but the right `DigestInfo`.
    let raw = |block: Vec<u8>| {
        assert_eq!(block.len(), 256);
        let mut out = vec![0u8; 256];
        private
            .private_encrypt(&block, &mut out, Padding::NONE)
            .unwrap();
        out
    };
    let padded = |block_type: u8, content: &[u8]| {
        let mut block = vec![0x00, block_type];
        block.resize(256 - content.len() - 1, 0xff);
        block.push(0x00);
        block.extend_from_slice(content);
        block
    };
    let hash = openssl::sha::sha256(message);
    let info = |prefix: &[u8], hash: &[u8]| [prefix, hash].concat();
    let (sha256_prefix, _) = RsaPkcs1::digest_info(JwsAlg::Rs256).unwrap();
    assert!(agree(
        JwsAlg::Rs256,
        message,
        &raw(padded(1, &info(sha256_prefix, &hash)))
    ));
    let sha1_prefix: &[u8] = &[
        0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
    ];
    // The same OID without the NULL parameters (RFC 8017 §9.2, Note 2:
    // not accepted here, nor by OpenSSL's RSA_verify).
    let no_null: &[u8] = &[
        0x30, 0x2f, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x04, 0x20,
    ];
    let mut other_hash = hash;
    other_hash[31] ^= 1;
    let near_misses: Vec<(&str, Vec<u8>)> = vec![
        ("block type 2", padded(2, &info(sha256_prefix, &hash))),
        (
            "a trailing byte",
            padded(1, &[info(sha256_prefix, &hash), vec![0]].concat()),
        ),
        ("the hash alone", padded(1, &hash)),
        ("a SHA-1 prefix", padded(1, &info(sha1_prefix, &hash[..20]))),
        ("no NULL parameters", padded(1, &info(no_null, &hash))),
        ("another hash", padded(1, &info(sha256_prefix, &other_hash))),
        ("a short hash", padded(1, &info(sha256_prefix, &hash[..31]))),
    ];
    for (what, block) in near_misses {
        assert!(!agree(JwsAlg::Rs256, message, &raw(block)), "{what}");
    }
    // A signature no smaller than the modulus, or of another length.
    assert!(!agree(JwsAlg::Rs256, message, &private.n().to_vec()));
    assert!(!agree(JwsAlg::Rs256, message, &[0xff; 256]));
    assert!(!agree(JwsAlg::Rs256, message, &[0x01; 255]));
    assert!(!agree(JwsAlg::Rs256, message, &[0x01; 257]));
}
