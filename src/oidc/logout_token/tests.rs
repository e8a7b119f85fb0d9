//! Tests for [`super`]: a happy path per algorithm and key-management
//! algorithm, one test per rule that breaks exactly that rule, time
//! boundaries at `now ± skew`, and property tests.

use super::*;
use crate::oidc::KeyManagementAlg;
use crate::oidc::json::{JsonPart, decode_json_object};
use crate::oidc::testkit::{
    self, CLIENT, ISSUER, KEY_SET, KEYS, NOW, b64, claims, claims_with, header, now, policy, sign,
    sign_with, token,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::json;

fn verify(token: &str) -> Result<VerifiedLogoutToken, LogoutTokenError> {
    verify_with(token, &policy())
}

fn verify_with(
    token: &str,
    policy: &LogoutTokenPolicy,
) -> Result<VerifiedLogoutToken, LogoutTokenError> {
    UnverifiedLogoutToken::decode(token)?.verify(policy, &KEY_SET, now())
}

/// A token signed by the published RS256 key with `header` as given.
fn with_header(header: Value) -> String {
    sign(&header, &claims(), JwsAlg::Rs256)
}

fn rs256_header_with(patch: Value) -> Value {
    let mut header = header(JwsAlg::Rs256);
    for (name, value) in patch.as_object().unwrap() {
        if value.is_null() {
            header.as_object_mut().unwrap().remove(name);
        } else {
            header[name] = value.clone();
        }
    }
    header
}

// ---- happy paths -------------------------------------------------

#[test]
fn a_valid_token_verifies_for_every_algorithm() {
    for alg in JwsAlg::ALL {
        let token = sign(&header(alg), &claims(), alg);
        let verified = verify(&token).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified.iss().as_ref(), ISSUER, "{alg}");
        assert_eq!(verified.jti().as_ref(), "bWJq");
        assert_eq!(verified.sub().unwrap().as_ref(), "248289761001");
        assert_eq!(
            verified.sid().unwrap().as_ref(),
            "08a5019c-17e1-4977-8f42-65a12843ea02"
        );
        assert_eq!(verified.iat(), UnixTime::from_secs(NOW - 5));
        assert_eq!(verified.exp(), Some(UnixTime::from_secs(NOW + 115)));
        assert!(!verified.was_encrypted());
    }
}

#[test]
fn decode_exposes_only_routing_data() {
    let token = UnverifiedLogoutToken::decode(&token(&claims())).unwrap();
    assert_eq!(token.issuer_hint(), Some(ISSUER));
    assert_eq!(token.kid(), Some("rsa"));
    assert_eq!(token.alg(), Some("RS256"));
    assert!(!token.is_encrypted());
    let debug = format!("{token:?}");
    assert!(
        !debug.contains("bWJq") && !debug.contains("248289761001"),
        "{debug}"
    );
}

#[test]
fn sub_alone_or_sid_alone_is_enough() {
    let only_sub = verify(&token(&claims_with(json!({"sid": null})))).unwrap();
    assert!(only_sub.sid().is_none() && only_sub.session().is_none());
    assert_eq!(only_sub.subject().unwrap().sub.as_ref(), "248289761001");
    let only_sid = verify(&token(&claims_with(json!({"sub": null})))).unwrap();
    assert!(only_sid.sub().is_none());
    assert_eq!(only_sid.session().unwrap().iss.as_ref(), ISSUER);
}

#[test]
fn a_sid_ends_its_session_and_a_sub_alone_every_token_until_now() {
    let session_until = UnixTime::from_secs(NOW + 10);
    let mark_until = UnixTime::from_secs(NOW + 20);
    let both = verify(&token(&claims())).unwrap();
    assert_eq!(
        both.change(now(), session_until, mark_until),
        Ok(Change::SessionRevoked {
            session: both.session().unwrap(),
            expires_at: session_until,
        })
    );
    let only_sid = verify(&token(&claims_with(json!({"sub": null})))).unwrap();
    assert_eq!(
        only_sid.change(now(), session_until, mark_until),
        Ok(Change::SessionRevoked {
            session: only_sid.session().unwrap(),
            expires_at: session_until,
        })
    );
    let only_sub = verify(&token(&claims_with(json!({"sid": null})))).unwrap();
    assert_eq!(
        only_sub.change(now(), session_until, mark_until),
        Ok(Change::SubjectRevokedBefore {
            subject: only_sub.subject().unwrap(),
            before: now(),
            expires_at: mark_until,
        })
    );
}

#[test]
fn accepted_typ_values() {
    for typ in [
        json!("logout+jwt"),
        json!("Logout+JWT"),
        json!("application/logout+jwt"),
        json!("JWT"),
        json!("jwt"),
        json!("application/JWT"),
        Value::Null, // absent
    ] {
        let token = with_header(rs256_header_with(json!({ "typ": typ })));
        assert!(verify(&token).is_ok(), "typ {typ}");
    }
    let explicit = policy().with_explicit_typ_required(true);
    assert!(verify_with(&token(&claims()), &explicit).is_ok());
}

#[test]
fn aud_may_be_an_array_with_trusted_audiences() {
    let token = token(&claims_with(json!({"aud": ["other-app", CLIENT]})));
    let policy = policy().with_trusted_audiences(["other-app"]).unwrap();
    assert!(verify_with(&token, &policy).is_ok());
    let policy = LogoutTokenPolicy::new(Issuer::parse(ISSUER).unwrap(), ["x", CLIENT]).unwrap();
    assert!(verify_with(&super::tests::token(&claims()), &policy).is_ok());
}

#[test]
fn unknown_claims_and_extra_events_are_ignored() {
    let token = token(&claims_with(json!({
        "events": { BACKCHANNEL_LOGOUT_EVENT: {"reason": "x"}, "urn:other": {} },
        "acr": "1",
        "deep": [[[[{"a": [1, 2, {"b": null}]}]]]],
    })));
    assert!(verify(&token).is_ok());
}

