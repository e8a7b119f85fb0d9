//! A provider's signing keys over time: generations that rotate, keys
//! that sign without being published, and the JWK Set they make.

use josekit::jwk::Jwk;
use serde_json::{Value, json};

use super::forge;
use crate::oidc::jwks::{JwsAlg, KeyKind};

/// Every key kind, in the order a generation creates them.
pub const KEY_KINDS: [KeyKind; 3] = [KeyKind::Rsa, KeyKind::EcP256, KeyKind::Ed25519];

/// The algorithm a key of `kind` signs with when none is chosen.
pub fn default_alg(kind: KeyKind) -> JwsAlg {
    match kind {
        KeyKind::Rsa => JwsAlg::Rs256,
        KeyKind::EcP256 => JwsAlg::Es256,
        KeyKind::Ed25519 => JwsAlg::EdDsa,
    }
}

/// The key kind that signs `alg`.
pub fn kind_for(alg: JwsAlg) -> KeyKind {
    KEY_KINDS
        .into_iter()
        .find(|kind| alg.fits(*kind))
        .expect("every JwsAlg fits a key kind")
}

fn kid_prefix(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Rsa => "rsa",
        KeyKind::EcP256 => "ec",
        KeyKind::Ed25519 => "ed",
    }
}

/// One signing key: RSA 2048, EC P-256 or Ed25519, with its `kid`.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub kind: KeyKind,
    pub private: Jwk,
}

impl SigningKey {
    pub fn generate(kind: KeyKind, kid: impl Into<String>) -> Self {
        let kid = kid.into();
        let mut private = match kind {
            KeyKind::Rsa => Jwk::generate_rsa_key(2048),
            KeyKind::EcP256 => Jwk::generate_ec_key(josekit::jwk::P_256),
            KeyKind::Ed25519 => Jwk::generate_ed_key(josekit::jwk::Ed25519),
        }
        .expect("generate a signing key");
        private.set_key_id(&kid);
        Self { kid, kind, private }
    }

    /// The JWK as a provider publishes it: public members, `kid`,
    /// `use: sig`, and `alg` for the EC and Ed25519 keys (an RSA key
    /// verifies RS* and PS* alike).
    pub fn public_jwk(&self) -> Value {
        let mut public = self.private.to_public_key().expect("public half of a key");
        public.set_key_id(&self.kid);
        public.set_key_use("sig");
        match self.kind {
            KeyKind::Rsa => {}
            KeyKind::EcP256 => public.set_algorithm("ES256"),
            KeyKind::Ed25519 => public.set_algorithm("EdDSA"),
        }
        Value::Object(public.into())
    }

    /// The public key as SubjectPublicKeyInfo PEM: what a careless verifier
    /// loads as an "HS256 secret" in the algorithm-confusion attack.
    pub fn public_pem(&self) -> Vec<u8> {
        use josekit::jwk::alg::{ec::EcKeyPair, ed::EdKeyPair, rsa::RsaKeyPair};
        match self.kind {
            KeyKind::Rsa => RsaKeyPair::from_jwk(&self.private).map(|k| k.to_pem_public_key()),
            KeyKind::EcP256 => EcKeyPair::from_jwk(&self.private).map(|k| k.to_pem_public_key()),
            KeyKind::Ed25519 => EdKeyPair::from_jwk(&self.private).map(|k| k.to_pem_public_key()),
        }
        .expect("public key PEM")
    }

