//! An OpenID Provider's public signing keys, read from its JWK Set
//! (RFC 7517 §5), for logout-token signatures.
//!
//! A JWK Set comes from the network, so [`KeySet::from_jwks`] treats it as
//! hostile: size and key count are capped, every member is type-checked,
//! and a key that cannot be used safely is skipped with a recorded reason
//! instead of failing the whole set. Only public keys for signatures are
//! kept: RSA (2048 to 8192 bits), EC P-256 and OKP Ed25519. Symmetric keys
//! never enter a [`KeySet`], so an `HS*` token has nothing to verify against.
//! The relying party's own key for encrypted tokens is
//! [`super::decryption_key`].

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::{Map, Value};

/// Largest JWK Set document accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Most entries accepted in a JWK Set's `keys` array.
pub const MAX_KEYS: usize = 100;
/// Longest accepted `kid`, in bytes.
pub const MAX_KID_LEN: usize = 256;
/// Smallest RSA modulus accepted (RFC 7518 §3.3: 2048 bits or larger).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted. Verification cost grows with the square of
/// the modulus size, and no provider needs more.
pub const MAX_RSA_BITS: usize = 8192;

/// A JWS signature algorithm revokd verifies (RFC 7518 §3.1). Only
/// asymmetric algorithms exist here: `none` and `HS*` cannot be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JwsAlg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    EdDsa,
}

impl JwsAlg {
    /// Every supported algorithm.
    pub const ALL: [JwsAlg; 8] = [
        JwsAlg::Rs256,
        JwsAlg::Rs384,
        JwsAlg::Rs512,
        JwsAlg::Ps256,
        JwsAlg::Ps384,
        JwsAlg::Ps512,
        JwsAlg::Es256,
        JwsAlg::EdDsa,
    ];

    /// The registered name (RFC 7518 §3.1, RFC 8037 §3.1).
    pub const fn name(self) -> &'static str {
        match self {
            JwsAlg::Rs256 => "RS256",
            JwsAlg::Rs384 => "RS384",
            JwsAlg::Rs512 => "RS512",
            JwsAlg::Ps256 => "PS256",
            JwsAlg::Ps384 => "PS384",
            JwsAlg::Ps512 => "PS512",
            JwsAlg::Es256 => "ES256",
            JwsAlg::EdDsa => "EdDSA",
        }
    }

    /// Looks a name up exactly: `alg` values are case-sensitive
    /// (RFC 7515 §4.1.1).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// Whether a key of `kind` can verify this algorithm.
    pub const fn fits(self, kind: KeyKind) -> bool {
        matches!(
            (self, kind),
            (
                JwsAlg::Rs256
                    | JwsAlg::Rs384
                    | JwsAlg::Rs512
                    | JwsAlg::Ps256
                    | JwsAlg::Ps384
                    | JwsAlg::Ps512,
                KeyKind::Rsa
            ) | (JwsAlg::Es256, KeyKind::EcP256)
                | (JwsAlg::EdDsa, KeyKind::Ed25519)
        )
    }

    fn verifier(self, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, josekit::JoseError> {
        use josekit::jws::{ES256, EdDSA, PS256, PS384, PS512, RS256, RS384, RS512};
        Ok(match self {
            JwsAlg::Rs256 => Box::new(RS256.verifier_from_jwk(jwk)?),
            JwsAlg::Rs384 => Box::new(RS384.verifier_from_jwk(jwk)?),
            JwsAlg::Rs512 => Box::new(RS512.verifier_from_jwk(jwk)?),
            JwsAlg::Ps256 => Box::new(PS256.verifier_from_jwk(jwk)?),
            JwsAlg::Ps384 => Box::new(PS384.verifier_from_jwk(jwk)?),
            JwsAlg::Ps512 => Box::new(PS512.verifier_from_jwk(jwk)?),
            JwsAlg::Es256 => Box::new(ES256.verifier_from_jwk(jwk)?),
            JwsAlg::EdDsa => Box::new(EdDSA.verifier_from_jwk(jwk)?),
        })
    }
}

