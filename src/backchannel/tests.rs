//! The receiver on a real embedded store, with keys loaded without a
//! network (`Provider::load_for_tests`), at the testkit's fixed `now`.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::config::Settings;
use crate::domain::{Change, EventPage};
use crate::oidc::testkit::{self, ISSUER, NOW, claims, claims_with, jwks_json, now, token};
use crate::providers::ProviderSettings;
use crate::store::{EmbeddedSettings, RevocationStore, Store};

const LATE: &str = "https://late.example";

fn listed(ids: &[(&str, &str)]) -> Vec<(String, String)> {
    ids.iter()
        .map(|(id, p)| ((*id).to_owned(), (*p).to_owned()))
        .collect()
}

#[test]
fn a_token_kept_while_a_pass_lists_it_is_counted_once() {
    // The race seen under load: the pass lists the store after the
    // keep wrote it, and the keep's tally lands before the pass ends.
    let mut tally = KeptTally::default();
    let round = tally.begin_pass();
    tally.kept("t1", "idp");
    tally.end_pass(round, listed(&[("t1", "idp")]));
    assert_eq!(tally.count(), 1);
    assert_eq!(tally.count_for("idp"), 1);
}

#[test]
fn a_token_kept_after_a_pass_listed_the_store_survives_its_end() {
    let mut tally = KeptTally::default();
    let round = tally.begin_pass();
    tally.kept("t2", "idp");
    tally.end_pass(round, listed(&[]));
    assert_eq!(tally.count_for("idp"), 1);
    assert_eq!(tally.count_for("other"), 0);
}

#[test]
fn a_token_gone_from_the_store_leaves_the_tally_at_the_next_pass() {
    // Applied by another instance, or by this pass: not listed again.
    let mut tally = KeptTally::default();
    tally.kept("t3", "idp");
    let round = tally.begin_pass();
    tally.end_pass(round, listed(&[]));
    assert_eq!(tally.count(), 0);
    tally.kept("t4", "idp");
    tally.kept("t4", "idp");
    assert_eq!(tally.count(), 1, "a keep is idempotent");
}

struct Harness {
    receiver: LogoutReceiver,
    _dir: tempfile::TempDir,
}

fn provider_settings(name: &str, issuer: &str) -> ProviderSettings {
    ProviderSettings {
        name: name.into(),
        issuer: issuer.into(),
        client_ids: vec![testkit::CLIENT.into()],
        jwks_uri: None,
        algorithms: None,
        decryption_key_file: None,
        decryption_alg: None,
        require_encryption: false,
        allow_insecure_http: false,
    }
}

/// Provider `idp` (keys loaded) and `late` (keys not loaded yet).
fn harness(limits: PendingLimits) -> Harness {
    let settings = Settings::load_from(None, figment::providers::Env::raw().only(&[])).unwrap();
    // `idp` is the only provider with a decryption key.
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("enc.jwk");
    std::fs::write(&key_file, testkit::KEYS.enc_rsa.to_string()).unwrap();
    let mut idp = provider_settings("idp", ISSUER);
    idp.decryption_key_file = Some(key_file);
    idp.decryption_alg = Some("RSA-OAEP".into());
    let providers = Providers::from_settings(
        &[idp, provider_settings("late", LATE)],
        &settings.backchannel,
    )
    .unwrap();
    providers
        .by_name("idp")
        .unwrap()
        .load_for_tests(jwks_json().as_bytes());
    let metrics = Metrics::new();
    let store = Store::open_embedded(
        &EmbeddedSettings {
            path: dir.path().into(),
            sweep_interval: Duration::from_secs(60),
            max_events: 1000,
            max_admin_events: 1000,
        },
        metrics.store.clone(),
    )
    .unwrap();
    let revocations = Revocations::new(store, settings.lifetimes.clone(), metrics.clone());
    Harness {
        receiver: LogoutReceiver::with_pending_limits(
            Arc::new(providers),
            revocations,
            metrics,
            10,
            limits,
        ),
        _dir: dir,
    }
}

fn late_token(patch: serde_json::Value) -> String {
    let mut claims = claims_with(json!({"iss": LATE}));
    for (name, value) in patch.as_object().unwrap() {
        claims[name] = value.clone();
    }
    token(&claims)
}

