//! The checks of the configured store.
//!
//! Redis: reachable; its version; whether a restart or a crash can lose
//! acknowledged revocations (`appendonly`, `appendfsync`); whether memory
//! pressure can evict them (`maxmemory-policy`: every revokd key has a TTL,
//! so any `volatile-*` or `allkeys-*` policy may drop revocations
//! silently); whether revokd's user may run what revokd runs; replication
//! and Sentinel. Embedded: the file, its size and the free disk under it.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use deadpool_redis::redis::{self, aio::MultiplexedConnection};

use super::Check;
use crate::config::{Settings, StoreKind};
use crate::store::{RedisSettings, open_primary};

/// Where the ACL line revokd's Redis user needs is documented.
const ACL_DOC: &str = "deploy/README.md (ACL SETUSER revokd ...)";

pub async fn check(settings: &Settings, timeout: Duration) -> Vec<Check> {
    match settings.store {
        StoreKind::Embedded => embedded(&settings.embedded.path),
        StoreKind::Redis => redis_checks(&settings.redis, timeout).await,
    }
}

/// The embedded store's file and the disk it is on. The file is not
/// opened: a running instance holds its lock.
fn embedded(dir: &Path) -> Vec<Check> {
    let file = dir.join("revokd.redb");
    let mut checks = Vec::new();
    match std::fs::metadata(&file) {
        Ok(meta) => checks.push(Check::ok(
            "store:embedded file",
            format!("{} ({} bytes)", file.display(), meta.len()),
        )),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => checks.push(Check::warn(
            "store:embedded file",
            format!("{} does not exist yet", file.display()),
            "revokd creates it on its first start; if one ran already, check embedded.path",
        )),
        Err(err) => checks.push(Check::fail(
            "store:embedded file",
            format!("{}: {err}", file.display()),
            "revokd's user must be able to read and write embedded.path",
        )),
    }
    let existing = dir
        .ancestors()
        .find(|p| p.as_os_str().is_empty() || p.exists())
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."));
    match free_bytes(existing) {
        Some(free) if free < 100 * 1024 * 1024 => checks.push(Check::fail(
            "store:embedded disk",
            format!(
                "{} MiB free under {}",
                free / (1024 * 1024),
                existing.display()
            ),
            "free disk space: a full disk makes every revocation fail",
        )),
        Some(free) => checks.push(Check::ok(
            "store:embedded disk",
            format!(
                "{} MiB free under {}",
                free / (1024 * 1024),
                existing.display()
            ),
        )),
        None => checks.push(Check::warn(
            "store:embedded disk",
            format!("cannot read the free space under {}", existing.display()),
            "check the free disk space by hand (df)",
        )),
    }
    checks
}

/// Free bytes for an unprivileged user on the file system holding `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points
    // to writable memory of the right size; statvfs fills it on success.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised `stat`.
    let stat = unsafe { stat.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ by platform
    Some(stat.f_bavail as u64 * stat.f_frsize as u64)
}

async fn redis_checks(settings: &RedisSettings, timeout: Duration) -> Vec<Check> {
    let mut checks = Vec::new();
    if !settings.sentinels.is_empty() {
        checks.push(sentinels(settings, timeout).await);
    }
    let opened = tokio::time::timeout(timeout, open_primary(settings)).await;
    let mut conn = match opened {
        Ok(Ok(conn)) => conn,
        Ok(Err(err)) => {
            checks.push(Check::fail(
                "store:redis reachable",
                format!("{:#}", anyhow::Error::from(err)),
                "check redis.url (and redis.sentinels), the network and Redis's password",
            ));
            return checks;
        }
        Err(_) => {
            checks.push(Check::fail(
                "store:redis reachable",
                format!("no connection within {timeout:?}"),
                "check redis.url and the network",
            ));
            return checks;
        }
    };
    match redis::cmd("PING").query_async::<String>(&mut conn).await {
        Ok(_) => checks.push(Check::ok("store:redis reachable", "PING answered")),
        Err(err) => {
            checks.push(Check::fail(
                "store:redis reachable",
                format!("PING: {err}"),
                "check Redis's password in redis.url and the user's ACL",
            ));
            return checks;
        }
    }
    match info(&mut conn).await {
        Ok(info) => {
            checks.push(version(&info));
            checks.push(appendonly(&info));
            checks.push(appendfsync(&mut conn).await);
            checks.push(eviction(info.get("maxmemory_policy").map(String::as_str)));
            checks.push(replication(&info));
        }
        Err(err) => checks.push(Check::warn(
            "store:redis info",
            format!("INFO: {err}"),
            format!(
                "revokd's Redis user needs +info to check its durability and eviction settings: see {ACL_DOC}"
            ),
        )),
    }
    checks.push(permissions(&mut conn, &settings.key_prefix).await);
    checks
}

