//! How a node reaches its database: in the clear, or, when the URI says
//! `sslmode=require`, by TLS (rustls) with the server's certificate and
//! name verified against the CA file given, or else the public web roots.
//! Never TLS without verification: a connection that cannot be verified
//! fails.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::Config;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

#[derive(Clone)]
pub(super) enum Tls {
    Off,
    Verified(MakeRustlsConnect),
}

impl Tls {
    pub(super) fn for_config(config: &Config, ca: Option<&Path>) -> Result<Self, StoreError> {
        if config.get_ssl_mode() != SslMode::Require {
            return match ca {
                Some(_) => Err(StoreError::Tls(
                    "--database-ca is for TLS to the database: add ?sslmode=require to the URI"
                        .into(),
                )),
                None => Ok(Tls::Off),
            };
        }
        let mut roots = rustls::RootCertStore::empty();
        match ca {
            Some(path) => {
                let certificates = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| StoreError::Tls(format!("cannot read {}: {e}", path.display())))?;
                if certificates.is_empty() {
                    return Err(StoreError::Tls(format!(
                        "{} holds no PEM certificate",
                        path.display()
                    )));
                }
                for certificate in certificates {
                    roots.add(certificate).map_err(|e| {
                        StoreError::Tls(format!("a certificate in {}: {e}", path.display()))
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls::Verified(MakeRustlsConnect::new(client)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(uri: &str, ca: Option<&Path>) -> Result<Tls, StoreError> {
        Tls::for_config(&uri.parse().unwrap(), ca)
    }

    #[test]
    fn a_ca_file_that_is_missing_empty_or_garbage_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, b"\x00\xffnot a certificate at all").unwrap();
        let uri = "postgres://app@db.example.com/parse?sslmode=require";
        for path in [dir.path().join("missing.pem"), garbage] {
            let refused = tls(uri, Some(&path)).err().expect("refused");
            assert!(
                refused.to_string().contains(&path.display().to_string()),
                "{refused}"
            );
        }
        assert!(
            matches!(tls(uri, None), Ok(Tls::Verified(_))),
            "web roots by default"
        );
        assert!(matches!(
            tls("postgres://app@localhost/parse", None),
            Ok(Tls::Off)
        ));
    }
}
