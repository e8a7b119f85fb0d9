//! The forging identity provider (`common::forging_idp`, in process, forges
//! bad tokens on demand) works, proven against revokd's validation core
//! alone (no revokd server): its discovery and JWKS feed `KeySet` and
//! `LogoutTokenPolicy`, its default tokens verify for every
//! algorithm, each breaking method trips exactly the rule it means to break,
//! encrypted tokens open with the relying party's key, and the failure
//! controls (rotation, unpublished keys, 503, hostile bodies, delay, fetch
//! counting) do what they say.

use std::time::{Duration, Instant};

use crate::common::forging_idp::{
    ADVERTISED_ALGS, DEFAULT_CLIENT_ID, DEFAULT_LIFETIME_SECS, DEFAULT_SUB, TestIdp, jwe_header,
    jws_parts, unix_now,
};
use reqwest::StatusCode;
use revokd::domain::{Issuer, UnixTime};
use revokd::oidc::testkit::{Recipient, RelyingPartyKey};
use revokd::oidc::{
    BACKCHANNEL_LOGOUT_EVENT, DecryptionKey, JwsAlg, KeyKind, KeyManagementAlg, KeySet,
    KeySetError, LogoutTokenError, LogoutTokenPolicy, UnverifiedLogoutToken, VerifiedLogoutToken,
};
use serde_json::{Value, json};

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

async fn get_json(url: &str) -> Value {
    let response = get(url).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    response.json().await.expect("a JSON body")
}

/// What a relying party learns from discovery: the issuer and its algorithms.
async fn discover(idp: &TestIdp) -> (String, Vec<JwsAlg>, String) {
    let document = get_json(&idp.discovery_uri()).await;
    let issuer = document["issuer"].as_str().expect("issuer").to_owned();
    let algs = document["id_token_signing_alg_values_supported"]
        .as_array()
        .expect("algorithms")
        .iter()
        .map(|a| JwsAlg::from_name(a.as_str().expect("alg name")).expect("a known alg"))
        .collect();
    let jwks_uri = document["jwks_uri"].as_str().expect("jwks_uri").to_owned();
    (issuer, algs, jwks_uri)
}

/// The policy a relying party builds from discovery, for `idp.client_id()`.
async fn policy(idp: &TestIdp) -> LogoutTokenPolicy {
    let (issuer, algs, _) = discover(idp).await;
    LogoutTokenPolicy::new(Issuer::parse(issuer).unwrap(), [idp.client_id()])
        .unwrap()
        .with_allowed_algs(algs)
        .unwrap()
}

async fn key_set(idp: &TestIdp) -> KeySet {
    let response = get(&idp.jwks_uri()).await;
    assert_eq!(response.status(), StatusCode::OK);
    KeySet::from_jwks(&response.bytes().await.unwrap()).expect("a usable JWK Set")
}

fn verify(
    token: &str,
    policy: &LogoutTokenPolicy,
    keys: &KeySet,
) -> Result<VerifiedLogoutToken, LogoutTokenError> {
    UnverifiedLogoutToken::decode(token)?.verify(policy, keys, UnixTime::now())
}

/// The cases whose token is not refused with the expected error, each
/// described, so that one run shows every wrong case.
fn misjudged(
    cases: Vec<(&str, String, LogoutTokenError)>,
    policy: &LogoutTokenPolicy,
    keys: &KeySet,
) -> Vec<String> {
    cases
        .into_iter()
        .filter_map(|(case, token, expected)| {
            let got = verify(&token, policy, keys).err();
            (got.as_ref() != Some(&expected))
                .then(|| format!("{case}: expected {expected:?}, got {got:?}"))
        })
        .collect()
}