impl fmt::Display for JwsAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of a usable public key: its `kty` and, for EC and OKP, `crv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Rsa,
    EcP256,
    Ed25519,
}

/// Why a JWK Set as a whole was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    #[error("JWK Set is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("JWK Set is not a JSON object")]
    NotJson,
    #[error("JWK Set has no `keys` array")]
    NoKeysArray,
    #[error("JWK Set has more than {max} keys")]
    TooManyKeys { max: usize },
    #[error("JWK Set has no usable signature key")]
    NoUsableKeys,
}

/// Why one entry of a JWK Set was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The entry is not a JSON object, or a member has the wrong type.
    Malformed,
    /// `use` is not `sig`, or `key_ops` lacks `verify` (RFC 7517 §4.2–4.3).
    NotForSignatures,
    /// The entry carries private or symmetric key members (`d`, `p`, `k`, …):
    /// a published JWK Set must not, and such a key is never used.
    PrivateKeyMaterial,
    /// `kty` is neither `RSA`, `EC` nor `OKP` (for example `oct`).
    UnsupportedKeyType,
    /// `crv` is neither `P-256` (EC) nor `Ed25519` (OKP).
    UnsupportedCurve,
    /// `alg` names no supported signature algorithm, or one that does not
    /// fit the key type.
    UnsupportedAlg,
    /// RSA modulus outside [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`].
    RsaKeySize,
    /// The key parameters do not form a valid public key.
    InvalidKey,
    /// An earlier usable key has the same `kid` and key kind.
    DuplicateKid,
}

/// A JWK Set entry that was not kept, for the provider layer to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    /// The entry's `kid`, when it had a readable one.
    pub kid: Option<String>,
    pub reason: SkipReason,
}

/// One usable public key, with a verifier per algorithm it may verify.
struct PublicKey {
    kid: Option<String>,
    kind: KeyKind,
    /// The JWK's own `alg`; when present, the only algorithm accepted.
    alg: Option<JwsAlg>,
    verifiers: Vec<(JwsAlg, Box<dyn JwsVerifier>)>,
}

impl PublicKey {
    fn verifier(&self, alg: JwsAlg) -> Option<&dyn JwsVerifier> {
        if self.alg.is_some_and(|own| own != alg) {
            return None;
        }
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v.as_ref())
    }
}

/// Why no key could be chosen for a token. Mapped onto
/// `LogoutTokenError` by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyLookupError {
    /// The token has no `kid` and the set does not hold exactly one key.
    MissingKid,
    /// No key has the token's `kid`.
    UnknownKid,
    /// Keys with that `kid` exist, but none may verify the token's `alg`.
    AlgKeyMismatch,
}

/// An OpenID Provider's usable public signing keys.
pub struct KeySet {
    keys: Vec<PublicKey>,
    skipped: Vec<SkippedKey>,
}

