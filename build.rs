//! Records which source revision a binary was built from, for `revokd --version`.
//!
//! The revision is `GIT_REVISION` when the build sets it (a container build
//! whose context has no `.git`: `--build-arg GIT_REVISION=$(git rev-parse
//! --short=12 HEAD)`), else `git rev-parse --short=12 HEAD` with `-dirty` when
//! tracked files differ from it, else `unknown`: a build without git or
//! without `.git` must still succeed. Not a `REVOKD_*` name, because revokd
//! reads every `REVOKD_*` variable at run time as configuration.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GIT_REVISION");
    // What can change the answer. Naming any path turns off Cargo's default
    // (re-run on any file of the package), so the sources are named too: an
    // edit to a tracked file must turn `-dirty` on.
    for path in [
        "build.rs",
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "config",
        "openapi",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    for path in git_state_files() {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rustc-env=BUILD_GIT_REVISION={}", revision());
}

fn revision() -> String {
    if let Ok(given) = std::env::var("GIT_REVISION") {
        let given = given.trim();
        if !given.is_empty() {
            return given.to_owned();
        }
    }
    let Some(head) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".to_owned();
    };
    // Exit status 1: tracked files differ from HEAD (untracked files do not
    // count, as they are not part of the build unless added).
    let clean = Command::new("git")
        .args(["diff-index", "--quiet", "HEAD", "--"])
        .status()
        .map(|status| status.success())
        .unwrap_or(false);
    if clean { head } else { format!("{head}-dirty") }
}

/// The files git changes when HEAD moves or the index changes: HEAD itself,
/// the branch it points to, packed refs and the index. Worktrees keep HEAD
/// and the index apart from the shared refs; `--git-path` knows where.
fn git_state_files() -> Vec<String> {
    let mut names = vec![
        "HEAD".to_owned(),
        "index".to_owned(),
        "packed-refs".to_owned(),
    ];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        names.push(branch);
    }
    names
        .iter()
        .filter_map(|name| git(&["rev-parse", "--git-path", name]))
        .filter(|path| Path::new(path).exists())
        .collect()
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
