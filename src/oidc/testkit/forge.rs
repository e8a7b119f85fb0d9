//! Forging: compact JWS with exactly the header and claims given, signed
//! properly, with HS256 under any secret, or not at all; JWE to any
//! recipient with any header. Nothing is validated: a forger must be able
//! to break every rule on its own.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{JweEncrypter, JweHeader};
use josekit::jwk::Jwk;
use josekit::jws::JwsSigner;
use serde_json::Value;

use crate::oidc::decryption_key::{DecryptionKey, KeyManagementAlg};
use crate::oidc::jwks::JwsAlg;

/// The JWE content type of a nested logout token (RFC 7519 §5.2).
pub const NESTED_JWT_CTY: &str = "JWT";

/// base64url without padding, as JOSE encodes every part.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64(header.to_string()), b64(claims.to_string()))
}

/// The signature of `input` by `key` under `alg` (any of the eight
/// [`JwsAlg`]s; `key` must be of a kind that fits it).
pub fn signature(alg: JwsAlg, key: &Jwk, input: &[u8]) -> Vec<u8> {
    use josekit::jws::{ES256, EdDSA, PS256, PS384, PS512, RS256, RS384, RS512};
    let signer: Box<dyn JwsSigner> = match alg {
        JwsAlg::Rs256 => Box::new(RS256.signer_from_jwk(key).expect("RS256 signer")),
        JwsAlg::Rs384 => Box::new(RS384.signer_from_jwk(key).expect("RS384 signer")),
        JwsAlg::Rs512 => Box::new(RS512.signer_from_jwk(key).expect("RS512 signer")),
        JwsAlg::Ps256 => Box::new(PS256.signer_from_jwk(key).expect("PS256 signer")),
        JwsAlg::Ps384 => Box::new(PS384.signer_from_jwk(key).expect("PS384 signer")),
        JwsAlg::Ps512 => Box::new(PS512.signer_from_jwk(key).expect("PS512 signer")),
        JwsAlg::Es256 => Box::new(ES256.signer_from_jwk(key).expect("ES256 signer")),
        JwsAlg::EdDsa => Box::new(EdDSA.signer_from_jwk(key).expect("EdDSA signer")),
    };
    signer.sign(input).expect("sign")
}

/// A compact JWS of exactly `header` and `claims`, signed with `key`
/// using `alg`, whatever the header says.
pub fn sign_jws(header: &Value, claims: &Value, alg: JwsAlg, key: &Jwk) -> String {
    let input = signing_input(header, claims);
    let signature = signature(alg, key, input.as_bytes());
    format!("{input}.{}", b64(signature))
}

/// A compact JWS of exactly `header` and `claims`, with an HMAC-SHA-256
/// signature keyed with `secret`, whatever the header says. OpenSSL
/// directly: josekit refuses HMAC keys under 32 bytes, and a forger does
/// not care.
pub fn hs256_jws(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = signing_input(header, claims);
    let key = openssl::pkey::PKey::hmac(secret).expect("HMAC key");
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)
        .expect("HMAC signer");
    let signature = signer
        .sign_oneshot_to_vec(input.as_bytes())
        .expect("HS256 signature");
    format!("{input}.{}", b64(signature))
}

/// A compact JWS of exactly `header` and `claims` with an empty signature
/// (with `"alg": "none"` in `header`, an Unsecured JWT, RFC 7519 §6.1).
pub fn unsigned_jws(header: &Value, claims: &Value) -> String {
    format!("{}.", signing_input(header, claims))
}

/// `token` with one bit of its signature flipped.
///
/// # Panics
/// The token has no signature.
pub fn corrupt_signature(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').expect("a compact JWS");
    let mut signature = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("a base64url signature");
    let first = signature
        .first_mut()
        .expect("an unsigned token has no signature to corrupt");
    *first ^= 0x01;
    format!("{input}.{}", b64(signature))
}

/// Whom [`encrypt_jwe`] encrypts to: a public JWK (its `kid`, if any,
/// goes into the JWE header) or a public key PEM.
#[derive(Clone, Debug)]
pub enum Recipient {
    Jwk(Jwk),
    Pem {
        public_pem: Vec<u8>,
        kid: Option<String>,
    },
}

impl Recipient {
    pub fn pem(public_pem: impl Into<Vec<u8>>) -> Self {
        Self::Pem {
            public_pem: public_pem.into(),
            kid: None,
        }
    }

    fn kid(&self) -> Option<String> {
        match self {
            Self::Jwk(jwk) => jwk.key_id().map(str::to_owned),
            Self::Pem { kid, .. } => kid.clone(),
        }
    }

