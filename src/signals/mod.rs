//! Hearing providers that send no back-channel logout: Security Event
//! Tokens pushed by an OpenID Shared Signals transmitter (RFC 8935, CAEP,
//! RISC) and Okta's Universal Logout calling Global Token Revocation
//! (draft-parecki-oauth-global-token-revocation).
//!
//! Both are judged by the pure rules in [`crate::oidc::set`] and
//! [`crate::oidc::subject_id`] with the keys of a configured provider
//! ([`crate::providers`], fetched and refreshed as for logout tokens, and
//! fetched again for an unknown `kid`), and both end in the revocation
//! model through [`Revocations`]: durable (and in the mirror) before the
//! caller is answered, recorded in the audit log with the actor
//! `ssf:<stream>` or `gtr:<provider>`, counted in the metrics. A SET's
//! `jti` is applied once per issuer with the same replay marker as a logout
//! token's, so a transmitter's retry (or a replay) never applies twice.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::{IntCounterVec, IntGaugeVec, Opts};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::error::ConfigError;
use crate::domain::{Change, Event, Note, Provenance, SeenKey, Subject, UnixTime};
use crate::metrics::Metrics;
use crate::oidc::set::{
    JwtError, JwtPolicy, Plan, Signal, UnverifiedJwt, VerifiedJwt, classify, event_label, plan,
    verify_set,
};
use crate::oidc::subject_id::{SubjectIdentifier, SubjectMapping, Target};
use crate::oidc::{JwsAlg, KeySet};
use crate::providers::{
    GlobalTokenRevocationSettings, Provider, Providers, Refetch, StreamSettings,
};
use crate::revocations::Revocations;
use crate::store::StoreError;

mod gtr;
mod manage;
mod poll;

pub use gtr::parse_gtr_body;
pub use manage::well_known_url;
use manage::{Managed, ManagementMetrics, Manager};
pub use poll::PollReport;
use poll::Poller;

/// The media type of a pushed SET (RFC 8417 §2.3, RFC 8935 §2).
pub const SET_MEDIA_TYPE: &str = "application/secevent+jwt";

/// Why a pushed SET or a Global Token Revocation call was not acted on.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("no stream is named `{0}`")]
    UnknownStream(String),
    #[error("no Global Token Revocation caller is configured for provider `{0}`")]
    UnknownCaller(String),
    /// No or a wrong bearer token.
    #[error("the request is not authenticated: send the stream's bearer token in `Authorization`")]
    AuthenticationFailed,
    /// The caller token is missing, unreadable or breaks a rule.
    #[error("the caller's token is refused: {0}")]
    CallerToken(JwtError),
    #[error(transparent)]
    Jwt(#[from] JwtError),
    /// The provider's keys cannot verify yet: retry later.
    #[error(
        "provider `{0}` cannot verify this token yet (its keys are not loaded or could not be fetched again); retry later"
    )]
    KeysUnavailable(String),
    /// Global Token Revocation: the body is not `{"sub_id": {...}}`.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stream has no `[streams.management]`.
    #[error("stream `{0}` is not managed: it has no [streams.management]")]
    NotManaged(String),
    /// The transmitter's management endpoints failed.
    #[error("the transmitter cannot be asked now: {0}")]
    Transmitter(String),
}

impl SignalError {
    /// A stable label for metrics.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::UnknownStream(_) | Self::UnknownCaller(_) => "unknown_endpoint",
            Self::AuthenticationFailed => "authentication_failed",
            Self::CallerToken(err) | Self::Jwt(err) => err.rule(),
            Self::KeysUnavailable(_) => "keys_unavailable",
            Self::BadRequest(_) => "bad_request",
            Self::Store(_) => "store_unavailable",
            Self::NotManaged(_) => "not_managed",
            Self::Transmitter(_) => "transmitter_unavailable",
        }
    }
}