#[test]
fn numeric_dates_may_have_fractions() {
    let token = token(&claims_with(
        json!({"iat": (NOW - 5) as f64 + 0.9, "exp": (NOW + 60) as f64 + 0.5}),
    ));
    let verified = verify(&token).unwrap();
    assert_eq!(verified.iat(), UnixTime::from_secs(NOW - 5));
}

#[test]
fn without_kid_the_single_key_of_a_set_is_used() {
    let jwks = json!({"keys": [Value::Object(testkit::public(&KEYS.ed).into())]});
    let keys = KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap();
    let token = sign(
        &rs256_header_with(json!({"alg": "EdDSA", "kid": null})),
        &claims(),
        JwsAlg::EdDsa,
    );
    let verified = UnverifiedLogoutToken::decode(&token)
        .unwrap()
        .verify(&policy(), &keys, now());
    assert!(verified.is_ok(), "{verified:?}");
}

// ---- one test per rule -------------------------------------------

#[test]
fn too_large() {
    let token = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(
        UnverifiedLogoutToken::decode(&token).unwrap_err(),
        LogoutTokenError::TooLarge
    );
}

#[test]
fn malformed() {
    let good = token(&claims());
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let cases = [
        String::new(),
        "abc".into(),
        "a.b".into(),
        "a.b.c.d".into(),
        "a.b.c.d.e.f".into(),
        format!("{h}.{p}.{s}="),                        // padded signature
        format!("{h}=.{p}.{s}"),                        // padded header
        format!("{h}.{p}!.{s}"),                        // not base64url
        format!("{}.{p}.{s}", b64("[1,2]")),            // header not an object
        format!("{}.{p}.{s}", b64(r#"{"alg":5}"#)),     // alg not a string
        format!("{}.{p}.{s}", b64(r#"{"typ":"JWT"}"#)), // alg missing
        format!("{}.{p}.{s}", b64(r#"{"alg":"RS256","kid":1}"#)),
        format!("{}.{p}.{s}", b64(r#"{"alg":"RS256","alg":"none"}"#)), // duplicate
        format!("{h}.{}.{s}", b64("[]")),                              // claims not an object
        format!("{h}.{}.{s}", b64("not json")),
        format!("{h}.{}.{s}", b64(r#"{"iss":"a","iss":"b"}"#)),
        format!(
            "{h}.{}.{s}",
            b64(format!(
                "{{\"a\":{}{}}}",
                "[".repeat(5000),
                "]".repeat(5000)
            ))
        ),
        format!("{h}.{}.{s}", b64([0xff, 0xfe])), // not UTF-8
        "a.b.c.d.e".into(),                       // JWE parts not base64
    ];
    for token in cases {
        let err = UnverifiedLogoutToken::decode(&token).unwrap_err();
        assert!(
            matches!(err, LogoutTokenError::Malformed { .. }),
            "{token}: {err:?}"
        );
    }
}

#[test]
fn unsupported_type() {
    for typ in [
        json!("at+jwt"),
        json!("JOSE"),
        json!("text/logout+jwt"),
        json!(5),
    ] {
        let token = with_header(rs256_header_with(json!({ "typ": typ })));
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::UnsupportedType,
            "{typ}"
        );
    }
    let explicit = policy().with_explicit_typ_required(true);
    for typ in [json!("JWT"), Value::Null] {
        let token = with_header(rs256_header_with(json!({ "typ": typ })));
        assert_eq!(
            verify_with(&token, &explicit).unwrap_err(),
            LogoutTokenError::UnsupportedType
        );
    }
}

#[test]
fn unsupported_critical() {
    let token = with_header(rs256_header_with(json!({"crit": ["b64"], "b64": false})));
    assert_eq!(
        verify(&token).unwrap_err(),
        LogoutTokenError::UnsupportedCritical
    );
}

#[test]
fn alg_none() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = rs256_header_with(json!({ "alg": alg }));
        let token = format!("{}.{}.", b64(header.to_string()), b64(claims().to_string()));
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::AlgNone,
            "{alg}"
        );
    }
}

#[test]
fn alg_symmetric() {
    // The classic confusion: HMAC keyed with the provider's public key.
    let header = rs256_header_with(json!({ "alg": "HS256" }));
    let input = format!("{}.{}", b64(header.to_string()), b64(claims().to_string()));
    let hmac = josekit::jws::HS256
        .signer_from_bytes(KEYS.rsa.to_public_key().unwrap().to_string())
        .unwrap();
    let token = format!(
        "{input}.{}",
        b64(josekit::jws::JwsSigner::sign(&hmac, input.as_bytes()).unwrap())
    );
    assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::AlgSymmetric);
}

#[test]
fn alg_not_allowed() {
    let only_rs256 = policy().with_allowed_algs([JwsAlg::Rs256]).unwrap();
    let token = sign(&header(JwsAlg::Es256), &claims(), JwsAlg::Es256);
    assert_eq!(
        verify_with(&token, &only_rs256).unwrap_err(),
        LogoutTokenError::AlgNotAllowed
    );
    for alg in ["ES384", "RS1", "rs256", "", "A128KW"] {
        let token = with_header(rs256_header_with(json!({ "alg": alg })));
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::AlgNotAllowed,
            "{alg}"
        );
    }
}

#[test]
fn missing_kid() {
    let token = with_header(rs256_header_with(json!({ "kid": null })));
    assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::MissingKid);
}

#[test]
fn unknown_kid() {
    let token = with_header(rs256_header_with(json!({ "kid": "rotated-away" })));
    assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::UnknownKid);
}

#[test]
fn alg_key_mismatch() {
    // An RSA key cannot verify ES256; the EC key's JWK pins ES256.
    let token = sign_with(
        &rs256_header_with(json!({"alg": "ES256"})),
        &claims(),
        JwsAlg::Es256,
        &KEYS.ec,
    );
    assert_eq!(
        verify(&token).unwrap_err(),
        LogoutTokenError::AlgKeyMismatch
    );
    let token = sign(
        &rs256_header_with(json!({"alg": "EdDSA", "kid": "ec"})),
        &claims(),
        JwsAlg::EdDsa,
    );
    assert_eq!(
        verify(&token).unwrap_err(),
        LogoutTokenError::AlgKeyMismatch
    );
}

#[test]
fn bad_signature() {
    let good = token(&claims());
    let (input, signature) = good.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
    sig[10] ^= 1;
    let cases = [
        format!("{input}.{}", b64(&sig)),
        format!("{input}."),
        format!("{input}.{}", b64(&sig[..200])),
        sign_with(
            &header(JwsAlg::Rs256),
            &claims(),
            JwsAlg::Rs256,
            &KEYS.stranger,
        ),
        // RS256 signature presented as PS256.
        format!(
            "{}.{}.{signature}",
            b64(rs256_header_with(json!({"alg": "PS256"})).to_string()),
            b64(claims().to_string())
        ),
    ];
    for token in cases {
        assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::BadSignature);
    }
}

#[test]
fn a_forged_token_with_bad_claims_reports_the_signature() {
    let claims = claims_with(json!({"iss": "https://evil.example", "nonce": "n", "iat": 0}));
    let token = sign_with(
        &header(JwsAlg::Rs256),
        &claims,
        JwsAlg::Rs256,
        &KEYS.stranger,
    );
    assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::BadSignature);
}

