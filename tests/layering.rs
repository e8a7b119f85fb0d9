//! The import order written in `src/lib.rs` (`# Layout`), enforced.
//!
//! The Layout puts every module of the crate on a floor; a module may
//! import only modules on lower floors. This test reads that list, reads
//! every `crate::…` path in the code under `src/` (single `use` lines,
//! multi-line `use crate::{…}` blocks and paths written inline, test code
//! included; comments are skipped), and fails on an import that runs
//! sideways or up. A module missing from the Layout fails too, so the list
//! cannot fall behind the code again.
//!
//! Known exceptions are listed in [`EXCEPTIONS`], each with its reason; an
//! exception that is no longer needed fails the test as well, so that it is
//! removed together with its cause.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Imports against the order that are known, and the reason for each:
/// `(file, imported module, reason)`.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The floor of each module, as `src/lib.rs` lists them: a line
/// `//! Floor N…` opens floor N, and each `//! - [`module`]…` below it
/// puts that module on it.
fn floors(lib_rs: &str) -> BTreeMap<String, usize> {
    let mut floors = BTreeMap::new();
    let mut floor = None;
    for line in lib_rs.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim();
        if let Some(rest) = doc.strip_prefix("Floor ") {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            floor = Some(digits.parse::<usize>().expect("a floor number"));
        } else if let (Some(floor), Some(rest)) = (floor, doc.strip_prefix("- [`")) {
            let name = rest.split('`').next().unwrap_or_default();
            floors.insert(name.to_owned(), floor);
        }
    }
    floors
}

/// The modules `src/lib.rs` declares (`pub mod x;`, `mod x;`).
fn declared(lib_rs: &str) -> BTreeSet<String> {
    lib_rs
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("mod "))?;
            Some(rest.trim_end_matches(';').to_owned())
        })
        .collect()
}

/// The module a file under `src/` belongs to, in the Layout's terms:
/// `src/store/redis/feed.rs` → `store`, `src/config/error.rs` →
/// `config::error` (each file of `config/` but `mod.rs` and its `tests.rs`
/// sits on a floor of its own, below the settings types that use it). `None` for `lib.rs` and
/// `main.rs`.
fn module_of(relative: &Path) -> Option<String> {
    let parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [only] if only == "lib" || only == "main" => None,
        // The tests of `config/mod.rs` are part of it.
        [config, sub] if config == "config" && sub != "mod" && sub != "tests" => {
            Some(format!("config::{sub}"))
        }
        [first, ..] => Some(first.clone()),
        [] => None,
    }
}

/// The module a `crate::` path names, with the files of `config/` (see
/// [`module_of`]) told apart from the rest of `config`.
fn target(path: &str) -> Option<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let first = ident(path);
    if first.is_empty() || first == "self" {
        return None;
    }
    if first == "config" {
        let second = ident(path[first.len()..].trim_start_matches("::"));
        if !second.is_empty() && src().join("config").join(format!("{second}.rs")).is_file() {
            return Some(format!("config::{second}"));
        }
    }
    Some(first)
}

/// Every module of the crate the source refers to through `crate::`.
fn imports(source: &str) -> BTreeSet<String> {
    // Comments, doc comments included, are not imports.
    let code: String = source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(|line| format!("{line}\n"))
        .collect();
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::X, b::{Y, Z}, c};`: the first name of each
            // item at the top level of the braces.
            let mut depth = 0usize;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start => {
                        item_start = false;
                        found.extend(target(&group[i..]));
                    }
                    _ => {}
                }
            }
        } else {
            found.extend(target(rest));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(file, importer, imported)` for every import that is not to a lower
/// floor; a module missing from the Layout is reported as an error.
fn violations(floors: &BTreeMap<String, usize>) -> Result<Vec<(String, String, String)>, String> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap();
        let Some(module) = module_of(relative) else {
            continue;
        };
        let shown = format!("src/{}", relative.display());
        let floor = *floors
            .get(&module)
            .ok_or_else(|| format!("{shown}: module `{module}` is not in the Layout"))?;
        let source = std::fs::read_to_string(&file).unwrap();
        for imported in imports(&source) {
            if imported == module {
                continue;
            }
            let their = *floors.get(&imported).ok_or_else(|| {
                format!("{shown} imports `{imported}`, which is not in the Layout")
            })?;
            if their >= floor {
                found.push((shown.clone(), module.clone(), imported));
            }
        }
    }
    Ok(found)
}

#[test]
fn every_module_imports_only_modules_on_lower_floors() {
    let lib_rs = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let floors = floors(&lib_rs);
    let listed: BTreeSet<String> = floors
        .keys()
        .filter(|m| !m.contains("::"))
        .cloned()
        .collect();
    assert_eq!(
        listed,
        declared(&lib_rs),
        "the Layout of src/lib.rs must list exactly the modules lib.rs declares"
    );

    let found = violations(&floors).unwrap_or_else(|e| panic!("{e}"));
    let excused = |file: &str, imported: &str| {
        EXCEPTIONS
            .iter()
            .any(|(f, m, _)| *f == file && *m == imported)
    };
    let against: Vec<String> = found
        .iter()
        .filter(|(file, _, imported)| !excused(file, imported))
        .map(|(file, module, imported)| {
            format!(
                "{file}: `{module}` (floor {}) imports `{imported}` (floor {})",
                floors[module], floors[imported]
            )
        })
        .collect();
    assert!(
        against.is_empty(),
        "imports against the order of src/lib.rs `# Layout`:\n{}",
        against.join("\n")
    );

    let stale: Vec<&str> = EXCEPTIONS
        .iter()
        .filter(|(f, m, _)| !found.iter().any(|(file, _, i)| file == f && i == m))
        .map(|(f, _, _)| *f)
        .collect();
    assert!(
        stale.is_empty(),
        "exceptions no longer needed, remove them: {stale:?}"
    );
}

#[test]
fn the_reader_finds_single_grouped_and_inline_paths_and_skips_comments() {
    let source = r#"
//! See [`crate::http`] (a comment, not an import).
use crate::domain::Issuer;
use crate::{
    config::error::ConfigError,
    store::{self, Store},
    metrics,
};
fn f() -> crate::jwt::Claims { todo!() }
// use crate::startup;
"#;
    let expected: BTreeSet<String> = ["config::error", "domain", "jwt", "metrics", "store"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(imports(source), expected);
    assert_eq!(
        target("config::Settings").as_deref(),
        Some("config"),
        "the rest of config is not config::error"
    );
}

#[test]
fn the_layout_reader_assigns_floors_and_modules_to_files() {
    let lib_rs = "//! # Layout\n//!\n//! Floor 0, first:\n//! - [`domain`]: x.\n//! - [`config::error`]: y.\n//!\n//! Floor 3:\n//! - [`store`]: z.\n\npub mod domain;\n";
    let floors = floors(lib_rs);
    assert_eq!(floors.get("domain"), Some(&0));
    assert_eq!(floors.get("config::error"), Some(&0));
    assert_eq!(floors.get("store"), Some(&3));
    assert_eq!(floors.len(), 3);
    assert_eq!(
        module_of(Path::new("store/redis/feed.rs")).as_deref(),
        Some("store")
    );
    assert_eq!(
        module_of(Path::new("config/error.rs")).as_deref(),
        Some("config::error")
    );
    assert_eq!(
        module_of(Path::new("config/mod.rs")).as_deref(),
        Some("config")
    );
    assert_eq!(module_of(Path::new("lib.rs")), None);
}
