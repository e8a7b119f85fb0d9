//! One test per rule a SET (or a caller's JWT) can break, and the event
//! mapping, each alone against a token that passes every other rule.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::oidc::subject_id::SubjectMapping;
use crate::oidc::testkit::{KEY_SET, KEYS, NOW, now, sign, sign_with};

const ISS: &str = "https://org.okta.example";
const AUD: &str = "https://revokd.example/ssf/push/okta";
const DISABLED: &str = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";

fn policy() -> JwtPolicy {
    JwtPolicy {
        issuer: Issuer::parse(ISS).unwrap(),
        audiences: vec![AUD.to_owned()],
        allowed_algs: JwsAlg::ALL.to_vec(),
        clock_skew: Duration::from_secs(60),
        max_age: Duration::from_secs(3600),
        typ: Some("secevent+jwt"),
        require_exp: false,
    }
}

fn header() -> Value {
    json!({"alg": "RS256", "typ": "secevent+jwt", "kid": "rsa"})
}

fn claims() -> Value {
    json!({
        "iss": ISS,
        "aud": AUD,
        "iat": NOW - 5,
        "jti": "set-1",
        "txn": "txn-9",
        "sub_id": {"format": "iss_sub", "iss": ISS, "sub": "00u1"},
        "events": { DISABLED: {"reason": "hijacking"} },
    })
}

