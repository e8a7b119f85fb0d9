//! Behaviour only Redis has: key prefixes, real TTLs, unreadable values,
//! a server that goes away, the snapshot index, the change feed, and a
//! primary behind Redis Sentinel that fails over (`sentinel`).

use crate::events::revoke_n;
use crate::fixtures::*;
use crate::mirror_reads::{key_of, one_of_each, sorted};

mod faults;
mod feed;
mod index;
mod sentinel;

async fn raw(server: &RedisServer) -> raw_redis::aio::MultiplexedConnection {
    let client = raw_redis::Client::open(server.url()).expect("client");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection")
}

async fn get(conn: &mut raw_redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    raw_redis::cmd("GET")
        .arg(key)
        .query_async(conn)
        .await
        .expect("GET")
}

async fn exists(conn: &mut raw_redis::aio::MultiplexedConnection, key: &str) -> bool {
    raw_redis::cmd("EXISTS")
        .arg(key)
        .query_async::<i64>(conn)
        .await
        .expect("EXISTS")
        == 1
}
