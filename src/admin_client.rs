//! `revokd admin …`: the admin API of a running instance from a shell.
//!
//! Every command is one documented request (`openapi/revokd.yaml` is the
//! only contract): the answer is printed as a table for people or as the
//! API's own JSON (`--json`) for scripts, and an error answer becomes one
//! line naming the status, the `error` code and its description. The key
//! is read from a file or the environment, never from the command line,
//! where `ps` and shell history would show it.

use std::time::Duration;

use serde_json::{Value, json};

/// Why a command failed; the text is what the operator sees.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{url}: {cause}")]
    Unreachable { url: String, cause: String },
    /// The API's error body (`{"error", "error_description"}`).
    #[error("{status}: {error}: {description}")]
    Refused {
        status: u16,
        error: String,
        description: String,
    },
    #[error("the answer is not what the API documents: {0}")]
    Unexpected(String),
    #[error(
        "no admin key: set REVOKDCTL_KEY or give --key-file (never the key itself on the command line)"
    )]
    NoKey,
    #[error("cannot read the key file {path}: {cause}")]
    KeyFile { path: String, cause: String },
}

/// The instance and the key to ask it with.
pub struct AdminClient {
    base: String,
    key: String,
    http: reqwest::Client,
}

/// The admin key: from `key_file` if given, else `env_key`.
///
/// # Errors
/// Neither is set, or the file cannot be read or is empty.
pub fn read_key(
    key_file: Option<&std::path::Path>,
    env_key: Option<String>,
) -> Result<String, AdminError> {
    let key = match key_file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| AdminError::KeyFile {
            path: path.display().to_string(),
            cause: e.to_string(),
        })?,
        None => env_key.ok_or(AdminError::NoKey)?,
    };
    let key = key.trim().to_owned();
    if key.is_empty() {
        return Err(AdminError::NoKey);
    }
    Ok(key)
}

impl AdminClient {
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(base: &str, key: String, timeout: Duration) -> Result<Self, AdminError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .build()
            .map_err(|e| AdminError::Unreachable {
                url: base.to_owned(),
                cause: e.to_string(),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            key,
            http,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::Response, AdminError> {
        let response =
            request
                .bearer_auth(&self.key)
                .send()
                .await
                .map_err(|e| AdminError::Unreachable {
                    url: url.to_owned(),
                    cause: chain(&e.without_url()),
                })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Err(refused(status, &body))
    }

    async fn json(&self, request: reqwest::RequestBuilder, url: &str) -> Result<Value, AdminError> {
        self.send(request, url)
            .await?
            .json()
            .await
            .map_err(|e| AdminError::Unexpected(e.to_string()))
    }

    /// `POST path` with a JSON body: the audit event it produced.
    ///
    /// # Errors
    /// [`AdminError`]: unreachable, or the API's error answer.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, AdminError> {
        let url = self.url(path);
        self.json(self.http.post(&url).json(body), &url).await
    }

    /// `GET path?query`.
    ///
    /// # Errors
    /// [`AdminError`]: unreachable, or the API's error answer.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, AdminError> {
        let url = self.url(path);
        self.json(self.http.get(&url).query(query), &url).await
    }

    /// Follows `/v1/events`, calling `each` with every event until the
    /// stream ends or `each` returns false.
    ///
    /// # Errors
    /// [`AdminError`]: unreachable, or the API's error answer, or a
    /// `resync` (this follower fell behind the retained events).
    pub async fn follow_events(&self, each: impl FnMut(Value) -> bool) -> Result<(), AdminError> {
        match self.follow_events_after(None, each).await? {
            StreamEnd::Resync => Err(AdminError::Unexpected(
                "the stream ended: this follower fell behind the retained events (resync)".into(),
            )),
            StreamEnd::Stopped | StreamEnd::Closed => Ok(()),
        }
    }