#[tokio::test]
async fn discovery_names_the_idp_and_the_jwks_holds_its_public_keys() {
    // Arrange
    let idp = TestIdp::start();

    // Act
    let document = get_json(&idp.discovery_uri()).await;
    let jwks = get_json(&idp.jwks_uri()).await;

    // Assert
    assert!(idp.issuer().starts_with("http://127.0.0.1:"), "{idp:?}");
    assert_eq!(document["issuer"], json!(idp.issuer()));
    assert_eq!(
        document["jwks_uri"],
        json!(format!("{}/jwks", idp.issuer()))
    );
    assert_eq!(document["jwks_uri"], json!(idp.jwks_uri()));
    assert_eq!(document["backchannel_logout_supported"], json!(true));
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA"])
    );
    assert_eq!(idp.client_id(), DEFAULT_CLIENT_ID);

    assert_eq!(jwks, idp.jwks());
    let keys = jwks["keys"].as_array().unwrap();
    let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, ["rsa-1", "ec-1", "ed-1"]);
    assert_eq!(kids, idp.published_kids());
    let ktys: Vec<(&Value, &Value)> = keys.iter().map(|k| (&k["kty"], &k["crv"])).collect();
    assert_eq!(
        ktys,
        [
            (&json!("RSA"), &Value::Null),
            (&json!("EC"), &json!("P-256")),
            (&json!("OKP"), &json!("Ed25519"))
        ]
    );
    for key in keys {
        assert_eq!(key["use"], json!("sig"), "{key}");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "{private} published in {key}");
        }
    }
    let set = KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap();
    assert_eq!(set.len(), 3);
    assert!(set.skipped().is_empty(), "{:?}", set.skipped());
    assert_eq!(base64url_len(&keys[0]["n"]), 256, "RSA-2048");
}

/// Length in bytes of a base64url member.
fn base64url_len(value: &Value) -> usize {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.as_str().unwrap())
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_default_token_verifies_for_every_algorithm() {
    // Arrange
    let idp = TestIdp::start();
    let policy = policy(&idp).await.with_explicit_typ_required(true);
    let keys = key_set(&idp).await;
    let every_alg = LogoutTokenPolicy::new(Issuer::parse(idp.issuer()).unwrap(), [idp.client_id()])
        .unwrap()
        .with_explicit_typ_required(true);

    for (alg, kind) in [
        (JwsAlg::Rs256, KeyKind::Rsa),
        (JwsAlg::Ps256, KeyKind::Rsa),
        (JwsAlg::Es256, KeyKind::EcP256),
        (JwsAlg::EdDsa, KeyKind::Ed25519),
    ] {
        assert!(ADVERTISED_ALGS.contains(&alg));
        // Act
        let before = unix_now();
        let token = idp.logout_token().alg(alg).sid("s1").sign();

        // Assert
        let verified = verify(&token, &policy, &keys).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified.iss().as_ref(), idp.issuer(), "{alg}");
        assert_eq!(verified.sub().unwrap().as_ref(), DEFAULT_SUB, "{alg}");
        assert_eq!(verified.sid().unwrap().as_ref(), "s1", "{alg}");
        assert!(!verified.was_encrypted());
        let iat = verified.iat().as_secs();
        assert!((before..=unix_now()).contains(&iat), "{alg}: iat {iat}");
        assert_eq!(
            verified.exp().unwrap().as_secs(),
            iat + DEFAULT_LIFETIME_SECS,
            "{alg}"
        );

        let (header, claims) = jws_parts(&token);
        assert_eq!(
            header,
            json!({"alg": alg.name(), "typ": "logout+jwt", "kid": idp.current_kid(kind)})
        );
        assert_eq!(claims["aud"], json!(DEFAULT_CLIENT_ID));
        assert_eq!(claims["events"], json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
        assert_eq!(claims["jti"].as_str(), Some(verified.jti().as_ref()));
    }

    // The RSA key also signs the algorithms discovery does not advertise.
    for alg in [JwsAlg::Rs384, JwsAlg::Rs512, JwsAlg::Ps384, JwsAlg::Ps512] {
        let token = idp.logout_token().alg(alg).sign();
        verify(&token, &every_alg, &keys).unwrap_or_else(|e| panic!("{alg}: {e}"));
    }

    // Without a choice: RS256 with the current RSA key, `sub` only.
    let token = idp.logout_token().sign();
    let (header, claims) = jws_parts(&token);
    assert_eq!(header["alg"], json!("RS256"));
    assert_eq!(header["kid"], json!("rsa-1"));
    assert!(claims.get("sid").is_none(), "{claims}");
    assert!(verify(&token, &policy, &keys).unwrap().sid().is_none());

    // Every token gets a fresh `jti`.
    let jtis: std::collections::BTreeSet<String> = (0..20)
        .map(|_| jws_parts(&idp.logout_token().sign()).1["jti"].to_string())
        .collect();
    assert_eq!(jtis.len(), 20);
}

