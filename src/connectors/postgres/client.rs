//! Connecting to PostgreSQL with tokio-postgres: plain for `sslMode:
//! Disable`, otherwise TLS over rustls (ring) with the profile's
//! `tls.caBundle` and the system roots; plus identifier quoting and the
//! wording of server errors.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::api::v1alpha1::connector_profile::PostgresSslMode;

use super::{Error, PgConfig, Result};
use crate::pipeline::error::ErrorClass;

/// Quotes an identifier (`"a""b"`).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes `schema.table`.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", ident(schema), ident(table))
}

/// The server's message of `e`, or the driver's with its causes.
pub fn message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = db.message().to_owned();
        if let Some(detail) = db.detail() {
            text.push_str(" (");
            text.push_str(detail);
            text.push(')');
        }
        return text;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A query error with what was being done.
pub fn query_error(context: impl Into<String>, e: &tokio_postgres::Error) -> Error {
    Error::Query {
        context: context.into(),
        message: message(e),
        class: class_of(e),
    }
}

/// The class of a failed statement, from the server's SQLSTATE (Appendix A
/// of the PostgreSQL manual): class 28 (the password or role refused, also
/// mid-session) is `Auth`; 42501 (a missing privilege) `Forbidden`; 08
/// (connection exceptions), 53 (insufficient resources, such as too many
/// connections), 57P01-57P03 (the server shutting down or not yet up),
/// 40001 and 40P01 (serialization failure, deadlock) `Transient`; 22 and
/// 23 (data exceptions, constraint violations) `Data`; 42P01 (no such
/// table) and 3F000 (no such schema) `Config`. A connection that closed or
/// broke without an answer is `Transient`; anything else the server
/// refused is `Write`, not retried.
pub fn class_of(e: &tokio_postgres::Error) -> ErrorClass {
    let Some(code) = e.code() else {
        let io = std::iter::successors(std::error::Error::source(e), |c| c.source())
            .any(|c| c.is::<std::io::Error>());
        return if e.is_closed() || io {
            ErrorClass::Transient
        } else {
            ErrorClass::Write
        };
    };
    sqlstate_class(code.code())
}

/// The class of a SQLSTATE code ([`class_of`]).
pub fn sqlstate_class(code: &str) -> ErrorClass {
    match code {
        c if c.starts_with("28") => ErrorClass::Auth,
        "42501" => ErrorClass::Forbidden,
        "40001" | "40P01" | "57P01" | "57P02" | "57P03" => ErrorClass::Transient,
        c if c.starts_with("08") || c.starts_with("53") => ErrorClass::Transient,
        c if c.starts_with("22") || c.starts_with("23") => ErrorClass::Data,
        "42P01" | "3F000" => ErrorClass::Config,
        _ => ErrorClass::Write,
    }
}

/// Attempts to connect before an unreachable server is reported.
const CONNECT_ATTEMPTS: u32 = 4;

/// Connects, and drives the connection on the current runtime. The session
/// uses UTC and UTF-8. A server that cannot be reached (refused, timed
/// out, TLS not ready) is tried again with jittered exponential backoff
/// (about 0.5 s, 1 s, 2 s) before `Connect` is returned; refused
/// credentials are not retried.
pub async fn connect(config: &PgConfig) -> Result<Client> {
    let mut attempt = 1;
    loop {
        match connect_once(config).await {
            Err(Error::Connect { .. }) if attempt < CONNECT_ATTEMPTS => {
                let base = 500u64 << (attempt - 1);
                let jitter = fastrand::u64(0..=base / 2);
                tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
                attempt += 1;
            }
            Err(Error::Connect { target, message }) => {
                return Err(Error::Connect {
                    target,
                    message: format!("{message} (tried {attempt} times)"),
                });
            }
            other => return other,
        }
    }
}

async fn connect_once(config: &PgConfig) -> Result<Client> {
    let mut pg = tokio_postgres::Config::new();
    pg.host(&config.host)
        .port(config.port)
        .dbname(&config.database)
        .user(config.user.expose())
        .password(config.password.expose())
        .application_name("sluice")
        .connect_timeout(std::time::Duration::from_secs(30))
        .options("-c TimeZone=UTC -c client_encoding=UTF8");
    let target = config.target();
    let classify = |e: tokio_postgres::Error| {
        let auth = matches!(
            e.code(),
            Some(c) if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        );
        if auth {
            Error::Authentication {
                target: target.clone(),
                message: message(&e),
            }
        } else {
            Error::Connect {
                target: target.clone(),
                message: message(&e),
            }
        }
    };
    if config.ssl_mode == PostgresSslMode::Disable {
        pg.ssl_mode(tokio_postgres::config::SslMode::Disable);
        let (client, connection) = pg.connect(NoTls).await.map_err(classify)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        return Ok(client);
    }
    pg.ssl_mode(tokio_postgres::config::SslMode::Require);
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(config)?);
    let (client, connection) = pg.connect(tls).await.map_err(classify)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The rustls client configuration for `config.ssl_mode`.
fn tls_config(config: &PgConfig) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Connect {
            target: config.target(),
            message: format!("tls: {e}"),
        })?;
    let verifier: Arc<dyn ServerCertVerifier> = match config.ssl_mode {
        PostgresSslMode::Require | PostgresSslMode::Disable => Arc::new(AnyCertificate(provider)),
        mode => {
            let mut roots = RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            if let Some(pem) = &config.ca_bundle {
                let field = format!("ConnectorProfile {:?}: spec.tls.caBundle", config.profile);
                let mut added = 0;
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let cert = cert.map_err(|e| Error::Config {
                        field: field.clone(),
                        message: format!("not a PEM bundle of certificates: {e}"),
                    })?;
                    roots.add(cert).map_err(|e| Error::Config {
                        field: field.clone(),
                        message: format!("a certificate cannot be used as a CA: {e}"),
                    })?;
                    added += 1;
                }
                if added == 0 {
                    return Err(Error::Config {
                        field,
                        message:
                            "holds no certificate; paste PEM blocks (-----BEGIN CERTIFICATE-----)"
                                .to_owned(),
                    });
                }
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::Config {
                    field: format!("ConnectorProfile {:?}: spec.tls.caBundle", config.profile),
                    message: format!(
                        "no CA to verify the server with ({e}); set tls.caBundle or use sslMode Require"
                    ),
                })?;
            Arc::new(Verify {
                inner: webpki,
                check_name: mode == PostgresSslMode::VerifyFull,
            })
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// `VerifyCa` and `VerifyFull`: the chain must lead to a trusted CA; the
/// host name is checked only under `VerifyFull` (as libpq does).
#[derive(Debug)]
struct Verify {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Verify {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `Require`: encrypted, but any certificate is accepted (libpq's
/// `sslmode=require` without a root certificate). Handshake signatures are
/// still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_classified_by_what_they_mean() {
        let class = sqlstate_class;
        assert_eq!(class("28P01"), ErrorClass::Auth);
        assert_eq!(class("28000"), ErrorClass::Auth);
        assert_eq!(class("42501"), ErrorClass::Forbidden);
        for transient in [
            "08006", "53300", "57P01", "57P02", "57P03", "40001", "40P01",
        ] {
            assert_eq!(class(transient), ErrorClass::Transient, "{transient}");
        }
        assert_eq!(class("22P02"), ErrorClass::Data);
        assert_eq!(class("23505"), ErrorClass::Data);
        assert_eq!(class("42P01"), ErrorClass::Config);
        assert_eq!(class("3F000"), ErrorClass::Config);
        assert_eq!(class("XX000"), ErrorClass::Write);
    }
}
