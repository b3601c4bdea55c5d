//! Credentials on requests: the profile's auth scheme with its secret values
//! read ([`AuthConfig`]), and at run time ([`Auth`]) OAuth 2.0 access tokens
//! cached, refreshed before they expire and once after a 401.
//!
//! - `apiKey` in `Header`: `{name}: {prefix}{key}`; in `Query`:
//!   `?{name}={key}` (masked as `***` wherever the URL is shown).
//! - `basic`: `Authorization: Basic base64({username}:{password})`.
//! - `customHeaders`: each header with its secret value.
//! - `oauth2` with grant `ClientCredentials` or `RefreshToken`: a
//!   form-encoded POST to `tokenUrl` (`grant_type`, `scope` when scopes are
//!   set, `refresh_token` for the refresh grant). The client authenticates
//!   with HTTP Basic (`client_id:client_secret`, RFC 6749 §2.3.1) when it
//!   has a secret, and sends `client_id` in the form otherwise (public
//!   clients). The answer's `access_token` is sent as
//!   `Authorization: Bearer …` until `expires_in` is near (a quarter of the
//!   lifetime, at most 60 s, before it ends). A rotated `refresh_token` in
//!   the answer is used for the next refresh of the same run.
//! - `oauth2` with grant `JwtBearer`, `awsAccessKey` and `awsIam` are
//!   refused with a clear message.
//! - `none`, or no `credentials`: nothing is added.
//!
//! Header values holding secrets are marked sensitive, so the HTTP stack
//! never prints them.

use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use super::client::Client;
use super::error::{Error, Result};
use crate::api::v1alpha1::connector_profile::{ApiKeyPlacement, Credentials, OAuth2GrantType};
use crate::connectors::secrets::{Resolver, SecretValue};

/// An OAuth 2.0 grant the client can use.
#[derive(Debug, Clone)]
pub enum Grant {
    /// Client credentials.
    ClientCredentials,
    /// A refresh token exchanged for access tokens.
    RefreshToken(SecretValue),
}

/// OAuth 2.0 settings with their secret values.
#[derive(Debug, Clone)]
pub struct OAuth2Config {
    /// The token endpoint.
    pub token_url: Url,
    /// The grant.
    pub grant: Grant,
    /// The client id.
    pub client_id: SecretValue,
    /// The client secret; `None` for public clients.
    pub client_secret: Option<SecretValue>,
    /// Scopes requested, joined with spaces.
    pub scopes: Vec<String>,
    /// How the client authenticates to the token endpoint.
    pub client_authentication: crate::api::v1alpha1::connector_profile::OAuth2ClientAuthentication,
}

/// A profile's auth scheme with its secret values.
#[derive(Debug, Clone)]
pub enum AuthConfig {
    /// No authentication.
    None,
    /// A header carrying the API key (with its prefix).
    Header {
        /// The header.
        name: HeaderName,
        /// Prefix and key.
        value: SecretValue,
    },
    /// A query parameter carrying the API key.
    Query {
        /// The parameter.
        name: String,
        /// The key.
        value: SecretValue,
    },
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: SecretValue,
        /// Password.
        password: SecretValue,
    },
    /// Headers with secret values.
    Headers(Vec<(HeaderName, SecretValue)>),
    /// OAuth 2.0 bearer tokens.
    OAuth2(OAuth2Config),
}

fn header_name(field: &str, name: &str) -> Result<HeaderName> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        Error::config(
            field,
            format!("{name:?} is not a valid header name (letters, digits and -)"),
        )
    })
}

