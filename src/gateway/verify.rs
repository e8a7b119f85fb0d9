//! Signature verification for the `jwt` profile, so that a forged token is
//! refused at the gateway too and its claims can be passed upstream.
//!
//! Keys come from one place only: a configured provider's JWK Set, a JWK Set
//! file, or a shared secret. Header parameters that name keys (`jwk`, `jku`,
//! `x5u`, `x5c`) are ignored (RFC 8725 §3.10), `crit` is refused, and `alg`
//! must be on the configured list and fit the key source, so a public key
//! can never be used as an HMAC secret (RFC 8725 §3.1).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use josekit::jws::JwsVerifier;
use sha2::{Sha256, Sha384, Sha512};

use super::profile::TokenRefusal;
use super::settings::JwtSettings;
use crate::config::error::ConfigError;
use crate::jwt::Claims;
use crate::oidc::jwks::KeyLookupError;
use crate::oidc::{JwsAlg, KeySet};
use crate::providers::{Provider, Providers};

/// Shortest HMAC secret accepted: 256 bits (RFC 7518 §3.2 for HS256).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

const SIGNATURE_DOES_NOT_VERIFY: &str = "the signature does not verify";

/// Why a token could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The token fails: 401.
    #[error(transparent)]
    Refused(#[from] TokenRefusal),
    /// revokd cannot verify anything yet (the provider's keys are not
    /// loaded): fail closed with a 503.
    #[error("{0}")]
    KeysUnavailable(String),
}

enum KeySource {
    Provider(Arc<Provider>),
    Jwks(KeySet),
    Hmac(Vec<HmacKey>),
}

/// A shared secret for one `HS*` algorithm, with the HMAC key schedule
/// (the secret padded and hashed once into the inner and outer states)
/// done once, at start-up: each token then costs one clone of that state
/// and the hashing of its own bytes.
///
/// Not josekit's HMAC verifier: that one compares the expected and the
/// presented MAC with `!=`, whose time depends on the first differing byte,
/// and this comparison runs on every request a stranger can send.
/// `Mac::verify_slice` compares in constant time (the length of a MAC is
/// public: it only names the algorithm). Not an OpenSSL `Signer` either:
/// OpenSSL 3 fetches the algorithm from its provider and keys a new
/// context for every token (`benches/gate_verify.rs`, the whole of
/// `Gate::identify` for an HS256 token: 8.0 µs with it, 2.1 µs with this).
struct HmacKey {
    alg: &'static str,
    mac: HmacState,
}

/// The keyed state of one HMAC, ready to be cloned per token.
enum HmacState {
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

impl HmacKey {
    fn new(alg: &'static str, secret: &[u8]) -> Option<Self> {
        // `new_from_slice` takes a key of any length (RFC 2104 hashes a
        // long one); it cannot fail for HMAC, but is not assumed not to.
        let mac = match alg {
            "HS256" => HmacState::Sha256(Hmac::new_from_slice(secret).ok()?),
            "HS384" => HmacState::Sha384(Hmac::new_from_slice(secret).ok()?),
            "HS512" => HmacState::Sha512(Hmac::new_from_slice(secret).ok()?),
            _ => return None,
        };
        Some(Self { alg, mac })
    }

