//! The relying party's own private key for encrypted logout tokens
//! (Back-Channel Logout 1.0 §2.6 step 1), loaded from a PEM or JWK file.
//! Never printed: [`DecryptionKey`]'s `Debug` shows the algorithm and
//! `kid` only.

use std::fmt;

use josekit::jwe::JweDecrypter;
use josekit::jwk::Jwk;

use super::jwks::modulus_bits;

/// A JWE key-management algorithm for encrypted logout tokens (RFC 7518
/// §4.1). `RSA1_5` is deliberately absent (RFC 8725 §3.2), as are the
/// symmetric and password-based ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyManagementAlg {
    RsaOaep,
    RsaOaep256,
    EcdhEs,
    EcdhEsA128Kw,
    EcdhEsA256Kw,
}

impl KeyManagementAlg {
    /// The registered name (RFC 7518 §4.1).
    pub const fn name(self) -> &'static str {
        match self {
            KeyManagementAlg::RsaOaep => "RSA-OAEP",
            KeyManagementAlg::RsaOaep256 => "RSA-OAEP-256",
            KeyManagementAlg::EcdhEs => "ECDH-ES",
            KeyManagementAlg::EcdhEsA128Kw => "ECDH-ES+A128KW",
            KeyManagementAlg::EcdhEsA256Kw => "ECDH-ES+A256KW",
        }
    }

    /// Looks a name up exactly (`alg` is case-sensitive, RFC 7516 §4.1.1).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            KeyManagementAlg::RsaOaep,
            KeyManagementAlg::RsaOaep256,
            KeyManagementAlg::EcdhEs,
            KeyManagementAlg::EcdhEsA128Kw,
            KeyManagementAlg::EcdhEsA256Kw,
        ]
        .into_iter()
        .find(|alg| alg.name() == name)
    }
}

impl fmt::Display for KeyManagementAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a decryption key could not be loaded. Says nothing about the key
/// material itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptionKeyError {
    #[error("not a usable private key for {alg}")]
    Unusable { alg: KeyManagementAlg },
}

/// The relying party's private key for encrypted logout tokens: the key
/// registered for `id_token_encrypted_response_alg` (Back-Channel Logout
/// 1.0 §2.6 step 1 uses the ID Token's keys and algorithms).
pub struct DecryptionKey {
    alg: KeyManagementAlg,
    kid: Option<String>,
    /// For RSA keys, the modulus size in bytes: an RSA-OAEP encrypted key
    /// is exactly that long (RFC 8017 §7.1.2 step 1), and nothing else is
    /// handed to josekit.
    rsa_bytes: Option<usize>,
    decrypter: Box<dyn JweDecrypter>,
}

impl DecryptionKey {
    /// Loads a PEM private key (PKCS#8 or traditional) for `alg`.
    ///
    /// # Errors
    /// The PEM is not a private key of a type that `alg` uses.
    pub fn from_pem(
        alg: KeyManagementAlg,
        pem: &[u8],
        kid: Option<String>,
    ) -> Result<Self, DecryptionKeyError> {
        use josekit::jwe::{ECDH_ES, ECDH_ES_A128KW, ECDH_ES_A256KW, RSA_OAEP, RSA_OAEP_256};
        let unusable = |_| DecryptionKeyError::Unusable { alg };
        let rsa_bytes = match alg {
            KeyManagementAlg::RsaOaep | KeyManagementAlg::RsaOaep256 => Some(
                openssl::pkey::PKey::private_key_from_pem(pem)
                    .and_then(|key| key.rsa())
                    .map(|rsa| rsa.size() as usize)
                    .map_err(|_| DecryptionKeyError::Unusable { alg })?,
            ),
            _ => None,
        };
        let decrypter: Box<dyn JweDecrypter> = match alg {
            KeyManagementAlg::RsaOaep => {
                Box::new(RSA_OAEP.decrypter_from_pem(pem).map_err(unusable)?)
            }
            KeyManagementAlg::RsaOaep256 => {
                Box::new(RSA_OAEP_256.decrypter_from_pem(pem).map_err(unusable)?)
            }
            KeyManagementAlg::EcdhEs => {
                Box::new(ECDH_ES.decrypter_from_pem(pem).map_err(unusable)?)
            }
            KeyManagementAlg::EcdhEsA128Kw => {
                Box::new(ECDH_ES_A128KW.decrypter_from_pem(pem).map_err(unusable)?)
            }
            KeyManagementAlg::EcdhEsA256Kw => {
                Box::new(ECDH_ES_A256KW.decrypter_from_pem(pem).map_err(unusable)?)
            }
        };
        Ok(Self {
            alg,
            kid,
            rsa_bytes,
            decrypter,
        })
    }