#[test]
fn issuer_mismatch() {
    for iss in [
        json!("https://idp.example/realms/home/"),
        json!("https://IDP.example/realms/home"),
        Value::Null,
    ] {
        let token = token(&claims_with(json!({ "iss": iss })));
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::IssuerMismatch,
            "{iss}"
        );
    }
}

#[test]
fn audience_mismatch() {
    for aud in [
        json!("someone-else"),
        json!([]),
        json!(["a", "b"]),
        Value::Null,
        json!("REVOKD"),
    ] {
        let token = token(&claims_with(json!({ "aud": aud })));
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::AudienceMismatch,
            "{aud}"
        );
    }
}

#[test]
fn untrusted_audience() {
    let token = token(&claims_with(json!({ "aud": [CLIENT, "attacker-app"] })));
    assert_eq!(
        verify(&token).unwrap_err(),
        LogoutTokenError::UntrustedAudience
    );
}

#[test]
fn missing_iat() {
    let token = token(&claims_with(json!({ "iat": null })));
    assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::MissingIat);
}

#[test]
fn issued_in_future() {
    let token = token(&claims_with(json!({ "iat": NOW + 61 })));
    assert_eq!(
        verify(&token).unwrap_err(),
        LogoutTokenError::IssuedInFuture
    );
}

#[test]
fn too_old() {
    let token = token(&claims_with(json!({ "iat": NOW - 361, "exp": NOW + 100 })));
    assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::TooOld);
}

#[test]
fn expired() {
    let token = token(&claims_with(json!({ "iat": NOW - 100, "exp": NOW - 60 })));
    assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::Expired);
}

#[test]
fn missing_exp() {
    let token = token(&claims_with(json!({ "exp": null })));
    assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::MissingExp);
    let lenient = policy().with_exp_required(false);
    let verified = verify_with(&token, &lenient).unwrap();
    assert_eq!(verified.exp(), None);
}

#[test]
fn missing_jti() {
    let token = token(&claims_with(json!({ "jti": null })));
    assert_eq!(verify(&token).unwrap_err(), LogoutTokenError::MissingJti);
}

#[test]
fn bad_events() {
    for events in [
        Value::Null,
        json!({}),
        json!([BACKCHANNEL_LOGOUT_EVENT]),
        json!(BACKCHANNEL_LOGOUT_EVENT),
        json!({ BACKCHANNEL_LOGOUT_EVENT: [] }),
        json!({ BACKCHANNEL_LOGOUT_EVENT: "yes" }),
        json!({ BACKCHANNEL_LOGOUT_EVENT: null }),
        json!({ "https://schemas.openid.net/event/backchannel-logout": {} }),
    ] {
        let token = token(&claims_with(json!({ "events": events.clone() })));
        let expected = LogoutTokenError::BadEvents;
        // `null` in the patch removes the claim: also BadEvents.
        assert_eq!(verify(&token).unwrap_err(), expected, "{events}");
    }
}

#[test]
fn missing_sub_and_sid() {
    let token = token(&claims_with(json!({ "sub": null, "sid": null })));
    assert_eq!(
        verify(&token).unwrap_err(),
        LogoutTokenError::MissingSubAndSid
    );
}

#[test]
fn nonce_forbidden() {
    let token = token(&claims_with(json!({ "nonce": "n-0S6_WzA2Mj" })));
    assert_eq!(
        verify(&token).unwrap_err(),
        LogoutTokenError::NonceForbidden
    );
    // Present as `null` is still present.
    let mut claims = claims();
    claims["nonce"] = Value::Null;
    assert_eq!(
        verify(&super::tests::token(&claims)).unwrap_err(),
        LogoutTokenError::NonceForbidden
    );
}

