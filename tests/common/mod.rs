//! Helpers shared by the integration tests.
//!
//! Each test binary uses only some of these helpers.
#![allow(dead_code)]

pub mod oidc_provider;
