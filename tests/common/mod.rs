//! Helpers shared by the integration test binaries; each uses only part of
//! them.
#![allow(dead_code)]

pub mod certs;
pub mod gateway;
pub mod oidc_provider;
pub mod redis_sentinel;
pub mod redis_server;
pub mod test_idp;