/// What a valid SET or call did.
#[derive(Debug)]
pub enum Outcome {
    /// Recorded durably; the event of the last change.
    Applied(Event),
    /// This (`iss`, `jti`) was acted on before: nothing new.
    Replayed,
    /// A known event that changes nothing (recorded in the log and the
    /// metrics), a verification or stream-updated event, or an event
    /// revokd does not know: acknowledged, counted.
    NoChange(&'static str),
}

struct Stream {
    name: String,
    /// Poll delivery (RFC 8936), when configured.
    poller: Option<Poller>,
    /// Why the last poll failed, if it did (for `/readyz`).
    poll_error: std::sync::Mutex<Option<String>>,
    /// The status the transmitter last reported in a `stream-updated`
    /// event (`enabled`, `paused`, `disabled`), for `/readyz`.
    transmitter_status: std::sync::Mutex<Option<String>>,
    provider: Arc<Provider>,
    audiences: Vec<String>,
    token_digest: [u8; 32],
    /// Whether a push token is configured at all.
    push_allowed: bool,
    mapping: SubjectMapping,
    max_age: std::time::Duration,
    /// SSF stream management, when `[streams.management]` is configured.
    manager: Option<Manager>,
}

impl Stream {
    /// The presented token's SHA-256 against the configured digest, in
    /// constant time.
    fn authenticates(&self, bearer: Option<&str>) -> bool {
        let Some(bearer) = bearer.filter(|_| self.push_allowed) else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(bearer.as_bytes()).into();
        presented.ct_eq(&self.token_digest).into()
    }
}

struct Caller {
    provider: Arc<Provider>,
    audiences: Vec<String>,
    mapping: SubjectMapping,
    max_age: std::time::Duration,
}

/// The receiver of pushed SETs and Global Token Revocation calls. Cheap
/// to clone.
#[derive(Clone)]
pub struct SignalReceiver {
    inner: Arc<Inner>,
}

struct Inner {
    revocations: Revocations,
    streams: HashMap<String, Stream>,
    callers: HashMap<String, Caller>,
    clock_skew: std::time::Duration,
    sets: IntCounterVec,
    gtr: IntCounterVec,
    last_received: IntGaugeVec,
    management: ManagementMetrics,
}

/// One stream as `/readyz` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStatus {
    pub name: String,
    /// The provider's keys are loaded, so SETs can be verified.
    pub up: bool,
    /// Why not.
    pub detail: Option<String>,
    /// What is known of a managed stream (its id, status, verification),
    /// up or down.
    pub info: Option<String>,
}

