//! OpenID Connect Back-Channel Logout 1.0 (final, incorporating errata
//! set 1): the pure validation core. No HTTP, no store, no fetching: bytes
//! and `now` in, a verdict out. It imports nothing of the crate but
//! [`crate::domain`].
//!
//! - [`jwks`]: a provider's JWK Set ([`KeySet`]) of signature keys.
//! - [`decryption_key`]: our private key for encrypted tokens
//!   ([`DecryptionKey`]).
//! - [`logout_token`]: [`UnverifiedLogoutToken`] → [`VerifiedLogoutToken`]
//!   under a [`LogoutTokenPolicy`] (§2.4, §2.6, §4).
//! - [`set`]: Security Event Tokens (RFC 8417, SSF/CAEP/RISC) and the
//!   signed JWT of a Global Token Revocation caller; [`subject_id`]: RFC 9493
//!   subject identifiers and their mapping onto `(iss, sub)`/`(iss, sid)`.
//! - `jws` (a compact JWS decoded, and its signature checked against one
//!   issuer's keys: the `crit`/`alg`/`kid` rules shared by logout tokens
//!   and SETs), `jwe` (decrypting a Nested JWT), `json` (strict JSON parts)
//!   and `error` ([`LogoutTokenError`], one variant per rule), private.
//!
//! Inside, the files import ground up: `error` → `json`, `jwks`,
//! `decryption_key` → `jws`, `jwe` → `logout_token`, `set` → `testkit`.
//!
//! Cryptography is OpenSSL's, through `josekit` (JWK, JWS, JWE key
//! management) and the `openssl` crate (JWE content decryption). What sits
//! above: [`crate::providers`] fetches and refreshes discovery and JWK Sets
//! (shared with the gateway's signature check); [`crate::backchannel`]
//! chooses the provider from [`UnverifiedLogoutToken::issuer_hint`],
//! verifies, applies §2.7 once (the `jti` replay guard of §2.6 step 8 until
//! [`VerifiedLogoutToken::accepted_until`]) and keeps tokens whose keys are
//! missing; `crate::http::backchannel` answers (§2.8).

pub mod decryption_key;
mod error;
mod json;
mod jwe;
pub mod jwks;
mod jws;
pub mod logout_token;
pub mod set;
pub mod subject_id;
/// The one token-forging kit, for tests and benches only (the `testkit`
/// feature; see the module).
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use decryption_key::{DecryptionKey, DecryptionKeyError, KeyManagementAlg};
pub use error::LogoutTokenError;
pub use jwks::{JwsAlg, KeyKind, KeySet, KeySetError, SkipReason, SkippedKey};
pub use logout_token::{
    BACKCHANNEL_LOGOUT_EVENT, LogoutTokenPolicy, MAX_TOKEN_BYTES, PolicyError,
    UnverifiedLogoutToken, VerifiedLogoutToken,
};
