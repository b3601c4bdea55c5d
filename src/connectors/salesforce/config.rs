//! A salesforce ConnectorProfile with its secret values read and checked:
//! the login host (Production, Sandbox or `loginUrl`), the token endpoint
//! `{loginUrl}/services/oauth2/token`, the API version and the OAuth 2.0
//! grant (JWT bearer with a PEM private key, or a refresh token).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use ring::signature::RsaKeyPair;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};

use super::{Error, Result};
use crate::api::v1alpha1::connector_profile::{
    ConnectorProfileSpec, OAuth2GrantType, SalesforceEnvironment,
};
use crate::connectors::common::RetryPolicy;
use crate::connectors::secrets::{Resolver, SecretValue};

/// The OAuth 2.0 grant with its secret values.
#[derive(Debug, Clone)]
pub enum Grant {
    /// JWT bearer (RFC 7523): an assertion signed with the connected app's
    /// private key.
    JwtBearer {
        /// The consumer key (`iss`).
        client_id: SecretValue,
        /// The user name (`sub`).
        subject: String,
        /// The audience (`aud`): the login host.
        audience: String,
        /// The signing key, parsed.
        key: Arc<RsaKeyPair>,
        /// The PEM, kept only to scrub it from messages.
        pem: SecretValue,
    },
    /// A refresh token exchanged for access tokens.
    RefreshToken {
        /// The consumer key.
        client_id: SecretValue,
        /// The consumer secret, when the connected app requires it.
        client_secret: Option<SecretValue>,
        /// The refresh token.
        refresh_token: SecretValue,
    },
}

impl Grant {
    /// The grant's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::JwtBearer { .. } => "JwtBearer",
            Self::RefreshToken { .. } => "RefreshToken",
        }
    }
}

/// How bulk jobs are polled: the first wait, doubled up to `max`, for at
/// most `timeout` in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    /// The first wait.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
    /// The most time spent polling one job.
    pub timeout: Duration,
}

impl Default for PollPolicy {
    /// 1 s, doubling up to 30 s, for up to 2 hours.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(30),
            timeout: Duration::from_secs(2 * 3600),
        }
    }
}

impl PollPolicy {
    /// The wait before poll number `poll` (1-based).
    pub fn wait(&self, poll: u32) -> Duration {
        self.first
            .saturating_mul(1u32 << poll.saturating_sub(1).min(16))
            .min(self.max)
    }
}

/// A salesforce profile, resolved.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// The profile's name.
    pub profile: String,
    /// The token endpoint.
    pub token_url: Url,
    /// The instance to use instead of the token response's `instance_url`.
    pub instance_url: Option<Url>,
    /// The REST API version, such as `62.0`.
    pub api_version: String,
    /// The grant.
    pub grant: Grant,
    /// Extra CA certificates (PEM).
    pub ca_bundle: Option<String>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
    /// Proxy URL.
    pub proxy: Option<String>,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Records per REST query page (`Sforce-Query-Options: batchSize`,
    /// 200 to 2000).
    pub query_batch_size: u32,
    /// Records per Bulk API 2.0 result page (`maxRecords`).
    pub bulk_max_records: u32,
    /// Result pages fetched at once.
    pub max_concurrency: usize,
    /// Polling of bulk jobs.
    pub poll: PollPolicy,
}

/// Parses a PEM RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1
/// `RSA PRIVATE KEY`, as `openssl genrsa` writes).
pub fn rsa_key(pem: &str) -> std::result::Result<RsaKeyPair, String> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("not a PEM private key ({e})"))?;
    match der {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer { .. }) => {
            RsaKeyPair::from_pkcs8(der.secret_der()).map_err(|e| format!("not an RSA key ({e})"))
        }
        PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer { .. }) => {
            RsaKeyPair::from_der(der.secret_der()).map_err(|e| format!("not an RSA key ({e})"))
        }
        _ => Err(
            "an EC key; Salesforce signs JWT bearer assertions with RS256, an RSA key".to_owned(),
        ),
    }
}

fn https_url(field: &str, text: &str) -> Result<Url> {
    let url = Url::parse(text.trim_end_matches('/'))
        .map_err(|e| Error::config(field, format!("{text:?} is not a URL ({e})")))?;
    Ok(url)
}

