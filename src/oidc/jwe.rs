//! Decrypting an encrypted logout token: a Nested JWT whose JWE (RFC 7516,
//! compact serialization) carries the signed logout token (RFC 7519 §5.2,
//! §7.2 step 8; Back-Channel Logout 1.0 §2.6 step 1).
//!
//! josekit recovers the content-encryption key (RSA-OAEP, ECDH-ES and its
//! key-wrap variants). The content itself is decrypted here with OpenSSL,
//! because josekit's AES-CBC-HMAC decrypts before it checks the tag and
//! compares tags in variable time; here the tag is checked first and in
//! constant time (RFC 7518 §5.2.2.2). A key-management failure is folded
//! into the content failure by continuing with a random key (RFC 7516
//! §11.5), so the two cannot be told apart.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{JweContentEncryption, JweHeader};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::Cipher;
use serde_json::{Map, Value};

use super::decryption_key::{DecryptionKey, KeyManagementAlg};
use super::error::LogoutTokenError;
use super::json::{JsonPart, decode_json_object};

/// A content-encryption algorithm (RFC 7518 §5.1) accepted for logout tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentEnc {
    A128Gcm,
    A256Gcm,
    A128CbcHs256,
    A256CbcHs512,
}

impl ContentEnc {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "A128GCM" => Some(Self::A128Gcm),
            "A256GCM" => Some(Self::A256Gcm),
            "A128CBC-HS256" => Some(Self::A128CbcHs256),
            "A256CBC-HS512" => Some(Self::A256CbcHs512),
            _ => None,
        }
    }

    /// josekit's description of the same algorithm: ECDH-ES derives the
    /// key for it (RFC 7518 §4.6.2 uses `enc` and its key length).
    fn josekit(self) -> &'static dyn JweContentEncryption {
        use josekit::jwe::enc::{A128CBC_HS256, A128GCM, A256CBC_HS512, A256GCM};
        match self {
            Self::A128Gcm => &A128GCM,
            Self::A256Gcm => &A256GCM,
            Self::A128CbcHs256 => &A128CBC_HS256,
            Self::A256CbcHs512 => &A256CBC_HS512,
        }
    }

    const fn key_len(self) -> usize {
        match self {
            Self::A128Gcm => 16,
            Self::A256Gcm | Self::A128CbcHs256 => 32,
            Self::A256CbcHs512 => 64,
        }
    }

    /// The IV length: 96 bits for GCM (RFC 7518 §5.3), one AES block for
    /// CBC (§5.2.2.1).
    const fn iv_len(self) -> usize {
        match self {
            Self::A128Gcm | Self::A256Gcm => 12,
            Self::A128CbcHs256 | Self::A256CbcHs512 => 16,
        }
    }

    /// The tag length: the full 128 bits for GCM (RFC 7518 §5.3), half
    /// the key for AES-CBC-HMAC (§5.2.3, §5.2.5).
    const fn tag_len(self) -> usize {
        match self {
            Self::A128Gcm | Self::A256Gcm => 16,
            Self::A128CbcHs256 | Self::A256CbcHs512 => self.key_len() / 2,
        }
    }
}

/// The length of one coordinate of a P-256 point (SEC 1 §2.3.5; RFC 7518
/// §6.2.1.2: `x` and `y` are exactly the field size).
const P256_COORDINATE_LEN: usize = 32;

/// The parts of a compact JWE, decoded but not yet decrypted.
pub(crate) struct EncryptedParts {
    /// The protected header exactly as received: it is the AAD
    /// (RFC 7516 §5.2 step 14).
    header_b64: String,
    header: Map<String, Value>,
    encrypted_key: Vec<u8>,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
}