    /// Loads a private JWK for `alg`; its `kid`, if any, is kept.
    ///
    /// # Errors
    /// The JWK is not a private key of a type that `alg` uses, or its `alg`
    /// or `use` member names something else.
    pub fn from_jwk(alg: KeyManagementAlg, json: &[u8]) -> Result<Self, DecryptionKeyError> {
        use josekit::jwe::{ECDH_ES, ECDH_ES_A128KW, ECDH_ES_A256KW, RSA_OAEP, RSA_OAEP_256};
        let unusable = |_| DecryptionKeyError::Unusable { alg };
        let jwk = Jwk::from_bytes(json).map_err(unusable)?;
        let kid = jwk.key_id().map(str::to_owned);
        let rsa_bytes = match alg {
            KeyManagementAlg::RsaOaep | KeyManagementAlg::RsaOaep256 => {
                let bits =
                    modulus_bits(jwk.parameter("n")).ok_or(DecryptionKeyError::Unusable { alg })?;
                Some(bits.div_ceil(8))
            }
            _ => None,
        };
        let decrypter: Box<dyn JweDecrypter> = match alg {
            KeyManagementAlg::RsaOaep => {
                Box::new(RSA_OAEP.decrypter_from_jwk(&jwk).map_err(unusable)?)
            }
            KeyManagementAlg::RsaOaep256 => {
                Box::new(RSA_OAEP_256.decrypter_from_jwk(&jwk).map_err(unusable)?)
            }
            KeyManagementAlg::EcdhEs => {
                Box::new(ECDH_ES.decrypter_from_jwk(&jwk).map_err(unusable)?)
            }
            KeyManagementAlg::EcdhEsA128Kw => {
                Box::new(ECDH_ES_A128KW.decrypter_from_jwk(&jwk).map_err(unusable)?)
            }
            KeyManagementAlg::EcdhEsA256Kw => {
                Box::new(ECDH_ES_A256KW.decrypter_from_jwk(&jwk).map_err(unusable)?)
            }
        };
        Ok(Self {
            alg,
            kid,
            rsa_bytes,
            decrypter,
        })
    }

    pub fn alg(&self) -> KeyManagementAlg {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The exact length of a JWE encrypted key for this key and a content
    /// key of `cek_len` bytes: the RSA modulus size for RSA-OAEP (RFC 8017
    /// §7.1.2), none for direct ECDH-ES (RFC 7518 §4.6), and the CEK plus
    /// one 64-bit block for AES key wrap (RFC 3394 §2.2.1).
    pub(crate) fn encrypted_key_len(&self, cek_len: usize) -> usize {
        match self.alg {
            KeyManagementAlg::RsaOaep | KeyManagementAlg::RsaOaep256 => self.rsa_bytes.unwrap_or(0),
            KeyManagementAlg::EcdhEs => 0,
            KeyManagementAlg::EcdhEsA128Kw | KeyManagementAlg::EcdhEsA256Kw => cek_len + 8,
        }
    }

    pub(crate) fn decrypter(&self) -> &dyn JweDecrypter {
        self.decrypter.as_ref()
    }
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptionKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::testkit::KEYS;

    #[test]
    fn decryption_keys_load_from_jwk_and_pem_and_never_print_secrets() {
        let key = DecryptionKey::from_jwk(
            KeyManagementAlg::RsaOaep,
            KEYS.enc_rsa.to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(key.kid(), Some("enc-rsa"));
        assert_eq!(key.alg(), KeyManagementAlg::RsaOaep);
        let debug = format!("{key:?}");
        assert!(
            !debug.contains(&KEYS.enc_rsa.parameter("d").unwrap().to_string()),
            "{debug}"
        );

        let pem = openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
        )
        .unwrap()
        .private_key_to_pem()
        .unwrap();
        assert!(DecryptionKey::from_pem(KeyManagementAlg::EcdhEsA256Kw, &pem, None).is_ok());
        assert_eq!(
            DecryptionKey::from_pem(KeyManagementAlg::RsaOaep, &pem, None).unwrap_err(),
            DecryptionKeyError::Unusable {
                alg: KeyManagementAlg::RsaOaep
            }
        );
        assert!(DecryptionKey::from_jwk(KeyManagementAlg::EcdhEs, b"{").is_err());
    }

    #[test]
    fn key_management_algorithm_names_round_trip() {
        for name in [
            "RSA-OAEP",
            "RSA-OAEP-256",
            "ECDH-ES",
            "ECDH-ES+A128KW",
            "ECDH-ES+A256KW",
        ] {
            assert_eq!(
                KeyManagementAlg::from_name(name).map(KeyManagementAlg::name),
                Some(name)
            );
        }
        assert_eq!(KeyManagementAlg::from_name("RSA1_5"), None);
    }
}