#[test]
fn invalid_claim() {
    let cases = [
        (json!({ "iss": 5 }), "iss"),
        (json!({ "aud": 5 }), "aud"),
        (json!({ "aud": [CLIENT, 5] }), "aud"),
        (json!({ "iat": "1764331613" }), "iat"),
        (json!({ "exp": true }), "exp"),
        (json!({ "jti": "" }), "jti"),
        (json!({ "jti": 7 }), "jti"),
        (json!({ "jti": "x".repeat(257) }), "jti"),
        (json!({ "sub": 248289761001_u64 }), "sub"),
        (json!({ "sub": "line\nbreak" }), "sub"),
        (json!({ "sid": "" }), "sid"),
        (json!({ "sid": {} }), "sid"),
    ];
    for (patch, claim) in cases {
        let token = token(&claims_with(patch.clone()));
        assert_eq!(
            verify(&token).unwrap_err(),
            LogoutTokenError::InvalidClaim { claim },
            "{patch}"
        );
    }
    let mut claims = claims();
    claims["sub"] = Value::Null;
    assert_eq!(
        verify(&super::tests::token(&claims)).unwrap_err(),
        LogoutTokenError::InvalidClaim { claim: "sub" }
    );
}

// ---- encryption (§2.6 step 1) ------------------------------------

fn jws() -> String {
    token(&claims())
}

fn encrypted_policy(alg: KeyManagementAlg) -> LogoutTokenPolicy {
    policy().with_decryption_key(testkit::decryption_key(alg), true)
}

#[test]
fn encrypted_tokens_verify_for_every_key_and_content_algorithm() {
    let cases = [
        (KeyManagementAlg::RsaOaep, "A128GCM"),
        (KeyManagementAlg::RsaOaep256, "A256GCM"),
        (KeyManagementAlg::RsaOaep, "A128CBC-HS256"),
        (KeyManagementAlg::EcdhEs, "A128GCM"),
        (KeyManagementAlg::EcdhEs, "A128CBC-HS256"),
        (KeyManagementAlg::EcdhEsA128Kw, "A256GCM"),
        (KeyManagementAlg::EcdhEsA256Kw, "A256CBC-HS512"),
    ];
    for (alg, enc) in cases {
        let jwe = testkit::encrypt(&jws(), alg, enc, json!({}));
        let token = UnverifiedLogoutToken::decode(&jwe).unwrap();
        assert!(token.is_encrypted());
        assert_eq!(token.issuer_hint(), None);
        assert_eq!(token.alg(), Some(alg.name()));
        let verified = token
            .verify(&encrypted_policy(alg), &KEY_SET, now())
            .unwrap_or_else(|e| panic!("{alg} {enc}: {e}"));
        assert!(verified.was_encrypted());
        assert_eq!(verified.jti().as_ref(), "bWJq");
    }
}

#[test]
fn decrypt_reveals_the_issuer_before_verification() {
    let key = testkit::decryption_key(KeyManagementAlg::RsaOaep);
    let jwe = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep, "A128GCM", json!({}));
    let token = UnverifiedLogoutToken::decode(&jwe)
        .unwrap()
        .decrypt(&key)
        .unwrap();
    assert!(!token.is_encrypted());
    assert_eq!(token.issuer_hint(), Some(ISSUER));
    assert_eq!(token.kid(), Some("rsa"));
    // The provider requires encryption and has no key of its own here:
    // the caller decrypted, so the requirement is met.
    let requires =
        policy().with_decryption_key(testkit::decryption_key(KeyManagementAlg::EcdhEs), true);
    assert!(token.verify(&requires, &KEY_SET, now()).is_ok());
    // Decrypting a plain token is a no-op.
    let plain = UnverifiedLogoutToken::decode(&jws())
        .unwrap()
        .decrypt(&key)
        .unwrap();
    assert_eq!(
        plain.verify(&requires, &KEY_SET, now()).unwrap_err(),
        LogoutTokenError::EncryptionRequired
    );
}

#[test]
fn encryption_required() {
    let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
    assert_eq!(
        verify_with(&jws(), &policy).unwrap_err(),
        LogoutTokenError::EncryptionRequired
    );
    // Optional encryption accepts both.
    let optional = self::policy()
        .with_decryption_key(testkit::decryption_key(KeyManagementAlg::RsaOaep), false);
    assert!(verify_with(&jws(), &optional).is_ok());
}

#[test]
fn no_decryption_key() {
    let jwe = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep, "A128GCM", json!({}));
    assert_eq!(verify(&jwe).unwrap_err(), LogoutTokenError::NoDecryptionKey);
}

#[test]
fn jwe_alg_not_allowed() {
    let jwe = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep256, "A128GCM", json!({}));
    let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
    assert_eq!(
        verify_with(&jwe, &policy).unwrap_err(),
        LogoutTokenError::JweAlgNotAllowed
    );
}

#[test]
fn jwe_enc_not_allowed() {
    let jwe = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep, "A192GCM", json!({}));
    let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
    assert_eq!(
        verify_with(&jwe, &policy).unwrap_err(),
        LogoutTokenError::JweEncNotAllowed
    );
}

#[test]
fn jwe_compression_forbidden() {
    let jwe = testkit::encrypt(
        &jws(),
        KeyManagementAlg::RsaOaep,
        "A128GCM",
        json!({"zip": "DEF"}),
    );
    let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
    assert_eq!(
        verify_with(&jwe, &policy).unwrap_err(),
        LogoutTokenError::JweCompressionForbidden
    );
}

#[test]
fn jwe_not_nested_jwt() {
    let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
    for cty in [Value::Null, json!("json"), json!("application/jose")] {
        let jwe = testkit::encrypt(
            &jws(),
            KeyManagementAlg::RsaOaep,
            "A128GCM",
            json!({ "cty": cty }),
        );
        assert_eq!(
            verify_with(&jwe, &policy).unwrap_err(),
            LogoutTokenError::JweNotNestedJwt
        );
    }
    let jwe = testkit::encrypt(
        &jws(),
        KeyManagementAlg::RsaOaep,
        "A128GCM",
        json!({ "cty": "application/jwt" }),
    );
    assert!(verify_with(&jwe, &policy).is_ok());
}

