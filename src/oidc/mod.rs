//! OpenID Connect Back-Channel Logout 1.0 (final, incorporating errata
//! set 1): the pure validation core. No HTTP, no store, no fetching.
//!
//! - [`keys`]: a provider's JWK Set ([`KeySet`]) and our decryption key
//!   ([`DecryptionKey`]).
//! - [`logout_token`]: [`UnverifiedLogoutToken`] → [`VerifiedLogoutToken`]
//!   under a [`LogoutTokenPolicy`] (§2.4, §2.6, §4).
//!
//! Cryptography is OpenSSL's, through `josekit` (JWK, JWS, JWE key
//! management) and the `openssl` crate (JWE content decryption). What the
//! HTTP/provider layer adds: choosing the provider from
//! [`UnverifiedLogoutToken::issuer_hint`], fetching and refreshing JWK Sets,
//! the `jti` replay cache (§2.6 step 8) until
//! [`VerifiedLogoutToken::accepted_until`], and the response (§2.8).

mod jwe;
pub mod keys;
pub mod logout_token;
#[cfg(test)]
pub(crate) mod testkit;

pub use keys::{
    DecryptionKey, DecryptionKeyError, JwsAlg, KeyKind, KeyManagementAlg, KeySet, KeySetError,
    SkipReason, SkippedKey,
};
pub use logout_token::{
    BACKCHANNEL_LOGOUT_EVENT, LogoutTokenError, LogoutTokenPolicy, MAX_TOKEN_BYTES, PolicyError,
    UnverifiedLogoutToken, VerifiedLogoutToken,
};
