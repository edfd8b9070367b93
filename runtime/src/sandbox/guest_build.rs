//! Builds hook crates into WebAssembly components with a nested
//! `cargo build --target wasm32-wasip2`.
//!
//! Shared by the runtime's build script (the built-in hooks), the testkit
//! and the tests (hostile guests), so it depends on `std` only. The nested
//! build gets its own target directory, since the outer Cargo holds the lock
//! on its own, and a cleaned environment, since flags meant for the host
//! build (RUSTFLAGS, wrappers such as clippy-driver, a build dir) would break
//! or slow the guest build.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The WebAssembly target hooks are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Variables of the outer build that must not reach the nested one.
const INHERITED_VARIABLES_TO_DROP: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_BUILD_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "RUSTC",
    "RUSTDOC",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_LLVM_COV",
    "LLVM_PROFILE_FILE",
];

/// A `cargo` command for a build of its own inside another one: the same
/// Cargo, without the outer build's flags and wrappers.
pub fn nested_cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    for var in INHERITED_VARIABLES_TO_DROP {
        cmd.env_remove(var);
    }
    cmd
}

/// Builds the packages (by name) of the workspace at `workspace` in release
/// mode into `target_dir`; returns the component of each, in order, as
/// Cargo reports it for this build (never a file an earlier build left).
pub fn build_packages(
    workspace: &Path,
    packages: &[&str],
    target_dir: &Path,
) -> Result<Vec<PathBuf>, String> {
    let mut cmd = nested_cargo();
    cmd.current_dir(workspace)
        .arg("build")
        .arg("--release")
        .args(["--target", TARGET])
        .arg("--message-format=json-render-diagnostics")
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"));
    for package in packages {
        cmd.args(["-p", package]);
    }
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run cargo to build hooks: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building {} for {TARGET} failed (is the target installed? `rustup target add {TARGET}`):\n{}",
            packages.join(", "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let messages = String::from_utf8_lossy(&output.stdout);
    packages
        .iter()
        .map(|package| {
            built_component(&messages, package).ok_or_else(|| {
                format!(
                    "{package} built no WebAssembly component: a hook crate needs \
                     `[lib] crate-type = [\"cdylib\"]` in its Cargo.toml"
                )
            })
        })
        .collect()
}

/// The `.wasm` file that Cargo's JSON messages (`compiler-artifact`) report
/// for the library of `package`. The messages are read as text: this module
/// depends on `std` only (the build script uses it).
fn built_component(messages: &str, package: &str) -> Option<PathBuf> {
    let target_name = format!("\"name\":\"{}\"", package.replace('-', "_"));
    messages
        .lines()
        .filter(|line| line.contains("\"reason\":\"compiler-artifact\""))
        .filter(|line| line.contains(&target_name))
        .find_map(|line| {
            let files = line.split("\"filenames\":[").nth(1)?.split(']').next()?;
            files
                .split(',')
                .map(|file| file.trim().trim_matches('"'))
                .find(|file| file.ends_with(".wasm"))
                .map(PathBuf::from)
        })
}

/// The package name in a crate's `Cargo.toml` (its first `name = "..."` line).
pub fn package_name(crate_dir: &Path) -> Result<String, String> {
    let manifest = crate_dir.join("Cargo.toml");
    let text =
        std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    text.lines()
        .map(str::trim)
        .find_map(|line| {
            let value = line.strip_prefix("name")?.trim_start().strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_string())
        })
        .ok_or_else(|| format!("no package name in {}", manifest.display()))
}

/// The workspace root of a crate directory: the nearest ancestor whose
/// `Cargo.toml` declares `[workspace]`, or the crate itself when none does
/// (a standalone crate is its own workspace).
pub fn workspace_of(crate_dir: &Path) -> Result<PathBuf, String> {
    if !crate_dir.join("Cargo.toml").is_file() {
        return Err(format!("no Cargo.toml in {}", crate_dir.display()));
    }
    let declares_workspace = |dir: &Path| {
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .map(|t| t.lines().any(|l| l.trim() == "[workspace]"))
            .unwrap_or(false)
    };
    Ok(crate_dir
        .ancestors()
        .find(|dir| declares_workspace(dir))
        .unwrap_or(crate_dir)
        .to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standalone_crate_is_its_own_workspace() {
        let root = tempfile::tempdir().unwrap();
        let hook = root.path().join("my-hook");
        std::fs::create_dir_all(&hook).unwrap();
        std::fs::write(hook.join("Cargo.toml"), "[package]\nname = \"my-hook\"\n").unwrap();
        assert_eq!(workspace_of(&hook).unwrap(), hook);
        std::fs::write(
            root.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"my-hook\"]\n",
        )
        .unwrap();
        assert_eq!(workspace_of(&hook).unwrap(), root.path());
        let missing = workspace_of(&root.path().join("nowhere")).unwrap_err();
        assert!(missing.contains("no Cargo.toml"), "{missing}");
    }
}