#[test]
fn jwe_unknown_kid() {
    let jwe = testkit::encrypt(
        &jws(),
        KeyManagementAlg::RsaOaep,
        "A128GCM",
        json!({ "kid": "old-key" }),
    );
    let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
    assert_eq!(
        verify_with(&jwe, &policy).unwrap_err(),
        LogoutTokenError::JweUnknownKid
    );
}

#[test]
fn jwe_with_crit_is_refused() {
    let jwe = testkit::encrypt(
        &jws(),
        KeyManagementAlg::RsaOaep,
        "A128GCM",
        json!({ "crit": ["exp"], "exp": 1 }),
    );
    let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
    assert_eq!(
        verify_with(&jwe, &policy).unwrap_err(),
        LogoutTokenError::UnsupportedCritical
    );
}

#[test]
fn cannot_decrypt() {
    let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
    for enc in ["A128GCM", "A128CBC-HS256"] {
        let jwe = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep, enc, json!({}));
        let parts: Vec<&str> = jwe.split('.').collect();
        let flip = |part: &str| {
            let mut bytes = URL_SAFE_NO_PAD.decode(part).unwrap();
            bytes[0] ^= 1;
            b64(bytes)
        };
        let tampered = [
            // encrypted key (the RFC 7516 §11.5 path: a random CEK)
            format!(
                "{}.{}.{}.{}.{}",
                parts[0],
                flip(parts[1]),
                parts[2],
                parts[3],
                parts[4]
            ),
            format!(
                "{}.{}.{}.{}.{}",
                parts[0],
                parts[1],
                flip(parts[2]),
                parts[3],
                parts[4]
            ),
            format!(
                "{}.{}.{}.{}.{}",
                parts[0],
                parts[1],
                parts[2],
                flip(parts[3]),
                parts[4]
            ),
            format!(
                "{}.{}.{}.{}.{}",
                parts[0],
                parts[1],
                parts[2],
                parts[3],
                flip(parts[4])
            ),
            // header changed: it is the AAD
            format!(
                "{}.{}.{}.{}.{}",
                b64(format!(
                    "{{\"alg\":\"RSA-OAEP\",\"enc\":\"{enc}\",\"cty\":\"JWT\",\"kid\":\"enc-rsa\",\"x\":1}}"
                )),
                parts[1],
                parts[2],
                parts[3],
                parts[4]
            ),
        ];
        for jwe in tampered {
            assert_eq!(
                verify_with(&jwe, &policy).unwrap_err(),
                LogoutTokenError::CannotDecrypt,
                "{enc}"
            );
        }
    }
    // Encrypted to someone else's key.
    let ec = testkit::encrypt(&jws(), KeyManagementAlg::EcdhEs, "A128GCM", json!({}));
    let other = josekit::jwk::Jwk::generate_ec_key(josekit::jwk::P_256).unwrap();
    let other =
        DecryptionKey::from_jwk(KeyManagementAlg::EcdhEs, other.to_string().as_bytes()).unwrap();
    let policy = self::policy().with_decryption_key(other, true);
    assert_eq!(
        verify_with(&ec, &policy).unwrap_err(),
        LogoutTokenError::CannotDecrypt
    );
}

/// `jwe` with part `index` replaced by `bytes`.
fn with_part(jwe: &str, index: usize, bytes: &[u8]) -> String {
    let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
    parts[index] = b64(bytes);
    parts.join(".")
}

fn part_len(jwe: &str, index: usize) -> usize {
    URL_SAFE_NO_PAD
        .decode(jwe.split('.').nth(index).unwrap())
        .unwrap()
        .len()
}

fn assert_malformed(jwe: &str, policy: &LogoutTokenPolicy, case: &str) {
    assert!(
        matches!(
            verify_with(jwe, policy),
            Err(LogoutTokenError::Malformed { .. })
        ),
        "{case}: {:?}",
        verify_with(jwe, policy)
    );
}

/// DESIGN 13 / issue 17 item 1: every length is checked exactly — the
/// legal length passes on to decryption, one less and one more do not —
/// before josekit or OpenSSL sees it. 1 to 7 bytes of AES-wrapped key made
/// josekit 0.10.3 panic.
#[test]
fn every_jwe_length_is_checked_before_the_key_is_used() {
    let cases = [
        (KeyManagementAlg::RsaOaep, "A128GCM", 256, 12, 16),
        (KeyManagementAlg::RsaOaep256, "A256CBC-HS512", 256, 16, 32),
        (KeyManagementAlg::EcdhEs, "A128CBC-HS256", 0, 16, 16),
        (KeyManagementAlg::EcdhEsA128Kw, "A128GCM", 24, 12, 16),
        (KeyManagementAlg::EcdhEsA128Kw, "A256CBC-HS512", 72, 16, 32),
        (KeyManagementAlg::EcdhEsA256Kw, "A256GCM", 40, 12, 16),
        (KeyManagementAlg::EcdhEsA256Kw, "A128CBC-HS256", 40, 16, 16),
    ];
    for (alg, enc, key_len, iv_len, tag_len) in cases {
        let policy = encrypted_policy(alg);
        let jwe = testkit::encrypt(&jws(), alg, enc, json!({}));
        let case = format!("{alg} {enc}");
        assert!(verify_with(&jwe, &policy).is_ok(), "{case}");
        assert_eq!(part_len(&jwe, 1), key_len, "{case}");
        assert_eq!(part_len(&jwe, 2), iv_len, "{case}");
        assert_eq!(part_len(&jwe, 4), tag_len, "{case}");
        // At the legal length with other bytes: only the tag can tell.
        for (index, len) in [(1, key_len), (2, iv_len), (4, tag_len)] {
            let same_length = with_part(&jwe, index, &vec![0x5a; len]);
            if len > 0 {
                assert_eq!(
                    verify_with(&same_length, &policy).unwrap_err(),
                    LogoutTokenError::CannotDecrypt,
                    "{case} part {index} at {len}"
                );
            }
            for wrong in (0..=len + 9).filter(|l| *l != len) {
                let mutated = with_part(&jwe, index, &vec![0x5a; wrong]);
                assert_malformed(
                    &mutated,
                    &policy,
                    &format!("{case} part {index} at {wrong}"),
                );
            }
        }
    }
}

