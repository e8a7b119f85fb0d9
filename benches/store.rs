//! Store latency: `lookup` (what a check costs without a mirror) and
//! `apply` (what a revocation costs), for the embedded store and for Redis,
//! each beside a baseline measured in the same run:
//! - embedded: a redb read transaction that reads nothing (the floor of any
//!   read), approximated by `ping`;
//! - Redis: a `PING` round trip on the same pool (the floor of any command).
//!
//! The Redis group runs when `REDIS_URL` is set, e.g.
//!   redis-server --port 6390 --save '' --appendonly no &
//!   REDIS_URL=redis://127.0.0.1:6390 cargo bench --bench store

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use revokd::domain::{
    Change, CheckRequest, Issuer, Owner, Provenance, RegistrationLimits, SessionId,
    SessionRegistration, SubjectId, TokenId, UnixTime,
};
use revokd::store::{EmbeddedSettings, EmbeddedStore, RedisSettings, RedisStore, RevocationStore};

const DAY: Duration = Duration::from_secs(86_400);

fn request(i: u64) -> CheckRequest {
    CheckRequest::new(
        Some(Issuer::parse("https://auth.example.com/application/o/home-assistant/").unwrap()),
        Some(TokenId::parse(format!("token-{i}")).unwrap()),
        Some(SessionId::parse(format!("session-{i}")).unwrap()),
        Some(SubjectId::parse(format!("user-{}", i % 100)).unwrap()),
        Some(UnixTime::from_secs(1_764_331_613)),
    )
    .unwrap()
}

fn provenance() -> Provenance {
    Provenance {
        actor: "admin:bench".into(),
        reason: None,
    }
}

/// Fills a store with `n` token revocations so look-ups are not on an empty store.
async fn fill(store: &impl RevocationStore, n: u64, now: UnixTime) {
    for i in 0..n {
        let change = Change::TokenRevoked {
            jti: TokenId::parse(format!("token-{}", i * 2)).unwrap(),
            expires_at: now.saturating_add(DAY),
        };
        store.apply(change, provenance(), now).await.unwrap();
    }
}

fn bench_store(
    c: &mut Criterion,
    name: &str,
    store: &impl RevocationStore,
    rt: &tokio::runtime::Runtime,
) {
    let now = UnixTime::now();
    rt.block_on(fill(store, 1_000, now));
    let requests: Vec<CheckRequest> = (0..1_000).map(request).collect();

    let mut group = c.benchmark_group(name);
    group.bench_function("baseline: ping", |b| {
        b.to_async(rt)
            .iter(|| async { store.ping().await.unwrap() })
    });
    let mut i = 0usize;
    group.bench_function("lookup (token, session, subject)", |b| {
        b.to_async(rt).iter(|| {
            i = (i + 1) % requests.len();
            let lookup = requests[i].lookup();
            async move { black_box(store.lookup(lookup, now).await.unwrap()) }
        })
    });
    let mut n = 0u64;
    group.bench_function("apply (token revoked, durable)", |b| {
        b.to_async(rt).iter(|| {
            n += 1;
            let change = Change::TokenRevoked {
                jti: TokenId::parse(format!("bench-{n}")).unwrap(),
                expires_at: now.saturating_add(DAY),
            };
            async move { store.apply(change, provenance(), now).await.unwrap() }
        })
    });
    group.finish();
    bench_registration(c, name, store, rt);
}

/// Sessions already holding this many token ids before the measured call.
const SESSION_SIZES: [usize; 2] = [100, 3_000];

/// One registration of `ids` into session `sid`, as an app at login.
fn registration(sid: &str, ids: Vec<TokenId>, now: UnixTime) -> SessionRegistration {
    // A per-session cap far above the sizes measured, so that the bench
    // shows the cost of a call against the session's size alone.
    let limits = RegistrationLimits {
        per_registration: 100,
        per_session: 100_000,
        per_key: usize::MAX,
    };
    SessionRegistration::new(
        Owner::parse("bench").unwrap(),
        limits,
        Issuer::parse("https://auth.example.com/application/o/home-assistant/").unwrap(),
        Some(SessionId::parse(sid).unwrap()),
        SubjectId::parse("alice").unwrap(),
        ids,
        now.saturating_add(DAY),
    )
    .unwrap()
}