/// `INFO` as `field -> value`.
async fn info(
    conn: &mut MultiplexedConnection,
) -> Result<HashMap<String, String>, redis::RedisError> {
    let text: String = redis::cmd("INFO").query_async(conn).await?;
    Ok(parse_info(&text))
}

fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn version(info: &HashMap<String, String>) -> Check {
    let version = info.get("redis_version").map_or("unknown", String::as_str);
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major >= 6 {
        Check::ok("store:redis version", format!("Redis {version}"))
    } else {
        Check::fail(
            "store:redis version",
            format!("Redis {version}"),
            "revokd needs Redis 6.2 or later (streams, ACLs)",
        )
    }
}

fn appendonly(info: &HashMap<String, String>) -> Check {
    if info.get("aof_enabled").map(String::as_str) == Some("1") {
        Check::ok("store:redis appendonly", "appendonly yes")
    } else {
        Check::warn(
            "store:redis appendonly",
            "appendonly no: a restart loses every revocation acknowledged since the last RDB snapshot",
            "set `appendonly yes` and `appendfsync always` in redis.conf",
        )
    }
}

async fn appendfsync(conn: &mut MultiplexedConnection) -> Check {
    let answer: Result<Vec<String>, _> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendfsync")
        .query_async(conn)
        .await;
    match answer.as_deref() {
        Ok([_, value]) if value == "always" => {
            Check::ok("store:redis appendfsync", "appendfsync always")
        }
        Ok([_, value]) => Check::warn(
            "store:redis appendfsync",
            format!("appendfsync {value}: a crash can lose revocations already acknowledged"),
            "set `appendfsync always` in redis.conf",
        ),
        Ok(_) => Check::warn(
            "store:redis appendfsync",
            "CONFIG GET appendfsync answered nothing (a managed Redis?)",
            "confirm with your provider that writes are fsynced before they are acknowledged",
        ),
        Err(err) => Check::warn(
            "store:redis appendfsync",
            format!("cannot read it: {err}"),
            "confirm `appendfsync always` in redis.conf (revokd's user may not run CONFIG GET)",
        ),
    }
}

/// `maxmemory-policy` must be `noeviction`: every key revokd writes has a
/// TTL, so `volatile-*` policies evict revocations as readily as
/// `allkeys-*` ones, silently.
pub fn eviction(policy: Option<&str>) -> Check {
    match policy {
        Some("noeviction") => Check::ok("store:redis eviction", "maxmemory-policy noeviction"),
        Some(policy) => Check::fail(
            "store:redis eviction",
            format!(
                "maxmemory-policy {policy}: under memory pressure Redis silently evicts revocations (every revokd key has a TTL)"
            ),
            "set `maxmemory-policy noeviction` (writes then fail loudly instead of revocations vanishing)",
        ),
        None => Check::warn(
            "store:redis eviction",
            "INFO does not name maxmemory_policy",
            "confirm `maxmemory-policy noeviction` in redis.conf",
        ),
    }
}

fn replication(info: &HashMap<String, String>) -> Check {
    let role = info.get("role").map_or("unknown", String::as_str);
    let replicas: u32 = info
        .get("connected_slaves")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    match role {
        "master" if replicas > 0 => Check::ok(
            "store:redis replication",
            format!("primary with {replicas} connected replica(s)"),
        ),
        "master" => Check::ok(
            "store:redis replication",
            "primary, no replica (a lost host loses what its disk held)",
        ),
        other => Check::fail(
            "store:redis replication",
            format!("role {other}: revokd's writes would be refused"),
            "point redis.url at the primary, or use redis.sentinels",
        ),
    }
}