impl SignalReceiver {
    /// # Errors
    /// A stream's or caller's provider is not configured, or a push token
    /// file cannot be read; the metrics cannot be registered.
    pub fn new(
        streams: &[StreamSettings],
        callers: &[GlobalTokenRevocationSettings],
        providers: &Providers,
        revocations: Revocations,
        metrics: &Metrics,
        clock_skew: std::time::Duration,
    ) -> Result<Self, ConfigError> {
        let provider = |at: String, name: &str| {
            providers.by_name(name).cloned().ok_or_else(|| {
                ConfigError::invalid(at, format!("no [[providers]] entry is named `{name}`"))
            })
        };
        let mut by_name = HashMap::new();
        for (i, s) in streams.iter().enumerate() {
            let provider = provider(format!("streams[{i}].provider"), &s.provider)?;
            let token_digest = match (&s.push_token_sha256, &s.push_token_file) {
                (Some(hex), _) => {
                    let mut digest = [0u8; 32];
                    hex::decode_to_slice(hex, &mut digest).map_err(|e| {
                        ConfigError::invalid(
                            format!("streams[{i}].push_token_sha256"),
                            e.to_string(),
                        )
                    })?;
                    digest
                }
                (None, Some(path)) => {
                    let at = format!("streams[{i}].push_token_file");
                    let bytes = crate::config::secret_file::read_secret_file(&at, path)?;
                    let token = String::from_utf8(bytes)
                        .map_err(|_| ConfigError::invalid(&at, "the token is not UTF-8 text"))?;
                    let token = token.trim();
                    if token.len() < crate::api_keys::MIN_KEY_LEN {
                        return Err(ConfigError::invalid(
                            at,
                            format!(
                                "the token is shorter than {} characters",
                                crate::api_keys::MIN_KEY_LEN
                            ),
                        ));
                    }
                    Sha256::digest(token.as_bytes()).into()
                }
                // A polled stream without a push token refuses every push
                // (`push_allowed` is false); the digest is never compared.
                (None, None) if s.poll_url.is_some() => [0u8; 32],
                (None, None) => {
                    return Err(ConfigError::invalid(
                        format!("streams[{i}].push_token_sha256"),
                        "pushes are always authenticated: give push_token_sha256 or push_token_file",
                    ));
                }
            };
            by_name.insert(
                s.name.clone(),
                Stream {
                    name: s.name.clone(),
                    poller: Poller::from_settings(i, s)?,
                    poll_error: std::sync::Mutex::new(None),
                    transmitter_status: std::sync::Mutex::new(None),
                    manager: Manager::from_settings(i, s, provider.issuer.as_ref())?,
                    mapping: SubjectMapping {
                        issuer: provider.issuer.clone(),
                        formats_as_sub: s.subject_formats_as_sub.clone(),
                    },
                    provider,
                    audiences: s.audience.clone(),
                    token_digest,
                    push_allowed: s.push_token_sha256.is_some() || s.push_token_file.is_some(),
                    max_age: s.max_set_age,
                },
            );
        }
        let mut by_provider = HashMap::new();
        for (i, c) in callers.iter().enumerate() {
            let provider = provider(
                format!("global_token_revocation[{i}].provider"),
                &c.provider,
            )?;
            by_provider.insert(
                c.provider.clone(),
                Caller {
                    mapping: SubjectMapping {
                        issuer: provider.issuer.clone(),
                        formats_as_sub: c.subject_formats_as_sub.clone(),
                    },
                    provider,
                    audiences: c.audience.clone(),
                    max_age: c.max_token_age,
                },
            );
        }
        let sets = IntCounterVec::new(
            Opts::new(
                "signals_total",
                "Security Event Tokens pushed, by stream, event (CAEP/RISC/SSF name or unknown), outcome (applied, replayed, no_change, rejected, unavailable) and rule.",
            ),
            &["stream", "event", "outcome", "rule"],
        )
        .expect("valid metric");
        let gtr = IntCounterVec::new(
            Opts::new(
                "global_token_revocations_total",
                "Global Token Revocation calls by provider, outcome (applied, rejected, unavailable) and rule.",
            ),
            &["provider", "outcome", "rule"],
        )
        .expect("valid metric");
        let last_received = IntGaugeVec::new(
            Opts::new(
                "signals_last_received_timestamp_seconds",
                "Unix time of the last Security Event Token a stream accepted.",
            ),
            &["stream"],
        )
        .expect("valid metric");
        let collectors: [Box<dyn prometheus::core::Collector>; 3] = [
            Box::new(sets.clone()),
            Box::new(gtr.clone()),
            Box::new(last_received.clone()),
        ];
        for collector in collectors {
            metrics
                .register(collector)
                .map_err(|e| ConfigError::invalid("streams", e.to_string()))?;
        }
        let management = ManagementMetrics::new(metrics)?;
        for stream in by_name.values().filter(|s| s.manager.is_some()) {
            management.start(&stream.name);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                revocations,
                streams: by_name,
                callers: by_provider,
                clock_skew,
                sets,
                gtr,
                last_received,
                management,
            }),
        })
    }

    /// Whether a stream of this name is configured.
    pub fn has_stream(&self, name: &str) -> bool {
        self.inner.streams.contains_key(name)
    }

    /// Whether provider `name` may call Global Token Revocation.
    pub fn has_caller(&self, name: &str) -> bool {
        self.inner.callers.contains_key(name)
    }

    /// Checks the bearer token of a push to stream `name`, before its body
    /// is read; a failure is counted as a refused SET.
    ///
    /// # Errors
    /// Unknown stream, or no or a wrong token.
    pub fn authenticate_push(&self, name: &str, bearer: Option<&str>) -> Result<(), SignalError> {
        let stream = self
            .inner
            .streams
            .get(name)
            .ok_or_else(|| SignalError::UnknownStream(name.to_owned()))?;
        if stream.authenticates(bearer) {
            return Ok(());
        }
        tracing::warn!(stream = name, "push refused: no or a wrong bearer token");
        self.inner
            .sets
            .with_label_values(&[name, "unknown", "rejected", "authentication_failed"])
            .inc();
        Err(SignalError::AuthenticationFailed)
    }

    /// Judges a SET pushed to stream `name` (RFC 8935 §2) with `bearer`
    /// (the `Authorization` credentials, if any) and applies it once.
    ///
    /// # Errors
    /// Unknown stream, failed authentication, a broken rule, keys or store
    /// unavailable.
    pub async fn push(
        &self,
        name: &str,
        bearer: Option<&str>,
        token: &str,
        now: UnixTime,
    ) -> Result<Outcome, SignalError> {
        let mut event = "unknown";
        let result = self.judge_push(name, bearer, token, now, &mut event).await;
        self.count(name, event, &result, now);
        result
    }

    /// Logs and counts what became of one SET.
    fn count(
        &self,
        name: &str,
        event: &'static str,
        result: &Result<Outcome, SignalError>,
        now: UnixTime,
    ) {
        let stream = if self.has_stream(name) {
            name
        } else {
            "unknown"
        };
        let (outcome, rule) = match result {
            Ok(Outcome::Applied(_)) => ("applied", ""),
            Ok(Outcome::Replayed) => ("replayed", ""),
            // Acknowledged without effect for a reason of the stream's
            // management: named, so it shows apart from plain no-ops.
            Ok(Outcome::NoChange(
                why
                @ ("not_requested" | "verification_state_mismatch" | "verification_unsolicited"),
            )) => ("no_change", *why),
            Ok(Outcome::NoChange(_)) => ("no_change", ""),
            Err(
                err @ (SignalError::KeysUnavailable(_)
                | SignalError::Store(_)
                | SignalError::Transmitter(_)),
            ) => ("unavailable", err.rule()),
            Err(err) => ("rejected", err.rule()),
        };
        match result {
            Ok(done) => tracing::info!(
                stream,
                event,
                outcome,
                ?done,
                "security event token accepted"
            ),
            Err(err) => tracing::warn!(stream, event, rule, "security event token refused: {err}"),
        }
        self.inner
            .sets
            .with_label_values(&[stream, event, outcome, rule])
            .inc();
        if result.is_ok() {
            self.inner
                .last_received
                .with_label_values(&[name])
                .set(now.as_secs());
        }
    }

    /// Every stream, in name order, for `/readyz`: up when its provider's
    /// keys are loaded (else its SETs are answered 503). A stream never
    /// makes revokd unready (a transmitter retries): it is a detail. When
    /// the last SET arrived is `revokd_signals_last_received_timestamp_seconds`.
    pub fn stream_status(&self) -> Vec<StreamStatus> {
        let mut all: Vec<StreamStatus> = self
            .inner
            .streams
            .values()
            .map(|stream| {
                let keys = stream.provider.loaded().is_some();
                let poll_error = stream
                    .poll_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                let mut why = Vec::new();
                if !keys {
                    why.push(format!(
                        "provider `{}` keys not loaded: its SETs are answered 503",
                        stream.provider.name
                    ));
                }
                if let Some(err) = poll_error {
                    why.push(format!("last poll failed: {err}"));
                }
                let reported = stream
                    .transmitter_status
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                if let Some(status) = reported.as_deref().filter(|s| *s != "enabled") {
                    why.push(format!(
                        "the transmitter reports this stream `{status}`: no events arrive"
                    ));
                }
                let info = stream.manager.as_ref().map(|manager| {
                    let managed = manager.snapshot();
                    if let Some(err) = &managed.error {
                        why.push(format!("stream management failed: {err}"));
                    }
                    if !managed.missing_events.is_empty() {
                        why.push(format!(
                            "the transmitter does not deliver events revokd asked for: {}",
                            managed.missing_events.join(", ")
                        ));
                    }
                    why.extend(managed.warnings.iter().cloned());
                    // Compared now, not at set-up: the provider's keys may
                    // load after the transmitter answered.
                    if let (Some(uri), Some(loaded)) = (managed.jwks_uri(), stream.provider.loaded())
                        && uri != loaded.jwks_uri()
                    {
                        why.push(format!(
                            "the transmitter's jwks_uri `{uri}` is not provider `{}`'s `{}`: SETs are verified with the provider's keys",
                            stream.provider.name,
                            loaded.jwks_uri()
                        ));
                    }
                    managed_info(&managed, reported.as_deref())
                });
                StreamStatus {
                    name: stream.name.clone(),
                    up: why.is_empty(),
                    detail: (!why.is_empty()).then(|| why.join("; ")),
                    info,
                }
            })
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    async fn judge_push(
        &self,
        name: &str,
        bearer: Option<&str>,
        token: &str,
        now: UnixTime,
        event: &mut &'static str,
    ) -> Result<Outcome, SignalError> {
        let stream = self
            .inner
            .streams
            .get(name)
            .ok_or_else(|| SignalError::UnknownStream(name.to_owned()))?;
        if !stream.authenticates(bearer) {
            return Err(SignalError::AuthenticationFailed);
        }
        self.judge_set(stream, token, now, event).await
    }

    /// Every rule of a SET that arrived on `stream` (pushed and
    /// authenticated, or polled), and its change applied once.
    async fn judge_set(
        &self,
        stream: &Stream,
        token: &str,
        now: UnixTime,
        event: &mut &'static str,
    ) -> Result<Outcome, SignalError> {
        let unverified = UnverifiedJwt::decode(token)?;
        let policy = JwtPolicy {
            issuer: stream.provider.issuer.clone(),
            audiences: stream.audiences.clone(),
            allowed_algs: JwsAlg::ALL.to_vec(),
            clock_skew: self.inner.clock_skew,
            max_age: stream.max_age,
            typ: Some("secevent+jwt"),
            require_exp: false,
        };
        let set = with_keys(&stream.provider, |keys| {
            verify_set(&unverified, &policy, keys, now)
        })
        .await?;
        *event = event_label(&set.event_type);
        let signal = classify(&set.event_type, &set.payload);
        match &signal {
            Signal::Verification { state } => {
                tracing::info!(stream = %stream.name, "SSF verification event received");
                let Some(manager) = &stream.manager else {
                    return Ok(Outcome::NoChange("verification"));
                };
                if manager.answer_verification(state.as_deref(), now) {
                    self.inner.management.verified(&stream.name, now);
                    return Ok(Outcome::NoChange("verification"));
                }
                tracing::warn!(stream = %stream.name, "SSF verification event with a state revokd did not ask for");
                return Ok(Outcome::NoChange(if state.is_some() {
                    "verification_state_mismatch"
                } else {
                    "verification_unsolicited"
                }));
            }
            Signal::StreamUpdated { status } => {
                tracing::info!(stream = %stream.name, status = ?status, "SSF stream-updated event received");
                // Only the three statuses of SSF 1.0 §8.1.2; anything else
                // is kept as unknown rather than echoed into `/readyz`.
                let status = status
                    .as_deref()
                    .filter(|s| matches!(*s, "enabled" | "paused" | "disabled"))
                    .unwrap_or("unknown");
                *stream
                    .transmitter_status
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(status.to_owned());
                if let Some(manager) = &stream.manager {
                    self.inner.management.set_status(&stream.name, status);
                    // Read it back from the status endpoint too.
                    manager.stream_updated();
                }
                return Ok(Outcome::NoChange("stream_updated"));
            }
            Signal::Unknown => return Ok(Outcome::NoChange("unknown_event")),
            _ => {}
        }
        if let Some(manager) = &stream.manager
            && !manager.accepts(&set.event_type)
        {
            tracing::warn!(stream = %stream.name, event = *event, jti = %set.jwt.jti, "security event not asked for (or not delivered) on this stream: acknowledged, not applied");
            return Ok(Outcome::NoChange("not_requested"));
        }
        let subject = set.subject.as_ref().ok_or(JwtError::MissingSubject)?;
        let target = stream.mapping.map(subject).map_err(JwtError::from)?;
        let note = note(&[
            ("event", Some(*event)),
            ("jti", Some(set.jwt.jti.as_ref())),
            ("txn", set.txn.as_deref()),
        ]);
        let provenance = Provenance {
            actor: format!("ssf:{}", stream.name),
            reason: note,
        };
        match plan(&signal, target)? {
            None => {
                tracing::info!(stream = %stream.name, event = *event, jti = %set.jwt.jti, txn = ?set.txn, "security event recorded; it changes no revocation");
                Ok(Outcome::NoChange("recorded"))
            }
            Some(plan) => self.apply(&set.jwt, plan, provenance, now).await,
        }
    }

    /// Applies `plan` once per (`iss`, `jti`) of `jwt`. A disable needs two
    /// changes: the revoked-before mark first, at the token's `iat` (so a
    /// retry rewrites the same mark and changes nothing), then the disable
    /// under the replay marker.
    async fn apply(
        &self,
        jwt: &VerifiedJwt,
        plan: Plan,
        provenance: Provenance,
        now: UnixTime,
    ) -> Result<Outcome, SignalError> {
        let revocations = &self.inner.revocations;
        let seen = SeenKey {
            iss: jwt.iss.clone(),
            jti: jwt.jti.clone(),
            expires_at: jwt
                .accepted_until
                .max(now.saturating_add(std::time::Duration::from_secs(1))),
        };
        let revoked_before = |subject: Subject, before: UnixTime| Change::SubjectRevokedBefore {
            subject,
            before,
            expires_at: revocations.revoked_before_expiry(now),
        };
        let change = match plan {
            Plan::RevokeSession(session) => Change::SessionRevoked {
                session,
                expires_at: revocations.session_expiry(now),
            },
            Plan::RevokeBefore(subject) => revoked_before(subject, now),
            Plan::Enable(subject) => Change::SubjectEnabled { subject },
            Plan::Disable(subject) | Plan::Purge(subject) => {
                let before = if jwt.iat < now { jwt.iat } else { now };
                revocations
                    .apply(
                        revoked_before(subject.clone(), before),
                        provenance.clone(),
                        now,
                    )
                    .await?;
                Change::SubjectDisabled {
                    subject,
                    expires_at: None,
                }
            }
        };
        Ok(
            match revocations
                .apply_once(&seen, change, provenance, now)
                .await?
            {
                Some(event) => Outcome::Applied(event),
                None => Outcome::Replayed,
            },
        )
    }
}

