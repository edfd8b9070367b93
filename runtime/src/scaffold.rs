//! `cloudcode new-hook`: a standalone hook crate to start from, with a
//! cloud function, a trigger, sandbox tests, a hooks config and a README of
//! the commands to build, test and load it. It is its own workspace, builds
//! for `wasm32-wasip2` and has `cloudcode test` run its tests; it depends on
//! the SDK (and, for its tests, the testkit) by version, with a
//! path to the cloudcode checkout this binary was built from until the
//! crates are published. Where that checkout has a `Cargo.lock`, the new
//! crate starts from it: the dependency versions cloudcode is tested with.

use std::path::{Path, PathBuf};

/// The checkout this binary was built from (the `runtime` crate's parent).
pub fn default_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// Why no crate was made.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "{0:?} is not a hook crate name: use lowercase letters, digits and '-', starting with a letter (at most 64)"
    )]
    Name(String),
    #[error("{0} exists already and is not empty; choose another name or --dir")]
    Exists(PathBuf),
    #[error("{0} is not a cloudcode checkout (no sdk/Cargo.toml); pass --source <checkout>")]
    Source(PathBuf),
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// The files of a new crate, relative to its directory.
const FILES: [(&str, &str); 8] = [
    ("Cargo.toml", include_str!("scaffold/Cargo.toml.tmpl")),
    (
        ".cargo/config.toml",
        include_str!("scaffold/cargo-config.toml.tmpl"),
    ),
    ("src/lib.rs", include_str!("scaffold/lib.rs.tmpl")),
    ("tests/sandbox.rs", include_str!("scaffold/sandbox.rs.tmpl")),
    ("hooks.toml", include_str!("scaffold/hooks.toml.tmpl")),
    ("README.md", include_str!("scaffold/README.md.tmpl")),
    (
        "rust-toolchain.toml",
        include_str!("scaffold/rust-toolchain.toml.tmpl"),
    ),
    (".gitignore", include_str!("scaffold/gitignore.tmpl")),
];

/// Writes the crate `name` into `parent/name` against the cloudcode
/// checkout `source`; returns its directory.
pub fn new_hook(name: &str, parent: &Path, source: &Path) -> Result<PathBuf, ScaffoldError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(ScaffoldError::Name(name.to_string()));
    }
    let source = std::path::absolute(source).map_err(|error| ScaffoldError::Io {
        path: source.to_path_buf(),
        error,
    })?;
    if !source.join("sdk/Cargo.toml").is_file() {
        return Err(ScaffoldError::Source(source));
    }
    let dir = parent.join(name);
    let occupied = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return Err(ScaffoldError::Exists(dir));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| ScaffoldError::Io { path, error }
    };
    let values = [
        ("{{name}}", name.to_string()),
        ("{{crate}}", name.replace('-', "_")),
        ("{{function}}", function_name(name)),
        ("{{sdk_path}}", toml_path(&source.join("sdk"))),
        ("{{testkit_path}}", toml_path(&source.join("testkit"))),
        ("{{sdk_version}}", crate_version(&source.join("sdk"))),
        (
            "{{testkit_version}}",
            crate_version(&source.join("testkit")),
        ),
    ];
    for (file, template) in FILES {
        let text = values
            .iter()
            .fold(template.to_string(), |text, (key, value)| {
                text.replace(key, value)
            });
        let path = dir.join(file);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(io(folder))?;
        }
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    let lock = source.join("Cargo.lock");
    if lock.is_file() {
        std::fs::copy(&lock, dir.join("Cargo.lock")).map_err(io(&lock))?;
    }
    Ok(dir)
}

/// Whether `program` is an executable file in one of PATH's directories.
pub fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
    })
}

/// `my-first-hook` serves `myFirstHook`.
fn function_name(name: &str) -> String {
    let mut words = name.split('-').filter(|w| !w.is_empty());
    let first = words.next().unwrap_or_default().to_string();
    words.fold(first, |mut out, word| {
        let mut chars = word.chars();
        if let Some(c) = chars.next() {
            out.push(c.to_ascii_uppercase());
            out.extend(chars);
        }
        out
    })
}

/// A path as a TOML basic string's content.
fn toml_path(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

/// The `version = "..."` of a crate's manifest, or this binary's.
fn crate_version(crate_dir: &Path) -> String {
    std::fs::read_to_string(crate_dir.join("Cargo.toml"))
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let value = line.trim().strip_prefix("version")?.trim_start();
                let value = value.strip_prefix('=')?.trim();
                value.strip_prefix('"')?.strip_suffix('"').map(String::from)
            })
        })
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_crates_and_functions() {
        assert_eq!(function_name("my-first-hook"), "myFirstHook");
        assert_eq!(function_name("cap"), "cap");
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "My", "1st", "a_b", "a b", "../up", &"a".repeat(65)] {
            let error = new_hook(bad, dir.path(), &default_source()).unwrap_err();
            assert!(matches!(error, ScaffoldError::Name(_)), "{bad:?}: {error}");
        }
    }

    #[test]
    fn a_new_crate_names_its_sources_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let made = new_hook("my-first-hook", dir.path(), &default_source()).unwrap();
        let manifest = std::fs::read_to_string(made.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"my-first-hook\""), "{manifest}");
        assert!(
            manifest.contains("cloudcode-sdk = { version = \"0.2.0\", path = \""),
            "{manifest}"
        );
        assert!(
            manifest.contains("cloudcode-testkit = { version = \"0.1.0\", path = \""),
            "{manifest}"
        );
        assert!(!manifest.contains("{{"), "{manifest}");
        let cargo_config = std::fs::read_to_string(made.join(".cargo/config.toml")).unwrap();
        assert!(
            cargo_config.contains("runner = [\"cloudcode\", \"test\"]"),
            "{cargo_config}"
        );
        let lib = std::fs::read_to_string(made.join("src/lib.rs")).unwrap();
        assert!(lib.contains(".function(\"myFirstHook\")"), "{lib}");
        let config = std::fs::read_to_string(made.join("hooks.toml")).unwrap();
        assert!(
            config.contains("[hooks.\"my_first_hook.wasm\"]"),
            "{config}"
        );
        assert!(made.join("Cargo.lock").is_file());
        let again = new_hook("my-first-hook", dir.path(), &default_source()).unwrap_err();
        assert!(matches!(again, ScaffoldError::Exists(_)), "{again}");
        let nowhere = new_hook("other", dir.path(), dir.path()).unwrap_err();
        assert!(matches!(nowhere, ScaffoldError::Source(_)), "{nowhere}");
    }
}
