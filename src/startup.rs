//! Builds the application from [`Settings`] and runs it until stopped.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{HttpServer, web};
use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api_keys::Role;
use crate::backchannel::{LogoutReceiver, PendingLimits};
use crate::config::{CheckSource, Settings, StoreKind};
use crate::events::{EventHub, StreamSlots};
use crate::gateway::Gate;
use crate::http::{self, AppState, BodyBudget, Routes};
use crate::metrics::Metrics;
use crate::mirror::{self, MirrorSync};
use crate::providers::Providers;
use crate::quota::ClientQuotas;
use crate::revocations::Revocations;
use crate::store::Store;

/// A bound, configured revokd, not yet serving.
pub struct Application {
    port: u16,
    ops_port: Option<u16>,
    servers: Vec<Server>,
    /// Cancelled when the servers stop; background tasks watch it.
    cancel: CancellationToken,
    /// Cancelled when stopping begins, before the servers wait for
    /// in-flight requests: event streams end then instead of holding the
    /// shutdown for `http.shutdown_timeout`.
    closing: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Application {
    /// Opens the store and binds the listeners (port 0 picks a free port;
    /// [`Application::port`] tells which).
    ///
    /// # Errors
    /// The store cannot be opened or a listener cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        let store = match settings.store {
            StoreKind::Embedded => Store::open_embedded(&settings.embedded, metrics.store.clone())
                .with_context(|| {
                    format!(
                        "cannot open the embedded store at {}",
                        settings.embedded.path.display()
                    )
                })?,
            StoreKind::Redis => Store::connect_redis(&settings.redis, metrics.store.clone())
                .context("invalid configuration key `redis.url`")?,
        };
        let keys = settings.key_ring()?;
        if !keys.has_role(Role::Admin) {
            tracing::warn!("no admin key is configured: the admin API refuses every request");
        }
        if !settings.check.require_client_key {
            tracing::warn!(
                "check.require_client_key = false: anyone who reaches the listener can probe tokens"
            );
        }
        let providers = Arc::new(Providers::from_settings(
            &settings.providers,
            &settings.backchannel,
        )?);
        let gate = Gate::new(&settings.forward_auth, &providers)?;
        if !settings.forward_auth.require_client_key {
            tracing::warn!(
                "forward_auth.require_client_key = false: anyone who reaches the listener can probe tokens"
            );
        }
        let mut revocations =
            Revocations::new(store.clone(), settings.lifetimes.clone(), metrics.clone())
                .with_fail_mode(settings.check.fail_mode)
                .with_registration_limits(settings.sessions.limits());
        let mirror_sync = match settings.check.source {
            CheckSource::Store => None,
            CheckSource::Mirror => {
                let sync = Arc::new(MirrorSync::new(
                    store.is_shared(),
                    settings.mirror.max_staleness,
                    metrics.clone(),
                ));
                // A store only this instance writes to loads in-process and
                // fast: the instance listens only once its mirror holds
                // everything the store does. A shared one loads in the
                // background (not ready until then), so that a Redis that
                // is down at start-up does not stop revokd.
                let loaded = if store.is_shared() {
                    None
                } else {
                    Some(
                        sync.resync(&store)
                            .await
                            .context("cannot load the revocation mirror from the embedded store")?,
                    )
                };
                revocations = revocations.with_mirror_sync(sync.clone());
                Some((sync, loaded))
            }
        };
        let hub = EventHub::new(settings.events.buffer, store.clone());
        let revocations = revocations.with_hub(Arc::clone(&hub));
        let logouts = LogoutReceiver::with_pending_limits(
            providers.clone(),
            revocations.clone(),
            metrics.clone(),
            settings.backchannel.recent_tokens,
            PendingLimits::from_settings(&settings.backchannel),
        );
        let signals = crate::signals::SignalReceiver::new(
            &settings.streams,
            &settings.global_token_revocation,
            &providers,
            revocations.clone(),
            &metrics,
            settings.backchannel.clock_skew,
        )?;
        let scim = crate::scim::ScimService::new(&settings.scim, revocations.clone(), &metrics)?;
        let quotas = Arc::new(ClientQuotas::new(
            &settings.keys,
            settings.sessions.client_token_ids_per_second,
            settings.sessions.client_token_ids_burst,
            settings.sessions.max_token_ids_per_key,
            &settings.sessions.key_quotas,
        ));
        for collector in quotas.collectors() {
            metrics
                .register(collector)
                .context("registering the quota metrics")?;
        }
        let tls = crate::tls::ListenerTls::new(&settings.tls, &metrics)
            .context("invalid configuration key `tls.cert_file`")?;
        let state = web::Data::new(AppState {
            revocations,
            logouts: logouts.clone(),
            signals,
            scim,
            keys,
            check: settings.check.clone(),
            gate,
            metrics,
            body_limit: settings.http.body_limit,
            quotas,
            hub: Arc::clone(&hub),
            streams: StreamSlots::new(
                settings.events.max_streams,
                settings.events.max_streams_per_key,
            ),
            events_heartbeat: settings.events.heartbeat,
            admin_ui: settings.admin_ui,
        });

        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("cannot listen on {} (key `listen`)", settings.listen))?;
        let port = listener.local_addr()?.port();
        let api_routes = if settings.ops_listen.is_some() {
            Routes::Api
        } else {
            Routes::All
        };
        let limits = Limits::new(&settings, usize::from(settings.ops_listen.is_some()) + 1);
        let cancel = CancellationToken::new();
        let mut tasks = Vec::new();
        let https = tls.is_some();
        let tls_config = match tls {
            Some(tls) => {
                let (config, reload) = tls.into_parts(cancel.clone());
                tasks.push(tokio::spawn(reload));
                Some(config)
            }
            None => {
                tasks.push(tokio::spawn(crate::tls::ignore_hangup(cancel.clone())));
                None
            }
        };
        let mut servers = vec![serve(
            listener, tls_config, api_routes, &state, &limits, &settings,
        )?];
        let mut ops_port = None;
        if let Some(addr) = settings.ops_listen {
            let listener = TcpListener::bind(addr)
                .with_context(|| format!("cannot listen on {addr} (key `ops_listen`)"))?;
            ops_port = Some(listener.local_addr()?.port());
            servers.push(serve(
                listener,
                None,
                Routes::Operations,
                &state,
                &limits,
                &settings,
            )?);
        }

        tasks.extend(providers.spawn_refresh(cancel.clone()));
        tasks.push(logouts.spawn_pending_retry(cancel.clone()));
        tasks.extend(state.signals.spawn_polling(cancel.clone()));
        tasks.extend(state.signals.spawn_management(cancel.clone()));
        tasks.push(tokio::spawn(crate::events::wake_on_store(
            Arc::clone(&hub),
            store.clone(),
            cancel.clone(),
        )));
        let closing = hub.closing();
        tasks.push(tokio::spawn(
            hub.follow(settings.events.poll_interval, cancel.clone()),
        ));
        if let Some((sync, loaded)) = mirror_sync {
            tasks.push(tokio::spawn(mirror::sync::follow(
                sync.clone(),
                store.clone(),
                loaded,
                settings.mirror.reconnect_delay_max,
                cancel.clone(),
            )));
            tasks.push(tokio::spawn(mirror::sync::maintain(
                sync,
                settings.mirror.sweep_interval,
                cancel.clone(),
            )));
        }
        tasks.extend(store.spawn_upkeep(settings.mirror.sweep_interval, cancel.clone()));

        let bound = std::net::SocketAddr::new(settings.listen.ip(), port);
        let scheme = if https { "https" } else { "http" };
        match settings.store {
            StoreKind::Embedded => tracing::info!(
                port,
                ops_port,
                https,
                path = %settings.embedded.path.display(),
                "revokd listening on {scheme}://{bound}, on the embedded store in {}",
                settings.embedded.path.display()
            ),
            StoreKind::Redis => tracing::info!(
                port,
                ops_port,
                https,
                key_prefix = %settings.redis.key_prefix,
                "revokd listening on {scheme}://{bound}, on Redis (key prefix {:?})",
                settings.redis.key_prefix
            ),
        }
        Ok(Self {
            port,
            ops_port,
            servers,
            cancel,
            closing,
            tasks,
        })
    }

    /// The bound API port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound port of `ops_listen`, when configured.
    pub fn ops_port(&self) -> Option<u16> {
        self.ops_port
    }

    /// Serves until `shutdown` resolves (or a server fails), then stops
    /// gracefully: in-flight requests finish, background tasks end.
    ///
    /// # Errors
    /// A server failed.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let handles: Vec<ServerHandle> = self.servers.iter().map(Server::handle).collect();
        let servers = futures_util::future::try_join_all(self.servers);
        // A stop command is carried out by the server futures themselves,
        // so they must keep being polled while it runs: ask for the stop
        // here, then wait for the servers (which resolve once their workers
        // have finished in-flight requests and dropped their state).
        let closing = self.closing.clone();
        let stop_on_shutdown = async move {
            shutdown.await;
            closing.cancel();
            tracing::info!("stopping: finishing in-flight requests");
            futures_util::future::join_all(handles.iter().map(|h| h.stop(true))).await;
            std::future::pending::<()>().await;
        };
        let result = tokio::select! {
            result = servers => result.map(|_| ()).context("a listener failed"),
            () = stop_on_shutdown => unreachable!("never resolves"),
        };
        self.closing.cancel();
        self.cancel.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        tracing::info!("revokd stopped");
        result
    }
}