impl KeySet {
    /// Parses a JWK Set document (RFC 7517 §5).
    ///
    /// Entries that cannot be used for signature verification are skipped
    /// (see [`SkipReason`] and [`KeySet::skipped`]); each kept key keeps its
    /// `kid` and `alg`.
    ///
    /// # Errors
    /// The document is over [`MAX_JWKS_BYTES`], not a JSON object with a
    /// `keys` array, has more than [`MAX_KEYS`] entries, or has no usable key.
    pub fn from_jwks(json: &[u8]) -> Result<KeySet, KeySetError> {
        if json.len() > MAX_JWKS_BYTES {
            return Err(KeySetError::TooLarge {
                max: MAX_JWKS_BYTES,
            });
        }
        // serde_json bounds nesting depth (128), so hostile nesting fails
        // here instead of overflowing the stack.
        let document: Map<String, Value> =
            serde_json::from_slice(json).map_err(|_| KeySetError::NotJson)?;
        let Some(Value::Array(entries)) = document.get("keys") else {
            return Err(KeySetError::NoKeysArray);
        };
        if entries.len() > MAX_KEYS {
            return Err(KeySetError::TooManyKeys { max: MAX_KEYS });
        }
        let mut set = KeySet {
            keys: Vec::new(),
            skipped: Vec::new(),
        };
        for (index, entry) in entries.iter().enumerate() {
            match parse_key(entry) {
                Ok(key) => {
                    let duplicate = key.kid.is_some()
                        && set
                            .keys
                            .iter()
                            .any(|k| k.kid == key.kid && k.kind == key.kind);
                    if duplicate {
                        set.skipped.push(SkippedKey {
                            index,
                            kid: key.kid,
                            reason: SkipReason::DuplicateKid,
                        });
                    } else {
                        set.keys.push(key);
                    }
                }
                Err(reason) => set.skipped.push(SkippedKey {
                    index,
                    kid: readable_kid(entry),
                    reason,
                }),
            }
        }
        if set.keys.is_empty() {
            return Err(KeySetError::NoUsableKeys);
        }
        Ok(set)
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false for a set built by [`KeySet::from_jwks`].
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid` of each usable key, in document order.
    pub fn kids(&self) -> impl Iterator<Item = Option<&str>> {
        self.keys.iter().map(|k| k.kid.as_deref())
    }

    /// The entries that were not kept, and why.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// Whether some key may verify a token signed with `alg`: what `revokd
    /// doctor` asks for each algorithm a provider's tokens may use.
    pub fn verifies(&self, alg: JwsAlg) -> bool {
        self.keys.iter().any(|k| k.verifier(alg).is_some())
    }

    /// Chooses the verifier for a token's `kid` and `alg`.
    ///
    /// With a `kid`, only keys with that `kid` are candidates (RFC 7515
    /// §4.1.4); RFC 7517 §4.5 allows keys of different types to share one.
    /// Without a `kid`, the set must hold exactly one key.
    pub(crate) fn verifier(
        &self,
        kid: Option<&str>,
        alg: JwsAlg,
    ) -> Result<&dyn JwsVerifier, KeyLookupError> {
        if kid.is_none() && self.keys.len() != 1 {
            return Err(KeyLookupError::MissingKid);
        }
        let candidate = |key: &&PublicKey| kid.is_none() || key.kid.as_deref() == kid;
        if !self.keys.iter().any(|key| candidate(&key)) {
            return Err(KeyLookupError::UnknownKid);
        }
        self.keys
            .iter()
            .filter(candidate)
            .find_map(|key| key.verifier(alg))
            .ok_or(KeyLookupError::AlgKeyMismatch)
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<_> = self
            .keys
            .iter()
            .map(|k| (k.kid.as_deref(), k.kind, k.alg))
            .collect();
        f.debug_struct("KeySet")
            .field("keys", &keys)
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// Members that only a private or symmetric JWK has (RFC 7518 §6.2.2,
/// §6.3.2, §6.4.1; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn readable_kid(entry: &Value) -> Option<String> {
    match entry.get("kid") {
        Some(Value::String(kid)) if kid.len() <= MAX_KID_LEN => Some(kid.clone()),
        _ => None,
    }
}

fn optional_str<'a>(
    map: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, SkipReason> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SkipReason::Malformed),
    }
}

