#![recursion_limit = "256"]
//! Integration tests: the real application on port 0, against a real Redis
//! server (started per test) and the embedded store.

#[path = "../common/mod.rs"]
mod common;

mod acl;
mod admin;
mod admin_cli;
mod backchannel;
mod binary;
mod check;
mod cluster;
mod doctor;
mod errors;
mod events;
mod faults;
mod forged;
mod gateway;
mod health;
mod helpers;
mod limits;
mod logs;
mod mutated;
mod openapi;
mod pending;
mod progress;
mod proxies;
mod restart;
mod scim;
mod sessions;
mod signals;
mod strict;
mod tls;
