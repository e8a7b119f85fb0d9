use proptest::prelude::*;

use super::reference::Reference;
use super::*;
use crate::domain::{Issuer, SessionId, SubjectId};

fn t(secs: i64) -> UnixTime {
    UnixTime::from_secs(secs)
}

fn jti(id: &str) -> TokenId {
    TokenId::parse(id).unwrap()
}

fn session(iss: &str, sid: &str) -> Session {
    Session {
        iss: Issuer::parse(iss).unwrap(),
        sid: SessionId::parse(sid).unwrap(),
    }
}

fn subject(iss: &str, sub: &str) -> Subject {
    Subject {
        iss: Issuer::parse(iss).unwrap(),
        sub: SubjectId::parse(sub).unwrap(),
    }
}

fn token_facts(m: &Mirror, id: &str, now: i64) -> Facts {
    let id = jti(id);
    m.lookup(
        Lookup {
            jti: Some(&id),
            ..Lookup::default()
        },
        t(now),
    )
}

#[test]
fn entries_live_until_their_expiry_exclusive() {
    let m = Mirror::new();
    m.apply(&FactUpdate::Token {
        jti: jti("a"),
        expires_at: t(100),
    });
    assert!(token_facts(&m, "a", 99).token_revoked);
    assert!(
        !token_facts(&m, "a", 100).token_revoked,
        "expires_at <= now is absent"
    );
    assert!(!token_facts(&m, "b", 0).token_revoked);
    // A later state replaces, whatever it says.
    m.apply(&FactUpdate::Token {
        jti: jti("a"),
        expires_at: t(50),
    });
    assert!(!token_facts(&m, "a", 60).token_revoked);
    assert_eq!(m.sweep(t(60)), 1);
    assert_eq!(m.stats().tokens, 0);
}

#[test]
fn enabling_removes_only_the_disable() {
    let m = Mirror::new();
    let alice = subject("https://idp", "alice");
    m.apply(&FactUpdate::SubjectDisabled {
        subject: alice.clone(),
        expires_at: None,
    });
    m.apply(&FactUpdate::SubjectRevokedBefore {
        subject: alice.clone(),
        before: t(10),
        expires_at: t(1000),
    });
    let look = |m: &Mirror| {
        m.lookup(
            Lookup {
                subject: Some(&alice),
                ..Lookup::default()
            },
            t(20),
        )
    };
    assert!(look(&m).subject_disabled);
    m.apply(&FactUpdate::SubjectEnabled {
        subject: alice.clone(),
    });
    let facts = look(&m);
    assert!(!facts.subject_disabled);
    assert_eq!(facts.subject_revoked_before, Some(t(10)));
    // The same subject name at another issuer is another subject.
    let other = subject("https://other", "alice");
    let facts = m.lookup(
        Lookup {
            subject: Some(&other),
            ..Lookup::default()
        },
        t(20),
    );
    assert_eq!(facts, Facts::default());
}

#[test]
fn a_binding_reports_its_session_and_subject() {
    let m = Mirror::new();
    let (s1, bob) = (session("https://idp", "s1"), subject("https://idp", "bob"));
    m.apply(&FactUpdate::Binding {
        jti: jti("rt"),
        session: Some(s1.clone()),
        subject: bob.clone(),
        registered_at: t(5),
        expires_at: t(500),
    });
    m.apply(&FactUpdate::Binding {
        jti: jti("no-session"),
        session: None,
        subject: bob.clone(),
        registered_at: t(6),
        expires_at: t(500),
    });
    let bound = token_facts(&m, "rt", 10).bound.unwrap();
    assert_eq!(
        bound,
        BoundFacts {
            session_revoked: false,
            subject_disabled: false,
            subject_revoked_before: None,
            registered_at: t(5),
        }
    );
    m.apply(&FactUpdate::Session {
        session: s1,
        expires_at: t(400),
    });
    m.apply(&FactUpdate::SubjectRevokedBefore {
        subject: bob.clone(),
        before: t(7),
        expires_at: t(400),
    });
    let bound = token_facts(&m, "rt", 10).bound.unwrap();
    assert!(bound.session_revoked);
    assert_eq!(bound.subject_revoked_before, Some(t(7)));
    let unsessioned = token_facts(&m, "no-session", 10).bound.unwrap();
    assert!(!unsessioned.session_revoked);
    m.apply(&FactUpdate::Unbound { jti: jti("rt") });
    assert_eq!(token_facts(&m, "rt", 10).bound, None);
    assert_eq!(token_facts(&m, "no-session", 501).bound, None, "expired");
}

