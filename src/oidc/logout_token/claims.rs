//! The claim rules of a logout token (§2.4, §2.6 steps 4–7), checked
//! after its signature: `iss`, `aud`, the times ([`check_times`]), `jti`,
//! `events`, `sub`/`sid` and `nonce`, one [`LogoutTokenError`] variant per
//! rule.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{BACKCHANNEL_LOGOUT_EVENT, LogoutTokenPolicy, VerifiedLogoutToken};
use crate::domain::{SessionId, SubjectId, TokenId, UnixTime};
use crate::oidc::error::LogoutTokenError;

pub(super) fn check_claims(
    claims: &Map<String, Value>,
    policy: &LogoutTokenPolicy,
    now: UnixTime,
    was_encrypted: bool,
) -> Result<VerifiedLogoutToken, LogoutTokenError> {
    // `iss`: exact match (OIDC Core §3.1.3.7 step 2).
    let iss = match claims.get("iss") {
        Some(Value::String(iss)) if iss == policy.issuer.as_ref() => policy.issuer.clone(),
        Some(Value::String(_)) | None => return Err(LogoutTokenError::IssuerMismatch),
        Some(_) => return Err(LogoutTokenError::InvalidClaim { claim: "iss" }),
    };

    // `aud`: a string or an array of strings (RFC 7519 §4.1.3) naming us and
    // no one we do not trust (OIDC Core §3.1.3.7 step 3).
    let aud: Vec<&str> = match claims.get("aud") {
        None => return Err(LogoutTokenError::AudienceMismatch),
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(values)) => values
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or(LogoutTokenError::InvalidClaim { claim: "aud" })?,
        Some(_) => return Err(LogoutTokenError::InvalidClaim { claim: "aud" }),
    };
    let ours = |a: &&str| policy.client_ids.iter().any(|c| c == a);
    if !aud.iter().any(ours) {
        return Err(LogoutTokenError::AudienceMismatch);
    }
    if !aud
        .iter()
        .all(|a| ours(a) || policy.trusted_audiences.iter().any(|t| t == a))
    {
        return Err(LogoutTokenError::UntrustedAudience);
    }

    let iat = numeric_date(claims.get("iat"), "iat")?;
    let exp = numeric_date(claims.get("exp"), "exp")?;
    let (iat, accepted_until) = check_times(iat, exp, now, policy)?;

    let jti = match claims.get("jti") {
        None => return Err(LogoutTokenError::MissingJti),
        Some(value) => identifier(value, "jti", TokenId::parse)?,
    };

    // `events` (§2.4, §2.6 step 6): an object whose back-channel-logout
    // member is a JSON object. It SHOULD be `{}`; other members are ignored.
    match claims.get("events") {
        Some(Value::Object(events))
            if events
                .get(BACKCHANNEL_LOGOUT_EVENT)
                .is_some_and(Value::is_object) => {}
        _ => return Err(LogoutTokenError::BadEvents),
    }

    // `sub` and/or `sid` (§2.4, §2.6 step 5).
    let sub = claims
        .get("sub")
        .map(|v| identifier(v, "sub", SubjectId::parse))
        .transpose()?;
    let sid = claims
        .get("sid")
        .map(|v| identifier(v, "sid", SessionId::parse))
        .transpose()?;
    if sub.is_none() && sid.is_none() {
        return Err(LogoutTokenError::MissingSubAndSid);
    }

    // `nonce` (§2.4, §2.6 step 7): present at all, even `null`, is refused.
    if claims.contains_key("nonce") {
        return Err(LogoutTokenError::NonceForbidden);
    }

    Ok(VerifiedLogoutToken {
        iss,
        sub,
        sid,
        jti,
        iat,
        exp: exp.map(UnixTime::from_secs),
        accepted_until,
        was_encrypted,
    })
}

fn identifier<T, E>(
    value: &Value,
    claim: &'static str,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> Result<T, LogoutTokenError> {
    match value {
        Value::String(s) => parse(s.clone()).map_err(|_| LogoutTokenError::InvalidClaim { claim }),
        _ => Err(LogoutTokenError::InvalidClaim { claim }),
    }
}

/// A JWT NumericDate (RFC 7519 §2): a JSON number of seconds, possibly with
/// a fraction, which is dropped. Out-of-range values saturate.
fn numeric_date(
    value: Option<&Value>,
    claim: &'static str,
) -> Result<Option<i64>, LogoutTokenError> {
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(Some(if let Some(i) = n.as_i64() {
            i
        } else if n.is_u64() {
            i64::MAX
        } else {
            // `as` saturates; JSON has no NaN or infinity.
            n.as_f64().map_or(0, |f| f.floor() as i64)
        })),
        Some(_) => Err(LogoutTokenError::InvalidClaim { claim }),
    }
}

/// Every time rule, in one place (§2.6 step 4; OIDC Core §3.1.3.7 steps
/// 9–10; RFC 7519 §4.1.4, §4.1.6). With `skew` the clock tolerance and
/// `max_age` the policy's oldest acceptable `iat`:
///
/// - `iat` must be present and `iat <= now + skew`;
/// - `iat >= now - max_age - skew`;
/// - `exp`, when present, must satisfy `now < exp + skew` (skew widens
///   acceptance); when absent, the policy may refuse the token.
///
/// On success returns `iat` and the first instant at which the token would
/// be refused on time grounds: a replay cache must remember its `jti` until
/// then.
///
/// # Errors
/// [`LogoutTokenError::MissingIat`], [`IssuedInFuture`](LogoutTokenError::IssuedInFuture),
/// [`TooOld`](LogoutTokenError::TooOld), [`Expired`](LogoutTokenError::Expired)
/// or [`MissingExp`](LogoutTokenError::MissingExp).
pub fn check_times(
    iat: Option<i64>,
    exp: Option<i64>,
    now: UnixTime,
    policy: &LogoutTokenPolicy,
) -> Result<(UnixTime, UnixTime), LogoutTokenError> {
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let skew = secs(policy.clock_skew);
    let max_age = secs(policy.max_age);
    let now = now.as_secs();

    let iat = iat.ok_or(LogoutTokenError::MissingIat)?;
    if iat > now.saturating_add(skew) {
        return Err(LogoutTokenError::IssuedInFuture);
    }
    if iat < now.saturating_sub(max_age).saturating_sub(skew) {
        return Err(LogoutTokenError::TooOld);
    }
    let mut until = iat
        .saturating_add(max_age)
        .saturating_add(skew)
        .saturating_add(1);
    match exp {
        Some(exp) => {
            let deadline = exp.saturating_add(skew);
            if now >= deadline {
                return Err(LogoutTokenError::Expired);
            }
            until = until.min(deadline);
        }
        None if policy.require_exp => return Err(LogoutTokenError::MissingExp),
        None => {}
    }
    Ok((UnixTime::from_secs(iat), UnixTime::from_secs(until)))
}
