//! Mutated tokens against the whole receiver (issue 17 item 1, DESIGN 13):
//! every part of a valid JWS and of a valid JWE, for every signature,
//! key-management and content-encryption algorithm revokd can be configured
//! with, is replaced by one of every length from 0 to past its legal size
//! (and the JWE's ephemeral key by points of every coordinate length). Each
//! mutation must be answered `400` with the JSON error body, nothing may
//! panic anywhere in the server, and the server must still work afterwards.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use reqwest::StatusCode;
use revokd::oidc::JwsAlg;
use revokd::providers::ProviderSettings;
use serde_json::Value;

use crate::backchannel::{provider, wait_for_provider};
use crate::common::forging_idp::TestIdp;
use crate::helpers::{Backend, TestApp, spawn_app_with};
use revokd::oidc::testkit::RelyingPartyKey;

/// Panics raised outside the test code (in revokd or a library it calls),
/// counted by a hook that still prints them as the default hook does.
static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);

static PANIC_HOOK: LazyLock<()> = LazyLock::new(|| {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_tests = info
            .location()
            .is_some_and(|l| l.file().starts_with("tests/"));
        if !in_tests {
            SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
});

const KEY_MANAGEMENT: [&str; 5] = [
    "RSA-OAEP",
    "RSA-OAEP-256",
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A256KW",
];
const CONTENT_ENCRYPTION: [&str; 4] = ["A128GCM", "A256GCM", "A128CBC-HS256", "A256CBC-HS512"];

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(part)
        .expect("a part of a valid token")
}

/// `original` resized to `len` bytes (truncated, or extended with a
/// filler), so that each length is tried with plausible content.
fn resized(original: &[u8], len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = original.iter().copied().cycle().take(len).collect();
    if original.is_empty() {
        bytes = vec![0xa5; len];
    }
    bytes
}

/// `token` with part `index` replaced by each length in `lengths`; the
/// original part itself is skipped.
fn part_lengths(
    token: &str,
    index: usize,
    lengths: impl IntoIterator<Item = usize>,
) -> Vec<String> {
    let parts: Vec<&str> = token.split('.').collect();
    let original = unb64(parts[index]);
    lengths
        .into_iter()
        .map(|len| resized(&original, len))
        .filter(|bytes| *bytes != original)
        .map(|bytes| {
            let mut mutated: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
            mutated[index] = b64(&bytes);
            mutated.join(".")
        })
        .collect()
}

/// `token` (a JWE) with its header's `epk` coordinates of every length.
fn epk_lengths(token: &str) -> Vec<String> {
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = serde_json::from_slice(&unb64(parts[0])).unwrap();
    let mut mutated = Vec::new();
    for coordinate in ["x", "y"] {
        let original = unb64(header["epk"][coordinate].as_str().unwrap());
        for len in (0..=40).filter(|len| *len != original.len()) {
            let mut header = header.clone();
            header["epk"][coordinate] = b64(&resized(&original, len)).into();
            let mut token: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
            token[0] = b64(header.to_string().as_bytes());
            mutated.push(token.join("."));
        }
    }
    for epk in [
        Value::Null,
        "not an object".into(),
        serde_json::json!({}),
        serde_json::json!({"kty": "EC", "crv": "P-256"}),
        serde_json::json!({"kty": "EC", "crv": "P-384", "x": header["epk"]["x"], "y": header["epk"]["y"]}),
        serde_json::json!({"kty": "OKP", "crv": "X25519", "x": header["epk"]["x"]}),
        serde_json::json!({"kty": "EC", "crv": "P-256", "x": 5, "y": []}),
    ] {
        let mut header = header.clone();
        header["epk"] = epk;
        let mut token: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
        token[0] = b64(header.to_string().as_bytes());
        mutated.push(token.join("."));
    }
    mutated
}

/// Every mutation of a JWE: each of its five parts at every length from 0
/// to past the longest legal one, and for ECDH-ES every `epk` shape.
fn jwe_mutations(token: &str, alg: &str) -> Vec<String> {
    let parts: Vec<&str> = token.split('.').collect();
    let header_len = unb64(parts[0]).len();
    let key_len = unb64(parts[1]).len();
    let ciphertext_len = unb64(parts[3]).len();
    let mut mutated = Vec::new();
    // The header: every truncation, and a little longer.
    mutated.extend(part_lengths(token, 0, (0..=header_len + 8).step_by(3)));
    // The encrypted key: 0 to past the largest legal one (an RSA modulus
    // of 2048 bits; a key wrapped for a 512-bit CEK is 72 bytes).
    mutated.extend(part_lengths(token, 1, 0..=key_len.max(72) + 16));
    mutated.extend(part_lengths(token, 2, 0..=40));
    mutated.extend(part_lengths(
        token,
        3,
        (0..=80).chain([ciphertext_len - 1, ciphertext_len + 1, ciphertext_len + 16]),
    ));
    mutated.extend(part_lengths(token, 4, 0..=72));
    if alg.starts_with("ECDH-ES") {
        mutated.extend(epk_lengths(token));
    }
    mutated
}

