//! RFC 8936 poll delivery: revokd long-polls a stream's transmitter, applies
//! each SET as if pushed, and acknowledges it only once its change is
//! durable; refused SETs go back in `setErrs`, and SETs the keys or the
//! store could not judge stay unacknowledged, so they come again (the
//! replay marker keeps a redelivery from applying twice).

use super::*;

/// RFC 8936 poll delivery of one stream: where and how revokd polls.
pub(super) struct Poller {
    url: String,
    token: secrecy::SecretString,
    max_events: usize,
    retry: std::time::Duration,
    http: reqwest::Client,
}

impl Poller {
    pub(super) fn from_settings(i: usize, s: &StreamSettings) -> Result<Option<Self>, ConfigError> {
        let (Some(url), Some(path)) = (&s.poll_url, &s.poll_token_file) else {
            return Ok(None);
        };
        let at = format!("streams[{i}].poll_token_file");
        let bytes = crate::config::secret_file::read_secret_file(&at, path)?;
        let token = String::from_utf8(bytes)
            .map_err(|_| ConfigError::invalid(&at, "the token is not UTF-8 text"))?;
        let http = reqwest::Client::builder()
            .timeout(s.poll_timeout)
            .connect_timeout(s.poll_timeout.min(std::time::Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("revokd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::invalid(format!("streams[{i}].poll_url"), e.to_string()))?;
        Ok(Some(Self {
            url: url.clone(),
            token: secrecy::SecretString::from(token.trim().to_owned()),
            max_events: s.poll_max_events,
            retry: s.poll_retry_interval,
            http,
        }))
    }
}

/// A poll response (RFC 8936 §2.5).
#[derive(Debug, serde::Deserialize)]
struct PollResponse {
    sets: serde_json::Map<String, Value>,
    #[serde(default, rename = "moreAvailable")]
    more_available: bool,
}

/// What one poll returned, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// SETs acknowledged in the next request (applied, replayed or
    /// acknowledged without a change).
    pub acked: usize,
    /// SETs reported in `setErrs`.
    pub refused: usize,
    /// SETs neither acknowledged nor refused (keys or store unavailable):
    /// the transmitter delivers them again.
    pub retried: usize,
}

impl SignalReceiver {
    /// Polls every stream with a `poll_url` until `cancel` (RFC 8936).
    ///
    /// A SET is acknowledged (`ack`, in the next request) only after its
    /// change is durable; a refused one is reported in `setErrs`; one that
    /// could not be judged now (keys, store) is left unacknowledged, so the
    /// transmitter delivers it again. A restart loses only unsent acks:
    /// the transmitter redelivers those SETs, and the replay marker keeps
    /// them from applying twice.
    pub fn spawn_polling(
        &self,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.inner
            .streams
            .values()
            .filter(|stream| stream.poller.is_some())
            .map(|stream| {
                let receiver = self.clone();
                let name = stream.name.clone();
                let cancel = cancel.clone();
                tokio::spawn(async move { receiver.poll_loop(&name, &cancel).await })
            })
            .collect()
    }

    async fn poll_loop(&self, name: &str, cancel: &tokio_util::sync::CancellationToken) {
        let Some(stream) = self.inner.streams.get(name) else {
            return;
        };
        let Some(poller) = &stream.poller else {
            return;
        };
        let mut ack: Vec<String> = Vec::new();
        let mut errs = serde_json::Map::new();
        loop {
            let request = serde_json::json!({
                "maxEvents": poller.max_events,
                "returnImmediately": false,
                "ack": ack,
                "setErrs": errs,
            });
            let result = tokio::select! {
                () = cancel.cancelled() => return,
                result = self.poll_once(stream, poller, &request) => result,
            };
            let wait = match result {
                Ok((response, report)) => {
                    // Sent: the transmitter has these now.
                    ack = response.0;
                    errs = response.1;
                    *stream
                        .poll_error
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                    tracing::debug!(stream = name, ?report, "SSF poll");
                    // Long polls back to back (the transmitter holds each
                    // until it has SETs, and `moreAvailable` needs no wait);
                    // after SETs that could not be judged, a pause.
                    if report.retried > 0 {
                        Some(poller.retry)
                    } else {
                        None
                    }
                }
                Err(err) => {
                    tracing::warn!(stream = name, error = %err, "SSF poll failed");
                    *stream
                        .poll_error
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(err);
                    Some(poller.retry)
                }
            };
            if let Some(wait) = wait {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }

    /// One poll request; on success, the acks and errors for the next one.
    async fn poll_once(
        &self,
        stream: &Stream,
        poller: &Poller,
        request: &Value,
    ) -> Result<((Vec<String>, serde_json::Map<String, Value>), PollReport), String> {
        use secrecy::ExposeSecret;
        let response = poller
            .http
            .post(&poller.url)
            .bearer_auth(poller.token.expose_secret())
            .json(request)
            .send()
            .await
            .map_err(|e| format!("POST {}: {}", poller.url, e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!(
                "POST {}: status {}",
                poller.url,
                response.status().as_u16()
            ));
        }
        let body: PollResponse = response.json().await.map_err(|e| {
            format!(
                "POST {}: not a poll response: {}",
                poller.url,
                e.without_url()
            )
        })?;
        let mut ack = Vec::new();
        let mut errs = serde_json::Map::new();
        let mut report = PollReport::default();
        for (jti, token) in body.sets {
            let now = UnixTime::now();
            let mut event = "unknown";
            let result = match token.as_str() {
                Some(token) => self.judge_set(stream, token, now, &mut event).await,
                None => Err(SignalError::BadRequest("the SET is not a string".into())),
            };
            self.count(&stream.name, event, &result, now);
            match result {
                Ok(_) => {
                    ack.push(jti);
                    report.acked += 1;
                }
                Err(SignalError::KeysUnavailable(_) | SignalError::Store(_)) => report.retried += 1,
                Err(err) => {
                    let (code, description) = match &err {
                        SignalError::Jwt(jwt) => {
                            (jwt.set_error_code(), format!("{}: {jwt}", jwt.rule()))
                        }
                        other => ("invalid_request", other.to_string()),
                    };
                    errs.insert(
                        jti,
                        serde_json::json!({"err": code, "description": description}),
                    );
                    report.refused += 1;
                }
            }
        }
        if body.more_available {
            tracing::debug!(stream = %stream.name, "SSF poll: more SETs available");
        }
        Ok(((ack, errs), report))
    }
}
