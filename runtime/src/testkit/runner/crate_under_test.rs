//! Finds the component a test binary's crate builds, and refuses a stale
//! one: the kit must test what the current sources build.
//!
//! Cargo runs the runner with `CARGO_MANIFEST_DIR` set to the crate of the
//! test. For its integration tests (`tests/`) it builds the library first,
//! with every crate type the manifest declares: the `cdylib` is the
//! component, written beside the test binary in `deps/`, with rustc's
//! dependency list (`deps/<lib>.d`) naming the sources it was built from.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use crate::sandbox::HookSource;

#[derive(Deserialize)]
struct Manifest {
    package: Option<Package>,
    lib: Option<Lib>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
}

#[derive(Deserialize)]
struct Lib {
    name: Option<String>,
    #[serde(rename = "crate-type")]
    crate_type: Option<Vec<String>>,
}

/// The crate's component, named as the server names it (`<lib>.wasm`).
pub fn component_for(test_binary: &Path) -> Result<HookSource, String> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .ok_or("CARGO_MANIFEST_DIR is not set: run the tests with `cargo test`")?;
    let lib_name = library_name(&manifest_dir)?;
    let deps = test_binary
        .parent()
        .ok_or("the test binary has no directory")?;
    let path = deps.join(format!("{lib_name}.wasm"));
    let built = modified(&path).map_err(|_| {
        format!(
            "no component at {}: cargo builds it for the tests in tests/, not for unit \
             tests inside src/; put the sandbox tests in tests/",
            path.display()
        )
    })?;
    if let Some(newer) = newer_sources(&deps.join(format!("{lib_name}.d")), &manifest_dir, built) {
        return Err(format!(
            "{} is older than {}: this `cargo test` did not rebuild the component \
             (cargo builds it for the tests in tests/, not for unit tests inside src/); \
             put the sandbox tests in tests/",
            path.display(),
            newer.display()
        ));
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(HookSource {
        name: format!("{lib_name}.wasm"),
        bytes,
    })
}

/// The library's name, once the manifest is known to build a component.
fn library_name(manifest_dir: &Path) -> Result<String, String> {
    let path = manifest_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let lib = manifest.lib.unwrap_or(Lib {
        name: None,
        crate_type: None,
    });
    let crate_types = lib.crate_type.unwrap_or_default();
    if !crate_types.iter().any(|t| t == "cdylib") {
        return Err(format!(
            "{}: [lib] crate-type is {crate_types:?}, without \"cdylib\": cargo builds no \
             component to test. Set crate-type = [\"cdylib\", \"rlib\"]",
            path.display()
        ));
    }
    lib.name
        .or_else(|| manifest.package.map(|p| p.name))
        .map(|name| name.replace('-', "_"))
        .ok_or_else(|| format!("{}: no [package] name", path.display()))
}

fn modified(path: &Path) -> std::io::Result<SystemTime> {
    std::fs::metadata(path)?.modified()
}

/// A source the component was built from that changed after it was, if
/// any. Rustc writes the sources relative to the workspace root, which is
/// the crate's directory or one above it.
fn newer_sources(dep_info: &Path, manifest_dir: &Path, built: SystemTime) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dep_info).ok()?;
    let (_, sources) = text.lines().next()?.split_once(": ")?;
    split_unescaped(sources)
        .into_iter()
        .filter_map(|source| {
            let source = PathBuf::from(source);
            if source.is_absolute() {
                return Some(source);
            }
            manifest_dir
                .ancestors()
                .map(|root| root.join(&source))
                .find(|candidate| candidate.exists())
        })
        .find(|source| modified(source).is_ok_and(|changed| changed > built))
}

/// Make-style paths: separated by spaces, a space inside one escaped.
fn split_unescaped(text: &str) -> Vec<String> {
    let mut paths = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => paths.last_mut().unwrap().extend(chars.next()),
            ' ' => paths.push(String::new()),
            c => paths.last_mut().unwrap().push(c),
        }
    }
    paths.retain(|path| !path.is_empty());
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_paths_split_on_unescaped_spaces() {
        assert_eq!(
            split_unescaped(r"src/lib.rs src/my\ module.rs  Cargo.toml"),
            ["src/lib.rs", "src/my module.rs", "Cargo.toml"]
        );
    }

    #[test]
    fn a_crate_without_cdylib_is_told_what_to_set() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = "[package]\nname = \"my-hook\"\n[lib]\ncrate-type = [\"rlib\"]\n";
        std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
        let error = library_name(dir.path()).unwrap_err();
        assert!(
            error.contains("crate-type = [\"cdylib\", \"rlib\"]"),
            "{error}"
        );
        let manifest = "[package]\nname = \"my-hook\"\n[lib]\ncrate-type = [\"cdylib\"]\n";
        std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
        assert_eq!(library_name(dir.path()).unwrap(), "my_hook");
    }

    #[test]
    fn a_source_newer_than_the_component_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
        let dep_info = dir.path().join("hook.d");
        std::fs::write(&dep_info, "/t/deps/hook.wasm: src/lib.rs\n\nsrc/lib.rs:\n").unwrap();
        let before = SystemTime::now() - std::time::Duration::from_secs(60);
        assert_eq!(
            newer_sources(&dep_info, dir.path(), before),
            Some(dir.path().join("src/lib.rs"))
        );
        let after = SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(newer_sources(&dep_info, dir.path(), after), None);
    }
}