#[test]
fn a_token_batch_is_applied_as_each_token_would_be() {
    // Enough tokens to fill every shard, some given twice (the later one
    // wins, as with `apply`), in a mirror sized for them as a load is.
    let mirror = Mirror::with_capacity(5_000);
    let mut batch = TokenBatch::new();
    for i in 0..5_000 {
        assert!(batch.push(&format!("t{i}"), t(1_000 + i)));
    }
    for i in (0..5_000).step_by(7) {
        assert!(batch.push(&format!("t{i}"), t(i % 3 * 10_000)));
    }
    mirror.apply_tokens(&batch);
    assert_eq!(mirror.stats().tokens, 5_000);
    let expected = Mirror::new();
    for update in batch.to_updates() {
        expected.apply(&update);
    }
    for i in 0..5_000 {
        let id = format!("t{i}");
        for now in [999 + i, 1_000 + i, 10_000, 19_999] {
            assert_eq!(
                token_facts(&mirror, &id, now),
                token_facts(&expected, &id, now),
                "{id} at {now}"
            );
        }
    }
    // An empty mirror's table grows while it applies: still all there.
    let grown = Mirror::new();
    grown.apply_tokens(&batch);
    assert_eq!(grown.stats().tokens, 5_000);
    assert!(token_facts(&grown, "t1", 1_000).token_revoked);
    assert!(!token_facts(&grown, "t0", 999).token_revoked);
}

#[test]
fn stats_count_entries_and_heap() {
    let m = Mirror::with_capacity(1000);
    for i in 0..1000 {
        m.apply(&FactUpdate::Token {
            jti: jti(&format!("t{i}")),
            expires_at: t(100),
        });
    }
    let stats = m.stats();
    assert_eq!(stats.tokens, 1000);
    assert_eq!(stats.total(), 1000);
    assert!(stats.bytes >= 1000 * 17, "{stats:?}");
    assert!(stats.bytes <= 1000 * 64, "{stats:?}");
}