#[tokio::test]
async fn each_breaking_method_trips_its_rule() {
    // Arrange
    let idp = TestIdp::start();
    let policy = policy(&idp).await;
    let keys = key_set(&idp).await;
    let now = unix_now();
    let unpublished = idp.add_key_not_published(KeyKind::Rsa);
    let token = || idp.logout_token().sid("s1");
    assert!(verify(&token().sign(), &policy, &keys).is_ok());

    let cases: Vec<(&str, String, LogoutTokenError)> = vec![
        (
            "unsigned",
            token().unsigned().sign(),
            LogoutTokenError::AlgNone,
        ),
        (
            "alg nOnE",
            token().unsigned().header("alg", "nOnE").sign(),
            LogoutTokenError::AlgNone,
        ),
        (
            "HS256 keyed with the RSA public key",
            token().hs256_with_public_key().sign(),
            LogoutTokenError::AlgSymmetric,
        ),
        (
            "HS256 keyed with a secret",
            token().hs256_with_secret(b"secret".to_vec()).sign(),
            LogoutTokenError::AlgSymmetric,
        ),
        (
            "corrupted RS256 signature",
            token().corrupt_signature().sign(),
            LogoutTokenError::BadSignature,
        ),
        (
            "corrupted EdDSA signature",
            token().alg(JwsAlg::EdDsa).corrupt_signature().sign(),
            LogoutTokenError::BadSignature,
        ),
        (
            "signed by an unpublished key",
            token().signing_key(&unpublished).sign(),
            LogoutTokenError::UnknownKid,
        ),
        (
            "unpublished key claiming a published kid",
            token()
                .signing_key(&unpublished)
                .header("kid", idp.current_kid(KeyKind::Rsa))
                .sign(),
            LogoutTokenError::BadSignature,
        ),
        (
            "no kid",
            token().without_header("kid").sign(),
            LogoutTokenError::MissingKid,
        ),
        (
            "ES256 key, header says RS256",
            token().alg(JwsAlg::Es256).header("alg", "RS256").sign(),
            LogoutTokenError::AlgKeyMismatch,
        ),
        (
            "RS384, not advertised",
            token().alg(JwsAlg::Rs384).sign(),
            LogoutTokenError::AlgNotAllowed,
        ),
        (
            "typ at+jwt",
            token().header("typ", "at+jwt").sign(),
            LogoutTokenError::UnsupportedType,
        ),
        (
            "crit",
            token().header("crit", json!(["exp"])).sign(),
            LogoutTokenError::UnsupportedCritical,
        ),
        (
            "another audience",
            token().aud("someone-else").sign(),
            LogoutTokenError::AudienceMismatch,
        ),
        (
            "an untrusted extra audience",
            token()
                .aud(json!([DEFAULT_CLIENT_ID, "someone-else"]))
                .sign(),
            LogoutTokenError::UntrustedAudience,
        ),
        (
            "another issuer",
            token().iss("https://evil.example").sign(),
            LogoutTokenError::IssuerMismatch,
        ),
        (
            "no iss",
            token().without_claim("iss").sign(),
            LogoutTokenError::IssuerMismatch,
        ),
        (
            "no jti",
            token().without_claim("jti").sign(),
            LogoutTokenError::MissingJti,
        ),
        (
            "nonce",
            token().claim("nonce", "n-0S6_WzA2Mj").sign(),
            LogoutTokenError::NonceForbidden,
        ),
        (
            "empty events",
            token().claim("events", json!({})).sign(),
            LogoutTokenError::BadEvents,
        ),
        (
            "event member not an object",
            token()
                .claim("events", json!({ BACKCHANNEL_LOGOUT_EVENT: true }))
                .sign(),
            LogoutTokenError::BadEvents,
        ),
        (
            "no sub, no sid",
            token().without_claim("sub").without_claim("sid").sign(),
            LogoutTokenError::MissingSubAndSid,
        ),
        (
            "sub a number",
            token().claim("sub", 5).sign(),
            LogoutTokenError::InvalidClaim { claim: "sub" },
        ),
        (
            "iat an hour ahead",
            token().iat(now + 3600).exp(now + 3700).sign(),
            LogoutTokenError::IssuedInFuture,
        ),
        (
            "iat an hour ago",
            token().iat(now - 3600).exp(now + 60).sign(),
            LogoutTokenError::TooOld,
        ),
        (
            "expired",
            token().iat(now - 200).exp(now - 100).sign(),
            LogoutTokenError::Expired,
        ),
        (
            "no iat",
            token().without_claim("iat").sign(),
            LogoutTokenError::MissingIat,
        ),
        (
            "no exp",
            token().without_claim("exp").sign(),
            LogoutTokenError::MissingExp,
        ),
    ];

    // Act
    let wrong = misjudged(cases, &policy, &keys);

    // Assert
    assert!(wrong.is_empty(), "{wrong:#?}");

    // Explicit typing refuses a token whose `typ` was removed.
    let explicit = self::policy(&idp).await.with_explicit_typ_required(true);
    let untyped = token().without_header("typ").sign();
    assert!(verify(&untyped, &policy, &keys).is_ok());
    assert_eq!(
        verify(&untyped, &explicit, &keys).err(),
        Some(LogoutTokenError::UnsupportedType)
    );
}