    /// Whether `signature` is the MAC of `input`, compared in constant
    /// time.
    fn verifies(&self, input: &[u8], signature: &[u8]) -> bool {
        fn check<D: Mac + Clone>(keyed: &D, input: &[u8], signature: &[u8]) -> bool {
            let mut mac = keyed.clone();
            mac.update(input);
            mac.verify_slice(signature).is_ok()
        }
        match &self.mac {
            HmacState::Sha256(keyed) => check(keyed, input, signature),
            HmacState::Sha384(keyed) => check(keyed, input, signature),
            HmacState::Sha512(keyed) => check(keyed, input, signature),
        }
    }
}

/// Verifies `jwt`-profile tokens; see the module docs.
pub struct JwtVerifier {
    source: KeySource,
    /// Accepted asymmetric algorithms (unused for HMAC, whose verifiers are
    /// built per accepted algorithm).
    algs: Vec<JwsAlg>,
    issuer: Option<String>,
    audiences: Vec<String>,
}

fn refused(message: impl Into<String>) -> VerifyError {
    VerifyError::Refused(TokenRefusal::Unverified(message.into()))
}

impl JwtVerifier {
    /// Builds the verifier `settings` describe, or `None` when they ask for
    /// no verification.
    ///
    /// # Errors
    /// An unknown provider, an unreadable or unusable key file, a short
    /// secret, an algorithm that does not fit the key source.
    pub fn from_settings(
        settings: &JwtSettings,
        providers: &Providers,
    ) -> Result<Option<Self>, ConfigError> {
        let key = |field: &str| format!("forward_auth.jwt.{field}");
        let sources = [
            !settings.provider.is_empty(),
            settings.jwks_file.is_some(),
            settings.hmac_secret_file.is_some(),
        ];
        match sources.iter().filter(|s| **s).count() {
            0 => return Ok(None),
            1 => {}
            _ => {
                return Err(ConfigError::invalid(
                    key("provider"),
                    "give at most one of provider, jwks_file, hmac_secret_file",
                ));
            }
        }
        let read = |field: &str, path: &std::path::Path| {
            crate::config::secret_file::read_secret_file(&key(field), path)
        };
        if let Some(path) = &settings.hmac_secret_file {
            let secret = read("hmac_secret_file", path)?;
            let secret = secret.trim_ascii().to_vec();
            if secret.len() < MIN_HMAC_SECRET_BYTES {
                return Err(ConfigError::invalid(
                    key("hmac_secret_file"),
                    format!("the secret must be at least {MIN_HMAC_SECRET_BYTES} bytes"),
                ));
            }
            let names: Vec<&str> = if settings.algorithms.is_empty() {
                vec!["HS256"]
            } else {
                settings.algorithms.iter().map(String::as_str).collect()
            };
            let mut verifiers = Vec::new();
            for name in names {
                let alg = match name {
                    "HS256" => "HS256",
                    "HS384" => "HS384",
                    "HS512" => "HS512",
                    other => {
                        return Err(ConfigError::invalid(
                            key("algorithms"),
                            format!(
                                "`{other}` cannot be used with hmac_secret_file (HS256, HS384, HS512)"
                            ),
                        ));
                    }
                };
                verifiers.push(HmacKey::new(alg, &secret).ok_or_else(|| {
                    ConfigError::invalid(key("hmac_secret_file"), "unusable as an HMAC key")
                })?);
            }
            return Ok(Some(Self {
                source: KeySource::Hmac(verifiers),
                algs: Vec::new(),
                issuer: non_empty(&settings.issuer),
                audiences: settings.audiences.clone(),
            }));
        }
        let mut algs = Vec::new();
        for name in &settings.algorithms {
            algs.push(JwsAlg::from_name(name).ok_or_else(|| {
                ConfigError::invalid(
                    key("algorithms"),
                    format!("`{name}` is not a supported public-key algorithm"),
                )
            })?);
        }
        if algs.is_empty() {
            algs = JwsAlg::ALL.to_vec();
        }
        if let Some(path) = &settings.jwks_file {
            let keys = KeySet::from_jwks(&read("jwks_file", path)?)
                .map_err(|e| ConfigError::invalid(key("jwks_file"), e.to_string()))?;
            return Ok(Some(Self {
                source: KeySource::Jwks(keys),
                algs,
                issuer: non_empty(&settings.issuer),
                audiences: settings.audiences.clone(),
            }));
        }
        let provider = providers.by_name(&settings.provider).ok_or_else(|| {
            ConfigError::invalid(
                key("provider"),
                format!("no [[providers]] entry is named `{}`", settings.provider),
            )
        })?;
        if !settings.issuer.is_empty() {
            return Err(ConfigError::invalid(
                key("issuer"),
                "with `provider`, the issuer is the provider's",
            ));
        }
        Ok(Some(Self {
            issuer: Some(provider.issuer.to_string()),
            source: KeySource::Provider(provider.clone()),
            algs,
            audiences: settings.audiences.clone(),
        }))
    }