/// What revokd runs, tried harmlessly with its own user: a probe key under
/// the prefix (written, read, deleted; it expires in seconds anyway), the
/// event stream read, a scan, a script call that cannot match a script.
async fn permissions(conn: &mut MultiplexedConnection, prefix: &str) -> Check {
    let probe = format!("{prefix}doctor:probe");
    let stream = format!("{prefix}events");
    let pattern = format!("{prefix}*");
    let calls = [
        (
            "SET",
            redis::cmd("SET")
                .arg(&probe)
                .arg("1")
                .arg("PX")
                .arg(10_000)
                .clone(),
        ),
        ("GET", redis::cmd("GET").arg(&probe).clone()),
        ("EXISTS", redis::cmd("EXISTS").arg(&probe).clone()),
        (
            "EXPIREAT",
            redis::cmd("EXPIREAT")
                .arg(&probe)
                .arg(4_000_000_000u64)
                .clone(),
        ),
        ("DEL", redis::cmd("DEL").arg(&probe).clone()),
        (
            "XREVRANGE",
            redis::cmd("XREVRANGE")
                .arg(&stream)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .clone(),
        ),
        (
            "SCAN",
            redis::cmd("SCAN")
                .arg(0)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1)
                .clone(),
        ),
        (
            "EVALSHA",
            redis::cmd("EVALSHA")
                .arg("0000000000000000000000000000000000000000")
                .arg(1)
                .arg(&probe)
                .clone(),
        ),
        ("ROLE", redis::cmd("ROLE").clone()),
    ];
    let mut denied = Vec::new();
    for (name, call) in calls {
        if let Err(err) = call.query_async::<redis::Value>(conn).await
            && err.code() == Some("NOPERM")
        {
            denied.push(name);
        }
    }
    let _ = redis::cmd("DEL").arg(&probe).query_async::<i64>(conn).await;
    if denied.is_empty() {
        Check::ok(
            "store:redis permissions",
            format!("revokd's user may run what revokd runs on {prefix}*"),
        )
    } else {
        Check::fail(
            "store:redis permissions",
            format!("denied: {}", denied.join(", ")),
            format!("grant them to revokd's Redis user as in {ACL_DOC}"),
        )
    }
}

/// Each Sentinel reachable and naming the same primary.
async fn sentinels(settings: &RedisSettings, timeout: Duration) -> Check {
    let mut answers = Vec::new();
    let mut unreachable = Vec::new();
    for url in &settings.sentinels {
        let address = redis::IntoConnectionInfo::into_connection_info(url.as_str())
            .map(|info| info.addr().to_string())
            .unwrap_or_else(|_| "an unparsable address".into());
        let asked = async {
            let client = redis::Client::open(url.as_str())?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(&settings.sentinel_service)
                .query_async::<Option<(String, String)>>(&mut conn)
                .await
        };
        match tokio::time::timeout(timeout, asked).await {
            Ok(Ok(Some((host, port)))) => answers.push(format!("{host}:{port}")),
            Ok(Ok(None)) => unreachable.push(format!(
                "{address} (does not know `{}`)",
                settings.sentinel_service
            )),
            Ok(Err(err)) => unreachable.push(format!("{address} ({err})")),
            Err(_) => unreachable.push(format!("{address} (no answer)")),
        }
    }
    answers.sort();
    answers.dedup();
    match (answers.as_slice(), unreachable.is_empty()) {
        ([], _) => Check::fail(
            "store:redis sentinel",
            format!("no Sentinel names a primary: {}", unreachable.join(", ")),
            "check redis.sentinels and redis.sentinel_service",
        ),
        ([primary], true) => Check::ok(
            "store:redis sentinel",
            format!(
                "{} Sentinel(s) name the primary {primary}",
                settings.sentinels.len()
            ),
        ),
        ([primary], false) => Check::warn(
            "store:redis sentinel",
            format!(
                "primary {primary}; not answering: {}",
                unreachable.join(", ")
            ),
            "a failover needs a quorum of Sentinels: bring the others back",
        ),
        (many, _) => Check::fail(
            "store:redis sentinel",
            format!("Sentinels disagree on the primary: {}", many.join(", ")),
            "the Sentinels are split: check their network and configuration",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn only_noeviction_passes() {
        assert_eq!(eviction(Some("noeviction")).status, Status::Ok);
        for policy in [
            "allkeys-lru",
            "volatile-ttl",
            "volatile-lru",
            "allkeys-random",
        ] {
            assert_eq!(eviction(Some(policy)).status, Status::Fail, "{policy}");
        }
        assert_eq!(eviction(None).status, Status::Warn);
    }

    #[test]
    fn info_is_read_as_fields() {
        let info = parse_info("# Server\r\nredis_version:7.0.15\r\nrole:master\r\n");
        assert_eq!(info["redis_version"], "7.0.15");
        assert_eq!(version(&info).status, Status::Ok);
        assert_eq!(replication(&info).status, Status::Ok);
    }
}
