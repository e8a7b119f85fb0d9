//! What every handler can reach, registered once as `web::Data<AppState>`.

use crate::auth::KeyRing;
use crate::config::CheckSettings;
use crate::metrics::Metrics;
use crate::revocations::Revocations;

pub struct AppState {
    pub revocations: Revocations,
    pub keys: KeyRing,
    pub check: CheckSettings,
    pub metrics: Metrics,
}