#[tokio::test]
async fn an_encrypted_token_opens_with_the_relying_party_key() {
    // Arrange
    let idp = TestIdp::start();
    let keys = key_set(&idp).await;
    let rp = RelyingPartyKey::rsa(Some("rp-enc-1"));
    let dir = tempfile::tempdir().unwrap();
    let pem_file = dir.path().join("decryption-key.pem");
    rp.write_private_pem(&pem_file);
    // As revokd's `decryption_key_file` loads it: PEM, no kid.
    let from_file = DecryptionKey::from_pem(
        KeyManagementAlg::RsaOaep256,
        &std::fs::read(&pem_file).unwrap(),
        None,
    )
    .expect("the written PEM is a usable RSA-OAEP-256 key");
    let policy = policy(&idp).await.with_decryption_key(from_file, true);
    let token = || idp.logout_token().sid("s-enc");

    // Act
    let jwe = token().encrypt_for(&rp, "RSA-OAEP-256", "A256GCM").sign();

    // Assert
    assert_eq!(jwe.split('.').count(), 5);
    assert_eq!(
        jwe_header(&jwe),
        json!({"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT", "kid": "rp-enc-1"})
    );
    let decoded = UnverifiedLogoutToken::decode(&jwe).unwrap();
    assert!(decoded.is_encrypted());
    let verified = decoded
        .verify(&policy, &keys, UnixTime::now())
        .expect("the encrypted token verifies");
    assert!(verified.was_encrypted());
    assert_eq!(verified.sid().unwrap().as_ref(), "s-enc");
    assert_eq!(
        verify(&token().sign(), &policy, &keys).err(),
        Some(LogoutTokenError::EncryptionRequired)
    );
    let plain_policy = self::policy(&idp).await;
    assert_eq!(
        verify(&jwe, &plain_policy, &keys).err(),
        Some(LogoutTokenError::NoDecryptionKey)
    );

    // ECDH-ES key wrap, CBC-HMAC content, encrypted to a PEM.
    let ec = RelyingPartyKey::ec_p256(None);
    let ec_policy = self::policy(&idp)
        .await
        .with_decryption_key(ec.decryption_key(KeyManagementAlg::EcdhEsA256Kw), true);
    let jwe = token()
        .encrypt_for(
            Recipient::pem(ec.public_pem()),
            "ECDH-ES+A256KW",
            "A128CBC-HS256",
        )
        .sign();
    assert!(jwe_header(&jwe).get("kid").is_none());
    assert!(jwe_header(&jwe).get("epk").is_some());
    assert!(verify(&jwe, &ec_policy, &keys).unwrap().was_encrypted());

    // Each JWE rule can be broken.
    let rsa_policy = self::policy(&idp)
        .await
        .with_decryption_key(rp.decryption_key(KeyManagementAlg::RsaOaep256), true);
    let other_rp = RelyingPartyKey::rsa(None);
    let cases: Vec<(&str, String, LogoutTokenError)> = vec![
        (
            "RSA-OAEP, not RSA-OAEP-256",
            token().encrypt_for(&rp, "RSA-OAEP", "A256GCM").sign(),
            LogoutTokenError::JweAlgNotAllowed,
        ),
        (
            "RSA1_5",
            token().encrypt_for(&rp, "RSA1_5", "A256GCM").sign(),
            LogoutTokenError::JweAlgNotAllowed,
        ),
        (
            "A192GCM",
            token().encrypt_for(&rp, "RSA-OAEP-256", "A192GCM").sign(),
            LogoutTokenError::JweEncNotAllowed,
        ),
        (
            "zip",
            token()
                .encrypt_for(&rp, "RSA-OAEP-256", "A256GCM")
                .jwe_header("zip", "DEF")
                .sign(),
            LogoutTokenError::JweCompressionForbidden,
        ),
        (
            "no cty",
            token()
                .encrypt_for(&rp, "RSA-OAEP-256", "A256GCM")
                .without_jwe_header("cty")
                .sign(),
            LogoutTokenError::JweNotNestedJwt,
        ),
        (
            "another kid",
            token()
                .encrypt_for(&rp, "RSA-OAEP-256", "A256GCM")
                .jwe_header("kid", "rp-enc-0")
                .sign(),
            LogoutTokenError::JweUnknownKid,
        ),
        (
            "encrypted to another key",
            token()
                .encrypt_for(&other_rp, "RSA-OAEP-256", "A256GCM")
                .sign(),
            LogoutTokenError::CannotDecrypt,
        ),
        (
            "a nested token with a bad claim",
            token()
                .aud("someone-else")
                .encrypt_for(&rp, "RSA-OAEP-256", "A256GCM")
                .sign(),
            LogoutTokenError::AudienceMismatch,
        ),
    ];
    let wrong = misjudged(cases, &rsa_policy, &keys);
    assert!(wrong.is_empty(), "{wrong:#?}");
    let no_kid = token()
        .encrypt_for(&rp, "RSA-OAEP-256", "A256GCM")
        .without_jwe_header("kid")
        .sign();
    assert!(jwe_header(&no_kid).get("kid").is_none());
    assert!(verify(&no_kid, &rsa_policy, &keys).is_ok());
}

