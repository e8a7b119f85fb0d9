//! What every handler can reach, registered once as `web::Data<AppState>`.

use crate::api_keys::KeyRing;
use crate::backchannel::LogoutReceiver;
use crate::config::CheckSettings;
use crate::gateway::Gate;
use crate::metrics::Metrics;
use crate::revocations::Revocations;

pub struct AppState {
    pub revocations: Revocations,
    pub logouts: LogoutReceiver,
    /// Pushed SETs and Global Token Revocation calls.
    pub signals: crate::signals::SignalReceiver,
    /// The SCIM service provider (`/scim/v2`).
    pub scim: crate::scim::ScimService,
    pub keys: KeyRing,
    pub check: CheckSettings,
    /// `[forward_auth]`, compiled: for `/v1/forward-auth` and `/v1/introspect`.
    pub gate: Gate,
    pub metrics: Metrics,
    /// `http.body_limit`, for handlers that read their body themselves.
    pub body_limit: usize,
    /// `[sessions]` quotas: how fast each client key may register.
    pub quotas: std::sync::Arc<crate::quota::ClientQuotas>,
    /// Where `/v1/events` streams get live events.
    pub hub: std::sync::Arc<crate::events::EventHub>,
    /// The open `/v1/events` streams, under `events.max_streams(_per_key)`.
    pub streams: std::sync::Arc<crate::events::StreamSlots>,
    /// `admin_ui`: whether `/admin/` serves the admin web page.
    pub admin_ui: bool,
    /// `events.heartbeat`.
    pub events_heartbeat: std::time::Duration,
}
