//! revokd: makes logout and account-disable at an OpenID provider reach the
//! applications people signed into.
//!
//! # Layout
//!
//! Ground up. A module may import (`use crate::…`) only modules on a lower
//! floor, never one on its own floor or above; `tests/layering.rs` reads
//! this list and fails on an import against it (its known exceptions are
//! listed there, each with its reason). The binary (`main.rs`) sits on top.
//!
//! Floor 0, importing nothing of the crate:
//! - [`domain`]: identifiers, changes, the check decision, the state of one
//!   fact as stores report it and the mirror holds it. No I/O.
//! - [`config::error`]: [`config::ConfigError`], with which every settings
//!   type below [`config`] validates itself.
//! - [`config::secret_file`]: reading a secret file named in the
//!   configuration (systemd credentials).
//! - [`shutdown`]: waiting for the signal to stop.
//! - [`progress`]: count, rate and time left of long work (mirror load,
//!   index build), logged and shown on `/readyz`.
//!
//! Floor 1:
//! - [`metrics`]: Prometheus metrics.
//! - [`jwt`]: reading a JWT's identifying claims for look-up only.
//! - [`oidc`]: the pure Back-Channel Logout core: JWK Sets, our decryption
//!   key, JWS/JWE, the token rules and the §2.7 mapping. No I/O.
//! - [`api_keys`]: API keys and their roles, compared in constant time.
//! - [`admin_client`]: `revokd admin …`, the admin API from a shell.
//!
//! Floor 2:
//! - [`tls`]: TLS on the API listener, reloaded without a restart.
//! - [`quota`]: per-key rate limits of client writes.
//! - [`providers`]: configured identity providers: discovery, JWKS fetch
//!   and refresh (shared by [`backchannel`] and [`gateway`]).
//!
//! Floor 3:
//! - [`store`]: the storage contract and its embedded (`redb`) and Redis
//!   implementations, and what keeps others current without naming either:
//!   a change feed of touched keys, event wake-ups, the start of the log,
//!   the store's upkeep tasks.
//!
//! Floor 4:
//! - [`mirror`]: the in-memory copy of the live revocations that checks
//!   read, and what keeps it current from the store (`mirror::sync`).
//! - [`events`]: the event stream: the hub fed by the store's audit log,
//!   and each subscriber's catch-up merged with the live events.
//!
//! Floor 5:
//! - [`gateway`]: what `/v1/forward-auth` and `/v1/introspect` decide, from
//!   raw headers to identifiers.
//!
//! Floor 6:
//! - [`config`]: settings from TOML and `REVOKD_*` environment variables;
//!   composes the settings types of the floors below.
//!
//! Floor 7:
//! - [`revocations`]: the operations behind the API (revoke, disable,
//!   register, check) and their policy: the one check answer under
//!   `check.fail_mode`, the bounds of a registration.
//! - [`telemetry`]: structured logs through `tracing`.
//! - [`healthcheck`]: `revokd healthcheck`, a container's `/readyz` probe.
//! - [`doctor`]: `revokd doctor`, what is wrong with the providers, the
//!   store, a running instance and a gateway file, and what to do.
//!
//! Floor 8:
//! - [`backchannel`]: receiving a logout token: choose the provider, verify,
//!   revoke once, keep tokens whose keys are missing.
//! - [`signals`]: receiving Security Event Tokens (Shared Signals push,
//!   CAEP, RISC) and Global Token Revocation calls: verify with a
//!   provider's keys, map the subject, revoke once.
//! - [`scim`]: the SCIM 2.0 service provider identity providers provision
//!   into: users kept per client, mapped to `(iss, sub)`, `active: false`
//!   and DELETE turned into subject disables.
//!
//! Floor 9:
//! - [`readiness`]: can this instance answer checks? Probed from the
//!   services, rendered by `/readyz`.
//!
//! Floor 10:
//! - [`http`]: actix-web handlers, errors mapped to HTTP in one place, the
//!   OpenAPI document, the admin web page (`admin_ui`).
//!
//! Floor 11:
//! - [`startup`]: builds the application and runs it until stopped.

pub mod admin_client;
pub mod api_keys;
pub mod backchannel;
pub mod config;
pub mod doctor;
pub mod domain;
pub mod events;
pub mod gateway;
pub mod healthcheck;
pub mod http;
pub mod jwt;
pub mod metrics;
pub mod mirror;
pub mod oidc;
pub mod progress;
pub mod providers;
pub mod quota;
pub mod readiness;
pub mod revocations;
pub mod scim;
pub mod shutdown;
pub mod signals;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