/// Registering one more token id into a session that already holds
/// [`SESSION_SIZES`] ids: the cost must not grow with the session (issue
/// 17 item 3; before the fix the embedded store rewrote the whole session
/// record on every call).
fn bench_registration(
    c: &mut Criterion,
    name: &str,
    store: &impl RevocationStore,
    rt: &tokio::runtime::Runtime,
) {
    let now = UnixTime::now();
    let mut group = c.benchmark_group(format!("{name}: register 1 id into a session"));
    for size in SESSION_SIZES {
        let sid = format!("big-{size}-{}", std::process::id());
        rt.block_on(async {
            for chunk in 0..size.div_ceil(100) {
                let ids = (0..100.min(size - chunk * 100))
                    .map(|i| TokenId::parse(format!("{sid}-fill-{}", chunk * 100 + i)).unwrap())
                    .collect();
                store
                    .register_session(&registration(&sid, ids, now), client(), now)
                    .await
                    .unwrap();
            }
        });
        let mut n = 0u64;
        group.bench_function(format!("holding {size} ids"), |b| {
            b.to_async(rt).iter(|| {
                n += 1;
                let reg = registration(
                    &sid,
                    vec![TokenId::parse(format!("{sid}-new-{n}")).unwrap()],
                    now,
                );
                async move { store.register_session(&reg, client(), now).await.unwrap() }
            })
        });
    }
    group.finish();

    // A local logout of a full session (the default cap, 1,000 ids): on
    // Redis it runs in batches, so its longest single script stays a few
    // milliseconds (read it from SLOWLOG while this runs).
    let mut group = c.benchmark_group(format!("{name}: unregister a session"));
    group.sample_size(10);
    let round = std::cell::Cell::new(0u64);
    group.bench_function("holding 1000 ids", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let round = &round;
            async move {
                let mut measured = Duration::ZERO;
                for _ in 0..iters {
                    round.set(round.get() + 1);
                    let sid = format!("gone-{}-{}", round.get(), std::process::id());
                    for chunk in 0..10 {
                        let ids = (0..100)
                            .map(|i| TokenId::parse(format!("{sid}-{}", chunk * 100 + i)).unwrap())
                            .collect();
                        store
                            .register_session(&registration(&sid, ids, now), client(), now)
                            .await
                            .unwrap();
                    }
                    let started = std::time::Instant::now();
                    let removed = store
                        .unregister_session(
                            &Owner::parse("bench").unwrap(),
                            &Issuer::parse(
                                "https://auth.example.com/application/o/home-assistant/",
                            )
                            .unwrap(),
                            &SessionId::parse(sid).unwrap(),
                            now,
                        )
                        .await
                        .unwrap();
                    measured += started.elapsed();
                    assert_eq!(removed.map(|ids| ids.len()), Some(1_000));
                }
                measured
            }
        })
    });
    group.finish();
}

fn client() -> Provenance {
    Provenance {
        actor: "client:bench".into(),
        reason: None,
    }
}

fn embedded(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = EmbeddedSettings {
        path: dir.path().to_owned(),
        sweep_interval: Duration::from_secs(60),
        max_events: 100_000,
        max_admin_events: 100_000,
    };
    let store = EmbeddedStore::open(&settings).unwrap();
    bench_store(c, "embedded store", &store, &rt);
}

fn redis(c: &mut Criterion) {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!("REDIS_URL is not set: skipping the Redis store benchmarks");
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let settings = RedisSettings {
        url: url.into(),
        key_prefix: format!("revokd-bench-{}:", std::process::id()),
        pool_size: 4,
        connect_timeout: Duration::from_secs(2),
        command_timeout: Duration::from_secs(2),
        max_events: 100_000,
        max_admin_events: 100_000,
        sentinels: Vec::new(),
        sentinel_service: "mymaster".into(),
        tls: Default::default(),
    };
    let store = rt
        .block_on(async { RedisStore::connect(&settings) })
        .unwrap();
    bench_store(c, "redis store", &store, &rt);
}

criterion_group!(benches, embedded, redis);
criterion_main!(benches);
