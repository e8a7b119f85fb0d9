//! Configured identity providers: their discovery document, their keys, and
//! the policy their logout tokens must meet. Shared by the back-channel
//! receiver ([`crate::backchannel`]) and the gateway's signature check
//! (`crate::gateway::verify`); the key parsing and token rules it feeds are
//! the pure core in [`crate::oidc`], the fetching is here.
//!
//! Keys are fetched in the background at start-up (retrying with backoff
//! while a provider is down, so revokd starts regardless), refreshed on a
//! schedule, and fetched again when a token names an unknown `kid` — at
//! most once per `jwks_min_refetch_interval` per provider, with concurrent
//! requests sharing one fetch, so a flood of unknown kids never becomes a
//! flood of fetches. Every fetch has a timeout and a size limit.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::config::error::ConfigError;
use crate::domain::Issuer;
use crate::oidc::{
    DecryptionKey, DecryptionKeyError, JwsAlg, KeyManagementAlg, KeySet, LogoutTokenPolicy,
};

pub mod scim_settings;
pub mod settings;
pub mod signal_settings;

pub use settings::{BackchannelSettings, ProviderSettings};
pub use signal_settings::{
    Delivery, GlobalTokenRevocationSettings, StreamManagementSettings, StreamSettings,
};

use settings::check_url;

/// Why keys could not be fetched. The text is shown on `/readyz` and in
/// logs, so it names the URL and the cause but holds no secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("GET {url}: {cause}")]
    Http { url: String, cause: String },
    #[error("GET {url}: status {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("GET {url}: {cause}")]
    Invalid { url: String, cause: String },
}

/// The parts of an OpenID Provider Metadata document revokd uses
/// (OpenID Connect Discovery 1.0 §3).
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    backchannel_logout_supported: Option<bool>,
}

/// What a provider's logout tokens are checked with, replaced whole on
/// every successful fetch.
pub struct Loaded {
    pub policy: LogoutTokenPolicy,
    pub keys: KeySet,
    algs: Vec<JwsAlg>,
    jwks_uri: String,
}

impl Loaded {
    /// Where these keys were fetched.
    pub fn jwks_uri(&self) -> &str {
        &self.jwks_uri
    }
}

#[derive(Default)]
struct State {
    loaded: Option<Arc<Loaded>>,
    last_error: Option<String>,
}

/// What [`Provider::refetch_keys_for_unknown_kid`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refetch {
    /// New keys were fetched and loaded.
    Fetched,
    /// Keys were fetched less than `jwks_min_refetch_interval` ago.
    TooSoon,
    /// The keys were never loaded, or the fetch failed.
    Failed,
}

/// One configured provider.
pub struct Provider {
    pub name: String,
    pub issuer: Issuer,
    settings: ProviderSettings,
    backchannel: BackchannelSettings,
    decryption: Option<(KeyManagementAlg, Vec<u8>)>,
    http: reqwest::Client,
    state: RwLock<State>,
    /// Held while fetching; remembers when the last kid-driven fetch ran.
    refetch: tokio::sync::Mutex<Option<Instant>>,
    /// Shared by every provider: signalled whenever one's keys load or are
    /// fetched again, so that logout tokens kept for lack of keys are
    /// tried at once.
    keys_changed: Arc<tokio::sync::Notify>,
}

