//! The `revokd` command.

// The store futures nest deeply enough (pool, Sentinel, scripts) to need more
// than the default limit when the whole server future is type-checked.
#![recursion_limit = "256"]

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use revokd::config::Settings;
use revokd::startup::Application;
use revokd::{shutdown, telemetry};

/// `0.1.0 (1a2b3c4d5e6f)`: the package version and the source revision the
/// binary was built from (`-dirty` with uncommitted changes, `unknown` when
/// built without git; see build.rs). `option_env!`, so that a build whose
/// context left build.rs out still compiles, and says `unknown`.
fn version() -> &'static str {
    static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "{} ({})",
            env!("CARGO_PKG_VERSION"),
            option_env!("BUILD_GIT_REVISION").unwrap_or("unknown")
        )
    });
    &VERSION
}

/// Makes logout and account-disable at an OpenID provider reach the apps
/// people signed into.
///
/// Every configuration key can be set from the environment as REVOKD_<KEY>,
/// with "__" between a section and its key (REVOKD_REDIS__URL). Run
/// `revokd print-default-config` for every key with its documentation.
#[derive(Parser)]
#[command(version = version(), about)]
struct Cli {
    /// A TOML configuration file.
    #[arg(long, short, env = "REVOKD_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Load and validate the configuration, then exit.
    CheckConfig,
    /// Print the OpenAPI document (YAML).
    Openapi,
    /// Print the default configuration, every key documented.
    PrintDefaultConfig,
    /// Read an API key on standard input and print its SHA-256, for `sha256 = "..."`.
    HashKey,
    /// Ask the configured instance's /readyz; exit 0 when ready (a container HEALTHCHECK).
    Healthcheck,
    /// Check the providers, the store, and optionally a running instance and
    /// a gateway file; exit 1 when any check fails.
    Doctor(DoctorArgs),
    /// The admin API of a running instance: revoke, disable, status, audit
    /// log, event stream, logout tokens.
    Admin(AdminArgs),
}

