//! Helpers shared by the integration test binaries; each uses only part of
//! them.
//!
//! Two identity providers, named for what they are: [`forging_idp`] is
//! in process and forges every kind of bad logout token on demand (the
//! rule-by-rule negative cases); [`certified_idp`] runs panva's certified
//! `oidc-provider` (tests/idp) and sends the logout tokens a real provider
//! sends.
#![allow(dead_code)]

pub mod certified_idp;
pub mod certs;
pub mod forging_idp;
pub mod gateway;
pub mod redis_sentinel;
pub mod redis_server;
