//! The checks of a gateway configuration file (nginx or Caddy) that guards
//! an app with revokd: is the snippet included the safe way?
//!
//! Safe means: some request asks `/v1/forward-auth`; it presents the
//! proxy's client key (not the `{{KEY}}` placeholder); and the subject
//! header reaches the app only as revokd set it — for nginx, the snippet's
//! `proxy_set_header X-Auth-Subject` at server level and no guarded
//! location that drops it by setting headers of its own; for Caddy, the
//! client's `X-Auth-Subject` removed before revokd is asked.
//!
//! The file is read as text with its `include` / `import` files inlined
//! (relative to the file's directory or its parent, as
//! `/etc/nginx/conf.d/app.conf` includes `snippets/...`). This is a lint of
//! the shapes the deploy/ examples use, not an nginx or Caddy parser.

use std::path::{Path, PathBuf};

use super::Check;

const SUBJECT: &str = "x-auth-subject";
const KEY: &str = "x-revokd-key";

pub fn check(path: &Path) -> Vec<Check> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            return vec![Check::fail(
                "gateway file",
                format!("{}: {err}", path.display()),
                "give --gateway the nginx or Caddy file that guards the app",
            )];
        }
    };
    let base = path.parent().unwrap_or(Path::new(".")).to_owned();
    let mut missing = Vec::new();
    let text = inline(&text, &base, 0, &mut missing);
    let mut checks: Vec<Check> = missing
        .into_iter()
        .map(|name| {
            Check::warn(
                "gateway include",
                format!("cannot read included {name} next to {}", path.display()),
                "doctor follows includes relative to the file's directory or its parent",
            )
        })
        .collect();
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    let caddy = lines
        .iter()
        .any(|l| l.starts_with("reverse_proxy") || l.starts_with("forward_auth"));
    if caddy {
        checks.extend(caddy_checks(&lines));
    } else {
        checks.extend(nginx_checks(&lines));
    }
    checks
}

