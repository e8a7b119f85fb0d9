//! The test harness itself, proven without the revokd server where it can
//! be: the two identity providers of `common/` and the gateway harness
//! with the committed proxy configurations. One binary (it was three),
//! so the crate and `common/` are linked once.
//!
//! - `forging_idp`: the in-process provider that forges any logout token;
//! - `certified_idp`: panva's certified oidc-provider (needs
//!   `npm ci --prefix tests/idp`);
//! - `gateway`: real nginx and Caddy in front of the real revokd binary.
//!
//! Run one part: `cargo test --test harness forging_idp::`.

#[path = "../common/mod.rs"]
mod common;

mod certified_idp;
mod forging_idp;
mod gateway;