fn parse_key(entry: &Value) -> Result<PublicKey, SkipReason> {
    let Value::Object(map) = entry else {
        return Err(SkipReason::Malformed);
    };
    let kid = optional_str(map, "kid")?;
    if kid.is_some_and(|kid| kid.is_empty() || kid.len() > MAX_KID_LEN) {
        return Err(SkipReason::Malformed);
    }
    if PRIVATE_MEMBERS.iter().any(|m| map.contains_key(*m)) {
        return Err(SkipReason::PrivateKeyMaterial);
    }
    // RFC 7517 §4.2: `use` is "sig" or "enc"; only signature keys are kept.
    if optional_str(map, "use")?.is_some_and(|u| u != "sig") {
        return Err(SkipReason::NotForSignatures);
    }
    // RFC 7517 §4.3: when `key_ops` is present it must allow "verify".
    if let Some(ops) = map.get("key_ops") {
        let Value::Array(ops) = ops else {
            return Err(SkipReason::Malformed);
        };
        if ops.iter().any(|op| !op.is_string()) {
            return Err(SkipReason::Malformed);
        }
        if !ops.iter().any(|op| op == "verify") {
            return Err(SkipReason::NotForSignatures);
        }
    }
    let kind = match optional_str(map, "kty")? {
        None => return Err(SkipReason::Malformed),
        Some("RSA") => KeyKind::Rsa,
        Some("EC") => match optional_str(map, "crv")? {
            Some("P-256") => KeyKind::EcP256,
            _ => return Err(SkipReason::UnsupportedCurve),
        },
        Some("OKP") => match optional_str(map, "crv")? {
            Some("Ed25519") => KeyKind::Ed25519,
            _ => return Err(SkipReason::UnsupportedCurve),
        },
        Some(_) => return Err(SkipReason::UnsupportedKeyType),
    };
    let alg = match optional_str(map, "alg")? {
        None => None,
        Some(name) => match JwsAlg::from_name(name) {
            Some(alg) if alg.fits(kind) => Some(alg),
            _ => return Err(SkipReason::UnsupportedAlg),
        },
    };

    // Hand josekit only the members that define the public key, so that
    // unrelated members (x5c, x5t, …) cannot make a usable key unusable.
    let members: &[&str] = match kind {
        KeyKind::Rsa => &["kty", "n", "e"],
        KeyKind::EcP256 => &["kty", "crv", "x", "y"],
        KeyKind::Ed25519 => &["kty", "crv", "x"],
    };
    let mut minimal = Map::new();
    for name in members {
        match map.get(*name) {
            Some(Value::String(s)) => {
                minimal.insert((*name).to_owned(), Value::String(s.clone()));
            }
            _ => return Err(SkipReason::Malformed),
        }
    }
    let signature_len = match kind {
        KeyKind::Rsa => check_rsa_modulus(map.get("n"))?.div_ceil(8),
        KeyKind::EcP256 | KeyKind::Ed25519 => 64,
    };
    let jwk = Jwk::from_map(minimal).map_err(|_| SkipReason::Malformed)?;

    let algs: Vec<JwsAlg> = match alg {
        Some(alg) => vec![alg],
        None => JwsAlg::ALL.into_iter().filter(|a| a.fits(kind)).collect(),
    };
    // RS*: the public key prepared once, for every token it verifies.
    let rsa = match kind {
        KeyKind::Rsa => {
            Some(rsa_public_key(map.get("n"), map.get("e")).map_err(|()| SkipReason::InvalidKey)?)
        }
        KeyKind::EcP256 | KeyKind::Ed25519 => None,
    };
    let mut verifiers = Vec::with_capacity(algs.len());
    for alg in algs {
        let inner = alg.verifier(&jwk).map_err(|_| SkipReason::InvalidKey)?;
        let inner = match (&rsa, RsaPkcs1::digest_info(alg)) {
            (Some(key), Some((prefix, digest))) => Box::new(RsaPkcs1 {
                josekit: inner,
                key: key.clone(),
                prefix,
                digest,
            }),
            _ => inner,
        };
        let verifier: Box<dyn JwsVerifier> = Box::new(LengthChecked {
            inner,
            signature_len,
        });
        verifiers.push((alg, verifier));
    }
    Ok(PublicKey {
        kid: kid.map(str::to_owned),
        kind,
        alg,
        verifiers,
    })
}

/// The size of an RSA modulus `n` (base64url, RFC 7518 §6.3.1.1) in bits,
/// checked to lie within [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`].
fn check_rsa_modulus(n: Option<&Value>) -> Result<usize, SkipReason> {
    let Some(Value::String(encoded)) = n else {
        return Err(SkipReason::Malformed);
    };
    // Reject absurd sizes before decoding anything.
    if encoded.len() > MAX_RSA_BITS / 6 + 4 {
        return Err(SkipReason::RsaKeySize);
    }
    let bits = modulus_bits(n).ok_or(SkipReason::Malformed)?;
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(SkipReason::RsaKeySize);
    }
    Ok(bits)
}

/// The number of significant bits of a base64url big-endian integer.
pub(super) fn modulus_bits(n: Option<&Value>) -> Option<usize> {
    let Some(Value::String(n)) = n else {
        return None;
    };
    let n = URL_SAFE_NO_PAD.decode(n).ok()?;
    let significant = n.iter().skip_while(|b| **b == 0).count();
    Some(match n.iter().find(|b| **b != 0) {
        Some(first) => significant * 8 - first.leading_zeros() as usize,
        None => 0,
    })
}

/// An RSA public key from a JWK's `n` and `e` (base64url big-endian).
fn rsa_public_key(
    n: Option<&Value>,
    e: Option<&Value>,
) -> Result<openssl::rsa::Rsa<openssl::pkey::Public>, ()> {
    let number = |v: Option<&Value>| match v {
        Some(Value::String(s)) => URL_SAFE_NO_PAD
            .decode(s)
            .ok()
            .and_then(|bytes| openssl::bn::BigNum::from_slice(&bytes).ok())
            .ok_or(()),
        _ => Err(()),
    };
    openssl::rsa::Rsa::from_public_components(number(n)?, number(e)?).map_err(|_| ())
}

