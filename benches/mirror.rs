//! The per-instance mirror: nanoseconds per check look-up (against one
//! `HashSet<String>` probe of the same size, measured in the same run),
//! heap bytes per revoked entry at 1M and 10M entries, and the time to load
//! 10M entries into a new mirror.
//!
//! cargo bench --bench mirror            (MIRROR_BENCH_BIG=0 skips the 10M runs)

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use revokd::domain::{
    FactUpdate, Issuer, Lookup, Session, SessionId, Subject, SubjectId, TokenId, UnixTime,
};
use revokd::mirror::Mirror;

/// Counts live heap bytes, so memory is measured, not estimated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ISS: &str = "https://auth.example.com/application/o/home-assistant/";
const EXPIRES: i64 = 4_000_000_000;

/// A realistic token id: 32 hex digits, like Home Assistant's refresh-token ids.
fn token_id(i: usize) -> TokenId {
    TokenId::parse(format!(
        "{:032x}",
        (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c)
    ))
    .unwrap()
}

fn revoke(i: usize) -> FactUpdate {
    FactUpdate::Token {
        jti: token_id(i),
        expires_at: UnixTime::from_secs(EXPIRES),
    }
}

/// Applies `n` token revocations in batches (built outside the timing) and
/// returns the seconds spent applying.
fn fill(mirror: &Mirror, n: usize, offset: usize) -> f64 {
    let mut applying = 0.0;
    for start in (0..n).step_by(100_000) {
        let batch: Vec<FactUpdate> = (start..(start + 100_000).min(n))
            .map(|i| revoke(offset + i))
            .collect();
        let began = Instant::now();
        for update in &batch {
            mirror.apply(update);
        }
        applying += began.elapsed().as_secs_f64();
    }
    applying
}

/// Heap bytes per entry of a mirror holding `n` token revocations.
fn bytes_per_token_entry(n: usize) -> (f64, usize, f64) {
    let before = LIVE.load(Ordering::SeqCst);
    let mirror = Mirror::new();
    let load_secs = fill(&mirror, n, 0);
    let used = LIVE.load(Ordering::SeqCst) - before;
    let stats = mirror.stats();
    drop(mirror);
    (used as f64 / n as f64, stats.bytes, load_secs)
}

fn memory_and_load() {
    let big = std::env::var("MIRROR_BENCH_BIG").map_or(true, |v| v != "0");
    let sizes: &[usize] = if big {
        &[1_000_000, 10_000_000]
    } else {
        &[1_000_000]
    };
    for &n in sizes {
        let (per_entry, stats_bytes, load) = bytes_per_token_entry(n);
        println!(
            "mirror memory: {n} token entries: {per_entry:.1} bytes/entry measured \
             (MirrorStats says {:.1}); loaded in {load:.2} s ({:.0} ns/entry)",
            stats_bytes as f64 / n as f64,
            load * 1e9 / n as f64
        );
    }
    // 1M mixed: a quarter each of tokens, sessions, marks and bindings.
    let before = LIVE.load(Ordering::SeqCst);
    let mirror = Mirror::new();
    for i in 0..250_000usize {
        let subject = Subject {
            iss: Issuer::parse(ISS).unwrap(),
            sub: SubjectId::parse(format!("user-{i}")).unwrap(),
        };
        let session = Session {
            iss: Issuer::parse(ISS).unwrap(),
            sid: SessionId::parse(format!("session-{i}")).unwrap(),
        };
        let at = UnixTime::from_secs(EXPIRES);
        mirror.apply(&revoke(i));
        mirror.apply(&FactUpdate::Session {
            session: session.clone(),
            expires_at: at,
        });
        mirror.apply(&FactUpdate::SubjectRevokedBefore {
            subject: subject.clone(),
            before: UnixTime::from_secs(1_764_000_000),
            expires_at: at,
        });
        mirror.apply(&FactUpdate::Binding {
            jti: token_id(i + 10_000_000),
            session: Some(session),
            subject,
            registered_at: UnixTime::from_secs(1_764_000_000),
            expires_at: at,
        });
    }
    let used = LIVE.load(Ordering::SeqCst) - before;
    println!(
        "mirror memory: 1000000 mixed entries: {:.1} bytes/entry measured",
        used as f64 / 1_000_000.0
    );
}

fn lookups(c: &mut Criterion) {
    memory_and_load();

    const N: usize = 1_000_000;
    let mirror = Mirror::new();
    fill(&mirror, N, 0);
    let set: HashSet<String> = (0..N).map(|i| token_id(i).as_ref().to_owned()).collect();
    let hit = token_id(N / 2);
    let miss = token_id(N + 7);
    let hit_text = hit.as_ref().to_owned();
    let session = Session {
        iss: Issuer::parse(ISS).unwrap(),
        sid: SessionId::parse("f3a1c9e7b5d3f1a9c7e5b3d1f9a7c5e3").unwrap(),
    };
    let subject = Subject {
        iss: Issuer::parse(ISS).unwrap(),
        sub: SubjectId::parse("alice").unwrap(),
    };
    let now = UnixTime::from_secs(1_764_331_613);

    let mut group = c.benchmark_group("mirror (1M revoked tokens)");
    group.bench_function("baseline: one HashSet<String> probe", |b| {
        b.iter(|| black_box(&set).contains(black_box(&hit_text)))
    });
    group.bench_function("lookup token (hit)", |b| {
        let lookup = Lookup {
            jti: Some(&hit),
            ..Lookup::default()
        };
        b.iter(|| black_box(&mirror).lookup(black_box(lookup), now))
    });
    group.bench_function("lookup token (miss)", |b| {
        let lookup = Lookup {
            jti: Some(&miss),
            ..Lookup::default()
        };
        b.iter(|| black_box(&mirror).lookup(black_box(lookup), now))
    });
    group.bench_function("lookup token + session + subject", |b| {
        let lookup = Lookup {
            jti: Some(&miss),
            session: Some(&session),
            subject: Some(&subject),
        };
        b.iter(|| black_box(&mirror).lookup(black_box(lookup), now))
    });
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