impl AuthConfig {
    /// Reads the secret values the scheme of `credentials` names.
    pub fn new(
        profile: &str,
        credentials: Option<&Credentials>,
        secrets: &Resolver,
    ) -> Result<Self> {
        let Some(c) = credentials else {
            return Ok(Self::None);
        };
        let store = secrets.store(profile, Some(c));
        let field = |f: &str| format!("ConnectorProfile {profile:?}: spec.credentials.{f}");
        if let Some(key) = &c.api_key {
            if key.secret_key_key.is_some() {
                return Err(Error::config(
                    field("apiKey.secretKeyKey"),
                    "http sources cannot send a secret key yet (the API does not say where it goes); put it in credentials.customHeaders instead",
                ));
            }
            let value = store.get(&key.key_key)?;
            return Ok(match key.placement {
                ApiKeyPlacement::Header => Self::Header {
                    name: header_name(&field("apiKey.name"), &key.name)?,
                    value: SecretValue::new(format!(
                        "{}{}",
                        key.prefix.as_deref().unwrap_or(""),
                        value.expose()
                    )),
                },
                ApiKeyPlacement::Query => Self::Query {
                    name: key.name.clone(),
                    value,
                },
            });
        }
        if let Some(basic) = &c.basic {
            let username = store.get(&basic.username_key)?;
            let password = store.get(&basic.password_key)?;
            // What is sent is base64("user:password"): scrub that too.
            crate::connectors::secrets::remember(&format!(
                "{}:{}",
                username.expose(),
                password.expose()
            ));
            return Ok(Self::Basic { username, password });
        }
        if let Some(custom) = &c.custom_headers {
            let mut headers = Vec::with_capacity(custom.headers.len());
            for (i, header) in custom.headers.iter().enumerate() {
                let name = header_name(
                    &field(&format!("customHeaders.headers[{i}].name")),
                    &header.name,
                )?;
                headers.push((name, store.get(&header.key)?));
            }
            return Ok(Self::Headers(headers));
        }
        if let Some(oauth) = &c.oauth2 {
            let token_url = oauth.token_url.as_deref().ok_or_else(|| {
                Error::config(
                    field("oauth2.tokenUrl"),
                    "http profiles need the token endpoint, such as https://auth.example.com/oauth/token",
                )
            })?;
            let token_url = Url::parse(token_url).map_err(|e| {
                Error::config(
                    field("oauth2.tokenUrl"),
                    format!("{token_url:?} is not a valid URL ({e})"),
                )
            })?;
            let grant = match oauth.grant_type {
                OAuth2GrantType::ClientCredentials => Grant::ClientCredentials,
                OAuth2GrantType::RefreshToken => {
                    let key = oauth.refresh_token_key.as_deref().ok_or_else(|| {
                        Error::config(
                            field("oauth2.refreshTokenKey"),
                            "grantType RefreshToken needs refreshTokenKey",
                        )
                    })?;
                    Grant::RefreshToken(store.get(key)?)
                }
                OAuth2GrantType::JwtBearer => {
                    return Err(Error::config(
                        field("oauth2.grantType"),
                        "JwtBearer is not supported for http sources yet; use ClientCredentials or RefreshToken",
                    ));
                }
            };
            let client_secret = match &oauth.client_secret_key {
                Some(key) => Some(store.get(key)?),
                None if matches!(grant, Grant::ClientCredentials) => {
                    return Err(Error::config(
                        field("oauth2.clientSecretKey"),
                        "grantType ClientCredentials needs clientSecretKey",
                    ));
                }
                None => None,
            };
            return Ok(Self::OAuth2(OAuth2Config {
                token_url,
                grant,
                client_id: store.get(&oauth.client_id_key)?,
                client_secret,
                scopes: oauth.scopes.clone(),
                client_authentication: oauth.client_authentication,
            }));
        }
        if c.aws_access_key.is_some() || c.aws_iam.is_some() {
            return Err(Error::config(
                field("awsAccessKey"),
                "http accepts credentials.oauth2, apiKey, basic, customHeaders or none, not AWS credentials",
            ));
        }
        Ok(Self::None)
    }

    /// Query parameters whose values are secret, masked wherever a URL is
    /// shown.
    pub fn secret_parameters(&self) -> Vec<String> {
        match self {
            Self::Query { name, .. } => vec![name.clone()],
            _ => Vec::new(),
        }
    }

    /// The scheme, as shown in messages (`apiKey`, `oauth2/ClientCredentials`).
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Header { .. } | Self::Query { .. } => "apiKey",
            Self::Basic { .. } => "basic",
            Self::Headers(_) => "customHeaders",
            Self::OAuth2(OAuth2Config {
                grant: Grant::ClientCredentials,
                ..
            }) => "oauth2/ClientCredentials",
            Self::OAuth2(_) => "oauth2/RefreshToken",
        }
    }
}

/// A sensitive header value.
pub(crate) fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        Error::config(
            "spec.credentials",
            "a secret header value holds characters a header cannot carry (line breaks or control characters); check the Secret's value",
        )
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// An access token and when it should be replaced.
#[derive(Debug)]
struct Token {
    access: SecretValue,
    refresh_at: Option<Instant>,
    generation: u64,
}