impl Provider {
    fn new(
        settings: &ProviderSettings,
        backchannel: &BackchannelSettings,
        keys_changed: Arc<tokio::sync::Notify>,
    ) -> Result<Self, ConfigError> {
        let at = |field: &str| format!("providers.{}.{field}", settings.name);
        let issuer = Issuer::parse(settings.issuer.clone())
            .map_err(|e| ConfigError::invalid(at("issuer"), e.to_string()))?;
        let decryption = match (&settings.decryption_key_file, &settings.decryption_alg) {
            (Some(path), Some(alg)) => {
                let alg = KeyManagementAlg::from_name(alg).ok_or_else(|| {
                    ConfigError::invalid(at("decryption_alg"), format!("`{alg}` is not supported"))
                })?;
                let bytes =
                    crate::config::secret_file::read_secret_file(&at("decryption_key_file"), path)?;
                decryption_key(alg, &bytes)
                    .map_err(|e| ConfigError::invalid(at("decryption_key_file"), e.to_string()))?;
                Some((alg, bytes))
            }
            _ => None,
        };
        if let Some(algs) = &settings.algorithms {
            for alg in algs {
                JwsAlg::from_name(alg).ok_or_else(|| {
                    ConfigError::invalid(
                        at("algorithms"),
                        format!("`{alg}` is not a supported public-key algorithm"),
                    )
                })?;
            }
        }
        if settings.allow_insecure_http && settings.issuer.starts_with("http://") {
            tracing::warn!(provider = %settings.name, "allow_insecure_http: keys are fetched without TLS");
        }
        let http = reqwest::Client::builder()
            .timeout(backchannel.fetch_timeout)
            .connect_timeout(backchannel.fetch_timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("revokd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ConfigError::invalid(at("issuer"), format!("cannot build an HTTP client: {e}"))
            })?;
        Ok(Self {
            name: settings.name.clone(),
            issuer,
            settings: settings.clone(),
            backchannel: backchannel.clone(),
            decryption,
            http,
            state: RwLock::new(State::default()),
            refetch: tokio::sync::Mutex::new(None),
            keys_changed,
        })
    }