#[test]
fn a_cbc_ciphertext_must_be_whole_blocks() {
    let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
    let jwe = testkit::encrypt(
        &jws(),
        KeyManagementAlg::RsaOaep,
        "A128CBC-HS256",
        json!({}),
    );
    for len in [0, 1, 15, 17, 31] {
        let mutated = with_part(&jwe, 3, &vec![7; len]);
        assert_malformed(&mutated, &policy, &format!("ciphertext of {len}"));
    }
    for len in [16, 32] {
        let mutated = with_part(&jwe, 3, &vec![7; len]);
        assert_eq!(
            verify_with(&mutated, &policy).unwrap_err(),
            LogoutTokenError::CannotDecrypt,
            "ciphertext of {len}"
        );
    }
}

#[test]
fn the_ephemeral_key_must_be_a_p256_point_of_the_right_size() {
    for alg in [KeyManagementAlg::EcdhEs, KeyManagementAlg::EcdhEsA128Kw] {
        let policy = encrypted_policy(alg);
        let jwe = testkit::encrypt(&jws(), alg, "A128GCM", json!({}));
        let parts: Vec<&str> = jwe.split('.').collect();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let epk = header["epk"].clone();
        let patched = |patch: Value| {
            let mut header = header.clone();
            for (name, value) in patch.as_object().unwrap() {
                header[name] = value.clone();
            }
            let mut token: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
            token[0] = b64(header.to_string());
            token.join(".")
        };
        let mut bad = vec![
            json!({"epk": null}),
            json!({"epk": "x"}),
            json!({"epk": {"kty": "EC", "crv": "P-384", "x": epk["x"], "y": epk["y"]}}),
            json!({"epk": {"kty": "OKP", "crv": "P-256", "x": epk["x"], "y": epk["y"]}}),
            json!({"epk": {"kty": "EC", "crv": "P-256", "x": epk["x"]}}),
            json!({"epk": {"kty": "EC", "crv": "P-256", "x": epk["x"], "y": 5}}),
            json!({"epk": {"kty": "EC", "crv": "P-256", "x": epk["x"], "y": epk["y"], "d": "AA"}}),
            json!({"apu": 5}),
            json!({"apv": "not base64!"}),
        ];
        for len in [0, 1, 31, 33, 64] {
            bad.push(json!({"epk": {"kty": "EC", "crv": "P-256", "x": b64(vec![1; len]), "y": epk["y"]}}));
            bad.push(json!({"epk": {"kty": "EC", "crv": "P-256", "x": epk["x"], "y": b64(vec![1; len])}}));
        }
        for patch in bad {
            assert_malformed(&patched(patch.clone()), &policy, &format!("{alg} {patch}"));
        }
        // Well-formed but changed: the header is the AAD, so only the tag
        // can refuse it.
        let fine = patched(json!({"apu": b64("alice")}));
        assert_eq!(
            verify_with(&fine, &policy).unwrap_err(),
            LogoutTokenError::CannotDecrypt
        );
    }
}

#[test]
fn a_signature_of_the_wrong_length_is_refused_before_verification() {
    for (alg, len) in [
        (JwsAlg::Rs256, 256),
        (JwsAlg::Ps512, 256),
        (JwsAlg::Es256, 64),
        (JwsAlg::EdDsa, 64),
    ] {
        let header = header(alg);
        let token = sign(&header, &claims(), alg);
        assert!(verify_with(&token, &policy()).is_ok(), "{alg}");
        let (input, signature) = token.rsplit_once('.').unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(signature).unwrap().len(), len);
        for wrong in [0, 1, len - 1, len + 1, 2 * len] {
            let forged = format!("{input}.{}", b64(vec![1; wrong]));
            assert_eq!(
                verify_with(&forged, &policy()).unwrap_err(),
                LogoutTokenError::BadSignature,
                "{alg} signature of {wrong}"
            );
        }
    }
}

#[test]
fn a_nested_token_must_be_a_jws() {
    let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
    let inner = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep, "A128GCM", json!({}));
    let outer = testkit::encrypt(&inner, KeyManagementAlg::RsaOaep, "A128GCM", json!({}));
    assert!(matches!(
        verify_with(&outer, &policy),
        Err(LogoutTokenError::Malformed { .. })
    ));
}

// ---- labels and messages -----------------------------------------