/// `text` with each `include FILE;` / `import FILE` replaced by the file.
fn inline(text: &str, base: &Path, depth: usize, missing: &mut Vec<String>) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        let target = trimmed
            .strip_prefix("include ")
            .map(|t| t.trim_end_matches(';').trim())
            .or_else(|| trimmed.strip_prefix("import ").map(str::trim));
        match target {
            // Caddy snippets are imported by name, without a dot.
            Some(name) if depth < 8 && name.contains('.') => {
                let candidates: Vec<PathBuf> = [Some(base), base.parent()]
                    .into_iter()
                    .flatten()
                    .map(|dir| dir.join(name))
                    .collect();
                match candidates
                    .iter()
                    .find_map(|p| std::fs::read_to_string(p).ok())
                {
                    Some(included) => {
                        out.push_str(&inline(&included, base, depth + 1, missing));
                        out.push('\n');
                    }
                    None => missing.push(name.to_owned()),
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// One nginx block: the directive that opened it and what it holds.
#[derive(Default)]
struct Block {
    kind: String,
    label: String,
    directives: Vec<String>,
}

fn nginx_checks(lines: &[String]) -> Vec<Check> {
    // Each closed block, with the stack of kinds it sat in.
    let mut closed: Vec<(Vec<String>, Block)> = Vec::new();
    let mut stack: Vec<Block> = vec![Block {
        kind: "main".into(),
        ..Block::default()
    }];
    for line in lines {
        // A line may open and close blocks (`location x { return 404; }`).
        let mut rest = line.as_str();
        while !rest.is_empty() {
            let open = rest.find('{');
            let close = rest.find('}');
            match (open, close) {
                (Some(o), c) if c.is_none_or(|c| o < c) => {
                    let head = rest[..o].trim();
                    let mut words = head.split_whitespace();
                    let kind = words.next().unwrap_or("").to_owned();
                    let label = words.collect::<Vec<_>>().join(" ");
                    stack.push(Block {
                        kind,
                        label,
                        directives: Vec::new(),
                    });
                    rest = &rest[o + 1..];
                }
                (_, Some(c)) => {
                    push_directives(&mut stack, &rest[..c]);
                    if stack.len() > 1 {
                        let block = stack.pop().expect("more than one block");
                        let kinds = stack.iter().map(|b| b.kind.clone()).collect();
                        closed.push((kinds, block));
                    }
                    rest = &rest[c + 1..];
                }
                _ => {
                    push_directives(&mut stack, rest);
                    rest = "";
                }
            }
        }
    }
    let sets = |d: &str, header: &str| {
        let lower = d.to_ascii_lowercase();
        lower.starts_with("proxy_set_header") && lower.split_whitespace().nth(1) == Some(header)
    };
    let mut checks = Vec::new();

    let asks: Vec<&Block> = closed
        .iter()
        .map(|(_, b)| b)
        .filter(|b| {
            b.kind == "location"
                && b.directives
                    .iter()
                    .any(|d| d.starts_with("proxy_pass") && d.contains("/v1/forward-auth"))
        })
        .collect();
    if asks.is_empty() {
        checks.push(Check::fail(
            "gateway:nginx forward_auth",
            "no location passes to revokd's /v1/forward-auth",
            "include deploy/nginx/revokd-auth.conf in the server block",
        ));
    } else {
        checks.push(Check::ok(
            "gateway:nginx forward_auth",
            format!("location {} asks revokd", asks[0].label),
        ));
        let key = asks[0].directives.iter().find(|d| sets(d, KEY));
        checks.push(match key {
            Some(d) if d.contains("{{KEY}}") => Check::fail(
                "gateway:nginx key",
                "X-Revokd-Key is still the {{KEY}} placeholder",
                "put the proxy's client key ([[keys]] role = \"client\") in place of {{KEY}}",
            ),
            Some(_) => Check::ok("gateway:nginx key", "X-Revokd-Key is set"),
            None => Check::fail(
                "gateway:nginx key",
                "the auth location sends no X-Revokd-Key",
                "add `proxy_set_header X-Revokd-Key \"<client key>\";` to it",
            ),
        });
    }

    let guarded: Vec<&Block> = closed
        .iter()
        .map(|(_, b)| b)
        .filter(|b| {
            b.kind == "location"
                && b.directives
                    .iter()
                    .any(|d| d.starts_with("auth_request ") && !d.contains(" off"))
        })
        .collect();
    if guarded.is_empty() {
        checks.push(Check::fail(
            "gateway:nginx guarded",
            "no location has `auth_request`",
            "put `auth_request /_revokd/auth;` in each location to guard",
        ));
    } else {
        checks.push(Check::ok(
            "gateway:nginx guarded",
            format!("{} location(s) with auth_request", guarded.len()),
        ));
    }

    let servers_setting_subject = closed
        .iter()
        .filter(|(_, b)| b.kind == "server" && b.directives.iter().any(|d| sets(d, SUBJECT)))
        .count();
    let location_dropping = guarded.iter().find(|b| {
        b.directives
            .iter()
            .any(|d| d.starts_with("proxy_set_header"))
            && !b.directives.iter().any(|d| sets(d, SUBJECT))
    });
    checks.push(match (servers_setting_subject, location_dropping) {
        (0, _) => Check::fail(
            "gateway:nginx subject_header",
            "no server block sets X-Auth-Subject from revokd's answer: a client's own X-Auth-Subject reaches the app",
            "include revokd-auth.conf at server level, never inside a location",
        ),
        (_, Some(block)) => Check::fail(
            "gateway:nginx subject_header",
            format!(
                "location {} sets its own proxy_set_header, which drops the server-level X-Auth-Subject there",
                block.label
            ),
            "move its proxy_set_header lines to server level, or repeat the four X-Auth-* lines in it",
        ),
        _ => Check::ok(
            "gateway:nginx subject_header",
            "X-Auth-Subject is set by revokd's answer at server level",
        ),
    });
    checks
}

fn push_directives(stack: &mut [Block], text: &str) {
    let block = stack.last_mut().expect("the main block is never popped");
    for directive in text.split(';') {
        let directive = directive.trim();
        if !directive.is_empty() {
            block.directives.push(directive.to_owned());
        }
    }
}

fn caddy_checks(lines: &[String]) -> Vec<Check> {
    let lower: Vec<String> = lines.iter().map(|l| l.to_ascii_lowercase()).collect();
    let mut checks = Vec::new();
    checks.push(if lower.iter().any(|l| l.contains("/v1/forward-auth")) {
        Check::ok(
            "gateway:caddy forward_auth",
            "requests ask revokd's /v1/forward-auth",
        )
    } else {
        Check::fail(
            "gateway:caddy forward_auth",
            "nothing asks revokd's /v1/forward-auth",
            "import deploy/caddy/revokd-auth.caddy and `import revokd_auth` in the site",
        )
    });
    let key = lines.iter().find(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("header_up") && l.split_whitespace().nth(1) == Some(KEY)
    });
    checks.push(match key {
        Some(l) if l.contains("{{KEY}}") => Check::fail(
            "gateway:caddy key",
            "X-Revokd-Key is still the {{KEY}} placeholder",
            "put the proxy's client key ([[keys]] role = \"client\") in place of {{KEY}}",
        ),
        Some(_) => Check::ok("gateway:caddy key", "X-Revokd-Key is set"),
        None => Check::fail(
            "gateway:caddy key",
            "no `header_up X-Revokd-Key`",
            "add `header_up X-Revokd-Key \"<client key>\"` to the reverse_proxy that asks revokd",
        ),
    });
    checks.push(
        if lower
            .iter()
            .any(|l| l.starts_with("request_header") && l.contains(&format!("-{SUBJECT}")))
        {
            Check::ok(
                "gateway:caddy subject_header",
                "a client's X-Auth-Subject is removed before revokd is asked",
            )
        } else {
            Check::fail(
                "gateway:caddy subject_header",
                "a client's own X-Auth-Subject is not removed: it reaches the app",
                "add `request_header -X-Auth-Subject` before the reverse_proxy to revokd (as revokd-auth.caddy does)",
            )
        },
    );
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn statuses(text: &str) -> Vec<(String, Status)> {
        let dir = tempfile_dir();
        let path = dir.join("site.conf");
        std::fs::write(&path, text).unwrap();
        let result = check(&path)
            .into_iter()
            .map(|c| (c.check, c.status))
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    fn tempfile_dir() -> PathBuf {
        let mut bytes = [0u8; 8];
        openssl::rand::rand_bytes(&mut bytes).unwrap();
        let dir = std::env::temp_dir().join(format!("revokd-doctor-{}", hex::encode(bytes)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const AUTH: &str = "location = /_revokd/auth { internal; proxy_pass http://revokd/v1/forward-auth; proxy_set_header X-Revokd-Key \"k\"; }";

    #[test]
    fn a_location_with_its_own_headers_loses_the_subject_header() {
        let good = format!(
            "server {{ proxy_set_header X-Auth-Subject $revokd_subject;\n{AUTH}\nlocation / {{ auth_request /_revokd/auth; proxy_pass http://app; }} }}"
        );
        assert!(statuses(&good).iter().all(|(_, s)| *s == Status::Ok));
        let bad = format!(
            "server {{ proxy_set_header X-Auth-Subject $revokd_subject;\n{AUTH}\nlocation / {{ auth_request /_revokd/auth; proxy_set_header Host $host; }} }}"
        );
        assert!(statuses(&bad).contains(&("gateway:nginx subject_header".into(), Status::Fail)));
    }
}