    /// The policy and keys, once fetched.
    pub fn loaded(&self) -> Option<Arc<Loaded>> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .loaded
            .clone()
    }

    /// Loads `jwks` as if fetched (unit tests of the receiver, without a
    /// network), with the configured or default algorithms.
    #[cfg(test)]
    pub(crate) fn load_for_tests(&self, jwks: &[u8]) {
        let algs = self.allowed_algs(&JwsAlg::ALL.map(|a| a.name().to_owned()));
        let loaded = Loaded {
            policy: self.policy(algs.clone()).expect("a valid policy"),
            keys: KeySet::from_jwks(jwks).expect("a valid JWK Set"),
            algs,
            jwks_uri: "http://127.0.0.1:9/jwks".into(),
        };
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .loaded = Some(Arc::new(loaded));
        self.keys_changed.notify_one();
    }

    /// Why the last fetch failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .last_error
            .clone()
    }

    /// Whether this provider can open encrypted logout tokens.
    pub fn decrypts(&self) -> bool {
        self.decryption.is_some()
    }

    /// Fetches discovery (unless a `jwks_uri` is configured) and the JWKS,
    /// and replaces the policy and keys.
    ///
    /// # Errors
    /// A fetch failed or returned something unusable; the previous keys stay.
    pub async fn load(&self) -> Result<(), FetchError> {
        let result = self.fetch_all().await;
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(loaded) => {
                state.loaded = Some(Arc::new(loaded));
                state.last_error = None;
                self.keys_changed.notify_one();
                Ok(())
            }
            Err(err) => {
                state.last_error = Some(err.to_string());
                Err(err)
            }
        }
    }

    /// Fetches the JWKS again after a token named an unknown `kid`, unless
    /// that happened less than `jwks_min_refetch_interval` ago. Concurrent
    /// callers share one fetch. Returns whether new keys were loaded.
    pub async fn refetch_for_unknown_kid(&self) -> bool {
        self.refetch_keys_for_unknown_kid().await == Refetch::Fetched
    }

    /// [`refetch_for_unknown_kid`](Self::refetch_for_unknown_kid), telling
    /// why nothing new was loaded: a logout token is kept when the keys may
    /// yet hold its `kid` (DESIGN 10).
    pub async fn refetch_keys_for_unknown_kid(&self) -> Refetch {
        let mut last = self.refetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.backchannel.jwks_min_refetch_interval) {
            return Refetch::TooSoon;
        }
        *last = Some(Instant::now());
        let Some(current) = self.loaded() else {
            return Refetch::Failed;
        };
        let refreshed = self.fetch_keys(&current.jwks_uri).await.and_then(|keys| {
            let policy =
                self.policy(current.algs.clone())
                    .map_err(|cause| FetchError::Invalid {
                        url: current.jwks_uri.clone(),
                        cause,
                    })?;
            Ok(Loaded {
                policy,
                keys,
                algs: current.algs.clone(),
                jwks_uri: current.jwks_uri.clone(),
            })
        });
        match refreshed {
            Ok(loaded) => {
                self.state
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .loaded = Some(Arc::new(loaded));
                tracing::info!(provider = %self.name, "keys fetched again for an unknown kid");
                self.keys_changed.notify_one();
                Refetch::Fetched
            }
            Err(err) => {
                tracing::warn!(provider = %self.name, error = %err, "fetching keys for an unknown kid failed");
                Refetch::Failed
            }
        }
    }

    async fn fetch_all(&self) -> Result<Loaded, FetchError> {
        let (jwks_uri, advertised) = match &self.settings.jwks_uri {
            Some(uri) => (uri.clone(), Vec::new()),
            None => {
                let discovery = self.fetch_discovery().await?;
                (
                    discovery.jwks_uri,
                    discovery.id_token_signing_alg_values_supported,
                )
            }
        };
        let algs = self.allowed_algs(&advertised);
        let keys = self.fetch_keys(&jwks_uri).await?;
        let policy = self
            .policy(algs.clone())
            .map_err(|cause| FetchError::Invalid {
                url: jwks_uri.clone(),
                cause,
            })?;
        Ok(Loaded {
            policy,
            keys,
            algs,
            jwks_uri,
        })
    }

    /// The configured algorithms, else the advertised public-key ones, else
    /// RS256 (the ID Token default, OIDC Core §3.1.3.7).
    fn allowed_algs(&self, advertised: &[String]) -> Vec<JwsAlg> {
        let names: &[String] = self.settings.algorithms.as_deref().unwrap_or(advertised);
        let algs: Vec<JwsAlg> = names.iter().filter_map(|n| JwsAlg::from_name(n)).collect();
        if algs.is_empty() {
            vec![JwsAlg::Rs256]
        } else {
            algs
        }
    }

    /// The policy a logout token's claims are judged by before any key is
    /// available: the loaded one's, or, before the first load, one allowing
    /// the configured algorithms (else every supported one, since discovery
    /// has not been read).
    ///
    /// # Errors
    /// The policy cannot be built (the decryption key stopped loading).
    pub fn claims_policy(&self) -> Result<LogoutTokenPolicy, String> {
        let algs = match self.loaded() {
            Some(loaded) => loaded.algs.clone(),
            None => match &self.settings.algorithms {
                Some(_) => self.allowed_algs(&[]),
                None => JwsAlg::ALL.to_vec(),
            },
        };
        self.policy(algs)
    }

    fn policy(&self, algs: Vec<JwsAlg>) -> Result<LogoutTokenPolicy, String> {
        let b = &self.backchannel;
        let mut policy = LogoutTokenPolicy::new(
            self.issuer.clone(),
            self.settings.client_ids.iter().cloned(),
        )
        .and_then(|p| p.with_allowed_algs(algs))
        .map_err(|e| e.to_string())?
        .with_clock_skew(b.clock_skew)
        .with_max_age(b.max_token_age)
        .with_exp_required(b.require_exp)
        .with_explicit_typ_required(b.require_explicit_typ);
        if let Some((alg, bytes)) = &self.decryption {
            let key = decryption_key(*alg, bytes).map_err(|e| e.to_string())?;
            policy = policy.with_decryption_key(key, self.settings.require_encryption);
        }
        Ok(policy)
    }

    async fn fetch_discovery(&self) -> Result<Discovery, FetchError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.as_ref().trim_end_matches('/')
        );
        let bytes = self.get(&url).await?;
        let discovery: Discovery =
            serde_json::from_slice(&bytes).map_err(|e| FetchError::Invalid {
                url: url.clone(),
                cause: e.to_string(),
            })?;
        // OpenID Connect Discovery 1.0 §4.3: the document must name exactly
        // the issuer it was fetched for.
        if discovery.issuer != self.issuer.as_ref() {
            return Err(FetchError::Invalid {
                url,
                cause: format!("names issuer {:?}", discovery.issuer),
            });
        }
        if discovery.backchannel_logout_supported != Some(true) {
            tracing::warn!(provider = %self.name, "discovery does not advertise backchannel_logout_supported");
        }
        Ok(discovery)
    }

    async fn fetch_keys(&self, url: &str) -> Result<KeySet, FetchError> {
        let bytes = self.get(url).await?;
        let keys = KeySet::from_jwks(&bytes).map_err(|e| FetchError::Invalid {
            url: url.to_owned(),
            cause: e.to_string(),
        })?;
        for skipped in keys.skipped() {
            tracing::debug!(provider = %self.name, ?skipped, "JWKS key skipped");
        }
        Ok(keys)
    }

    /// GET with the provider's URL rules, a timeout and a size limit.
    async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let http_error = |e: reqwest::Error| FetchError::Http {
            url: url.to_owned(),
            cause: without_url(e),
        };
        if let Err(cause) = check_url(url, self.settings.allow_insecure_http) {
            return Err(FetchError::Invalid {
                url: url.to_owned(),
                cause,
            });
        }
        let mut response = self.http.get(url).send().await.map_err(http_error)?;
        if !response.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let limit = self.backchannel.fetch_max_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http_error)? {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge {
                    url: url.to_owned(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn decryption_key(
    alg: KeyManagementAlg,
    bytes: &[u8],
) -> Result<DecryptionKey, DecryptionKeyError> {
    if bytes.trim_ascii_start().starts_with(b"{") {
        DecryptionKey::from_jwk(alg, bytes)
    } else {
        DecryptionKey::from_pem(alg, bytes, None)
    }
}

/// reqwest's messages include the URL, which callers already show.
fn without_url(err: reqwest::Error) -> String {
    let err = err.without_url();
    match std::error::Error::source(&err) {
        Some(source) => format!("{err}: {source}"),
        None => err.to_string(),
    }
}

/// Every configured provider, by name and by issuer.
#[derive(Default)]
pub struct Providers {
    by_name: HashMap<String, Arc<Provider>>,
    by_issuer: HashMap<String, Arc<Provider>>,
    keys_changed: Arc<tokio::sync::Notify>,
}

impl Providers {
    /// # Errors
    /// A provider's decryption key or algorithm list is unusable.
    pub fn from_settings(
        settings: &[ProviderSettings],
        backchannel: &BackchannelSettings,
    ) -> Result<Self, ConfigError> {
        let mut providers = Self::default();
        for entry in settings {
            let provider = Arc::new(Provider::new(
                entry,
                backchannel,
                providers.keys_changed.clone(),
            )?);
            providers
                .by_issuer
                .insert(entry.issuer.clone(), provider.clone());
            providers.by_name.insert(entry.name.clone(), provider);
        }
        Ok(providers)
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<Provider>> {
        self.by_name.get(name)
    }

    pub fn by_issuer(&self, issuer: &str) -> Option<&Arc<Provider>> {
        self.by_issuer.get(issuer)
    }

    /// Providers in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        let mut all: Vec<&Arc<Provider>> = self.by_name.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all.into_iter()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Signalled whenever a provider's keys load or are fetched again.
    pub fn keys_changed(&self) -> &Arc<tokio::sync::Notify> {
        &self.keys_changed
    }

    /// Keeps every provider's keys loaded until `cancel`: retries with
    /// backoff (1 s doubling to 60 s) while a provider is unreachable, then
    /// refreshes every `jwks_refresh_interval`.
    pub fn spawn_refresh(
        self: &Arc<Self>,
        cancel: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.iter()
            .map(|provider| {
                let provider = provider.clone();
                let cancel = cancel.clone();
                tokio::spawn(async move { keep_loaded(&provider, &cancel).await })
            })
            .collect()
    }
}

async fn keep_loaded(provider: &Provider, cancel: &CancellationToken) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let wait = match provider.load().await {
            Ok(()) => {
                tracing::info!(provider = %provider.name, "provider keys loaded");
                backoff = Duration::from_secs(1);
                provider.backchannel.jwks_refresh_interval
            }
            Err(err) => {
                tracing::warn!(provider = %provider.name, error = %err, retry_in = ?backoff, "provider keys not loaded");
                let wait = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                wait
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