#[test]
fn every_rule_has_a_distinct_label_and_no_message_echoes_the_token() {
    let all = [
        LogoutTokenError::TooLarge,
        LogoutTokenError::Malformed { detail: "x" },
        LogoutTokenError::UnsupportedType,
        LogoutTokenError::UnsupportedCritical,
        LogoutTokenError::AlgNone,
        LogoutTokenError::AlgSymmetric,
        LogoutTokenError::AlgNotAllowed,
        LogoutTokenError::MissingKid,
        LogoutTokenError::UnknownKid,
        LogoutTokenError::AlgKeyMismatch,
        LogoutTokenError::BadSignature,
        LogoutTokenError::EncryptionRequired,
        LogoutTokenError::NoDecryptionKey,
        LogoutTokenError::JweAlgNotAllowed,
        LogoutTokenError::JweEncNotAllowed,
        LogoutTokenError::JweCompressionForbidden,
        LogoutTokenError::JweNotNestedJwt,
        LogoutTokenError::JweUnknownKid,
        LogoutTokenError::CannotDecrypt,
        LogoutTokenError::IssuerMismatch,
        LogoutTokenError::AudienceMismatch,
        LogoutTokenError::UntrustedAudience,
        LogoutTokenError::MissingIat,
        LogoutTokenError::IssuedInFuture,
        LogoutTokenError::TooOld,
        LogoutTokenError::Expired,
        LogoutTokenError::MissingExp,
        LogoutTokenError::MissingJti,
        LogoutTokenError::BadEvents,
        LogoutTokenError::MissingSubAndSid,
        LogoutTokenError::NonceForbidden,
        LogoutTokenError::InvalidClaim { claim: "iat" },
    ];
    let labels: std::collections::BTreeSet<_> = all.iter().map(LogoutTokenError::rule).collect();
    assert_eq!(labels.len(), all.len());
    for label in labels {
        assert!(
            label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{label}"
        );
    }
    // Errors carry no token data: their fields are `&'static str`.
    let claims = claims_with(json!({"iss": "https://evil.example/<script>"}));
    let err = verify(&token(&claims)).unwrap_err();
    assert!(!err.to_string().contains("evil"), "{err}");
}

// ---- time rules at the boundaries --------------------------------

fn times(iat: Option<i64>, exp: Option<i64>) -> Result<(UnixTime, UnixTime), LogoutTokenError> {
    check_times(iat, exp, now(), &policy())
}

#[test]
fn time_boundaries_at_now_plus_and_minus_skew() {
    // skew 60 s, max_age 300 s
    let ok = |iat, exp| times(Some(iat), exp).is_ok();
    assert!(ok(NOW + 60, Some(NOW + 120)), "iat = now + skew");
    assert_eq!(
        times(Some(NOW + 61), Some(NOW + 120)).unwrap_err(),
        LogoutTokenError::IssuedInFuture
    );
    assert!(ok(NOW - 360, Some(NOW + 1)), "iat = now - max_age - skew");
    assert_eq!(
        times(Some(NOW - 361), Some(NOW + 1)).unwrap_err(),
        LogoutTokenError::TooOld
    );
    assert!(ok(NOW - 100, Some(NOW - 59)), "exp = now - skew + 1");
    assert_eq!(
        times(Some(NOW - 100), Some(NOW - 60)).unwrap_err(),
        LogoutTokenError::Expired
    );
    assert_eq!(
        times(None, Some(NOW)).unwrap_err(),
        LogoutTokenError::MissingIat
    );
    assert_eq!(
        times(Some(NOW), None).unwrap_err(),
        LogoutTokenError::MissingExp
    );
}

#[test]
fn accepted_until_is_the_first_refused_instant() {
    let (_, until) = times(Some(NOW - 5), Some(NOW + 115)).unwrap();
    assert_eq!(until, UnixTime::from_secs(NOW + 115 + 60));
    let (_, until) = times(Some(NOW - 5), Some(NOW + 10_000)).unwrap();
    assert_eq!(until, UnixTime::from_secs(NOW - 5 + 300 + 60 + 1));
}

#[test]
fn extreme_numeric_dates_saturate() {
    for iat in [
        json!(1e300),
        json!(u64::MAX),
        json!(-1e300),
        json!(i64::MIN),
    ] {
        let err = verify(&token(&claims_with(json!({ "iat": iat.clone() })))).unwrap_err();
        assert!(
            matches!(
                err,
                LogoutTokenError::IssuedInFuture | LogoutTokenError::TooOld
            ),
            "{iat}: {err}"
        );
    }
    let err = verify(&token(&claims_with(json!({ "exp": -1e300 })))).unwrap_err();
    assert_eq!(err, LogoutTokenError::Expired);
    assert!(verify(&token(&claims_with(json!({ "exp": 1e300 })))).is_ok());
}

proptest! {
    #[test]
    fn time_rules_match_their_definition(
        now in -1_000_000i64..1_000_000,
        iat in proptest::option::of(-1_100_000i64..1_100_000),
        exp in proptest::option::of(-1_100_000i64..1_100_000),
        skew in 0u64..1000,
        max_age in 0u64..100_000,
        require_exp: bool,
    ) {
        let policy = policy()
            .with_clock_skew(Duration::from_secs(skew))
            .with_max_age(Duration::from_secs(max_age))
            .with_exp_required(require_exp);
        let (skew, max_age) = (skew as i64, max_age as i64);
        let at = |t| check_times(iat, exp, UnixTime::from_secs(t), &policy);
        let expected_ok = iat.is_some_and(|iat| iat <= now + skew && iat >= now - max_age - skew)
            && match exp {
                Some(exp) => now < exp + skew,
                None => !require_exp,
            };
        let result = at(now);
        prop_assert_eq!(result.is_ok(), expected_ok, "{:?}", result);
        if let Ok((_, until)) = result {
            // Accepted right up to `until`, refused from it on.
            let until = until.as_secs();
            prop_assert!(until > now);
            prop_assert!(at(until - 1).is_ok());
            prop_assert!(at(until).is_err());
        }
    }

    #[test]
    fn decode_never_panics_on_any_string(s in ".{0,300}") {
        let _ = UnverifiedLogoutToken::decode(&s);
    }

    #[test]
    fn decode_and_verify_never_panic_on_token_shaped_input(
        header in prop::collection::vec(any::<u8>(), 0..64),
        payload in prop::collection::vec(any::<u8>(), 0..128),
        signature in prop::collection::vec(any::<u8>(), 0..300),
        parts in prop::sample::select(vec![3usize, 5]),
    ) {
        let mut token = format!("{}.{}.{}", b64(&header), b64(&payload), b64(&signature));
        if parts == 5 {
            token = format!("{token}.{}.{}", b64(&payload), b64(&header));
        }
        if let Ok(token) = UnverifiedLogoutToken::decode(&token) {
            let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
            let _ = token.verify(&policy, &KEY_SET, now());
        }
    }

    #[test]
    fn verify_never_panics_on_arbitrary_json_claims(
        claims in proptest::collection::btree_map(
            prop::sample::select(vec!["iss", "aud", "iat", "exp", "jti", "sub", "sid", "events", "nonce", "x"]),
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
                ".{0,20}".prop_map(Value::from),
                Just(json!([CLIENT])),
                Just(json!({ BACKCHANNEL_LOGOUT_EVENT: {} })),
            ],
            0..10,
        ),
    ) {
        let claims = Value::Object(claims.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let _ = verify(&token(&claims));
    }
}