#[test]
fn readers_and_a_writer_run_together() {
    let m = std::sync::Arc::new(Mirror::new());
    let writer = {
        let m = m.clone();
        std::thread::spawn(move || {
            for i in 0..20_000 {
                m.apply(&FactUpdate::Token {
                    jti: jti(&format!("t{i}")),
                    expires_at: t(100),
                });
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..20_000 {
                    let _ = token_facts(&m, &format!("t{i}"), 50);
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    assert!((0..20_000).all(|i| token_facts(&m, &format!("t{i}"), 50).token_revoked));
}

// ---------------------------------------------------------------------------
// The mirror answers exactly as the obvious model does.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Apply(FactUpdate),
    Lookup {
        jti: Option<usize>,
        session: Option<usize>,
        subject: Option<usize>,
        now: i64,
    },
    Sweep(i64),
}

const IDS: [&str; 3] = ["a", "b", "c"];
#[test]
fn a_session_binding_reports_its_subject_to_a_session_lookup() {
    let m = Mirror::new();
    let (s1, bob) = (session("https://idp", "s1"), subject("https://idp", "bob"));
    let facts = |m: &Mirror, now| {
        m.lookup(
            Lookup {
                session: Some(&s1),
                ..Lookup::default()
            },
            t(now),
        )
        .session_bound
    };
    m.apply(&FactUpdate::SessionBound {
        session: s1.clone(),
        subject: bob.clone(),
        registered_at: t(5),
        expires_at: t(500),
    });
    m.apply(&FactUpdate::SubjectRevokedBefore {
        subject: bob.clone(),
        before: t(7),
        expires_at: t(400),
    });
    m.apply(&FactUpdate::SubjectDisabled {
        subject: bob,
        expires_at: Some(t(300)),
    });
    assert_eq!(
        facts(&m, 10),
        Some(BoundFacts {
            session_revoked: false,
            subject_disabled: true,
            subject_revoked_before: Some(t(7)),
            registered_at: t(5),
        })
    );
    assert_eq!(token_facts(&m, "s1", 10).bound, None, "not a token's");
    assert_eq!(facts(&m, 500), None, "expired");
    assert_eq!(m.stats().bindings, 1);
    assert_eq!(m.sweep(t(500)), 3);
    assert_eq!(m.stats().bindings, 0);
    m.apply(&FactUpdate::SessionBound {
        session: s1.clone(),
        subject: subject("https://idp", "bob"),
        registered_at: t(5),
        expires_at: t(500),
    });
    m.apply(&FactUpdate::SessionUnbound {
        session: s1.clone(),
    });
    assert_eq!(facts(&m, 10), None, "unbound");
}

const ISSUERS: [&str; 2] = ["https://one", "https://two"];

fn pick_session() -> impl Strategy<Value = Session> {
    (0..ISSUERS.len(), 0..IDS.len()).prop_map(|(i, s)| session(ISSUERS[i], IDS[s]))
}

fn pick_subject() -> impl Strategy<Value = Subject> {
    (0..ISSUERS.len(), 0..IDS.len()).prop_map(|(i, s)| subject(ISSUERS[i], IDS[s]))
}

fn time() -> impl Strategy<Value = i64> {
    0i64..40
}

fn update() -> impl Strategy<Value = FactUpdate> {
    let id = (0..IDS.len()).prop_map(|i| jti(IDS[i]));
    prop_oneof![
        (id.clone(), time()).prop_map(|(jti, e)| FactUpdate::Token {
            jti,
            expires_at: t(e)
        }),
        (pick_session(), time()).prop_map(|(session, e)| FactUpdate::Session {
            session,
            expires_at: t(e)
        }),
        (pick_subject(), proptest::option::of(time())).prop_map(|(subject, e)| {
            FactUpdate::SubjectDisabled {
                subject,
                expires_at: e.map(t),
            }
        }),
        (pick_subject(), time(), time()).prop_map(|(subject, b, e)| {
            FactUpdate::SubjectRevokedBefore {
                subject,
                before: t(b),
                expires_at: t(e),
            }
        }),
        (
            id.clone(),
            proptest::option::of(pick_session()),
            pick_subject(),
            time(),
            time()
        )
            .prop_map(|(jti, session, subject, r, e)| FactUpdate::Binding {
                jti,
                session,
                subject,
                registered_at: t(r),
                expires_at: t(e),
            }),
        (pick_session(), pick_subject(), time(), time()).prop_map(|(session, subject, r, e)| {
            FactUpdate::SessionBound {
                session,
                subject,
                registered_at: t(r),
                expires_at: t(e),
            }
        }),
        pick_subject().prop_map(|subject| FactUpdate::SubjectEnabled { subject }),
        id.prop_map(|jti| FactUpdate::Unbound { jti }),
        pick_session().prop_map(|session| FactUpdate::SessionUnbound { session }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let slot = || proptest::option::of(0..IDS.len() * ISSUERS.len());
    prop_oneof![
        4 => update().prop_map(Op::Apply),
        4 => (slot(), slot(), slot(), time()).prop_map(|(jti, session, subject, now)| Op::Lookup {
            jti,
            session,
            subject,
            now
        }),
        1 => time().prop_map(Op::Sweep),
    ]
}

proptest! {
    #[test]
    fn the_mirror_answers_as_the_model_does(ops in proptest::collection::vec(op(), 1..80)) {
        let mirror = Mirror::new();
        let model = Reference::new();
        for op in ops {
            match op {
                Op::Apply(update) => {
                    mirror.apply(&update);
                    model.apply(&update);
                }
                Op::Sweep(now) => {
                    mirror.sweep(t(now));
                    model.sweep(t(now));
                }
                Op::Lookup { jti: j, session: s, subject: u, now } => {
                    let j = j.map(|i| jti(IDS[i % IDS.len()]));
                    let s = s.map(|i| session(ISSUERS[i / IDS.len()], IDS[i % IDS.len()]));
                    let u = u.map(|i| subject(ISSUERS[i / IDS.len()], IDS[i % IDS.len()]));
                    let lookup = Lookup { jti: j.as_ref(), session: s.as_ref(), subject: u.as_ref() };
                    prop_assert_eq!(mirror.lookup(lookup, t(now)), model.lookup(lookup, t(now)));
                }
            }
        }
    }
}
