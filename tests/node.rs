// Running Node.js from the Rust test drivers (`js_suite.rs`, `dashboard.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `cmd`, passing its output on to the test's.
pub fn run(cmd: &mut Command) -> std::process::Output {
    let desc = format!("{cmd:?}");
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e} (is Node.js installed?)"));
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// `tests/<name>`, with its npm packages installed (`npm ci`, once:
/// when `package` is not there yet).
pub fn npm_project(name: &str, package: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests")
        .join(name);
    if !dir.join("node_modules").join(package).exists() {
        let install = run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir));
        assert!(
            install.status.success(),
            "npm ci failed in {}",
            dir.display()
        );
    }
    dir
}
