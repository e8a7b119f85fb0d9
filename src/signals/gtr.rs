//! Global Token Revocation (draft-parecki-oauth-global-token-revocation),
//! as Okta's Universal Logout calls it: a caller token signed by the
//! provider, a `sub_id`, and every token of that person issued until now
//! revoked.

use super::*;

impl SignalReceiver {
    /// Global Token Revocation: judges the caller's `bearer` JWT (signed by
    /// provider `name`'s keys, its issuer, our audience, within its
    /// lifetime) and revokes every token of the `sub_id` in `body` issued
    /// until now.
    ///
    /// # Errors
    /// Unknown caller, a refused caller token, a malformed body or an
    /// unmappable subject, keys or store unavailable.
    pub async fn global_token_revocation(
        &self,
        name: &str,
        bearer: Option<&str>,
        body: &[u8],
        now: UnixTime,
    ) -> Result<Outcome, SignalError> {
        let result = self.judge_gtr(name, bearer, body, now).await;
        let provider = if self.has_caller(name) {
            name
        } else {
            "unknown"
        };
        let (outcome, rule) = match &result {
            Ok(Outcome::Replayed) => ("replayed", ""),
            Ok(_) => ("applied", ""),
            Err(err @ (SignalError::KeysUnavailable(_) | SignalError::Store(_))) => {
                ("unavailable", err.rule())
            }
            Err(err) => ("rejected", err.rule()),
        };
        match &result {
            Ok(_) => tracing::info!(provider, "global token revocation applied"),
            Err(err) => tracing::warn!(provider, rule, "global token revocation refused: {err}"),
        }
        self.inner
            .gtr
            .with_label_values(&[provider, outcome, rule])
            .inc();
        result
    }

    async fn judge_gtr(
        &self,
        name: &str,
        bearer: Option<&str>,
        body: &[u8],
        now: UnixTime,
    ) -> Result<Outcome, SignalError> {
        let caller = self
            .inner
            .callers
            .get(name)
            .ok_or_else(|| SignalError::UnknownCaller(name.to_owned()))?;
        let bearer = bearer.ok_or(SignalError::AuthenticationFailed)?;
        let unverified = UnverifiedJwt::decode(bearer).map_err(SignalError::CallerToken)?;
        let policy = JwtPolicy {
            issuer: caller.provider.issuer.clone(),
            audiences: caller.audiences.clone(),
            allowed_algs: JwsAlg::ALL.to_vec(),
            clock_skew: self.inner.clock_skew,
            max_age: caller.max_age,
            typ: None,
            require_exp: true,
        };
        let jwt = match with_keys(&caller.provider, |keys| {
            unverified.verify(&policy, keys, now)
        })
        .await
        {
            Ok(jwt) => jwt,
            Err(SignalError::Jwt(err)) => return Err(SignalError::CallerToken(err)),
            Err(err) => return Err(err),
        };
        let sub_id = parse_gtr_body(body)?;
        let target = caller.mapping.map(&sub_id).map_err(JwtError::from)?;
        let subject = match target {
            Target::Subject(subject) => subject,
            Target::Session { .. } => {
                return Err(SignalError::BadRequest(
                    "`sub_id` must name a user, not a session".into(),
                ));
            }
        };
        let provenance = Provenance {
            actor: format!("gtr:{name}"),
            reason: note(&[("jti", Some(jwt.jti.as_ref()))]),
        };
        // Each caller token acts once: a replay of a captured one within
        // its lifetime would otherwise log the person out again after they
        // signed in anew. A new call (a new `jti`) is a new, later mark.
        self.apply(&jwt, Plan::RevokeBefore(subject), provenance, now)
            .await
    }
}

/// `{"sub_id": {...}}` (draft-parecki-oauth-global-token-revocation §2.1).
///
/// # Errors
/// Not a JSON object with a `sub_id` subject identifier.
pub fn parse_gtr_body(body: &[u8]) -> Result<SubjectIdentifier, SignalError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| SignalError::BadRequest(format!("the body is not JSON: {e}")))?;
    let sub_id = value
        .get("sub_id")
        .ok_or_else(|| SignalError::BadRequest("the body has no `sub_id`".into()))?;
    SubjectIdentifier::from_json(sub_id).map_err(|e| SignalError::Jwt(JwtError::Subject(e)))
}