/// RSASSA-PKCS1-v1_5 (RS256, RS384, RS512) with the public key prepared
/// once per JWK Set load.
///
/// josekit's RS* verifier builds an OpenSSL `EVP_DigestVerify` context per
/// signature, and OpenSSL 3 fetches the algorithm from its provider each
/// time: 11 % of all samples of forward-auth on RS256 tokens under load
/// (`benches/check_profile.sh … forward-rs`), besides the RSA operation
/// itself (38 %). This runs the RSA public operation on the prepared key
/// (OpenSSL keeps its Montgomery context with the key), and compares the
/// recovered block with the expected `DigestInfo` of the message's hash:
/// the verification operation of RFC 8017 §8.2.2, in the "encode, then
/// compare" form §9.2 (Note 1) prescribes, which OpenSSL's own `RSA_verify`
/// also uses. OpenSSL checks the type-1 padding (`00 01 FF… 00`, at least
/// eight `FF`) while removing it; what remains must be exactly the
/// `DigestInfo`. The josekit verifier is kept for its `algorithm()`.
#[derive(Clone)]
struct RsaPkcs1 {
    josekit: Box<dyn JwsVerifier>,
    key: openssl::rsa::Rsa<openssl::pkey::Public>,
    /// The DER `DigestInfo` prefix of the hash (RFC 8017 §9.2, Note 1).
    prefix: &'static [u8],
    digest: HashFn,
}

/// A hash function over the whole message.
type HashFn = fn(&[u8]) -> Vec<u8>;

impl RsaPkcs1 {
    fn digest_info(alg: JwsAlg) -> Option<(&'static [u8], HashFn)> {
        use sha2::Digest;
        const SHA256: &[u8] = &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        const SHA384: &[u8] = &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ];
        const SHA512: &[u8] = &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ];
        match alg {
            JwsAlg::Rs256 => Some((SHA256, |m| sha2::Sha256::digest(m).to_vec())),
            JwsAlg::Rs384 => Some((SHA384, |m| sha2::Sha384::digest(m).to_vec())),
            JwsAlg::Rs512 => Some((SHA512, |m| sha2::Sha512::digest(m).to_vec())),
            _ => None,
        }
    }
}

impl fmt::Debug for RsaPkcs1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPkcs1")
            .field("bits", &self.key.n().num_bits())
            .finish_non_exhaustive()
    }
}

impl JwsVerifier for RsaPkcs1 {
    fn algorithm(&self) -> &dyn josekit::jws::JwsAlgorithm {
        self.josekit.algorithm()
    }

    fn key_id(&self) -> Option<&str> {
        self.josekit.key_id()
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), josekit::JoseError> {
        let invalid = || {
            josekit::JoseError::InvalidSignature(anyhow::anyhow!("the signature does not verify"))
        };
        // `public_decrypt` panics on a buffer shorter than the modulus; a
        // signature longer than it is refused by OpenSSL (and, before
        // that, by `LengthChecked`).
        let mut block = vec![0u8; self.key.size() as usize];
        let len = self
            .key
            .public_decrypt(signature, &mut block, openssl::rsa::Padding::PKCS1)
            .map_err(|_| invalid())?;
        let recovered = &block[..len];
        let hash = (self.digest)(message);
        let (prefix, rest) = recovered
            .split_at_checked(self.prefix.len())
            .ok_or_else(invalid)?;
        if prefix != self.prefix || rest != hash.as_slice() {
            return Err(invalid());
        }
        Ok(())
    }

    fn box_clone(&self) -> Box<dyn JwsVerifier> {
        Box::new(self.clone())
    }
}

/// A verifier that refuses a signature of the wrong length before the
/// library sees it (DESIGN 13): every algorithm here has one exact
/// signature length — the modulus size for RS*/PS* (RFC 8017 §8.1.2,
/// §8.2.2), 64 bytes for ES256 (RFC 7518 §3.4) and Ed25519 (RFC 8032 §5.1.7).
#[derive(Debug, Clone)]
struct LengthChecked {
    inner: Box<dyn JwsVerifier>,
    signature_len: usize,
}

impl JwsVerifier for LengthChecked {
    fn algorithm(&self) -> &dyn josekit::jws::JwsAlgorithm {
        self.inner.algorithm()
    }

    fn key_id(&self) -> Option<&str> {
        self.inner.key_id()
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), josekit::JoseError> {
        if signature.len() != self.signature_len {
            return Err(josekit::JoseError::InvalidSignature(anyhow::anyhow!(
                "a signature of this key is {} bytes long",
                self.signature_len
            )));
        }
        self.inner.verify(message, signature)
    }

    fn box_clone(&self) -> Box<dyn JwsVerifier> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests;