/// The connection and body bounds shared by the listeners.
struct Limits {
    bodies: web::Data<BodyBudget>,
    workers: usize,
    /// `http.max_connections` of one worker (actix counts per worker).
    connections_per_worker: usize,
}

/// Descriptors kept for everything but client connections: the store, the
/// Redis pool and feed, provider fetches, logs.
const RESERVED_FDS: u64 = 256;

impl Limits {
    /// Raises the open-file limit and fits `http.max_connections` (per
    /// listener) into it, so that the bound is reached before the process
    /// runs out of descriptors (where actix would fail to accept, and
    /// everything else that opens a file or socket would fail too).
    fn new(settings: &Settings, listeners: usize) -> Self {
        let workers = if settings.http.workers > 0 {
            settings.http.workers
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        };
        let mut max_connections = settings.http.max_connections;
        match raise_fd_limit() {
            Ok(limit) => {
                let fits = usize::try_from(limit.saturating_sub(RESERVED_FDS) / listeners as u64)
                    .unwrap_or(usize::MAX);
                if fits < max_connections {
                    tracing::warn!(
                        open_files = limit,
                        max_connections = fits,
                        "the open-file limit ({limit}) leaves room for {fits} connections per listener, \
                         fewer than http.max_connections ({max_connections}); using {fits} \
                         (raise LimitNOFILE / ulimit -n)"
                    );
                    max_connections = fits.max(settings.http.max_body_requests + 1);
                } else {
                    tracing::info!(
                        open_files = limit,
                        max_connections,
                        "open-file limit {limit}, at most {max_connections} connections per listener"
                    );
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read or raise the open-file limit");
            }
        }
        Self {
            bodies: web::Data::new(BodyBudget::new(
                settings.http.max_body_requests,
                settings.http.body_timeout,
            )),
            workers,
            connections_per_worker: max_connections.div_ceil(workers).max(1),
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (a default soft limit
/// of 1024 is far below what a busy listener needs) and returns the limit
/// now in force.
#[cfg(unix)]
fn raise_fd_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the call's duration.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit for the call's duration.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        } else {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                soft = limit.rlim_cur,
                hard = limit.rlim_max,
                "cannot raise the open-file limit to its hard limit"
            );
        }
    }
    // `rlim_t` is u64 on Linux, not on every unix.
    #[allow(clippy::useless_conversion)]
    Ok(u64::try_from(limit.rlim_cur).unwrap_or(u64::MAX))
}

#[cfg(not(unix))]
fn raise_fd_limit() -> std::io::Result<u64> {
    Err(std::io::Error::other("not supported on this platform"))
}

fn serve(
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    routes: Routes,
    state: &web::Data<AppState>,
    limits: &Limits,
    settings: &Settings,
) -> anyhow::Result<Server> {
    let state = state.clone();
    let bodies = limits.bodies.clone();
    let body_limit = settings.http.body_limit;
    let server =
        HttpServer::new(move || http::app(state.clone(), body_limit, bodies.clone(), routes))
            .workers(limits.workers)
            .max_connections(limits.connections_per_worker);
    let server = match tls {
        Some(config) => server.listen_rustls_0_23(listener, config)?,
        None => server.listen(listener)?,
    };
    let server = server
        .disable_signals()
        .shutdown_timeout(settings.http.shutdown_timeout.as_secs());
    Ok(server.run())
}