impl SignalReceiver {
    /// Runs the management of every stream with `[streams.management]`
    /// until `cancel`: set up at the transmitter, status, verification.
    pub fn spawn_management(
        &self,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.inner
            .streams
            .values()
            .filter(|stream| stream.manager.is_some())
            .map(|stream| {
                let receiver = self.clone();
                let name = stream.name.clone();
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    let inner = &receiver.inner;
                    if let Some(stream) = inner.streams.get(&name)
                        && let Some(manager) = &stream.manager
                    {
                        manager.run(stream, &inner.management, &cancel).await;
                    }
                })
            })
            .collect()
    }

    /// Asks the transmitter of stream `name` for a verification event now
    /// (SSF 1.0 §8.1.4.2); when it was asked.
    ///
    /// # Errors
    /// Unknown or unmanaged stream; the transmitter cannot be asked.
    pub async fn request_verification(&self, name: &str) -> Result<UnixTime, SignalError> {
        let stream = self
            .inner
            .streams
            .get(name)
            .ok_or_else(|| SignalError::UnknownStream(name.to_owned()))?;
        let manager = stream
            .manager
            .as_ref()
            .ok_or_else(|| SignalError::NotManaged(name.to_owned()))?;
        manager
            .request_verification(name, &self.inner.management)
            .await
    }
}