#[tokio::test]
async fn rotation_replaces_the_published_keys() {
    // Arrange
    let idp = TestIdp::start();
    let policy = policy(&idp).await;
    let old_keys = key_set(&idp).await;
    let old_kid = idp.current_kid(KeyKind::Rsa);
    let old_token = idp.logout_token().sign();

    // Act
    idp.rotate();

    // Assert
    let new_keys = key_set(&idp).await;
    let old_kids: Vec<_> = old_keys.kids().map(|k| k.unwrap().to_owned()).collect();
    let new_kids: Vec<_> = new_keys.kids().map(|k| k.unwrap().to_owned()).collect();
    assert_eq!(new_kids.len(), 3);
    assert!(
        new_kids.iter().all(|k| !old_kids.contains(k)),
        "{old_kids:?} -> {new_kids:?}"
    );
    assert_eq!(new_kids, idp.published_kids());
    assert_ne!(idp.current_kid(KeyKind::Rsa), old_kid);

    let new_token = idp.logout_token().sign();
    assert!(verify(&new_token, &policy, &new_keys).is_ok());
    assert_eq!(
        verify(&new_token, &policy, &old_keys).err(),
        Some(LogoutTokenError::UnknownKid)
    );
    assert_eq!(
        verify(&old_token, &policy, &new_keys).err(),
        Some(LogoutTokenError::UnknownKid)
    );
    // A rotated-out key still signs when named.
    let late = idp.logout_token().signing_key(&old_kid).sign();
    assert_eq!(jws_parts(&late).0["kid"], json!(old_kid));
    assert!(verify(&late, &policy, &old_keys).is_ok());

    // Rotating while keeping the old keys publishes both generations.
    let before = idp.published_kids();
    idp.rotate_keeping_old();
    let both = key_set(&idp).await;
    assert_eq!(both.len(), 6);
    assert_eq!(idp.published_kids()[..3], before[..]);
    assert!(verify(&new_token, &policy, &both).is_ok());
    assert!(verify(&idp.logout_token().sign(), &policy, &both).is_ok());
}