#[test]
fn validation_types_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<KeySet>();
    shared::<LogoutTokenPolicy>();
    shared::<UnverifiedLogoutToken>();
    shared::<VerifiedLogoutToken>();
    shared::<LogoutTokenError>();
}

// ---- limits: exactly at each one, and one past it (issue 17 item 21) ----

#[test]
fn a_token_of_exactly_max_token_bytes_is_decoded_one_byte_more_is_too_large() {
    let token = jws();
    let (input, signature) = token.rsplit_once('.').unwrap();
    // Pad with a longer signature of 'A's (zero bits): still base64url.
    let padded = |len: usize| {
        let filler = len - input.len() - 1;
        format!(
            "{input}.{signature}{}",
            "A".repeat(filler - signature.len())
        )
    };
    let at_limit = padded(MAX_TOKEN_BYTES);
    assert_eq!(at_limit.len(), MAX_TOKEN_BYTES);
    assert!(
        !matches!(
            UnverifiedLogoutToken::decode(&at_limit),
            Err(LogoutTokenError::TooLarge)
        ),
        "a token of exactly MAX_TOKEN_BYTES is not too large"
    );
    let over = padded(MAX_TOKEN_BYTES + 1);
    assert!(matches!(
        UnverifiedLogoutToken::decode(&over),
        Err(LogoutTokenError::TooLarge)
    ));
    // At (or one under, where base64url cannot end) the limit, a
    // well-formed token decodes: the size rule alone decides.
    let decodable = [MAX_TOKEN_BYTES, MAX_TOKEN_BYTES - 1]
        .map(padded)
        .into_iter()
        .find(|t| (t.len() - input.len() - 1) % 4 != 1)
        .unwrap();
    assert!(UnverifiedLogoutToken::decode(&decodable).is_ok());
}

#[test]
fn a_nested_token_of_exactly_max_token_bytes_is_read_one_byte_more_is_too_large() {
    let at_limit = nested_jws(vec![b'a'; MAX_TOKEN_BYTES]);
    assert!(
        matches!(at_limit, Err(LogoutTokenError::Malformed { .. })),
        "at the limit the shape decides"
    );
    let over = nested_jws(vec![b'a'; MAX_TOKEN_BYTES + 1]);
    assert!(matches!(over, Err(LogoutTokenError::TooLarge)));
    // A valid nested token just under the limit is read.
    assert!(nested_jws(jws().into_bytes()).is_ok());
}

#[test]
fn the_policy_reports_the_skew_and_age_it_was_given() {
    let fresh = LogoutTokenPolicy::new(Issuer::parse(ISSUER).unwrap(), [CLIENT]).unwrap();
    assert_eq!(fresh.clock_skew(), LogoutTokenPolicy::DEFAULT_CLOCK_SKEW);
    assert_eq!(fresh.max_age(), LogoutTokenPolicy::DEFAULT_MAX_AGE);
    assert_ne!(LogoutTokenPolicy::DEFAULT_CLOCK_SKEW, Duration::ZERO);
    let custom = fresh
        .with_clock_skew(Duration::from_secs(7))
        .with_max_age(Duration::from_secs(11));
    assert_eq!(custom.clock_skew(), Duration::from_secs(7));
    assert_eq!(custom.max_age(), Duration::from_secs(11));
}

#[test]
fn a_lone_surrogate_is_reported_as_invalid_json_not_as_a_non_object() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let detail = |part: &str| match decode_json_object(&b64(part), JsonPart::Claims) {
        Err(LogoutTokenError::Malformed { detail }) => detail,
        other => panic!("{part}: {other:?}"),
    };
    assert!(detail(r#"{"sub":"\ud800"}"#).contains("not valid JSON"));
    assert!(detail(r#"{"sub":"a""#).contains("not valid JSON"));
    assert!(detail(r#"["sub"]"#).contains("not a JSON object"));
    assert!(detail(r#"{"sub":"a","sub":"b"}"#).contains("unique member names"));
}

#[test]
fn a_token_waiting_for_keys_must_be_encrypted_where_encryption_is_required() {
    let policy = encrypted_policy(KeyManagementAlg::RsaOaep);
    let plain = UnverifiedLogoutToken::decode(&jws()).unwrap();
    assert_eq!(
        plain.check_unverified(&policy, now()).unwrap_err(),
        LogoutTokenError::EncryptionRequired
    );
    let sealed = testkit::encrypt(&jws(), KeyManagementAlg::RsaOaep, "A128GCM", json!({}));
    let opened = UnverifiedLogoutToken::decode(&sealed)
        .unwrap()
        .decrypt(policy.decryption_key().unwrap())
        .unwrap();
    assert_eq!(
        opened.check_unverified(&policy, now()),
        Ok(UnixTime::from_secs(NOW + 115 + 60))
    );
    // Without the requirement a plain token is fine.
    assert!(plain.check_unverified(&self::policy(), now()).is_ok());
}