    /// Follows `/v1/events` from just after the event `after` (as
    /// `Last-Event-ID`; `None`: from now), calling `each` with every
    /// event until `each` returns false or the stream ends, and says how
    /// it ended.
    ///
    /// # Errors
    /// [`AdminError`]: unreachable, or the API's error answer.
    pub async fn follow_events_after(
        &self,
        after: Option<&str>,
        mut each: impl FnMut(Value) -> bool,
    ) -> Result<StreamEnd, AdminError> {
        let url = self.url("/v1/events");
        let mut request = self.http.get(&url).header("Accept", "text/event-stream");
        if let Some(id) = after {
            request = request.header("Last-Event-ID", id);
        }
        let mut response = self.send(request, &url).await?;
        let mut buffer = String::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| AdminError::Unreachable {
                url: url.clone(),
                cause: chain(&e.without_url()),
            })?
        {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let kind = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("event:"))
                    .map(str::trim);
                match kind {
                    Some("revocation") => {}
                    Some("resync") => return Ok(StreamEnd::Resync),
                    // `hello`, comments and keep-alives.
                    _ => continue,
                }
                let data: String = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if data.is_empty() {
                    continue;
                }
                let event = serde_json::from_str(&data).map_err(|e| {
                    AdminError::Unexpected(format!("an event that is not JSON: {e}"))
                })?;
                if !each(event) {
                    return Ok(StreamEnd::Stopped);
                }
            }
        }
        Ok(StreamEnd::Closed)
    }

    /// `revokd admin audit --follow`: the newest `limit` audit events,
    /// oldest first, then every new one as it is recorded, until `each`
    /// returns false. The stream resumes from the last event seen, so a
    /// reconnect (revokd restarted, a proxy closed the stream, the network
    /// dropped) misses nothing the audit log still holds; `note` is told
    /// of each reconnect, and of events the log no longer held.
    ///
    /// # Errors
    /// [`AdminError`]: the API refused (a wrong key, a bad `limit`) or
    /// answered what it does not document. An unreachable instance is
    /// retried, not an error, once the first page was read.
    pub async fn follow_audit(
        &self,
        limit: u32,
        mut each: impl FnMut(Value) -> bool,
        mut note: impl FnMut(&str),
    ) -> Result<(), AdminError> {
        let page = self
            .get("/v1/admin/events", &[("limit", limit.to_string())])
            .await?;
        let mut events = page["events"].as_array().cloned().unwrap_or_default();
        events.reverse();
        let mut cursor = events
            .last()
            .and_then(|e| e["id"].as_str())
            .map(str::to_owned);
        for event in events {
            if !each(event) {
                return Ok(());
            }
        }
        let mut delay = RECONNECT_MIN;
        loop {
            let from = cursor.clone();
            let mut seen_any = false;
            let end = self
                .follow_events_after(from.as_deref(), |event| {
                    if let Some(id) = event["id"].as_str() {
                        cursor = Some(id.to_owned());
                    }
                    seen_any = true;
                    each(event)
                })
                .await;
            if seen_any {
                delay = RECONNECT_MIN;
            }
            match end {
                Ok(StreamEnd::Stopped) => return Ok(()),
                Ok(StreamEnd::Closed) => note("the event stream ended; reconnecting"),
                Ok(StreamEnd::Resync) => {
                    note(&format!(
                        "the audit log no longer holds every event after {}: some were missed; following from now",
                        from.as_deref().unwrap_or("the start")
                    ));
                    cursor = None;
                    continue;
                }
                Err(err @ AdminError::Unreachable { .. }) => {
                    note(&format!("{err}; retrying in {}s", delay.as_secs()));
                }
                // 503 (store down, too many streams) and 429 pass too.
                Err(AdminError::Refused { status, .. }) if status == 503 || status == 429 => {
                    note(&format!(
                        "the instance answered {status}; retrying in {}s",
                        delay.as_secs()
                    ));
                }
                Err(err) => return Err(err),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RECONNECT_MAX);
        }
    }
}

/// How [`AdminClient::follow_events_after`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The callback asked to stop.
    Stopped,
    /// revokd closed the stream (it stopped, or a proxy timed out).
    Closed,
    /// The audit log no longer holds every event after the cursor.
    Resync,
}

