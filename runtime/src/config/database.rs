//! `--database-uri`: which backend, and where.

use std::path::PathBuf;

use super::ConfigError;

/// Where the state lives: a SQLite file (the default), or a PostgreSQL
/// database that several nodes share.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    /// A `postgres://` URI (it may hold a password: never shown), and the
    /// CA certificates (PEM) that a `sslmode=require` connection verifies the
    /// server against (default: the public web roots).
    Postgres {
        uri: String,
        ca: Option<PathBuf>,
    },
}

impl Database {
    /// `postgres://` or `postgresql://` (Parse's `databaseURI` form) for
    /// PostgreSQL; `sqlite:<path>` or a plain path for SQLite.
    pub fn from_uri(uri: &str) -> Result<Self, ConfigError> {
        Self::with_ca(uri, None)
    }

    /// [`Database::from_uri`], with the CA a PostgreSQL URI's TLS is
    /// verified by (whether the URI asks for TLS, the store decides:
    /// `store::postgres::tls`).
    pub fn with_ca(uri: &str, ca: Option<PathBuf>) -> Result<Self, ConfigError> {
        if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
            uri.parse::<tokio_postgres::Config>().map_err(|e| {
                ConfigError::Invalid(format!("bad PostgreSQL URI in --database-uri: {e}"))
            })?;
            return Ok(Database::Postgres {
                uri: uri.to_string(),
                ca,
            });
        }
        if ca.is_some() {
            return Err(ConfigError::Invalid(
                "--database-ca is for a PostgreSQL --database-uri".into(),
            ));
        }
        Ok(Database::Sqlite(sqlite_path(uri)?))
    }
}

/// What the start-up banner and errors show: never the password.
impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres { uri, .. } => {
                let Ok(config) = uri.parse::<tokio_postgres::Config>() else {
                    return f.write_str("postgres://<unparsable>");
                };
                let hosts: Vec<String> = config
                    .get_hosts()
                    .iter()
                    .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
                    .map(|(host, port)| match host {
                        tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                    })
                    .collect();
                write!(
                    f,
                    "postgres://{}@{}/{}",
                    config.get_user().unwrap_or_default(),
                    hosts.join(","),
                    config.get_dbname().unwrap_or_default()
                )
            }
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Database({self})")
    }
}

pub(super) fn sqlite_path(uri: &str) -> Result<PathBuf, ConfigError> {
    if let Some(path) = uri
        .strip_prefix("sqlite://")
        .or_else(|| uri.strip_prefix("sqlite:"))
    {
        return Ok(PathBuf::from(path));
    }
    if uri.contains("://") {
        return Err(ConfigError::Invalid(format!(
            "unsupported database URI scheme in {:?}: use postgres://... or sqlite:<path>",
            uri.split("://").next().unwrap_or_default()
        )));
    }
    Ok(PathBuf::from(uri))
}
