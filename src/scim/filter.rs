//! The one filter form provisioning clients send to look a user up
//! (RFC 7644 §3.4.2.2): `<attribute> eq "<value>"`, on `userName`,
//! `externalId` or `id`. Anything else is `invalidFilter`, so a client is
//! never answered as if its filter had been applied when it was not.

use super::error::ScimError;
use crate::providers::scim_settings::USER_SCHEMA;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    UserName(String),
    ExternalId(String),
    Id(String),
}

/// Reads `filter`.
///
/// # Errors
/// `invalidFilter`: another operator, attribute, a logical expression, a
/// value that is not a JSON string.
pub fn parse(filter: &str) -> Result<Filter, ScimError> {
    let bad = |why: &str| {
        ScimError::InvalidFilter(format!(
            "{why}: revokd understands `userName eq \"…\"`, `externalId eq \"…\"` and `id eq \"…\"`"
        ))
    };
    let filter = filter.trim();
    let (attribute, rest) = filter
        .split_once(char::is_whitespace)
        .ok_or_else(|| bad("not `<attribute> eq \"<value>\"`"))?;
    let (op, value) = rest
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or_else(|| bad("not `<attribute> eq \"<value>\"`"))?;
    if !op.eq_ignore_ascii_case("eq") {
        return Err(bad(&format!("operator `{op}` is not supported")));
    }
    let value = value.trim();
    if !value.starts_with('"') {
        return Err(bad("the value must be a string in double quotes"));
    }
    // A JSON string literal, escapes and all; anything after it (`and`,
    // `or`, a second quote) fails here.
    let value: String = serde_json::from_str(value).map_err(|_| {
        bad("the value is not one JSON string (logical operators are not supported)")
    })?;
    let attribute = attribute
        .strip_prefix(USER_SCHEMA)
        .and_then(|a| a.strip_prefix(':'))
        .unwrap_or(attribute);
    match attribute {
        a if a.eq_ignore_ascii_case("userName") => Ok(Filter::UserName(value)),
        a if a.eq_ignore_ascii_case("externalId") => Ok(Filter::ExternalId(value)),
        a if a.eq_ignore_ascii_case("id") => Ok(Filter::Id(value)),
        a => Err(bad(&format!("attribute `{a}` cannot be filtered on"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookups_providers_send_are_read() {
        assert_eq!(
            parse("userName eq \"alice@example.com\"").unwrap(),
            Filter::UserName("alice@example.com".into())
        );
        assert_eq!(
            parse("externalId EQ \"a \\\"quoted\\\" one\"").unwrap(),
            Filter::ExternalId("a \"quoted\" one".into())
        );
        assert_eq!(
            parse("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"x\"").unwrap(),
            Filter::UserName("x".into())
        );
        assert_eq!(parse("  id   eq  \"1\" ").unwrap(), Filter::Id("1".into()));
    }

    #[test]
    fn everything_else_is_an_invalid_filter() {
        for f in [
            "",
            "userName",
            "userName eq",
            "userName co \"a\"",
            "userName eq a",
            "userName eq \"a\" and active eq true",
            "active eq true",
            "emails.value eq \"a\"",
            "userName eq \"a",
            "displayName eq \"a\"",
        ] {
            let err = parse(f).unwrap_err();
            assert_eq!(err.scim_type(), Some("invalidFilter"), "{f}");
        }
    }
}
