//! revokd: makes logout and account-disable at an OpenID provider reach the
//! applications people signed into.
//!
//! # Layout
//!
//! - [`domain`]: identifiers, changes, the check decision. No I/O.
//! - [`store`]: the storage contract and its embedded (`redb`) and Redis
//!   implementations.
//! - [`api_keys`]: API keys and their roles, compared in constant time.
//! - [`config`]: settings from TOML and `REVOKD_*` environment variables.
//! - [`revocations`]: the operations behind the API (revoke, disable, check).
//! - [`quota`]: per-key rate limits of client writes.
//! - [`jwt`]: reading a JWT's identifying claims for look-up only.
//! - [`oidc`]: Back-Channel Logout token validation (keys, JWS/JWE, rules).
//! - [`http`]: actix-web handlers, errors mapped to HTTP in one place, the
//!   OpenAPI document.
//! - [`metrics`], [`telemetry`]: Prometheus and `tracing`.
//! - [`startup`]: builds the application and runs it until stopped.
//! - [`tls`]: TLS on the API listener, reloaded without a restart.

pub mod api_keys;
pub mod backchannel;
pub mod config;
pub mod domain;
pub mod events;
pub mod gateway;
pub mod http;
pub mod jwt;
pub mod metrics;
pub mod mirror;
pub mod oidc;
pub mod providers;
pub mod quota;
pub mod replica;
pub mod revocations;
pub mod shutdown;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
