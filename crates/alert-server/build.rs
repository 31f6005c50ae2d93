//! Records the git revision the binary is built from as `ALERT_SERVER_REVISION`, for the
//! `flink_alert_build_info` metric: `ALERT_SERVER_REVISION` from the build's environment when set
//! (a build from a source tarball or a container without `.git`), else
//! `git rev-parse --short=12 HEAD`; left unset (the metric says `unknown`) when neither works.

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=ALERT_SERVER_REVISION");
    if let Some(given) = std::env::var("ALERT_SERVER_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
    {
        println!("cargo:rustc-env=ALERT_SERVER_REVISION={}", given.trim());
        return;
    }
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let Some(revision) = git(&dir, &["rev-parse", "--short=12", "HEAD"]) else {
        // Not a checkout: nothing to watch but this file.
        println!("cargo:rerun-if-changed=build.rs");
        return;
    };
    println!("cargo:rustc-env=ALERT_SERVER_REVISION={revision}");
    // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it points to (a commit),
    // and packed-refs (a gc). Worktrees keep HEAD apart from the common refs; git resolves both.
    let mut watched = vec![git(&dir, &["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&dir, &["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&dir, &["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        let path = dir.join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
