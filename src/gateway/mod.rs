//! Gateway enforcement: what `/v1/forward-auth` (asked by nginx
//! `auth_request`, Caddy `forward_auth`, Traefik ForwardAuth, Envoy
//! `ext_authz`) and `/v1/introspect` decide before and around the look-up.
//!
//! - [`path`]: the original request's path, normalised, for skip rules and
//!   per-route profiles.
//! - [`profile`]: how each kind of token names what to look up (`jwt`,
//!   `home-assistant`, `opaque`).
//! - [`verify`]: optional signature verification for the `jwt` profile.
//! - [`gate`]: the whole admission, from raw headers to identifiers.
//!
//! No HTTP framework here: the handlers in `crate::http` pass raw header
//! bytes in and map the outcome to responses.

pub mod gate;
pub mod path;
pub mod profile;
pub mod settings;
pub mod verify;

pub use gate::{Admission, Gate, GateError, GateRequest};
pub use profile::{Identified, ProfileKind, TokenRefusal};
pub use settings::{ForwardAuthSettings, HeaderSettings, MissingToken};