    /// josekit's encrypter for `alg` (RFC 7518 §4.1 name; RSA1_5 and the
    /// 192-bit variants are there to be refused).
    #[allow(deprecated)] // RSA1_5, on purpose
    fn encrypter(&self, alg: &str) -> Box<dyn JweEncrypter> {
        use josekit::jwe::{
            ECDH_ES, ECDH_ES_A128KW, ECDH_ES_A192KW, ECDH_ES_A256KW, RSA_OAEP, RSA_OAEP_256, RSA1_5,
        };
        // The JWE header's `kid` is set by [`encrypt_jwe`], not by josekit.
        let jwk = |jwk: &Jwk| {
            let mut jwk = jwk.clone();
            jwk.set_parameter("kid", None).expect("remove kid");
            jwk
        };
        let rsa = match alg {
            "RSA1_5" => Some(RSA1_5),
            "RSA-OAEP" => Some(RSA_OAEP),
            "RSA-OAEP-256" => Some(RSA_OAEP_256),
            _ => None,
        };
        if let Some(rsa) = rsa {
            return Box::new(
                match self {
                    Self::Jwk(key) => rsa.encrypter_from_jwk(&jwk(key)),
                    Self::Pem { public_pem, .. } => rsa.encrypter_from_pem(public_pem),
                }
                .unwrap_or_else(|e| panic!("{alg} encrypter for {self:?}: {e}")),
            );
        }
        let ecdh = match alg {
            "ECDH-ES" => ECDH_ES,
            "ECDH-ES+A128KW" => ECDH_ES_A128KW,
            "ECDH-ES+A192KW" => ECDH_ES_A192KW,
            "ECDH-ES+A256KW" => ECDH_ES_A256KW,
            other => panic!("the testkit cannot encrypt with JWE alg {other:?}"),
        };
        Box::new(
            match self {
                Self::Jwk(key) => ecdh.encrypter_from_jwk(&jwk(key)),
                Self::Pem { public_pem, .. } => ecdh.encrypter_from_pem(public_pem),
            }
            .unwrap_or_else(|e| panic!("{alg} encrypter for {self:?}: {e}")),
        )
    }
}

impl From<Jwk> for Recipient {
    fn from(jwk: Jwk) -> Self {
        Self::Jwk(jwk)
    }
}

impl From<&Jwk> for Recipient {
    fn from(jwk: &Jwk) -> Self {
        Self::Jwk(jwk.clone())
    }
}

impl From<&RelyingPartyKey> for Recipient {
    fn from(key: &RelyingPartyKey) -> Self {
        Self::Jwk(key.public_jwk())
    }
}

/// A compact JWE of `payload` to `recipient`, with key management `alg`
/// (e.g. "RSA-OAEP-256", "ECDH-ES+A256KW") and content encryption `enc`
/// (e.g. "A256GCM"): header `cty` [`NESTED_JWT_CTY`] and the recipient's
/// `kid` when it has one, then `edits` in order (`None` removes a member;
/// josekit checks types: `cty`, `kid`, `zip`, `enc` must be strings).
/// `alg` is always the encrypter's.
pub fn encrypt_jwe<'a>(
    payload: &str,
    recipient: &Recipient,
    alg: &str,
    enc: &str,
    edits: impl IntoIterator<Item = (&'a str, Option<Value>)>,
) -> String {
    let mut header = JweHeader::new();
    header.set_content_encryption(enc);
    header.set_content_type(NESTED_JWT_CTY);
    if let Some(kid) = recipient.kid() {
        header.set_key_id(kid);
    }
    for (name, value) in edits {
        header
            .set_claim(name, value)
            .unwrap_or_else(|e| panic!("JWE header {name}: {e}"));
    }
    let encrypter = recipient.encrypter(alg);
    josekit::jwe::serialize_compact(payload.as_bytes(), &header, encrypter.as_ref())
        .unwrap_or_else(|e| panic!("encrypt: {e}"))
}

/// The relying party's key pair for encrypted logout tokens: revokd holds
/// the private half (`decryption_key_file`), the provider encrypts to the
/// public half.
#[derive(Clone)]
pub struct RelyingPartyKey {
    kid: Option<String>,
    private_pem: Vec<u8>,
    public_pem: Vec<u8>,
    public_jwk: Jwk,
}

impl RelyingPartyKey {
    /// RSA 2048, for `RSA-OAEP` and `RSA-OAEP-256`.
    pub fn rsa(kid: Option<&str>) -> Self {
        let pair = josekit::jwk::alg::rsa::RsaKeyPair::generate(2048).expect("RSA key pair");
        Self::from_pair(&pair, kid)
    }

    /// EC P-256, for `ECDH-ES` and its key-wrap variants.
    pub fn ec_p256(kid: Option<&str>) -> Self {
        let pair =
            josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::P_256).expect("EC key pair");
        Self::from_pair(&pair, kid)
    }

    fn from_pair(pair: &dyn josekit::jwk::KeyPair, kid: Option<&str>) -> Self {
        let mut public_jwk = pair.to_jwk_public_key();
        if let Some(kid) = kid {
            public_jwk.set_key_id(kid);
        }
        public_jwk.set_key_use("enc");
        Self {
            kid: kid.map(str::to_owned),
            private_pem: pair.to_pem_private_key(),
            public_pem: pair.to_pem_public_key(),
            public_jwk,
        }
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The private key, PKCS#8 PEM: what `decryption_key_file` holds.
    pub fn private_pem(&self) -> &[u8] {
        &self.private_pem
    }

    /// The public key, SubjectPublicKeyInfo PEM (for [`Recipient::pem`]).
    pub fn public_pem(&self) -> &[u8] {
        &self.public_pem
    }

    /// The public key as a JWK, with `kid` (if any) and `use: enc`.
    pub fn public_jwk(&self) -> Jwk {
        self.public_jwk.clone()
    }

    /// Writes [`private_pem`](Self::private_pem) to `path`.
    pub fn write_private_pem(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        std::fs::write(path, &self.private_pem)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// The private key as revokd's core loads it from a PEM file, with
    /// this key's `kid` (none for a config-file key).
    pub fn decryption_key(&self, alg: KeyManagementAlg) -> DecryptionKey {
        DecryptionKey::from_pem(alg, &self.private_pem, self.kid.clone())
            .unwrap_or_else(|e| panic!("{alg} decryption key: {e}"))
    }
}

impl std::fmt::Debug for RelyingPartyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingPartyKey")
            .field("kid", &self.kid)
            .field("kty", &self.public_jwk.key_type())
            .finish_non_exhaustive()
    }
}