/// A managed stream's state in one line, for `/readyz`.
fn managed_info(managed: &Managed, status: Option<&str>) -> String {
    let at =
        |t: Option<UnixTime>| t.map_or_else(|| "never".to_owned(), |t| t.as_secs().to_string());
    format!(
        "stream_id={} status={} status_read_at={} verification_requested_at={} verified_at={}",
        managed.stream_id.as_deref().unwrap_or("none"),
        status.unwrap_or("unknown"),
        at(managed.status_read_at),
        at(managed.verification_requested_at),
        at(managed.verified_at),
    )
}

/// Runs `verify` with the provider's keys; an unknown `kid` fetches them
/// again (rate-limited, as for logout tokens) and tries once more.
async fn with_keys<T>(
    provider: &Provider,
    verify: impl Fn(&KeySet) -> Result<T, JwtError>,
) -> Result<T, SignalError> {
    let unavailable = || SignalError::KeysUnavailable(provider.name.clone());
    let loaded = provider.loaded().ok_or_else(unavailable)?;
    match verify(&loaded.keys) {
        Err(JwtError::UnknownKid) => match provider.refetch_keys_for_unknown_kid().await {
            Refetch::Fetched => {
                let loaded = provider.loaded().ok_or_else(unavailable)?;
                Ok(verify(&loaded.keys)?)
            }
            // As for logout tokens: a new `kid` within the refetch
            // interval, or a failed fetch, is "retry later".
            Refetch::TooSoon | Refetch::Failed => Err(unavailable()),
        },
        result => Ok(result?),
    }
}

/// The audit note: `name=value` pairs, control characters dropped, within
/// [`Note::MAX_LEN`].
fn note(parts: &[(&str, Option<&str>)]) -> Option<Note> {
    let text: String = parts
        .iter()
        .filter_map(|(name, value)| value.map(|v| format!("{name}={v}")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut text: String = text.chars().filter(|c| !c.is_control()).collect();
    while text.len() > Note::MAX_LEN {
        text.pop();
    }
    Note::parse(text).ok()
}
