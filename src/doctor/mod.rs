//! `revokd doctor`: tells an operator what is wrong before the first
//! logout goes missing.
//!
//! Each check is a plain function returning [`Check`]s: the providers
//! ([`provider`]), the store ([`store`]), a running instance
//! ([`instance`], given its URL) and a gateway configuration file
//! ([`gateway`], given its path). The subcommand in `main.rs` only parses
//! flags, calls [`run`] and prints the [`Report`]: one line per check for
//! people, JSON for scripts, exit status 1 when any check failed.
//!
//! A check never changes anything revokd relies on; the one write it makes
//! is a probe key under the Redis key prefix, which it deletes again (and
//! which expires in seconds regardless).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::config::Settings;

pub mod gateway;
pub mod instance;
pub mod provider;
pub mod store;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but something will go wrong later or in some cases.
    Warn,
    /// Revocations will be lost or refused: fix before relying on revokd.
    Fail,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// One finding: what was checked, how it came out, what was seen and,
/// unless it is ok, what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `provider:NAME discovery`, `store:redis eviction`, ...
    pub check: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            check: check.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn fail(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            check: check.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Every check's result, in the order run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// The worst status of any check (`Ok` for none).
    pub fn worst(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    /// One line per check, then the fix indented under it.
    pub fn human(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            out.push_str(&format!(
                "{:<4}  {}: {}\n",
                check.status.as_str(),
                check.check,
                check.detail
            ));
            if let Some(fix) = &check.fix {
                out.push_str(&format!("      -> {fix}\n"));
            }
        }
        let count = |s: Status| self.checks.iter().filter(|c| c.status == s).count();
        out.push_str(&format!(
            "{} ok, {} warn, {} fail\n",
            count(Status::Ok),
            count(Status::Warn),
            count(Status::Fail)
        ));
        out
    }
}

/// What to check besides the configuration's providers and store.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A running instance's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: Option<String>,
    /// An nginx or Caddy configuration file that guards an app with revokd.
    pub gateway: Option<PathBuf>,
    /// Time allowed for each network request.
    pub timeout: Duration,
}

/// Runs every check that applies to `settings` and `options`.
pub async fn run(settings: &Settings, options: &Options) -> Report {
    let mut report = Report::default();
    if settings.providers.is_empty() {
        report.checks.push(Check::warn(
            "providers",
            "no [[providers]] configured",
            "add one [[providers]] entry per identity provider whose logouts revokd should receive",
        ));
    }
    for provider_settings in &settings.providers {
        report.checks.extend(
            provider::check(provider_settings, &settings.backchannel, options.timeout).await,
        );
    }
    report
        .checks
        .extend(store::check(settings, options.timeout).await);
    report.checks.push(instance::admin_key(settings));
    if let Some(url) = &options.url {
        report
            .checks
            .extend(instance::check(url, settings, options.timeout).await);
    }
    if let Some(path) = &options.gateway {
        report.checks.extend(gateway::check(path));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_status_decides_and_the_human_output_has_one_line_per_check_and_its_fix() {
        let mut report = Report::default();
        assert_eq!(report.worst(), Status::Ok);
        report.checks.push(Check::ok("a", "fine"));
        report.checks.push(Check::warn("b", "meh", "do b"));
        assert_eq!(report.worst(), Status::Warn);
        report.checks.push(Check::fail("c", "broken", "do c"));
        assert_eq!(report.worst(), Status::Fail);
        assert_eq!(
            report.human(),
            "ok    a: fine\nwarn  b: meh\n      -> do b\nfail  c: broken\n      -> do c\n1 ok, 1 warn, 1 fail\n"
        );
    }
}