impl EncryptedParts {
    /// Decodes the five parts; `parts` has exactly five elements.
    pub(crate) fn decode(parts: &[&str]) -> Result<Self, LogoutTokenError> {
        let [header_b64, encrypted_key, iv, ciphertext, tag] = parts else {
            return Err(LogoutTokenError::Malformed {
                detail: "a JWE has five parts",
            });
        };
        let header = decode_json_object(header_b64, JsonPart::JweHeader)?;
        let bytes = |part: &str, detail| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| LogoutTokenError::Malformed { detail })
        };
        Ok(Self {
            header_b64: (*header_b64).to_owned(),
            encrypted_key: bytes(encrypted_key, "JWE encrypted key is not base64url")?,
            iv: bytes(iv, "JWE IV is not base64url")?,
            ciphertext: bytes(ciphertext, "JWE ciphertext is not base64url")?,
            tag: bytes(tag, "JWE tag is not base64url")?,
            header,
        })
    }

    pub(crate) fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// Checks the header, then decrypts; returns the plaintext, which the
    /// caller parses as the nested JWS.
    pub(crate) fn decrypt(&self, key: &DecryptionKey) -> Result<Vec<u8>, LogoutTokenError> {
        // Header checks first: they are free, decryption is not.
        if self.header.contains_key("crit") {
            return Err(LogoutTokenError::UnsupportedCritical);
        }
        match self.header_str("alg").map(KeyManagementAlg::from_name) {
            Some(Some(alg)) if alg == key.alg() => {}
            _ => return Err(LogoutTokenError::JweAlgNotAllowed),
        }
        let Some(enc) = self.header_str("enc").and_then(ContentEnc::from_name) else {
            return Err(LogoutTokenError::JweEncNotAllowed);
        };
        // A compressed plaintext could be inflated without bound; logout
        // tokens are small and no provider compresses them.
        if self.header.contains_key("zip") {
            return Err(LogoutTokenError::JweCompressionForbidden);
        }
        // RFC 7519 §5.2: a Nested JWT's JWE says so with `cty` "JWT"
        // (media types compare case-insensitively, RFC 7515 §4.1.10).
        match self.header_str("cty") {
            Some(cty) if is_media_type(cty, "jwt") => {}
            _ => return Err(LogoutTokenError::JweNotNestedJwt),
        }
        if let (Some(expected), Some(actual)) = (key.kid(), self.header_str("kid"))
            && expected != actual
        {
            return Err(LogoutTokenError::JweUnknownKid);
        }

        self.check_lengths(key, enc)?;
        let cek = self.content_key(key, enc);
        self.decrypt_content(enc, &cek)
            .ok_or(LogoutTokenError::CannotDecrypt)
    }

    /// Checks every length and shape josekit and OpenSSL would otherwise be
    /// trusted with (DESIGN 13: josekit 0.10.3 computes
    /// `encrypted_key.len() - 8` for AES key wrap and panics below 8 bytes).
    /// All of these are public properties of the token, so refusing them
    /// early reveals nothing about the key (RFC 7516 §11.5 concerns the
    /// content of the encrypted key, which is still only judged by the tag).
    fn check_lengths(&self, key: &DecryptionKey, enc: ContentEnc) -> Result<(), LogoutTokenError> {
        let malformed = |detail| Err(LogoutTokenError::Malformed { detail });
        if self.encrypted_key.len() != key.encrypted_key_len(enc.key_len()) {
            return malformed("JWE encrypted key has the wrong length for its `alg` and `enc`");
        }
        if self.iv.len() != enc.iv_len() {
            return malformed("JWE IV has the wrong length for its `enc`");
        }
        if self.tag.len() != enc.tag_len() {
            return malformed("JWE tag has the wrong length for its `enc`");
        }
        let block = matches!(enc, ContentEnc::A128CbcHs256 | ContentEnc::A256CbcHs512);
        if block && (self.ciphertext.is_empty() || !self.ciphertext.len().is_multiple_of(16)) {
            return malformed("JWE ciphertext is not a whole number of AES blocks");
        }
        if matches!(
            key.alg(),
            KeyManagementAlg::EcdhEs
                | KeyManagementAlg::EcdhEsA128Kw
                | KeyManagementAlg::EcdhEsA256Kw
        ) {
            self.check_epk()?;
        }
        Ok(())
    }

    /// The ephemeral public key of ECDH-ES (RFC 7518 §4.6.1.1): a P-256 EC
    /// public JWK whose coordinates are exactly 32 bytes, and `apu`/`apv`
    /// (§4.6.1.2–3), when present, base64url strings.
    fn check_epk(&self) -> Result<(), LogoutTokenError> {
        let bad_epk = LogoutTokenError::Malformed {
            detail: "JWE `epk` is not a P-256 public key",
        };
        let Some(Value::Object(epk)) = self.header.get("epk") else {
            return Err(bad_epk);
        };
        let text = |name: &str| epk.get(name).and_then(Value::as_str);
        if text("kty") != Some("EC") || text("crv") != Some("P-256") || epk.contains_key("d") {
            return Err(bad_epk);
        }
        for coordinate in ["x", "y"] {
            let decoded = text(coordinate).and_then(|c| URL_SAFE_NO_PAD.decode(c).ok());
            if decoded.is_none_or(|c| c.len() != P256_COORDINATE_LEN) {
                return Err(bad_epk);
            }
        }
        for party in ["apu", "apv"] {
            match self.header.get(party) {
                None => {}
                Some(Value::String(info)) if URL_SAFE_NO_PAD.decode(info).is_ok() => {}
                Some(_) => {
                    return Err(LogoutTokenError::Malformed {
                        detail: "JWE `apu`/`apv` is not base64url",
                    });
                }
            }
        }
        Ok(())
    }

    /// The content-encryption key, or a random one when it cannot be
    /// recovered (RFC 7516 §11.5): the content check then fails the same way.
    fn content_key(&self, key: &DecryptionKey, enc: ContentEnc) -> Vec<u8> {
        let recovered = JweHeader::from_map(self.header.clone())
            .ok()
            .and_then(|header| {
                let encrypted_key =
                    (!self.encrypted_key.is_empty()).then_some(self.encrypted_key.as_slice());
                key.decrypter()
                    .decrypt(encrypted_key, enc.josekit(), &header)
                    .ok()
                    .map(|k| k.into_owned())
            })
            .filter(|k| k.len() == enc.key_len());
        recovered.unwrap_or_else(|| {
            let mut random = vec![0; enc.key_len()];
            // If even the RNG fails, an all-zero key still fails the tag.
            let _ = openssl::rand::rand_bytes(&mut random);
            random
        })
    }

    /// RFC 7518 §5.2.2.2 (AES-CBC-HMAC) and §5.3 (AES-GCM). `None` on any
    /// failure, without saying which.
    fn decrypt_content(&self, enc: ContentEnc, cek: &[u8]) -> Option<Vec<u8>> {
        let aad = self.header_b64.as_bytes();
        match enc {
            ContentEnc::A128Gcm | ContentEnc::A256Gcm => {
                // 96-bit IV and full 128-bit tag only (RFC 7518 §5.3).
                if self.iv.len() != 12 || self.tag.len() != 16 || cek.len() != enc.key_len() {
                    return None;
                }
                let cipher = if enc == ContentEnc::A128Gcm {
                    Cipher::aes_128_gcm()
                } else {
                    Cipher::aes_256_gcm()
                };
                openssl::symm::decrypt_aead(
                    cipher,
                    cek,
                    Some(&self.iv),
                    aad,
                    &self.ciphertext,
                    &self.tag,
                )
                .ok()
            }
            ContentEnc::A128CbcHs256 | ContentEnc::A256CbcHs512 => {
                let (digest, cipher) = if enc == ContentEnc::A128CbcHs256 {
                    (MessageDigest::sha256(), Cipher::aes_128_cbc())
                } else {
                    (MessageDigest::sha512(), Cipher::aes_256_cbc())
                };
                let half = enc.key_len() / 2;
                if self.iv.len() != 16 || self.tag.len() != half || cek.len() != enc.key_len() {
                    return None;
                }
                let (mac_key, enc_key) = cek.split_at(half);
                let aad_bits = u64::try_from(aad.len()).ok()?.checked_mul(8)?;
                let mac_key = PKey::hmac(mac_key).ok()?;
                let mut signer = Signer::new(digest, &mac_key).ok()?;
                signer.update(aad).ok()?;
                signer.update(&self.iv).ok()?;
                signer.update(&self.ciphertext).ok()?;
                signer.update(&aad_bits.to_be_bytes()).ok()?;
                let mac = signer.sign_to_vec().ok()?;
                let expected = mac.get(..half)?;
                if !openssl::memcmp::eq(expected, &self.tag) {
                    return None;
                }
                openssl::symm::decrypt(cipher, enc_key, Some(&self.iv), &self.ciphertext).ok()
            }
        }
    }
}

/// Whether a `typ`/`cty` value names the media type `application/{subtype}`:
/// case-insensitive, with `application/` implied when absent
/// (RFC 7515 §4.1.9, §4.1.10).
pub(crate) fn is_media_type(value: &str, subtype: &str) -> bool {
    let value = match value.split_once('/') {
        Some((top, rest)) if top.eq_ignore_ascii_case("application") => rest,
        Some(_) => return false,
        None => value,
    };
    value.eq_ignore_ascii_case(subtype)
}
