//! What each hook may do: the capabilities it asks for in its manifest, the
//! ones the operator grants it in the hooks config file, and the settings
//! the operator gives it there. A hook gets the intersection of what it
//! asked for and what it was granted.
//!
//! ```toml
//! [hooks."max-sessions-per-user.wasm"]
//! grant = ["sessions:read", "sessions:revoke", "log"]
//! config = { max-sessions = 3 }
//! ```
//!
//! Built-in hooks are granted what they ask for unless the file names them;
//! a hook from `--hooks-dir` that the file does not name gets `log` only.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

/// One thing a hook may ask the host for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// List a user's sessions.
    SessionsRead,
    /// Revoke sessions.
    SessionsRevoke,
    /// Rotate the caller's session token.
    SessionsRotate,
    /// Write to the server's log.
    Log,
}

impl Capability {
    pub const ALL: [Capability; 4] = [
        Capability::SessionsRead,
        Capability::SessionsRevoke,
        Capability::SessionsRotate,
        Capability::Log,
    ];

    /// Its name in manifests listings and the hooks config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::SessionsRead => "sessions:read",
            Capability::SessionsRevoke => "sessions:revoke",
            Capability::SessionsRotate => "sessions:rotate",
            Capability::Log => "log",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl std::str::FromStr for Capability {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
                format!("unknown capability {name:?} (known: {})", known.join(", "))
            })
    }
}

/// A set of capabilities.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(u8);

impl Capabilities {
    pub const NONE: Capabilities = Capabilities(0);

    /// Every capability (what contract 0.1.0 gave every hook).
    pub fn all() -> Self {
        Capability::ALL.into_iter().collect()
    }

    pub fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }

    pub fn intersection(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 & other.0)
    }

    /// Those of `self` that `other` lacks.
    pub fn without(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// The names, in a stable order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Capability::as_str).collect()
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        Capabilities(iter.into_iter().fold(0, |set, c| set | c.bit()))
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("(none)");
        }
        f.write_str(&self.names().join(", "))
    }
}

/// The operator's word on one hook.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HookSettings {
    /// What it may use; `None` when its entry does not say (the default
    /// applies: what it asks for if built in, `log` otherwise).
    pub grant: Option<Capabilities>,
    /// Values it reads with `config.get`.
    pub config: Map<String, Value>,
}

/// The hooks config file: settings per hook, keyed by the hook's file name
/// (`name.wasm`, or `builtin:<crate>` for a built-in).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HooksConfig {
    hooks: BTreeMap<String, HookSettings>,
}

/// Why a hooks config file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("hooks config {file}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    #[serde(default)]
    hooks: BTreeMap<String, EntryForm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryForm {
    grant: Option<Vec<String>>,
    #[serde(default)]
    config: toml::Table,
}

impl HooksConfig {
    /// Reads and checks a hooks config file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let error = |reason: String| ConfigError {
            file: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        Self::parse(&text).map_err(error)
    }

    /// Parses the TOML form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let form: FileForm = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => {
                let line = text[..span.start].matches('\n').count() + 1;
                format!("line {line}: {}", e.message())
            }
            None => e.message().to_string(),
        })?;
        let mut hooks = BTreeMap::new();
        for (name, entry) in form.hooks {
            let grant = entry
                .grant
                .map(|names| {
                    names
                        .iter()
                        .map(|n| n.parse::<Capability>())
                        .collect::<Result<Capabilities, _>>()
                })
                .transpose()
                .map_err(|e| format!("hook {name:?}: {e}"))?;
            let config = match serde_json::to_value(entry.config) {
                Ok(Value::Object(map)) => map,
                Ok(_) => unreachable!("a TOML table is a JSON object"),
                Err(e) => return Err(format!("hook {name:?}: config: {e}")),
            };
            hooks.insert(name, HookSettings { grant, config });
        }
        Ok(HooksConfig { hooks })
    }

    /// Sets the settings of the hook whose file name (or `builtin:<crate>`)
    /// is `hook`.
    pub fn set(&mut self, hook: &str, settings: HookSettings) {
        self.hooks.insert(key_of(hook).to_string(), settings);
    }

    /// The settings of the hook loaded as `source_name` (a path or
    /// `builtin:…`), looked up by its file name.
    pub fn settings(&self, source_name: &str) -> Option<&HookSettings> {
        self.hooks.get(key_of(source_name))
    }

    /// The names of entries that match none of `loaded` (source names):
    /// most likely typos, which would silently grant nothing.
    pub fn unmatched<'a>(&'a self, loaded: &[&str]) -> Vec<&'a str> {
        let keys: Vec<&str> = loaded.iter().map(|name| key_of(name)).collect();
        self.hooks
            .keys()
            .map(String::as_str)
            .filter(|name| !keys.contains(name))
            .collect()
    }
}