    /// Verifies the signature of `token` and its `iss` and `aud` claims
    /// (already read, unverified, into `claims`).
    ///
    /// # Errors
    /// See [`VerifyError`].
    pub async fn verify(&self, token: &str, claims: &Claims) -> Result<(), VerifyError> {
        let jws = Jws::decode(token)?;
        match &self.source {
            KeySource::Hmac(verifiers) => {
                let key = verifiers
                    .iter()
                    .find(|key| key.alg == jws.alg)
                    .ok_or_else(|| refused(format!("`alg` {} is not accepted", jws.alg)))?;
                if !key.verifies(jws.signing_input.as_bytes(), &jws.signature) {
                    return Err(refused(SIGNATURE_DOES_NOT_VERIFY));
                }
            }
            KeySource::Jwks(keys) => jws.check_with(keys, self.alg(&jws)?)?,
            KeySource::Provider(provider) => {
                let alg = self.alg(&jws)?;
                let loaded = provider.loaded().ok_or_else(|| {
                    VerifyError::KeysUnavailable(format!(
                        "the keys of provider `{}` are not loaded yet",
                        provider.name
                    ))
                })?;
                match jws.check_with(&loaded.keys, alg) {
                    Err(VerifyError::Refused(TokenRefusal::Unverified(ref why)))
                        if why == UNKNOWN_KID && provider.refetch_for_unknown_kid().await =>
                    {
                        let reloaded = provider.loaded().unwrap_or(loaded);
                        jws.check_with(&reloaded.keys, alg)?;
                    }
                    other => other?,
                }
            }
        }
        if let Some(issuer) = &self.issuer
            && claims.iss.as_deref() != Some(issuer.as_str())
        {
            return Err(refused("`iss` is not the expected issuer"));
        }
        if !self.audiences.is_empty() {
            let aud = claims.aud.as_ref();
            if !self
                .audiences
                .iter()
                .any(|wanted| aud.is_some_and(|a| a.contains(wanted)))
            {
                return Err(refused("`aud` holds none of the accepted audiences"));
            }
        }
        Ok(())
    }

    fn alg(&self, jws: &Jws) -> Result<JwsAlg, VerifyError> {
        JwsAlg::from_name(&jws.alg)
            .filter(|alg| self.algs.contains(alg))
            .ok_or_else(|| refused(format!("`alg` {} is not accepted", jws.alg)))
    }
}

const UNKNOWN_KID: &str = "no key has the token's `kid`";

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// A compact JWS, split and its header read.
struct Jws<'a> {
    signing_input: &'a str,
    alg: String,
    kid: Option<String>,
    signature: Vec<u8>,
}

/// The JWS header members the gateway reads, and whether `crit` is there.
/// Read into this rather than into a `serde_json::Map`: a token's header
/// is parsed on every forward-auth request, and a map allocates a key and
/// a value for every member (the whole header parse was 2.6 % of an HS256
/// forward-auth profile; `benches/check_profile.sh`). Other members are
/// skipped unparsed. A member sent twice is refused as malformed (a map
/// would keep the last one silently). A member sent as `null` counts as
/// sent, as it did in the map.
#[derive(serde::Deserialize)]
struct JwsHeader<'h> {
    #[serde(borrow, default, deserialize_with = "sent")]
    alg: Option<Member<'h>>,
    #[serde(borrow, default, deserialize_with = "sent")]
    kid: Option<Member<'h>>,
    #[serde(default, deserialize_with = "sent")]
    crit: Option<serde::de::IgnoredAny>,
}

/// A member that is present, whatever its value (`null` included).
fn sent<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A header member that should be a string, or whatever else was sent
/// (refused by the caller with its own message).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Member<'h> {
    Text(#[serde(borrow)] std::borrow::Cow<'h, str>),
    Other(serde::de::IgnoredAny),
}

