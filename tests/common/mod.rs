//! Helpers shared by the integration test binaries; each uses only part of
//! them.
#![allow(dead_code)]

pub mod redis_server;