/// The instance and its admin key. The key is read from a file or from
/// REVOKDCTL_KEY, never given on the command line.
#[derive(clap::Args)]
struct AdminArgs {
    /// The instance's base URL, e.g. https://revokd.example:8080.
    #[arg(long, env = "REVOKDCTL_URL")]
    url: String,
    /// A file holding the admin key (else REVOKDCTL_KEY).
    #[arg(long, env = "REVOKDCTL_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// The API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

/// A subject at a provider.
#[derive(clap::Args)]
struct SubjectArgs {
    /// The provider's issuer, exactly as in its tokens.
    #[arg(long)]
    iss: String,
    /// The subject (`sub`).
    #[arg(long)]
    sub: String,
    /// Why, for the audit log.
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Revoke one application token by its id.
    RevokeToken {
        #[arg(long)]
        jti: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Revoke a provider session.
    RevokeSession {
        #[arg(long)]
        iss: String,
        #[arg(long)]
        sid: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Disable a subject until enabled again.
    Disable(SubjectArgs),
    /// Enable a disabled subject.
    Enable(SubjectArgs),
    /// Revoke every token a subject holds now ("sign out everywhere").
    RevokeSubjectTokens(SubjectArgs),
    /// A subject's status.
    Status {
        #[arg(long)]
        iss: String,
        #[arg(long)]
        sub: String,
    },
    /// A subject's session registry: the token ids apps registered for
    /// its logins, the latest expiry first.
    Sessions {
        #[arg(long)]
        iss: String,
        #[arg(long)]
        sub: String,
        /// At most this many (1 to 500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// The newest entries of the audit log.
    Audit {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Keep printing new entries as they are recorded (oldest first,
        /// one line each; with --json one JSON object a line), resuming
        /// after a lost connection, until Ctrl-C or SIGTERM.
        #[arg(long)]
        follow: bool,
    },
    /// Follow the event stream, one line per event.
    Events {
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Recent logout tokens and what became of them.
    LogoutTokens,
    /// Ask a managed Shared Signals stream's transmitter for a
    /// verification event now; `/readyz` shows when it came back.
    VerifyStream {
        /// The stream's `name` in `[[streams]]`.
        stream: String,
    },
}

#[derive(clap::Args)]
struct DoctorArgs {
    /// A running instance's base URL (its listen or ops_listen address),
    /// e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: Option<String>,
    /// An nginx or Caddy file that guards an app with revokd.
    #[arg(long)]
    gateway: Option<PathBuf>,
    /// JSON instead of one line per check.
    #[arg(long)]
    json: bool,
    /// Time allowed for each network request.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return report(&err.into()),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

/// Prints the error and its causes on one line, without a backtrace: the
/// reader is an operator, not a debugger.
fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("revokd: {err:#}");
    ExitCode::FAILURE
}

/// Writes a subcommand's output. A reader that stopped reading (`revokd
/// openapi | head -1`) is not an error: `print!` would panic on the broken
/// pipe, and the output was wanted only as far as it was read.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let settings = Settings::load(cli.config.as_deref())?;
            let subscriber =
                telemetry::stdout_subscriber(settings.log.format, &settings.log.filter);
            telemetry::init_subscriber(subscriber)?;
            let application = Application::build(settings).await?;
            application.run_until_stopped(shutdown::signal()).await
        }
        Command::CheckConfig => {
            let settings = Settings::load(cli.config.as_deref())?;
            // What `serve` reads besides the settings: key files.
            let providers = revokd::providers::Providers::from_settings(
                &settings.providers,
                &settings.backchannel,
            )?;
            revokd::gateway::Gate::new(&settings.forward_auth, &providers)?;
            write_stdout(&format!("{}\n", revokd::config::summary(&settings)))
        }
        Command::Openapi => write_stdout(&revokd::http::openapi_yaml()?),
        Command::PrintDefaultConfig => write_stdout(revokd::config::DEFAULT_TOML),
        Command::Healthcheck => {
            let settings = Settings::load(cli.config.as_deref())?;
            let target = revokd::healthcheck::target(&settings);
            revokd::healthcheck::probe(&target, revokd::healthcheck::TIMEOUT).await?;
            eprintln!("revokd: {} is ready", target.url);
            Ok(())
        }
        Command::Doctor(args) => {
            let settings = Settings::load(cli.config.as_deref())?;
            let options = revokd::doctor::Options {
                url: args.url,
                gateway: args.gateway,
                timeout: args.timeout,
            };
            let report = revokd::doctor::run(&settings, &options).await;
            if args.json {
                write_stdout(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
            } else {
                write_stdout(&report.human())?;
            }
            if report.worst() == revokd::doctor::Status::Fail {
                anyhow::bail!("doctor: at least one check failed");
            }
            Ok(())
        }
        Command::Admin(args) => admin(args).await,
        Command::HashKey => {
            let mut key = String::new();
            std::io::stdin().read_to_string(&mut key)?;
            write_stdout(&format!("{}\n", revokd::api_keys::sha256_hex(key.trim())))
        }
    }
}

/// `revokd admin …`: one API call, printed as a table or as JSON.
/// `revokd admin audit --follow`: stops at Ctrl-C or SIGTERM (exit 0), or
/// when standard output is closed (`| head`).
async fn follow_audit(
    client: &revokd::admin_client::AdminClient,
    limit: u32,
    json: bool,
) -> anyhow::Result<()> {
    use revokd::admin_client::{EVENT_HEADERS, event_rows, table};
    use std::io::Write;
    if !json {
        write_stdout(&table(&EVENT_HEADERS, &[]))?;
    }
    let mut failed = None;
    let each = |value: serde_json::Value| {
        let line = if json {
            format!("{value}\n")
        } else {
            table(&EVENT_HEADERS, &event_rows(std::slice::from_ref(&value)))
                .split_once('\n')
                .map(|(_, row)| row.to_owned())
                .unwrap_or_default()
        };
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(line.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Ok(()) => true,
            // The reader went away: stop quietly, as `tail -f | head` does.
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => false,
            Err(err) => {
                failed = Some(err);
                false
            }
        }
    };
    let note = |text: &str| eprintln!("revokd admin audit: {text}");
    tokio::select! {
        result = client.follow_audit(limit, each, note) => result?,
        () = revokd::shutdown::signal() => {}
        () = stdout_closed() => {}
    }
    failed.map_or(Ok(()), |err| Err(err.into()))
}

/// Resolves once nobody reads standard output any more (the reader of a
/// pipe exited, as `head` does), checked every second: a quiet log
/// would otherwise keep `audit --follow` alive until its next event.
async fn stdout_closed() {
    #[cfg(unix)]
    loop {
        let mut fd = libc::pollfd {
            fd: libc::STDOUT_FILENO,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        let ready = unsafe { libc::poll(&raw mut fd, 1, 0) };
        if ready > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}

async fn admin(args: AdminArgs) -> anyhow::Result<()> {
    use revokd::admin_client::{
        AdminClient, EVENT_HEADERS, LOGOUT_HEADERS, REGISTRATION_HEADERS, event_rows, logout_rows,
        read_key, registration_rows, subject_body, table,
    };
    let key = read_key(
        args.key_file.as_deref(),
        std::env::var("REVOKDCTL_KEY").ok(),
    )?;
    let client = AdminClient::new(&args.url, key, std::time::Duration::from_secs(10))?;
    let json = args.json;
    let print = |value: &serde_json::Value, text: String| -> anyhow::Result<()> {
        if json {
            write_stdout(&format!("{}\n", serde_json::to_string_pretty(value)?))
        } else {
            write_stdout(&text)
        }
    };
    let event =
        |value: &serde_json::Value| table(&EVENT_HEADERS, &event_rows(std::slice::from_ref(value)));
    match args.command {
        AdminCommand::RevokeToken { jti, reason } => {
            let done = client
                .post(
                    "/v1/admin/tokens/revoke",
                    &serde_json::json!({"jti": jti, "reason": reason}),
                )
                .await?;
            print(&done, event(&done))
        }
        AdminCommand::RevokeSession { iss, sid, reason } => {
            let done = client
                .post(
                    "/v1/admin/sessions/revoke",
                    &serde_json::json!({"iss": iss, "sid": sid, "reason": reason}),
                )
                .await?;
            print(&done, event(&done))
        }
        AdminCommand::Disable(s) => {
            let body = subject_body(&s.iss, &s.sub, s.reason.as_deref());
            let done = client.post("/v1/admin/subjects/disable", &body).await?;
            print(&done, event(&done))
        }
        AdminCommand::Enable(s) => {
            let body = subject_body(&s.iss, &s.sub, s.reason.as_deref());
            let done = client.post("/v1/admin/subjects/enable", &body).await?;
            print(&done, event(&done))
        }
        AdminCommand::RevokeSubjectTokens(s) => {
            let body = subject_body(&s.iss, &s.sub, s.reason.as_deref());
            let done = client
                .post("/v1/admin/subjects/revoke-tokens", &body)
                .await?;
            print(&done, event(&done))
        }
        AdminCommand::Status { iss, sub } => {
            let status = client
                .get("/v1/admin/subjects/status", &[("iss", iss), ("sub", sub)])
                .await?;
            let cell = |v: &serde_json::Value| match v {
                serde_json::Value::Null => "-".to_owned(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let rows = vec![vec![
                cell(&status["iss"]),
                cell(&status["sub"]),
                cell(&status["disabled"]),
                cell(&status["revoked_before"]),
            ]];
            print(
                &status,
                table(&["ISS", "SUB", "DISABLED", "REVOKED_BEFORE"], &rows),
            )
        }
        AdminCommand::Sessions { iss, sub, limit } => {
            let list = client
                .get(
                    "/v1/admin/subjects/sessions",
                    &[("iss", iss), ("sub", sub), ("limit", limit.to_string())],
                )
                .await?;
            if list["truncated"] == true {
                eprintln!("more registrations exist than --limit {limit} shows");
            }
            let rows = registration_rows(
                list["registrations"]
                    .as_array()
                    .map_or(&[][..], Vec::as_slice),
            );
            print(&list, table(&REGISTRATION_HEADERS, &rows))
        }
        AdminCommand::Audit {
            limit,
            follow: true,
        } => follow_audit(&client, limit, json).await,
        AdminCommand::Audit {
            limit,
            follow: false,
        } => {
            let page = client
                .get("/v1/admin/events", &[("limit", limit.to_string())])
                .await?;
            let events = page["events"].as_array().cloned().unwrap_or_default();
            print(&page, table(&EVENT_HEADERS, &event_rows(&events)))
        }
        AdminCommand::VerifyStream { stream } => {
            let path = format!("/v1/admin/streams/{stream}/verify");
            let asked = client.post(&path, &serde_json::json!({})).await?;
            let text = format!(
                "verification requested of stream `{stream}` at {}; see stream:{stream} on /readyz for verified_at\n",
                asked["requested_at"]
            );
            print(&asked, text)
        }
        AdminCommand::LogoutTokens => {
            let records = client.get("/v1/admin/logout-tokens", &[]).await?;
            let rows = logout_rows(records.as_array().map_or(&[][..], Vec::as_slice));
            print(&records, table(&LOGOUT_HEADERS, &rows))
        }
        AdminCommand::Events { count } => {
            let mut seen = 0u64;
            let mut failed = None;
            if !json {
                write_stdout(&table(&EVENT_HEADERS, &[]))?;
            }
            client
                .follow_events(|value| {
                    let line = if json {
                        format!("{value}\n")
                    } else {
                        table(&EVENT_HEADERS, &event_rows(std::slice::from_ref(&value)))
                            .split_once('\n')
                            .map(|(_, row)| row.to_owned())
                            .unwrap_or_default()
                    };
                    if let Err(err) = write_stdout(&line) {
                        failed = Some(err);
                        return false;
                    }
                    seen += 1;
                    count.is_none_or(|n| seen < n)
                })
                .await?;
            failed.map_or(Ok(()), Err)
        }
    }
}