impl Harness {
    async fn events(&self) -> Vec<Event> {
        self.receiver
            .inner
            .revocations
            .store()
            .events(&EventPage {
                before: None,
                limit: 100,
            })
            .await
            .unwrap()
    }

    async fn kept(&self) -> Vec<PendingLogout> {
        self.receiver
            .inner
            .revocations
            .store()
            .pending_logouts()
            .await
            .unwrap()
    }

    fn load_late(&self) {
        self.receiver
            .providers()
            .by_name("late")
            .unwrap()
            .load_for_tests(jwks_json().as_bytes());
    }
}

fn kept_as(result: Result<Received, ReceiveError>) -> (KeysMissing, Kept) {
    match result {
        Err(ReceiveError::KeysUnavailable { why, kept, .. }) => (why, kept),
        other => panic!("expected KeysUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_valid_token_revokes_its_session_once_and_sub_alone_the_subject() {
    let h = harness(PendingLimits::default());
    let sid_token = token(&claims());
    let Received::Revoked(event) = h.receiver.receive(None, &sid_token, now()).await.unwrap()
    else {
        panic!("revoked")
    };
    assert!(
        matches!(&event.change, Change::SessionRevoked { session, .. } if session.sid.as_ref() == "08a5019c-17e1-4977-8f42-65a12843ea02")
    );
    assert_eq!(event.actor, "backchannel:idp");
    assert!(matches!(
        h.receiver.receive(None, &sid_token, now()).await,
        Ok(Received::Replayed)
    ));
    let sub_only = token(&claims_with(json!({"sid": null, "jti": "other"})));
    let Received::Revoked(event) = h.receiver.receive(None, &sub_only, now()).await.unwrap() else {
        panic!("revoked")
    };
    assert!(matches!(event.change, Change::SubjectRevokedBefore { before, .. } if before == now()));
    let recent = h.receiver.recent();
    let outcomes: Vec<_> = recent.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, ["revoked", "replayed", "revoked"]);
    assert_eq!(recent[1].jti.as_deref(), Some("bWJq"));
    assert_eq!(h.events().await.len(), 2);
}

#[tokio::test]
async fn an_encrypted_token_goes_to_the_only_provider_that_can_open_it() {
    let h = harness(PendingLimits::default());
    let sealed = testkit::encrypt(
        &token(&claims()),
        crate::oidc::KeyManagementAlg::RsaOaep,
        "A128GCM",
        json!({}),
    );
    assert!(matches!(
        h.receiver.receive(None, &sealed, now()).await,
        Ok(Received::Revoked(_))
    ));
    assert_eq!(h.receiver.recent()[0].provider.as_deref(), Some("idp"));
}

#[tokio::test]
async fn the_provider_is_chosen_by_its_issuer_or_its_pin() {
    let h = harness(PendingLimits::default());
    let ours = token(&claims());
    assert!(matches!(
        h.receiver.receive(Some("late"), &ours, now()).await,
        Err(ReceiveError::WrongProvider(name)) if name == "late"
    ));
    assert!(matches!(
        h.receiver.receive(Some("nobody"), &ours, now()).await,
        Err(ReceiveError::UnknownProvider(_))
    ));
    let stranger = token(&claims_with(json!({"iss": "https://evil.example"})));
    assert!(matches!(
        h.receiver.receive(None, &stranger, now()).await,
        Err(ReceiveError::UnknownIssuer)
    ));
    assert!(matches!(
        h.receiver.receive(Some("idp"), &ours, now()).await,
        Ok(Received::Revoked(_))
    ));
    assert_eq!(h.receiver.recent()[1].outcome, "rejected");
    assert_eq!(h.receiver.recent()[1].rule, Some("unknown_issuer"));
}

#[tokio::test]
async fn a_token_waiting_for_keys_is_kept_and_applied_once_when_they_load() {
    let h = harness(PendingLimits::default());
    let late = late_token(json!({}));

    let (why, kept) = kept_as(h.receiver.receive(None, &late, now()).await);
    assert_eq!((why, kept), (KeysMissing::NotLoaded, Kept::Yes));
    let record = &h.receiver.recent()[0];
    assert_eq!(record.outcome, "pending");
    assert_eq!(record.rule, Some("keys_not_loaded"));
    assert_eq!(record.pending_id, Some(PendingLogout::id_of(&late)));
    let kept = h.kept().await;
    assert_eq!(kept.len(), 1);
    // Kept until the token's own acceptance window closes:
    // min(iat + max_age + skew + 1, exp + skew).
    assert_eq!(kept[0].expires_at, UnixTime::from_secs(NOW + 115 + 60));
    assert_eq!(kept[0].provider, "late");
    assert_eq!(h.receiver.pending_for("late"), 1);

    // Still no keys: it stays kept, nothing is applied.
    assert_eq!(h.receiver.retry_pending(now()).await.unwrap(), 1);
    assert!(h.events().await.is_empty());

    h.load_late();
    assert_eq!(h.receiver.retry_pending(now()).await.unwrap(), 0);
    assert!(h.kept().await.is_empty());
    assert_eq!(h.receiver.pending_for("late"), 0);
    let record = &h.receiver.recent()[0];
    assert_eq!(record.outcome, "revoked");
    assert_eq!(record.pending_since, Some(now()));
    assert_eq!(h.events().await.len(), 1);

    // The provider posts it again: applied once only.
    assert!(matches!(
        h.receiver.receive(None, &late, now()).await,
        Ok(Received::Replayed)
    ));
    assert_eq!(h.events().await.len(), 1);
}

#[tokio::test]
async fn a_kept_token_verified_on_a_repost_is_forgotten_and_applied_once() {
    let h = harness(PendingLimits::default());
    let late = late_token(json!({}));
    kept_as(h.receiver.receive(None, &late, now()).await);
    h.load_late();
    assert!(matches!(
        h.receiver.receive(None, &late, now()).await,
        Ok(Received::Revoked(_))
    ));
    assert!(h.kept().await.is_empty());
    assert_eq!(h.receiver.retry_pending(now()).await.unwrap(), 0);
    assert_eq!(h.events().await.len(), 1);
}

/// `backchannel.pending_*` reach the receiver: `pending_max_tokens =
/// 0` must keep nothing, not the default thousand.
#[test]
fn the_configured_pending_limits_are_the_ones_used() {
    let mut settings = Settings::load_from(None, figment::providers::Env::raw().only(&[]))
        .unwrap()
        .backchannel;
    settings.pending_max_tokens = 0;
    settings.pending_max_token_bytes = 17;
    settings.pending_retry_interval = Duration::from_secs(42);
    let limits = PendingLimits::from_settings(&settings);
    assert_eq!(limits.max_tokens, 0);
    assert_eq!(limits.max_token_bytes, 17);
    assert_eq!(limits.retry_interval, Duration::from_secs(42));
}

/// Only a verified repost forgets the kept copy: one refused for any
/// other reason (here, posted to another provider's endpoint, which
/// anyone who saw the token can do) must leave it to be applied when
/// the keys load, or the logout would be lost.
#[tokio::test]
async fn a_refused_repost_of_a_kept_token_leaves_it_kept() {
    let h = harness(PendingLimits::default());
    let late = late_token(json!({}));
    kept_as(h.receiver.receive(None, &late, now()).await);

    let misposted = h.receiver.receive(Some("idp"), &late, now()).await;

    assert!(
        matches!(misposted, Err(ReceiveError::WrongProvider(ref name)) if name == "idp"),
        "{misposted:?}"
    );
    assert_eq!(h.kept().await.len(), 1, "still kept");
    h.load_late();
    assert_eq!(h.receiver.retry_pending(now()).await.unwrap(), 0);
    assert_eq!(h.events().await.len(), 1, "applied once the keys load");
}

#[tokio::test]
async fn a_kept_token_is_dropped_once_its_window_closes() {
    let h = harness(PendingLimits::default());
    let late = late_token(json!({}));
    kept_as(h.receiver.receive(None, &late, now()).await);
    let closes = UnixTime::from_secs(NOW + 115 + 60);
    // One second before the window closes it is still kept...
    assert_eq!(
        h.receiver
            .retry_pending(UnixTime::from_secs(closes.as_secs() - 1))
            .await
            .unwrap(),
        1
    );
    // ...at the instant it closes it is dropped, keys or not.
    h.load_late();
    assert_eq!(h.receiver.retry_pending(closes).await.unwrap(), 0);
    assert!(h.kept().await.is_empty());
    let record = &h.receiver.recent()[0];
    assert_eq!(record.outcome, "dropped");
    assert_eq!(record.rule, Some("too_old"));
    assert!(h.events().await.is_empty());
}

#[tokio::test]
async fn only_a_token_that_could_still_be_accepted_is_kept() {
    let h = harness(PendingLimits::default());
    for (patch, expected) in [
        (
            json!({"aud": "someone-else"}),
            LogoutTokenError::AudienceMismatch,
        ),
        (
            json!({"iat": NOW - 3600, "exp": NOW + 60}),
            LogoutTokenError::TooOld,
        ),
        (json!({"nonce": "n"}), LogoutTokenError::NonceForbidden),
        (json!({"events": {}}), LogoutTokenError::BadEvents),
    ] {
        let result = h
            .receiver
            .receive(None, &late_token(patch.clone()), now())
            .await;
        assert!(
            matches!(&result, Err(ReceiveError::Token(e)) if *e == expected),
            "{patch}: {result:?}"
        );
    }
    let unsigned = {
        let t = late_token(json!({}));
        let (input, _) = t.rsplit_once('.').unwrap();
        let header = testkit::b64(json!({"alg": "none"}).to_string());
        format!("{header}.{}.", input.split('.').nth(1).unwrap())
    };
    assert!(matches!(
        h.receiver.receive(None, &unsigned, now()).await,
        Err(ReceiveError::Token(LogoutTokenError::AlgNone))
    ));
    assert!(h.kept().await.is_empty());
}

#[tokio::test]
async fn kept_tokens_are_bounded_in_count_and_size() {
    let h = harness(PendingLimits {
        max_tokens: 1,
        ..PendingLimits::default()
    });
    let first = late_token(json!({"jti": "one"}));
    assert_eq!(
        kept_as(h.receiver.receive(None, &first, now()).await).1,
        Kept::Yes
    );
    // The same token again is still kept (once).
    assert_eq!(
        kept_as(h.receiver.receive(None, &first, now()).await).1,
        Kept::Yes
    );
    let second = late_token(json!({"jti": "two"}));
    assert_eq!(
        kept_as(h.receiver.receive(None, &second, now()).await).1,
        Kept::Full
    );
    assert_eq!(h.kept().await.len(), 1);

    let exact = late_token(json!({"jti": "three"}));
    let h = harness(PendingLimits {
        max_token_bytes: exact.len(),
        ..PendingLimits::default()
    });
    assert_eq!(
        kept_as(h.receiver.receive(None, &exact, now()).await).1,
        Kept::Yes
    );
    let h = harness(PendingLimits {
        max_token_bytes: exact.len() - 1,
        ..PendingLimits::default()
    });
    assert_eq!(
        kept_as(h.receiver.receive(None, &exact, now()).await).1,
        Kept::NotKept
    );

    let h = harness(PendingLimits {
        max_tokens: 0,
        ..PendingLimits::default()
    });
    assert_eq!(
        kept_as(h.receiver.receive(None, &first, now()).await).1,
        Kept::NotKept
    );
    assert!(h.kept().await.is_empty());
}

#[test]
fn each_reason_for_missing_keys_has_its_label_and_message() {
    let error = |why| ReceiveError::KeysUnavailable {
        provider: "p".into(),
        why,
        kept: Kept::Yes,
    };
    assert_eq!(error(KeysMissing::NotLoaded).rule(), "keys_not_loaded");
    assert_eq!(
        error(KeysMissing::KidNotFetchedYet).rule(),
        "kid_not_fetched_yet"
    );
    assert_eq!(error(KeysMissing::FetchFailed).rule(), "keys_fetch_failed");
    let text = error(KeysMissing::NotLoaded).to_string();
    assert!(text.contains("`p`") && text.contains("is kept"), "{text}");
    let full = ReceiveError::KeysUnavailable {
        provider: "p".into(),
        why: KeysMissing::FetchFailed,
        kept: Kept::Full,
    };
    assert!(full.to_string().contains("not kept"), "{full}");
}