#[tokio::test]
async fn an_unpublished_key_signs_until_it_is_published() {
    // Arrange
    let idp = TestIdp::start();
    let policy = policy(&idp).await;
    let kid = idp.add_key_not_published(KeyKind::EcP256);
    let token = idp.logout_token().signing_key(&kid).sign();
    assert_eq!(jws_parts(&token).0["alg"], json!("ES256"));
    let keys = key_set(&idp).await;
    assert!(!keys.kids().any(|k| k == Some(kid.as_str())));
    assert_eq!(
        verify(&token, &policy, &keys).err(),
        Some(LogoutTokenError::UnknownKid)
    );

    // Act
    idp.publish_key(&kid);

    // Assert
    let keys = key_set(&idp).await;
    assert!(keys.kids().any(|k| k == Some(kid.as_str())));
    assert!(verify(&token, &policy, &keys).is_ok());
    idp.unpublish_key(&kid);
    assert!(!idp.published_kids().contains(&kid));
}

#[tokio::test]
async fn down_answers_503_and_every_fetch_is_counted() {
    // Arrange
    let idp = TestIdp::start();
    assert_eq!(
        (idp.jwks_fetch_count(), idp.discovery_fetch_count()),
        (0, 0)
    );

    // Act
    idp.set_down(true);
    let discovery = get(&idp.discovery_uri()).await.status();
    let jwks = get(&idp.jwks_uri()).await.status();

    // Assert
    assert_eq!(discovery, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(jwks, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        (idp.jwks_fetch_count(), idp.discovery_fetch_count()),
        (1, 1)
    );

    idp.set_down(false);
    for _ in 0..3 {
        assert_eq!(get(&idp.jwks_uri()).await.status(), StatusCode::OK);
    }
    assert_eq!(get(&idp.discovery_uri()).await.status(), StatusCode::OK);
    assert_eq!(
        (idp.jwks_fetch_count(), idp.discovery_fetch_count()),
        (4, 2)
    );
}

#[tokio::test]
async fn hostile_bodies_are_served_verbatim_and_delay_delays() {
    // Arrange
    let idp = TestIdp::start();
    let hostile = br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;

    // Act
    idp.set_jwks_body(hostile.to_vec());
    idp.set_discovery_body("not json");

    // Assert
    let body = get(&idp.jwks_uri()).await.bytes().await.unwrap();
    assert_eq!(&body[..], hostile);
    assert_eq!(
        KeySet::from_jwks(&body).unwrap_err(),
        KeySetError::NoUsableKeys
    );
    let body = get(&idp.discovery_uri()).await.bytes().await.unwrap();
    assert_eq!(&body[..], b"not json");
    idp.clear_jwks_body();
    idp.clear_discovery_body();
    assert_eq!(key_set(&idp).await.len(), 3);
    assert_eq!(discover(&idp).await.0, idp.issuer());

    // Delay: a short client timeout gives up, a patient client waits.
    idp.set_delay(Duration::from_millis(400));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = impatient.get(idp.jwks_uri()).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let started = Instant::now();
    assert_eq!(get(&idp.discovery_uri()).await.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(400));
    idp.set_delay(Duration::ZERO);
    let started = Instant::now();
    get(&idp.jwks_uri()).await;
    assert!(started.elapsed() < Duration::from_millis(400));
}