fn patched(patch: Value) -> Value {
    let mut claims = claims();
    for (name, value) in patch.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

fn judge(header: &Value, claims: &Value) -> Result<VerifiedSet, JwtError> {
    let token = sign(header, claims, JwsAlg::Rs256);
    verify_set(&UnverifiedJwt::decode(&token)?, &policy(), &KEY_SET, now())
}

fn refused(patch: Value) -> JwtError {
    judge(&header(), &patched(patch)).unwrap_err()
}

#[test]
fn a_valid_set_yields_its_event_subject_and_txn() {
    let set = judge(&header(), &claims()).unwrap();
    assert_eq!(set.event_type, DISABLED);
    assert_eq!(set.jwt.jti.as_ref(), "set-1");
    assert_eq!(set.txn.as_deref(), Some("txn-9"));
    assert_eq!(
        set.subject,
        Some(SubjectIdentifier::IssSub {
            iss: ISS.into(),
            sub: "00u1".into()
        })
    );
    assert_eq!(set.jwt.accepted_until.as_secs(), NOW - 5 + 3600 + 60 + 1);
}

#[test]
fn typ_must_be_secevent_jwt() {
    for typ in [json!("JWT"), json!("logout+jwt"), json!(null)] {
        let mut header = header();
        if typ.is_null() {
            header.as_object_mut().unwrap().remove("typ");
        } else {
            header["typ"] = typ;
        }
        assert!(matches!(
            judge(&header, &claims()),
            Err(JwtError::UnsupportedType { .. })
        ));
    }
    let mut header = header();
    header["typ"] = json!("application/secevent+jwt");
    assert!(judge(&header, &claims()).is_ok());
}

#[test]
fn crit_is_refused() {
    let mut header = header();
    header["crit"] = json!(["exp"]);
    assert_eq!(
        judge(&header, &claims()),
        Err(JwtError::UnsupportedCritical)
    );
}

#[test]
fn alg_none_and_hs_are_refused_as_invalid_keys() {
    let body = format!(
        "{}.{}.",
        crate::oidc::testkit::b64(json!({"alg": "none", "typ": "secevent+jwt"}).to_string()),
        crate::oidc::testkit::b64(claims().to_string())
    );
    let err = verify_set(
        &UnverifiedJwt::decode(&body).unwrap(),
        &policy(),
        &KEY_SET,
        now(),
    )
    .unwrap_err();
    assert_eq!(err, JwtError::AlgNone);
    assert_eq!(err.set_error_code(), "invalid_key");
    let mut header = header();
    header["alg"] = json!("HS256");
    assert_eq!(judge(&header, &claims()), Err(JwtError::AlgSymmetric));
}

#[test]
fn an_alg_not_allowed_is_refused() {
    let mut policy = policy();
    policy.allowed_algs = vec![JwsAlg::Es256];
    let token = sign(&header(), &claims(), JwsAlg::Rs256);
    let err = verify_set(
        &UnverifiedJwt::decode(&token).unwrap(),
        &policy,
        &KEY_SET,
        now(),
    );
    assert_eq!(err, Err(JwtError::AlgNotAllowed));
}

#[test]
fn an_unknown_kid_is_refused() {
    let mut header = header();
    header["kid"] = json!("nope");
    assert_eq!(judge(&header, &claims()), Err(JwtError::UnknownKid));
}

#[test]
fn a_forged_signature_is_refused_as_an_invalid_key() {
    let token = sign_with(&header(), &claims(), JwsAlg::Rs256, &KEYS.stranger);
    let err = verify_set(
        &UnverifiedJwt::decode(&token).unwrap(),
        &policy(),
        &KEY_SET,
        now(),
    )
    .unwrap_err();
    assert_eq!(err, JwtError::BadSignature);
    assert_eq!(err.set_error_code(), "invalid_key");
}

#[test]
fn another_issuer_is_invalid_issuer() {
    let err = refused(json!({"iss": "https://evil.example"}));
    assert_eq!(err, JwtError::IssuerMismatch);
    assert_eq!(err.set_error_code(), "invalid_issuer");
}

#[test]
fn another_audience_is_invalid_audience() {
    for aud in [
        json!("https://other.example"),
        json!([AUD, "https://other.example"]),
        json!(null),
    ] {
        let err = refused(json!({ "aud": aud }));
        assert_eq!(err, JwtError::AudienceMismatch, "{aud}");
        assert_eq!(err.set_error_code(), "invalid_audience");
    }
    assert!(judge(&header(), &patched(json!({"aud": [AUD]}))).is_ok());
}

#[test]
fn iat_is_required() {
    assert_eq!(refused(json!({"iat": null})), JwtError::MissingIat);
}

#[test]
fn iat_in_the_future_is_refused() {
    assert_eq!(refused(json!({"iat": NOW + 61})), JwtError::IssuedInFuture);
    assert!(judge(&header(), &patched(json!({"iat": NOW + 60}))).is_ok());
}

#[test]
fn iat_older_than_max_age_is_refused() {
    assert_eq!(refused(json!({"iat": NOW - 3600 - 61})), JwtError::TooOld);
}

#[test]
fn a_passed_exp_is_refused() {
    assert_eq!(refused(json!({"exp": NOW - 61})), JwtError::Expired);
}

#[test]
fn jti_is_required() {
    assert_eq!(refused(json!({"jti": null})), JwtError::MissingJti);
    assert_eq!(
        refused(json!({"jti": 5})),
        JwtError::InvalidClaim { claim: "jti" }
    );
}

#[test]
fn events_must_be_an_object_of_one_event_object() {
    assert_eq!(refused(json!({"events": null})), JwtError::BadEvents);
    assert_eq!(refused(json!({"events": []})), JwtError::BadEvents);
    assert_eq!(
        refused(json!({"events": { DISABLED: "x" }})),
        JwtError::BadEvents
    );
    assert_eq!(refused(json!({"events": {}})), JwtError::NotOneEvent(0));
    let two = json!({"events": { DISABLED: {}, "https://example.com/x": {} }});
    assert_eq!(refused(two), JwtError::NotOneEvent(2));
}

#[test]
fn the_subject_may_sit_in_the_event_as_older_transmitters_send_it() {
    let set = judge(
        &header(),
        &patched(json!({
            "sub_id": null,
            "events": { DISABLED: {"subject": {"format": "opaque", "id": "00u2"}} },
        })),
    )
    .unwrap();
    assert_eq!(set.subject, Some(SubjectIdentifier::Opaque("00u2".into())));
}

#[test]
fn a_malformed_subject_is_refused() {
    let err = refused(json!({"sub_id": {"format": "opaque"}}));
    assert!(matches!(err, JwtError::Subject(SubjectError::Malformed(_))));
    assert_eq!(err.set_error_code(), "invalid_request");
}

#[test]
fn txn_must_be_a_string() {
    assert_eq!(
        refused(json!({"txn": 7})),
        JwtError::InvalidClaim { claim: "txn" }
    );
}

#[test]
fn oversized_and_malformed_tokens_are_refused() {
    assert_eq!(
        UnverifiedJwt::decode(&"a".repeat(MAX_JWT_BYTES + 1)).unwrap_err(),
        JwtError::TooLarge
    );
    for bad in ["", "a.b", "a.b.c.d", "!!.e30.sig"] {
        assert!(
            matches!(UnverifiedJwt::decode(bad), Err(JwtError::Malformed { .. })),
            "{bad}"
        );
    }
}

#[test]
fn a_caller_token_policy_without_typ_accepts_jwt_or_none() {
    let mut policy = policy();
    policy.typ = None;
    policy.require_exp = true;
    let mut header = header();
    header["typ"] = json!("JWT");
    let claims = patched(json!({"exp": NOW + 60}));
    let token = sign(&header, &claims, JwsAlg::Rs256);
    assert!(
        UnverifiedJwt::decode(&token)
            .unwrap()
            .verify(&policy, &KEY_SET, now())
            .is_ok()
    );
    let token = sign(&header, &patched(json!({})), JwsAlg::Rs256);
    assert_eq!(
        UnverifiedJwt::decode(&token)
            .unwrap()
            .verify(&policy, &KEY_SET, now()),
        Err(JwtError::MissingExp)
    );
}

fn event(name: &str, prefix: &str) -> String {
    format!("{prefix}{name}")
}

#[test]
fn events_classify_as_the_issue_maps_them() {
    let empty = Map::new();
    let cases = [
        (event("session-revoked", CAEP_EVENT), Signal::SessionRevoked),
        (
            event("token-claims-change", CAEP_EVENT),
            Signal::RevokeBefore,
        ),
        (
            event("assurance-level-change", CAEP_EVENT),
            Signal::Recorded,
        ),
        (
            event("device-compliance-change", CAEP_EVENT),
            Signal::Recorded,
        ),
        (event("account-disabled", RISC_EVENT), Signal::Disable),
        (event("account-enabled", RISC_EVENT), Signal::Enable),
        (event("account-purged", RISC_EVENT), Signal::Purge),
        (event("sessions-revoked", RISC_EVENT), Signal::RevokeBefore),
        (event("tokens-revoked", RISC_EVENT), Signal::RevokeBefore),
        (
            event("credential-compromise", RISC_EVENT),
            Signal::RevokeBefore,
        ),
        (event("identifier-changed", RISC_EVENT), Signal::Recorded),
        (event("identifier-recycled", RISC_EVENT), Signal::Recorded),
        (
            event("stream-updated", SSF_EVENT),
            Signal::StreamUpdated { status: None },
        ),
        (
            event("verification", SSF_EVENT),
            Signal::Verification { state: None },
        ),
        ("https://example.com/event/x".to_owned(), Signal::Unknown),
        (event("no-such-event", RISC_EVENT), Signal::Unknown),
    ];
    for (uri, signal) in cases {
        assert_eq!(classify(&uri, &empty), signal, "{uri}");
    }
}

#[test]
fn credential_change_revokes_only_on_revoke_or_delete() {
    let uri = event("credential-change", CAEP_EVENT);
    for (change, signal) in [
        ("revoke", Signal::RevokeBefore),
        ("delete", Signal::RevokeBefore),
        ("create", Signal::Recorded),
        ("update", Signal::Recorded),
    ] {
        let payload = json!({"change_type": change});
        assert_eq!(
            classify(&uri, payload.as_object().unwrap()),
            signal,
            "{change}"
        );
    }
}

fn mapping() -> SubjectMapping {
    SubjectMapping {
        issuer: Issuer::parse(ISS).unwrap(),
        formats_as_sub: vec!["opaque".into()],
    }
}

fn target(value: Value) -> Target {
    mapping()
        .map(&SubjectIdentifier::from_json(&value).unwrap())
        .unwrap()
}

#[test]
fn session_revoked_ends_the_session_or_every_token_of_the_user() {
    let session = target(json!({"session": {"format": "opaque", "id": "sid-1"}}));
    assert!(matches!(
        plan(&Signal::SessionRevoked, session),
        Ok(Some(Plan::RevokeSession(s))) if s.sid.as_ref() == "sid-1"
    ));
    let user = target(json!({"format": "iss_sub", "iss": ISS, "sub": "00u1"}));
    assert!(matches!(
        plan(&Signal::SessionRevoked, user),
        Ok(Some(Plan::RevokeBefore(s))) if s.sub.as_ref() == "00u1"
    ));
}

#[test]
fn account_events_need_a_person() {
    let session_only = target(json!({"session": {"format": "opaque", "id": "sid-1"}}));
    for signal in [Signal::Disable, Signal::Enable, Signal::Purge] {
        assert!(matches!(
            plan(&signal, session_only.clone()),
            Err(JwtError::Subject(SubjectError::NoUserOrSession))
        ));
    }
    let user = target(json!({"format": "opaque", "id": "00u1"}));
    assert!(matches!(
        plan(&Signal::Disable, user.clone()),
        Ok(Some(Plan::Disable(_)))
    ));
    assert!(matches!(
        plan(&Signal::Enable, user.clone()),
        Ok(Some(Plan::Enable(_)))
    ));
    assert!(matches!(
        plan(&Signal::Purge, user.clone()),
        Ok(Some(Plan::Purge(_)))
    ));
    assert_eq!(plan(&Signal::Recorded, user.clone()), Ok(None));
    assert_eq!(plan(&Signal::Unknown, user), Ok(None));
}
