//! The original request's path, normalised the way the app behind the
//! gateway will see it, so that a skip rule cannot be bypassed with
//! `/auth/../api/…`, `//api`, or percent-encoded dots.

/// A normalised absolute path: percent-decoded, without `.`/`..` segments
/// or empty segments. Built only by [`OriginalPath::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalPath(String);

/// Longest original URI considered; longer ones match no rule.
const MAX_URI_LEN: usize = 8192;

impl OriginalPath {
    /// Parses a request target as gateways report it (`/path?query`, or an
    /// absolute `http(s)://host/path?query`).
    ///
    /// Returns `None` for anything an app could read differently from us:
    /// a path that is not absolute, bad percent-encoding, invalid UTF-8,
    /// control characters or backslashes. Such a request matches no skip
    /// rule and no route, so it gets the default, stricter treatment.
    pub fn parse(uri: &str) -> Option<Self> {
        if uri.len() > MAX_URI_LEN {
            return None;
        }
        let target = uri.split(['?', '#']).next().unwrap_or_default();
        let path = match target.split_once("://") {
            Some((scheme, rest))
                if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()) =>
            {
                rest.find('/').map_or("/", |at| &rest[at..])
            }
            _ => target,
        };
        if !path.starts_with('/') {
            return None;
        }
        let decoded = percent_decode(path)?;
        if decoded.chars().any(|c| c.is_control() || c == '\\') {
            return None;
        }
        let mut segments: Vec<&str> = Vec::new();
        for segment in decoded.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                other => segments.push(other),
            }
        }
        let mut normalised = String::with_capacity(decoded.len());
        for segment in &segments {
            normalised.push('/');
            normalised.push_str(segment);
        }
        // A trailing slash is kept: `/api/` is not the file `/api`.
        if segments.is_empty() || decoded.ends_with('/') {
            normalised.push('/');
        }
        Some(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `prefix` covers this path on a segment boundary: `/api`
    /// covers `/api` and `/api/x`, not `/apiary`; `/api/` covers `/api/x`.
    pub fn is_under(&self, prefix: &str) -> bool {
        let Some(rest) = self.0.strip_prefix(prefix) else {
            return false;
        };
        prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/')
    }
}

/// Decodes every `%XX`; `None` for a malformed escape or a result that is
/// not UTF-8.
fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Query parameter `name` of `uri`, percent-decoded (`+` is a space).
pub fn query_param<'a>(uri: &'a str, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    let query = uri.split_once('?')?.1.split('#').next()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(uri: &str) -> Option<String> {
        OriginalPath::parse(uri).map(|p| p.0)
    }

    #[test]
    fn normalises_like_an_app_would() {
        let cases = [
            ("/api/states", "/api/states"),
            ("/api/states?x=1#f", "/api/states"),
            ("/auth/../api/states", "/api/states"),
            ("/auth/%2e%2e/api/states", "/api/states"),
            ("/auth/%2E%2E%2Fapi/states", "/api/states"),
            ("//api///states", "/api/states"),
            ("/./api/./", "/api/"),
            ("/../../..", "/"),
            ("/", "/"),
            ("https://ha.example:8123/api/x?y", "/api/x"),
            ("http://ha.example", "/"),
            ("/caf%C3%A9", "/café"),
        ];
        for (uri, expected) in cases {
            assert_eq!(norm(uri).as_deref(), Some(expected), "{uri}");
        }
    }

    #[test]
    fn refuses_what_could_be_read_two_ways() {
        for uri in [
            "api/states",
            "",
            "/a%2",
            "/a%zz",
            "/a%ff",
            "/a%00b",
            "/a\\..\\b",
            "/a%5C..",
            "/a\nb",
            "*",
        ] {
            assert_eq!(norm(uri), None, "{uri:?}");
        }
        assert_eq!(norm(&format!("/{}", "a".repeat(MAX_URI_LEN))), None);
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        let path = OriginalPath::parse("/api/webhook/abc").unwrap();
        assert!(path.is_under("/api/webhook/"));
        assert!(path.is_under("/api/webhook"));
        assert!(path.is_under("/api"));
        assert!(path.is_under("/"));
        assert!(!path.is_under("/api/web"));
        assert!(!path.is_under("/api/webhook/abcd"));
        let file = OriginalPath::parse("/manifest.json").unwrap();
        assert!(file.is_under("/manifest.json"));
        assert!(!file.is_under("/manifest.json/"));
        assert!(!OriginalPath::parse("/apiary").unwrap().is_under("/api"));
    }

    #[test]
    fn reads_query_parameters() {
        assert_eq!(
            query_param("/api/x?a=1&authSig=t%2Bk+n", "authSig").as_deref(),
            Some("t+k n")
        );
        assert_eq!(query_param("/api/x?a=1", "authSig"), None);
        assert_eq!(query_param("/api/x", "a"), None);
        assert_eq!(query_param("/x?a=1#b=2", "b"), None);
    }
}