impl SalesforceConfig {
    /// Resolves profile `name`: its `salesforce` block and its
    /// `credentials.oauth2` with the secret values.
    pub fn new(name: &str, spec: &ConnectorProfileSpec, secrets: &Resolver) -> Result<Self> {
        let field = |f: &str| format!("ConnectorProfile {name:?}: spec.{f}");
        let sf = spec.salesforce.as_ref().ok_or_else(|| {
            Error::config(field("salesforce"), "the profile has no salesforce block")
        })?;
        let login = match (&sf.login_url, sf.environment) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, SalesforceEnvironment::Production) => "https://login.salesforce.com".to_owned(),
            (None, SalesforceEnvironment::Sandbox) => "https://test.salesforce.com".to_owned(),
        };
        let credentials = spec.credentials.as_ref();
        let oauth = credentials.and_then(|c| c.oauth2.as_ref()).ok_or_else(|| {
            Error::config(
                field("credentials.oauth2"),
                "salesforce needs credentials.oauth2 with grantType JwtBearer or RefreshToken",
            )
        })?;
        let token_url = match &oauth.token_url {
            Some(url) => https_url(&field("credentials.oauth2.tokenUrl"), url)?,
            None => https_url(
                &field("salesforce.loginUrl"),
                &format!("{login}/services/oauth2/token"),
            )?,
        };
        let store = secrets.store(name, credentials);
        let client_id = store.get(&oauth.client_id_key)?;
        let grant = match oauth.grant_type {
            OAuth2GrantType::JwtBearer => {
                let key_name = oauth.private_key_key.as_deref().ok_or_else(|| {
                    Error::config(
                        field("credentials.oauth2.privateKeyKey"),
                        "grantType JwtBearer needs privateKeyKey",
                    )
                })?;
                let subject = oauth.subject.clone().ok_or_else(|| {
                    Error::config(
                        field("credentials.oauth2.subject"),
                        "grantType JwtBearer needs subject, the Salesforce user name",
                    )
                })?;
                let pem = store.get(key_name)?;
                let key = rsa_key(pem.expose()).map_err(|message| {
                    Error::config(
                        field("credentials.oauth2.privateKeyKey"),
                        format!(
                            "the secret value of key {key_name:?} is {message}; it must be the PEM RSA private key whose certificate the connected app holds"
                        ),
                    )
                })?;
                Grant::JwtBearer {
                    client_id,
                    subject,
                    audience: oauth.audience.clone().unwrap_or(login),
                    key: Arc::new(key),
                    pem,
                }
            }
            OAuth2GrantType::RefreshToken => {
                let key_name = oauth.refresh_token_key.as_deref().ok_or_else(|| {
                    Error::config(
                        field("credentials.oauth2.refreshTokenKey"),
                        "grantType RefreshToken needs refreshTokenKey",
                    )
                })?;
                Grant::RefreshToken {
                    client_id,
                    client_secret: match &oauth.client_secret_key {
                        Some(k) => Some(store.get(k)?),
                        None => None,
                    },
                    refresh_token: store.get(key_name)?,
                }
            }
            OAuth2GrantType::ClientCredentials => {
                return Err(Error::config(
                    field("credentials.oauth2.grantType"),
                    "salesforce profiles use JwtBearer or RefreshToken, not ClientCredentials",
                ));
            }
        };
        let instance_url = match &sf.instance_url {
            Some(url) => Some(https_url(&field("salesforce.instanceUrl"), url)?),
            None => None,
        };
        if !sf.api_version.ends_with(".0")
            || sf
                .api_version
                .trim_end_matches(".0")
                .parse::<u32>()
                .is_err()
        {
            return Err(Error::config(
                field("salesforce.apiVersion"),
                format!("{:?} is not an API version such as 62.0", sf.api_version),
            ));
        }
        Ok(Self {
            profile: name.to_owned(),
            token_url,
            instance_url,
            api_version: sf.api_version.clone(),
            grant,
            ca_bundle: spec.tls.as_ref().and_then(|t| t.ca_bundle.clone()),
            insecure_skip_verify: spec.tls.as_ref().is_some_and(|t| t.insecure_skip_verify),
            proxy: spec.proxy.clone(),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(120),
            query_batch_size: 2000,
            bulk_max_records: 50_000,
            max_concurrency: 5,
            poll: PollPolicy::default(),
        })
    }

    /// The major API version as a number (`62` for `62.0`).
    pub fn version_number(&self) -> u32 {
        self.api_version.trim_end_matches(".0").parse().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeMap;

    use super::*;

    fn resolve(profile: serde_json::Value) -> Result<SalesforceConfig> {
        let spec: ConnectorProfileSpec = serde_json::from_value(profile).unwrap();
        let values = BTreeMap::from([
            ("clientId".to_owned(), "id".to_owned()),
            ("refreshToken".to_owned(), "rt".to_owned()),
        ]);
        let secrets = Resolver::manifest(BTreeMap::from([("sf".to_owned(), values)]));
        SalesforceConfig::new("p", &spec, &secrets)
    }

    #[test]
    fn the_token_endpoint_follows_the_environment_or_login_url() {
        let credentials = serde_json::json!({"secretRef": {"name": "sf"}, "oauth2": {"grantType": "RefreshToken", "refreshTokenKey": "refreshToken"}});
        let sandbox = resolve(serde_json::json!({"salesforce": {"environment": "Sandbox"}, "credentials": credentials})).unwrap();
        assert_eq!(
            sandbox.token_url.as_str(),
            "https://test.salesforce.com/services/oauth2/token"
        );
        assert_eq!(sandbox.api_version, "62.0");
        let production =
            resolve(serde_json::json!({"salesforce": {}, "credentials": credentials})).unwrap();
        assert_eq!(
            production.token_url.as_str(),
            "https://login.salesforce.com/services/oauth2/token"
        );
        let my_domain = resolve(serde_json::json!({"salesforce": {"loginUrl": "https://acme.my.salesforce.com/", "apiVersion": "58.0"}, "credentials": credentials})).unwrap();
        assert_eq!(
            my_domain.token_url.as_str(),
            "https://acme.my.salesforce.com/services/oauth2/token"
        );
        assert_eq!(my_domain.version_number(), 58);
        let error = resolve(serde_json::json!({"salesforce": {}, "credentials": {"secretRef": {"name": "sf"}, "oauth2": {"grantType": "ClientCredentials", "clientSecretKey": "x"}}})).unwrap_err();
        assert!(
            error.to_string().contains("JwtBearer or RefreshToken"),
            "{error}"
        );
    }
}