    /// A compact JWS of exactly `header` and `claims`, signed by this key
    /// with `alg`.
    pub fn sign(&self, header: &Value, claims: &Value, alg: JwsAlg) -> String {
        forge::sign_jws(header, claims, alg, &self.private)
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

struct Held {
    key: SigningKey,
    published: bool,
    /// The key that signs with its kind by default.
    current: bool,
}

/// A provider's keys over time. Starts with one generation: a current,
/// published key of each kind (`kid`s `rsa-1`, `ec-1`, `ed-1`). Every key
/// it ever had can still sign ([`KeyGenerations::key`]), published or not.
pub struct KeyGenerations {
    keys: Vec<Held>,
    /// Makes every `kid` unique within these generations.
    serial: u32,
}

impl Default for KeyGenerations {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyGenerations {
    pub fn new() -> Self {
        let mut generations = Self {
            keys: Vec::new(),
            serial: 0,
        };
        generations.add_generation();
        generations
    }

    /// A new current, published key of every kind (`kid`s `{kind}-{n}`).
    fn add_generation(&mut self) {
        self.serial += 1;
        for kind in KEY_KINDS {
            let kid = format!("{}-{}", kid_prefix(kind), self.serial);
            self.keys.push(Held {
                key: SigningKey::generate(kind, kid),
                published: true,
                current: true,
            });
        }
    }

    /// Replaces every current key with a new generation (new `kid`s). The
    /// old keys leave the JWK Set unless `keep_old` (the usual overlap
    /// while a provider rolls its keys), and can still sign.
    pub fn rotate(&mut self, keep_old: bool) {
        for held in self.keys.iter_mut().filter(|k| k.current) {
            held.current = false;
            held.published = keep_old;
        }
        self.add_generation();
    }

    /// A new key of `kind` that signs but is not published; returns its
    /// `kid` (ends in `-unpublished`).
    pub fn add_unpublished(&mut self, kind: KeyKind) -> String {
        self.serial += 1;
        let kid = format!("{}-{}-unpublished", kid_prefix(kind), self.serial);
        self.keys.push(Held {
            key: SigningKey::generate(kind, kid.clone()),
            published: false,
            current: false,
        });
        kid
    }

    /// Adds the key `kid` to the JWK Set, or removes it (it can still sign).
    ///
    /// # Panics
    /// There is no key `kid`.
    pub fn set_published(&mut self, kid: &str, published: bool) {
        self.held_mut(kid).published = published;
    }

    /// The key that signs tokens of `kind` by default.
    pub fn current(&self, kind: KeyKind) -> &SigningKey {
        &self
            .keys
            .iter()
            .find(|k| k.current && k.key.kind == kind)
            .expect("there is always a current key of each kind")
            .key
    }

    /// Any key these generations have had.
    ///
    /// # Panics
    /// There is no key `kid`.
    pub fn key(&self, kid: &str) -> &SigningKey {
        &self
            .keys
            .iter()
            .find(|k| k.key.kid == kid)
            .unwrap_or_else(|| panic!("no key with kid {kid:?}"))
            .key
    }

    fn held_mut(&mut self, kid: &str) -> &mut Held {
        self.keys
            .iter_mut()
            .find(|k| k.key.kid == kid)
            .unwrap_or_else(|| panic!("no key with kid {kid:?}"))
    }

    /// The `kid`s of the published keys, oldest first.
    pub fn published_kids(&self) -> Vec<String> {
        self.keys
            .iter()
            .filter(|k| k.published)
            .map(|k| k.key.kid.clone())
            .collect()
    }

    /// The published JWK Set.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|k| k.published)
            .map(|k| k.key.public_jwk())
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::KeySet;

    fn kids(jwks: &Value) -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn the_first_generation_publishes_one_current_key_of_each_kind() {
        let generations = KeyGenerations::new();
        assert_eq!(generations.published_kids(), ["rsa-1", "ec-1", "ed-1"]);
        assert_eq!(kids(&generations.jwks()), ["rsa-1", "ec-1", "ed-1"]);
        assert_eq!(generations.current(KeyKind::EcP256).kid, "ec-1");
        KeySet::from_jwks(generations.jwks().to_string().as_bytes()).unwrap();
    }

    #[test]
    fn a_rotation_replaces_the_current_keys_and_the_old_ones_still_sign() {
        let mut generations = KeyGenerations::new();
        generations.rotate(false);
        assert_eq!(generations.published_kids(), ["rsa-2", "ec-2", "ed-2"]);
        assert_eq!(generations.current(KeyKind::Rsa).kid, "rsa-2");
        assert_eq!(generations.key("rsa-1").kid, "rsa-1");
        generations.rotate(true);
        assert_eq!(
            generations.published_kids(),
            ["rsa-2", "ec-2", "ed-2", "rsa-3", "ec-3", "ed-3"]
        );
    }

    #[test]
    fn an_unpublished_key_signs_but_is_not_in_the_set_until_published() {
        let mut generations = KeyGenerations::new();
        let kid = generations.add_unpublished(KeyKind::Ed25519);
        assert_eq!(kid, "ed-2-unpublished");
        assert!(!generations.published_kids().contains(&kid));
        generations.set_published(&kid, true);
        assert!(generations.published_kids().contains(&kid));
        generations.set_published("rsa-1", false);
        assert!(!generations.published_kids().contains(&"rsa-1".to_owned()));
    }
}