/// Every mutation of a JWS: header, claims and signature at every length.
pub(crate) fn jws_mutations(token: &str) -> Vec<String> {
    let parts: Vec<&str> = token.split('.').collect();
    let header_len = unb64(parts[0]).len();
    let claims_len = unb64(parts[1]).len();
    let mut mutated = Vec::new();
    mutated.extend(part_lengths(token, 0, 0..=header_len + 4));
    mutated.extend(part_lengths(token, 1, (0..=claims_len + 4).step_by(2)));
    // 0 to past the longest signature (RSA 2048: 256 bytes).
    mutated.extend(part_lengths(token, 2, 0..=272));
    mutated
}

/// Posts every token (a few at a time) and asserts a 400 with the JSON
/// error body for each; returns how many were posted.
async fn assert_each_refused(app: &TestApp, path: &str, tokens: Vec<String>, what: &str) -> usize {
    let count = tokens.len();
    let url = app.url(path);
    let mut answers = futures_util::stream::iter(tokens.into_iter().map(|token| {
        let request = app.client.post(&url).form(&[("logout_token", &token)]);
        async move { (token, request.send().await) }
    }))
    .buffer_unordered(8);
    while let Some((token, answer)) = answers.next().await {
        let response = answer
            .unwrap_or_else(|e| panic!("{what}: no answer (the server panicked?) to {token}: {e}"));
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{what}: the error body is not JSON for {token}: {e}"));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {token}: {body}");
        assert_eq!(body["error"], "invalid_request", "{what}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{what}: {body}"
        );
    }
    count
}

fn decrypting_provider(
    idp: &TestIdp,
    name: &str,
    key_file: &std::path::Path,
    alg: &str,
) -> ProviderSettings {
    let mut settings = provider(name, idp.issuer(), idp.client_id());
    settings.decryption_key_file = Some(key_file.to_owned());
    settings.decryption_alg = Some(alg.to_owned());
    settings.algorithms = Some(JwsAlg::ALL.iter().map(|a| a.name().to_owned()).collect());
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_jws_and_jwe_parts_of_every_length_are_refused_without_a_panic() {
    // Arrange: one provider per key-management algorithm (a provider has
    // one decryption key), each allowing every signature algorithm.
    LazyLock::force(&PANIC_HOOK);
    let dir = tempfile::tempdir().unwrap();
    let mut idps = Vec::new();
    let mut settings = Vec::new();
    for (i, alg) in KEY_MANAGEMENT.iter().enumerate() {
        let idp = TestIdp::start();
        let key = if alg.starts_with("RSA") {
            RelyingPartyKey::rsa(Some("rp-enc"))
        } else {
            RelyingPartyKey::ec_p256(Some("rp-enc"))
        };
        let file = dir.path().join(format!("rp-{i}.pem"));
        key.write_private_pem(&file);
        settings.push(decrypting_provider(&idp, &format!("p{i}"), &file, alg));
        idps.push((idp, key, *alg, format!("/backchannel-logout/p{i}")));
    }
    let app = spawn_app_with(Backend::Embedded, move |s| s.providers = settings).await;
    for i in 0..KEY_MANAGEMENT.len() {
        wait_for_provider(&app, &format!("p{i}")).await;
    }

    // Act and assert: every JWS part of every length, for every signature
    // algorithm; then every JWE part, for every alg and enc.
    let mut posted = 0;
    let (jws_idp, _, _, jws_path) = &idps[0];
    for alg in JwsAlg::ALL {
        let token = jws_idp.logout_token().sid("s").alg(alg).sign();
        posted += assert_each_refused(&app, jws_path, jws_mutations(&token), alg.name()).await;
    }
    for (idp, key, alg, path) in &idps {
        for enc in CONTENT_ENCRYPTION {
            let token = idp
                .logout_token()
                .sid("s")
                .encrypt_for(key, alg, enc)
                .sign();
            let what = format!("{alg} {enc}");
            posted += assert_each_refused(&app, path, jwe_mutations(&token, alg), &what).await;
        }
    }

    // The server still works, and nothing panicked anywhere.
    assert_eq!(
        SERVER_PANICS.load(Ordering::SeqCst),
        0,
        "a panic outside the tests"
    );
    for (idp, key, alg, path) in &idps {
        let token = idp
            .logout_token()
            .sid("after")
            .encrypt_for(key, alg, "A256GCM")
            .sign();
        let response = app
            .client
            .post(app.url(path))
            .form(&[("logout_token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{alg}");
    }
    assert!(posted > 10_000, "only {posted} mutations were posted");
}
