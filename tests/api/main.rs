#![recursion_limit = "256"]
//! Integration tests: the real application on port 0, against a real Redis
//! server (started per test) and the embedded store.

#[path = "../common/mod.rs"]
mod common;

mod acl;
mod admin;
mod admin_cli;
mod admin_ui;
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
mod ssf_management;
mod strict;
mod subject_sessions;
mod tls;