impl<'a> Jws<'a> {
    fn decode(token: &'a str) -> Result<Self, VerifyError> {
        let malformed = |why: &str| VerifyError::Refused(TokenRefusal::Malformed(why.into()));
        let (signing_input, signature) = token
            .rsplit_once('.')
            .ok_or_else(|| malformed("not a JWS"))?;
        let (header, _) = signing_input
            .split_once('.')
            .ok_or_else(|| malformed("not a JWS"))?;
        let not_an_object = || malformed("the JWS header is not a base64url JSON object");
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| not_an_object())?;
        // serde reads a struct from a JSON array too: only an object is a
        // header (RFC 7515 §4).
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(not_an_object());
        }
        let header: JwsHeader<'_> = serde_json::from_slice(&bytes).map_err(|_| not_an_object())?;
        if header.crit.is_some() {
            return Err(refused("`crit` header parameters are not understood"));
        }
        let alg = match header.alg {
            Some(Member::Text(alg)) => alg.into_owned(),
            _ => return Err(malformed("the JWS header has no `alg`")),
        };
        let kid = match header.kid {
            None => None,
            Some(Member::Text(kid)) => Some(kid.into_owned()),
            Some(Member::Other(_)) => return Err(malformed("`kid` is not a string")),
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| malformed("the signature is not base64url"))?;
        Ok(Self {
            signing_input,
            alg,
            kid,
            signature,
        })
    }

    fn check(&self, verifier: &dyn JwsVerifier) -> Result<(), VerifyError> {
        verifier
            .verify(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| refused(SIGNATURE_DOES_NOT_VERIFY))
    }

    fn check_with(&self, keys: &KeySet, alg: JwsAlg) -> Result<(), VerifyError> {
        let verifier = keys
            .verifier(self.kid.as_deref(), alg)
            .map_err(|e| match e {
                KeyLookupError::MissingKid => {
                    refused("the token has no `kid` and there are several keys")
                }
                KeyLookupError::UnknownKid => refused(UNKNOWN_KID),
                KeyLookupError::AlgKeyMismatch => {
                    refused("no key with that `kid` can verify that `alg`")
                }
            })?;
        self.check(verifier)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jwt::peek_claims;
    use crate::oidc::testkit::{self, ISSUER};

    fn jwks_verifier(customise: impl FnOnce(&mut JwtSettings)) -> Result<JwtVerifier, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, testkit::jwks_json()).unwrap();
        let mut settings = JwtSettings {
            jwks_file: Some(path),
            issuer: ISSUER.into(),
            ..JwtSettings::default()
        };
        customise(&mut settings);
        JwtVerifier::from_settings(&settings, &Providers::default()).map(|v| v.unwrap())
    }

    async fn verify(verifier: &JwtVerifier, token: &str) -> Result<(), VerifyError> {
        verifier.verify(token, &peek_claims(token).unwrap()).await
    }

    fn access_token(alg: JwsAlg, claims: serde_json::Value) -> String {
        testkit::sign(
            &json!({"alg": alg.name(), "kid": testkit::key_for(alg).key_id().unwrap()}),
            &claims,
            alg,
        )
    }

    fn refusal(result: Result<(), VerifyError>) -> String {
        match result {
            Err(VerifyError::Refused(TokenRefusal::Unverified(why))) => why,
            other => panic!("expected an unverified refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_jwks_file_verifies_each_of_its_algorithms() {
        let verifier = jwks_verifier(|_| {}).unwrap();
        for alg in [JwsAlg::Rs256, JwsAlg::Ps384, JwsAlg::Es256, JwsAlg::EdDsa] {
            let token = access_token(alg, json!({"iss": ISSUER, "sub": "a"}));
            assert!(verify(&verifier, &token).await.is_ok(), "{alg}");
        }
        let foreign = access_token(JwsAlg::Rs256, json!({"iss": "https://other", "sub": "a"}));
        assert!(refusal(verify(&verifier, &foreign).await).contains("iss"));
    }

    #[tokio::test]
    async fn algorithms_are_restricted_and_never_confused() {
        let only_es256 = jwks_verifier(|s| s.algorithms = vec!["ES256".into()]).unwrap();
        let rs256 = access_token(JwsAlg::Rs256, json!({"iss": ISSUER, "sub": "a"}));
        assert!(refusal(verify(&only_es256, &rs256).await).contains("RS256"));

        // HS256 keyed with anything can never pass a public-key source.
        let verifier = jwks_verifier(|_| {}).unwrap();
        let header = testkit::b64(r#"{"alg":"HS256"}"#);
        let claims = testkit::b64(json!({"iss": ISSUER, "sub": "a"}).to_string());
        let hs = format!("{header}.{claims}.{}", testkit::b64("sig"));
        assert!(refusal(verify(&verifier, &hs).await).contains("HS256"));
        let none = format!("{}.{claims}.", testkit::b64(r#"{"alg":"none"}"#));
        assert!(refusal(verify(&verifier, &none).await).contains("none"));
        let crit = testkit::sign(
            &json!({"alg": "RS256", "kid": testkit::key_for(JwsAlg::Rs256).key_id().unwrap(), "crit": ["exp"]}),
            &json!({"iss": ISSUER, "sub": "a"}),
            JwsAlg::Rs256,
        );
        assert!(refusal(verify(&verifier, &crit).await).contains("crit"));
        let mut tampered = rs256.clone();
        tampered.insert(tampered.rfind('.').unwrap() + 1, 'A');
        assert!(verify(&verifier, &tampered).await.is_err());
    }

    /// The header is read member by member, not into a map: every shape
    /// the map refused is still refused, with the same reason.
    #[test]
    fn jws_headers_of_every_odd_shape_are_refused() {
        let claims = testkit::b64(json!({"iss": ISSUER, "sub": "a"}).to_string());
        let decode = |header: &str| {
            let token = format!("{}.{claims}.{}", testkit::b64(header), testkit::b64("sig"));
            match Jws::decode(&token) {
                Ok(jws) => Ok((jws.alg, jws.kid)),
                Err(VerifyError::Refused(refusal)) => Err(refusal.to_string()),
                Err(other) => panic!("{other:?}"),
            }
        };
        let ok = decode(r#"{"typ":"JWT","alg":"RS256","kid":"k1","x5c":["MII"],"n":{"a":[1,2]}}"#);
        assert_eq!(ok, Ok(("RS256".to_owned(), Some("k1".to_owned()))));
        assert_eq!(decode(r#"{"alg":"HS256"}"#), Ok(("HS256".to_owned(), None)));
        assert_eq!(
            decode(r#"{"alg":"RS\u0032\u0035\u0036"}"#),
            Ok(("RS256".to_owned(), None)),
            "an escaped value is read, not borrowed"
        );
        for (header, why) in [
            (r#"["RS256","k1"]"#, "not a base64url JSON object"),
            (r#""RS256""#, "not a base64url JSON object"),
            (r#"{"alg":"RS256""#, "not a base64url JSON object"),
            (
                r#"{"alg":"RS256","alg":"none"}"#,
                "not a base64url JSON object",
            ),
            (r#"{"typ":"JWT"}"#, "has no `alg`"),
            (r#"{"alg":null}"#, "has no `alg`"),
            (r#"{"alg":256}"#, "has no `alg`"),
            (r#"{"alg":"RS256","kid":null}"#, "`kid` is not a string"),
            (r#"{"alg":"RS256","kid":["k1"]}"#, "`kid` is not a string"),
            (r#"{"alg":"RS256","crit":null}"#, "`crit`"),
            (r#"{"alg":"RS256","crit":[]}"#, "`crit`"),
        ] {
            let got = decode(header).unwrap_err();
            assert!(got.contains(why), "{header}: {got}");
        }
    }

    /// HMAC with OpenSSL as the reference: the verifier must agree with it
    /// for each `HS*` algorithm and refuse every near miss.
    #[tokio::test]
    async fn an_hmac_secret_verifies_each_hs_algorithm_and_nothing_else() {
        use openssl::hash::MessageDigest;
        let secret = b"0123456789abcdef0123456789abcdef-hmac";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        // Trailing whitespace is trimmed from the file, as before.
        std::fs::write(&path, [&secret[..], b"\n"].concat()).unwrap();
        let sign = |alg: &str, digest: MessageDigest, key: &[u8]| {
            let input = format!(
                "{}.{}",
                testkit::b64(json!({"alg": alg}).to_string()),
                testkit::b64(json!({"iss": ISSUER, "sub": "a"}).to_string())
            );
            let key = openssl::pkey::PKey::hmac(key).unwrap();
            let mac = openssl::sign::Signer::new(digest, &key)
                .unwrap()
                .sign_oneshot_to_vec(input.as_bytes())
                .unwrap();
            format!("{input}.{}", testkit::b64(mac))
        };
        let verifier = |algs: &[&str]| {
            let settings = JwtSettings {
                hmac_secret_file: Some(path.clone()),
                issuer: ISSUER.into(),
                algorithms: algs.iter().map(|a| (*a).to_owned()).collect(),
                ..JwtSettings::default()
            };
            JwtVerifier::from_settings(&settings, &Providers::default())
                .unwrap()
                .unwrap()
        };
        let all = verifier(&["HS256", "HS384", "HS512"]);
        for (alg, digest) in [
            ("HS256", MessageDigest::sha256()),
            ("HS384", MessageDigest::sha384()),
            ("HS512", MessageDigest::sha512()),
        ] {
            let token = sign(alg, digest, secret);
            assert!(verify(&all, &token).await.is_ok(), "{alg}");
            let forged = sign(alg, digest, b"another-secret-of-32-bytes-or-more!!");
            assert!(
                refusal(verify(&all, &forged).await).contains("signature"),
                "{alg}"
            );
            // A MAC cut short, or one byte changed, never passes.
            let (input, mac) = token.rsplit_once('.').unwrap();
            let mac = URL_SAFE_NO_PAD.decode(mac).unwrap();
            let cut = format!("{input}.{}", testkit::b64(&mac[..mac.len() - 1]));
            assert!(
                refusal(verify(&all, &cut).await).contains("signature"),
                "{alg}"
            );
            let mut flipped = token.clone().into_bytes();
            let last = flipped.len() - 2;
            flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
            let flipped = String::from_utf8(flipped).unwrap();
            assert!(verify(&all, &flipped).await.is_err(), "{alg}");
        }
        // Only the configured algorithms (default: HS256 alone).
        let hs512 = sign("HS512", MessageDigest::sha512(), secret);
        assert!(refusal(verify(&verifier(&[]), &hs512).await).contains("HS512"));
        let hs256 = sign("HS256", MessageDigest::sha256(), secret);
        assert!(verify(&verifier(&[]), &hs256).await.is_ok());
        // A token saying HS384 with an HS256 MAC: the header's alg decides.
        let confused = hs256.replacen(
            &testkit::b64(json!({"alg": "HS256"}).to_string()),
            &testkit::b64(json!({"alg": "HS384"}).to_string()),
            1,
        );
        assert!(refusal(verify(&all, &confused).await).contains("signature"));
    }

    #[test]
    fn unusable_settings_name_their_key() {
        type Customise = Box<dyn FnOnce(&mut JwtSettings)>;
        let cases: Vec<(Customise, &str)> = vec![
            (Box::new(|s| s.provider = "missing".into()), "provider"),
            (
                Box::new(|s| s.algorithms = vec!["HS256".into()]),
                "algorithms",
            ),
            (
                Box::new(|s| s.algorithms = vec!["RS1".into()]),
                "algorithms",
            ),
            (
                Box::new(|s| s.hmac_secret_file = Some("/x".into())),
                "provider",
            ),
            (
                Box::new(|s| s.jwks_file = Some("/nonexistent".into())),
                "jwks_file",
            ),
        ];
        for (customise, key) in cases {
            let err = jwks_verifier(customise)
                .err()
                .expect("must be refused")
                .to_string();
            assert!(err.contains(&format!("forward_auth.jwt.{key}")), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "too-short").unwrap();
        let settings = JwtSettings {
            hmac_secret_file: Some(short),
            ..JwtSettings::default()
        };
        let err = JwtVerifier::from_settings(&settings, &Providers::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
        assert!(
            JwtVerifier::from_settings(&JwtSettings::default(), &Providers::default())
                .unwrap()
                .is_none()
        );
    }
}