/// Waits between reconnects of `audit --follow`, doubling up to the most.
const RECONNECT_MIN: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// The error body as the API documents it, or the status and raw text.
fn refused(status: u16, body: &str) -> AdminError {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    match (
        parsed["error"].as_str(),
        parsed["error_description"].as_str(),
    ) {
        (Some(error), description) => AdminError::Refused {
            status,
            error: error.to_owned(),
            description: description.unwrap_or("(no description)").to_owned(),
        },
        _ => AdminError::Refused {
            status,
            error: "unexpected".into(),
            description: if body.trim().is_empty() {
                "(empty body)".into()
            } else {
                body.trim().chars().take(200).collect()
            },
        },
    }
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The body of the subject endpoints.
pub fn subject_body(iss: &str, sub: &str, reason: Option<&str>) -> Value {
    json!({"iss": iss, "sub": sub, "reason": reason})
}

/// What an audit event is about, in one cell.
fn target(event: &Value) -> String {
    let field = |name: &str| event[name].as_str().unwrap_or_default().to_owned();
    if let Some(jti) = event["jti"].as_str() {
        return format!("jti={jti}");
    }
    if let Some(jtis) = event["jtis"].as_array() {
        return format!("{} token ids", jtis.len());
    }
    let mut parts = Vec::new();
    for name in ["iss", "sub", "sid"] {
        let value = field(name);
        if !value.is_empty() {
            parts.push(format!("{name}={value}"));
        }
    }
    parts.join(" ")
}

/// Audit events as table rows.
pub fn event_rows(events: &[Value]) -> Vec<Vec<String>> {
    events
        .iter()
        .map(|e| {
            vec![
                cell(&e["id"]),
                cell(&e["at"]),
                cell(&e["kind"]),
                target(e),
                cell(&e["actor"]),
                cell(&e["reason"]),
            ]
        })
        .collect()
}

pub const EVENT_HEADERS: [&str; 6] = ["ID", "AT", "KIND", "TARGET", "ACTOR", "REASON"];

/// A subject's registrations (`GET /v1/admin/subjects/sessions`) as table
/// rows.
pub fn registration_rows(registrations: &[Value]) -> Vec<Vec<String>> {
    registrations
        .iter()
        .map(|r| {
            vec![
                cell(&r["jti"]),
                cell(&r["sid"]),
                cell(&r["owner"]),
                cell(&r["registered_at"]),
                cell(&r["expires_at"]),
            ]
        })
        .collect()
}

pub const REGISTRATION_HEADERS: [&str; 5] = ["JTI", "SID", "OWNER", "REGISTERED_AT", "EXPIRES_AT"];

/// Recent logout tokens as table rows.
pub fn logout_rows(records: &[Value]) -> Vec<Vec<String>> {
    records
        .iter()
        .map(|r| {
            vec![
                cell(&r["at"]),
                cell(&r["provider"]),
                cell(&r["outcome"]),
                cell(&r["rule"]),
                cell(&r["jti"]),
                cell(&r["description"]),
            ]
        })
        .collect()
}

pub const LOGOUT_HEADERS: [&str; 6] = ["AT", "PROVIDER", "OUTCOME", "RULE", "JTI", "DESCRIPTION"];

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Left-aligned columns, two spaces apart, headers first.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_becomes_one_line() {
        let err = refused(
            401,
            r#"{"error":"unauthorized","error_description":"an admin key is required"}"#,
        );
        assert_eq!(
            err.to_string(),
            "401: unauthorized: an admin key is required"
        );
        assert_eq!(
            refused(502, "Bad Gateway").to_string(),
            "502: unexpected: Bad Gateway"
        );
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![vec!["1".into(), "token_revoked".into()]];
        assert_eq!(
            table(&["ID", "KIND"], &rows),
            "ID  KIND\n1   token_revoked\n"
        );
    }

    #[test]
    fn the_key_comes_from_a_file_or_the_environment_and_is_never_empty() {
        assert_eq!(read_key(None, Some(" k \n".into())).unwrap(), "k");
        assert!(matches!(read_key(None, None), Err(AdminError::NoKey)));
        assert!(matches!(
            read_key(None, Some("  ".into())),
            Err(AdminError::NoKey)
        ));
        assert!(matches!(
            read_key(
                Some(std::path::Path::new("/nonexistent/key")),
                Some("k".into())
            ),
            Err(AdminError::KeyFile { .. })
        ));
    }
}