#[derive(Debug, Default)]
struct TokenState {
    current: Option<Token>,
    generation: u64,
    rotated_refresh_token: Option<SecretValue>,
}

/// An issued token, as the token endpoint answered.
#[derive(Debug)]
pub(crate) struct Issued {
    pub access_token: SecretValue,
    pub expires_in: Option<Duration>,
    pub refresh_token: Option<SecretValue>,
}

/// Credentials at run time.
#[derive(Debug)]
pub struct Auth {
    config: AuthConfig,
    tokens: tokio::sync::Mutex<TokenState>,
}

/// What was put on a request: the token generation, for OAuth.
pub(crate) type Generation = Option<u64>;

impl Auth {
    /// Credentials of `config`.
    pub fn new(config: AuthConfig) -> Self {
        Self {
            config,
            tokens: tokio::sync::Mutex::default(),
        }
    }

    /// The resolved scheme.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Whether a 401 is worth one new token.
    pub(crate) fn refreshes(&self) -> bool {
        matches!(self.config, AuthConfig::OAuth2(_))
    }

    /// Adds the API key parameter, unless the URL already has one (next
    /// URLs that servers build often carry it).
    pub(crate) fn add_query(&self, url: &mut Url) {
        if let AuthConfig::Query { name, value } = &self.config
            && !url.query_pairs().any(|(k, _)| k == name.as_str())
        {
            url.query_pairs_mut().append_pair(name, value.expose());
        }
    }

    /// Puts the credentials on a request.
    pub(crate) async fn authorize(
        &self,
        client: &Client,
        builder: reqwest::RequestBuilder,
    ) -> Result<(reqwest::RequestBuilder, Generation)> {
        Ok(match &self.config {
            AuthConfig::None | AuthConfig::Query { .. } => (builder, None),
            AuthConfig::Header { name, value } => {
                (builder.header(name, sensitive(value.expose())?), None)
            }
            AuthConfig::Basic { username, password } => (
                builder.basic_auth(username.expose(), Some(password.expose())),
                None,
            ),
            AuthConfig::Headers(headers) => {
                let mut builder = builder;
                for (name, value) in headers {
                    builder = builder.header(name, sensitive(value.expose())?);
                }
                (builder, None)
            }
            AuthConfig::OAuth2(oauth) => {
                let (token, generation) = self.token(client, oauth).await?;
                let bearer = sensitive(&format!("Bearer {}", token.expose()))?;
                (builder.header(AUTHORIZATION, bearer), Some(generation))
            }
        })
    }

    /// A fresh access token: the cached one, or a new one.
    async fn token(&self, client: &Client, oauth: &OAuth2Config) -> Result<(SecretValue, u64)> {
        let mut state = self.tokens.lock().await;
        if let Some(token) = &state.current
            && token.refresh_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok((token.access.clone(), token.generation));
        }
        let refresh_token = match (&oauth.grant, &state.rotated_refresh_token) {
            (Grant::RefreshToken(_), Some(rotated)) => Some(rotated.clone()),
            (Grant::RefreshToken(original), None) => Some(original.clone()),
            (Grant::ClientCredentials, _) => None,
        };
        // Boxed: a token request goes through the client, which authorizes
        // data requests with this method.
        // Issued tokens are SecretValues: scrubbed from messages from here on.
        let issued = Box::pin(client.request_token(oauth, refresh_token.as_ref())).await?;
        if let Some(rotated) = issued.refresh_token {
            state.rotated_refresh_token = Some(rotated);
        }
        state.generation += 1;
        let refresh_at = issued.expires_in.map(|lifetime| {
            let margin = (lifetime / 4).min(Duration::from_secs(60));
            Instant::now() + lifetime.saturating_sub(margin)
        });
        let generation = state.generation;
        state.current = Some(Token {
            access: issued.access_token.clone(),
            refresh_at,
            generation,
        });
        Ok((issued.access_token, generation))
    }

    /// Forgets the token of `generation` after the API refused it, so the
    /// next request gets a new one (once, however many requests saw it
    /// refused).
    pub(crate) async fn invalidate(&self, generation: Generation) {
        let Some(generation) = generation else { return };
        let mut state = self.tokens.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|t| t.generation == generation)
        {
            state.current = None;
        }
    }
}
