//! Structured logs through `tracing`. `RUST_LOG`, when set, overrides
//! `log.filter`. Nothing here ever formats a token or key: handlers log
//! identifiers and outcomes only.

use std::ffi::OsStr;
use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt};

use crate::config::LogFormat;

/// A subscriber writing to `sink` in the given format, without colours
/// (for files, pipes and tests; see [`stdout_subscriber`]).
pub fn get_subscriber<W>(
    format: LogFormat,
    filter: &str,
    sink: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    subscriber(format, filter, sink, false)
}

/// The subscriber of `revokd serve`: to standard output, in colour only
/// when that is a terminal and `NO_COLOR` is not set ([`use_colour`]), so
/// that logs redirected to a file or a journal hold no escape codes.
pub fn stdout_subscriber(format: LogFormat, filter: &str) -> Box<dyn Subscriber + Send + Sync> {
    let colour = use_colour(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    subscriber(format, filter, std::io::stdout, colour)
}

/// Whether the `pretty` format may colour its output: only on a terminal,
/// and not when `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
pub fn use_colour(is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty)
}

fn subscriber<W>(
    format: LogFormat,
    filter: &str,
    sink: W,
    colour: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Pretty => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(colour)
                    .with_writer(sink),
            ),
        ),
        LogFormat::Json => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(sink),
            ),
        ),
    }
}

/// Installs `subscriber` for the whole process. Call once.
///
/// # Errors
/// A global subscriber is already installed.
pub fn init_subscriber(subscriber: Box<dyn Subscriber + Send + Sync>) -> anyhow::Result<()> {
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(
            use_colour(true, Some(OsStr::new(""))),
            "an empty NO_COLOR is unset"
        );
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None), "a file or a pipe");
        assert!(!use_colour(false, Some(OsStr::new("1"))));
    }
}
