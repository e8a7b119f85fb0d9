//! `/v1/events`: the work each open stream does per event, before and
//! after the hub serialised each event once (issue 17, item 7).
//!
//! - `per_stream/serialise`: what every stream did per event before: turn
//!   the event into its SSE frame itself.
//! - `per_stream/shared`: what it does now: compare the id with its last
//!   one and clone the shared frame (a reference count).
//!
//! cargo bench --bench events

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use revokd::domain::{Change, Event, EventId, Note, TokenId, UnixTime};
use revokd::events::{SharedEvent, event_frame, is_after};

fn event() -> Event {
    Event {
        id: EventId("1765062000000-0".into()),
        at: UnixTime::from_secs(1_765_062_000),
        change: Change::TokenRevoked {
            jti: TokenId::parse("9f1c2e7a-5b3d-4c8e-a1f0-2d6b7e8c9a01").unwrap(),
            expires_at: UnixTime::from_secs(1_765_065_600),
        },
        actor: "admin:ops".into(),
        reason: Some(Note::parse("logged out at the provider").unwrap()),
    }
}

fn per_stream(c: &mut Criterion) {
    let event = event();
    let last = EventId("1765061999999-0".into());
    let mut group = c.benchmark_group("per_stream");
    group.bench_function("serialise", |b| {
        b.iter(|| {
            let e = black_box(&event);
            if is_after(&e.id, black_box(&last)) {
                black_box(event_frame(e));
            }
        });
    });
    let shared = Arc::new(SharedEvent::new(&event));
    group.bench_function("shared", |b| {
        b.iter(|| {
            let e = black_box(&shared);
            if is_after(&e.id, black_box(&last)) {
                black_box(e.frame.clone());
            }
        });
    });
    group.finish();
}

criterion_group!(benches, per_stream);
criterion_main!(benches);