/// What a hook gets: the intersection of what it asked for and what it was
/// granted (by its entry, or by default).
pub fn granted(source_name: &str, requested: Capabilities, config: &HooksConfig) -> Capabilities {
    let default = if is_builtin(source_name) {
        requested
    } else {
        Capabilities::from_iter([Capability::Log])
    };
    let grant = config
        .settings(source_name)
        .and_then(|s| s.grant)
        .unwrap_or(default);
    requested.intersection(grant)
}

fn is_builtin(source_name: &str) -> bool {
    source_name.starts_with("builtin:")
}

/// The key a hook has in the config file: its file name.
fn key_of(source_name: &str) -> &str {
    if is_builtin(source_name) {
        return source_name;
    }
    Path::new(source_name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(source_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        [hooks."max-sessions-per-user.wasm"]
        grant = ["sessions:read", "sessions:revoke", "log"]
        config = { max-sessions = 3, label = "cap" }

        [hooks."builtin:logout-from-all-devices"]
        grant = []
    "#;

    #[test]
    fn a_hook_gets_what_it_asked_for_and_was_granted() {
        let config = HooksConfig::parse(FILE).unwrap();
        let asked: Capabilities = [Capability::SessionsRevoke, Capability::SessionsRotate]
            .into_iter()
            .collect();
        let got = granted("/srv/hooks/max-sessions-per-user.wasm", asked, &config);
        assert_eq!(got.names(), ["sessions:revoke"]);
        let settings = config.settings("/srv/hooks/max-sessions-per-user.wasm");
        assert_eq!(settings.unwrap().config["max-sessions"], 3);
    }

    #[test]
    fn defaults_are_log_for_a_directory_hook_and_its_request_for_a_built_in() {
        let none = HooksConfig::default();
        let all = Capabilities::all();
        assert_eq!(
            granted("/srv/hooks/other.wasm", all, &none).names(),
            ["log"]
        );
        assert_eq!(granted("builtin:rotate", all, &none), all);
        let config = HooksConfig::parse(FILE).unwrap();
        assert!(granted("builtin:logout-from-all-devices", all, &config).is_empty());
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        for (text, needle) in [
            (
                "[hooks.\"a.wasm\"]\ngrant = [\"network\"]",
                "unknown capability \"network\"",
            ),
            ("[hooks.\"a.wasm\"]\ngrants = []", "unknown field `grants`"),
            ("[hooks.\"a.wasm\"]\ngrant = \"log\"", "invalid type"),
            ("[hooks", "line 1: unclosed table"),
            (
                "\n\n[hooks.\"a.wasm\"]\ngrant = [\"log\"]\nconfig = 3",
                "line 5: invalid type",
            ),
        ] {
            let error = HooksConfig::parse(text).unwrap_err();
            assert!(error.contains(needle), "{needle:?} not in {error:?}");
        }
    }

    #[test]
    fn entries_that_match_no_loaded_hook_are_named() {
        let config = HooksConfig::parse(FILE).unwrap();
        let loaded = ["/x/max-sessions-per-user.wasm", "builtin:rotate"];
        assert_eq!(
            config.unmatched(&loaded),
            ["builtin:logout-from-all-devices"]
        );
    }
}
