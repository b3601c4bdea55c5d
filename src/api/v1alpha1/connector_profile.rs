//! `ConnectorProfile`: how to reach one application or store, and where its
//! credentials live.
//!
//! A profile holds exactly one connector block (the Kubernetes one-of union:
//! `salesforce`, `zendesk`, `s3`, `postgres`, `http` or `file`) with the
//! non-secret connection settings, and a `credentials` block that names the
//! auth scheme and where the secret parts are kept. Secret values never
//! appear in a profile.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, Duration, Time};

/// How to reach one application or store, and with which credentials.
///
/// Exactly one connector block is set. Flows in the same namespace refer to
/// the profile by name; many Flows can share one profile.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sluice.dev",
    version = "v1alpha1",
    kind = "ConnectorProfile",
    doc = "How to reach one application or store (Salesforce, Zendesk, S3, PostgreSQL, an HTTP API, local files) and where its credentials are kept. Flows in the same namespace refer to it by name.",
    namespaced,
    status = "ConnectorProfileStatus",
    shortname = "cp",
    shortname = "cprof",
    category = "sluice",
    printcolumn = r#"{"name":"Connector","type":"string","jsonPath":".status.connector","description":"The connector this profile configures"}"#,
    printcolumn = r#"{"name":"Auth","type":"string","jsonPath":".status.authScheme","description":"The auth scheme of the credentials"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether the last connection check succeeded"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","description":"Why the profile is or is not ready"}"#,
    printcolumn = r#"{"name":"Checked","type":"date","jsonPath":".status.lastValidationTime","description":"When the connection was last checked"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "[has(self.salesforce), has(self.zendesk), has(self.s3), has(self.postgres), has(self.http), has(self.file)].filter(x, x).size() == 1"
).message("exactly one connector block must be set: salesforce, zendesk, s3, postgres, http or file"))]
#[x_kube(validation = Rule::new(
    "!has(self.salesforce) || (has(self.credentials) && has(self.credentials.oauth2) && self.credentials.oauth2.grantType != 'ClientCredentials')"
).message("salesforce requires credentials.oauth2 with grantType JwtBearer or RefreshToken").field_path(".credentials"))]
#[x_kube(validation = Rule::new(
    "!has(self.zendesk) || (has(self.credentials) && (has(self.credentials.basic) || has(self.credentials.apiKey) || has(self.credentials.oauth2)))"
).message("zendesk requires credentials.basic (email/token and API token), credentials.apiKey (OAuth access token as a bearer header) or credentials.oauth2").field_path(".credentials"))]
#[x_kube(validation = Rule::new(
    "!has(self.s3) || !has(self.credentials) || has(self.credentials.awsIam) || has(self.credentials.awsAccessKey) || has(self.credentials.none)"
).message("s3 accepts credentials.awsIam, credentials.awsAccessKey or credentials.none (anonymous)").field_path(".credentials"))]
#[x_kube(validation = Rule::new(
    "!has(self.postgres) || (has(self.credentials) && has(self.credentials.basic))"
).message("postgres requires credentials.basic (user and password)").field_path(".credentials"))]
#[x_kube(validation = Rule::new(
    "!has(self.http) || !has(self.credentials) || (!has(self.credentials.awsIam) && !has(self.credentials.awsAccessKey))"
).message("http accepts credentials.oauth2, apiKey, basic, customHeaders or none, not AWS credentials").field_path(".credentials"))]
#[x_kube(validation = Rule::new(
    "!has(self.file) || !has(self.credentials) || has(self.credentials.none)"
).message("file reads and writes local paths and takes no credentials").field_path(".credentials"))]
pub struct ConnectorProfileSpec {
    /// Salesforce: REST, Bulk API 2.0 and sObject Collections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salesforce: Option<SalesforceProfile>,
    /// Zendesk Support: incremental exports, list and search endpoints, ticket writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zendesk: Option<ZendeskProfile>,
    /// Amazon S3 or an S3-compatible object store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Profile>,
    /// A PostgreSQL server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresProfile>,
    /// Any HTTP JSON API, described declaratively (the custom-connector story
    /// as a manifest instead of code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProfile>,
    /// Local files. Meant for `sluice local`; in a cluster the paths are
    /// those of the run's pod (volumes from the Flow's run template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileProfile>,
    /// The auth scheme and where its secret parts are kept. Omitted means no
    /// authentication for connectors that allow it (`http`, `file`) and the
    /// standard AWS credential chain for `s3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// TLS settings for connections to the application. Certificates are
    /// always verified unless `insecureSkipVerify` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// URL of an HTTP(S) proxy for all connections of this profile, such as
    /// `http://proxy.internal:3128`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^https?://[^\\\\s]+$')").message("must be an http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub proxy: Option<String>,
    /// How often the connection is checked again, by a short validation Job
    /// in the profile's namespace. The profile is also checked whenever its
    /// spec changes; a change of its Secret is seen at the next check.
    #[serde(default = "default_validation_interval")]
    pub validation_interval: Duration,
}

fn default_validation_interval() -> Duration {
    Duration::from("1h")
}

/// Which Salesforce login host issues tokens.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum SalesforceEnvironment {
    /// `https://login.salesforce.com`.
    #[default]
    Production,
    /// `https://test.salesforce.com`.
    Sandbox,
}

/// Connection settings for Salesforce.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SalesforceProfile {
    /// Which login host issues tokens when `loginUrl` is not set.
    #[serde(default)]
    pub environment: SalesforceEnvironment,
    /// Token endpoint host overriding `environment`, such as a My Domain login
    /// URL `https://acme.my.salesforce.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^https://[^\\\\s/]+/?$')").message("must be an https:// URL of a host, with no path"))]
    #[schemars(length(max = 2048))]
    pub login_url: Option<String>,
    /// The org's instance URL. Normally taken from the token response; set it
    /// only to pin the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^https://[^\\\\s/]+/?$')").message("must be an https:// URL of a host, with no path"))]
    #[schemars(length(max = 2048))]
    pub instance_url: Option<String>,
    /// REST API version, such as `62.0`.
    #[serde(default = "default_salesforce_api_version")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]{2,3}\\\\.0$')").message("must be a Salesforce API version such as 62.0"))]
    #[schemars(length(max = 8))]
    pub api_version: String,
}

fn default_salesforce_api_version() -> String {
    "62.0".to_owned()
}

/// Connection settings for Zendesk Support.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.subdomain) != has(self.url)").message("set exactly one of subdomain or url"))]
pub struct ZendeskProfile {
    /// The account's subdomain: `acme` for `https://acme.zendesk.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9][a-z0-9-]{0,62}$')").message("must be a subdomain such as acme (lowercase letters, digits, hyphens)"))]
    #[schemars(length(max = 63))]
    pub subdomain: Option<String>,
    /// Base URL overriding `subdomain`, for host-mapped accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^https?://[^\\\\s/]+/?$')").message("must be an http(s):// URL of a host, with no path"))]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
}

/// Connection settings for Amazon S3 or an S3-compatible store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Profile {
    /// AWS region of the buckets, such as `eu-west-1`.
    #[x_kube(validation = Rule::new("self.matches('^[a-z]{2}(-[a-z]+)+-[0-9]+$')").message("must be an AWS region such as eu-west-1"))]
    #[schemars(length(max = 32))]
    pub region: String,
    /// Endpoint URL for S3-compatible stores (MinIO, Ceph, R2, ...). Omit
    /// for Amazon S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^https?://[^\\\\s]+$')").message("must be an http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub endpoint: Option<String>,
    /// Address buckets as `endpoint/bucket` rather than `bucket.endpoint`.
    /// Most S3-compatible stores need it.
    #[serde(default)]
    pub force_path_style: bool,
}

/// How strictly the PostgreSQL connection uses TLS (libpq's `sslmode`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum PostgresSslMode {
    /// No TLS. Only for servers on a trusted network.
    Disable,
    /// TLS required, server certificate not checked.
    Require,
    /// TLS required, certificate chain checked against the CA bundle.
    VerifyCa,
    /// TLS required, certificate chain and host name checked.
    #[default]
    VerifyFull,
}

/// Connection settings for a PostgreSQL server. User and password come from
/// `credentials.basic`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresProfile {
    /// Host name or IP address of the server.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// TCP port of the server.
    #[serde(default = "default_postgres_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Database to connect to.
    #[schemars(length(min = 1, max = 63))]
    pub database: String,
    /// TLS mode; certificates are verified by default.
    #[serde(default)]
    pub ssl_mode: PostgresSslMode,
}

fn default_postgres_port() -> i32 {
    5432
}

/// Connection settings for a declarative HTTP JSON API. What to read is
/// described on the Flow; how to reach and authenticate is described here.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpProfile {
    /// Base URL that Flow paths are resolved against, such as
    /// `https://api.example.com/v2/`.
    #[x_kube(validation = Rule::new("self.matches('^https?://[^\\\\s]+$')").message("must be an http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub base_url: String,
    /// Non-secret headers sent with every request (secret headers belong in
    /// `credentials.customHeaders`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub headers: Vec<HttpHeader>,
    /// Client-side request rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Timeout of a single request.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Duration,
}

fn default_request_timeout() -> Duration {
    Duration::from("30s")
}

/// A non-secret HTTP header.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeader {
    /// Header name, such as `Accept`.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Header value.
    #[schemars(length(max = 4096))]
    pub value: String,
}

/// A client-side rate limit. Server-side limits (`Retry-After`,
/// `X-RateLimit-*` headers) are always honoured as well.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Most requests started per second.
    #[schemars(range(min = 1, max = 10000))]
    pub requests_per_second: i32,
    /// Most requests in flight at once.
    #[serde(default = "default_max_concurrency")]
    #[schemars(range(min = 1, max = 64))]
    pub max_concurrency: i32,
}

fn default_max_concurrency() -> i32 {
    4
}

/// Local files, for `sluice local` and for volumes mounted into run pods.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileProfile {
    /// Directory that Flow paths are resolved against. A relative root is
    /// relative to the working directory of `sluice local`, or of the run's
    /// container in a pod. A root that contains or lies inside where a pod
    /// keeps its credentials or the system's own files (`/var/run/secrets`,
    /// `/run/secrets`, `$SLUICE_SECRETS_DIR`, `/proc`, `/sys`, `/dev`;
    /// symbolic links followed) is refused, so `/` is too.
    #[serde(default = "default_file_root")]
    #[schemars(length(min = 1, max = 4096))]
    pub root: String,
}

fn default_file_root() -> String {
    ".".to_owned()
}

/// TLS settings for a profile's connections.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.insecureSkipVerify) && self.insecureSkipVerify && has(self.caBundle))").message("caBundle has no effect when insecureSkipVerify is true; set one or the other").field_path(".caBundle"))]
pub struct TlsSettings {
    /// PEM-encoded CA certificates trusted in addition to the system roots,
    /// for servers with a private CA. Certificates are public; no secret
    /// belongs here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.contains('-----BEGIN CERTIFICATE-----')").message("must hold PEM-encoded certificates (-----BEGIN CERTIFICATE-----)"))]
    #[schemars(length(max = 65536))]
    pub ca_bundle: Option<String>,
    /// Skip verification of the server certificate. For tests only: anyone
    /// on the path can read the data and the credentials.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// The auth scheme of a profile and where its secret parts are kept.
///
/// Exactly one scheme block is set (`oauth2`, `apiKey`, `basic`,
/// `customHeaders`, `awsAccessKey`, `awsIam` or `none`). Schemes with secret
/// parts name them by key; the keys are looked up in exactly one store:
/// `secretRef` (a Kubernetes Secret in the profile's namespace) or
/// `awsSecretsManager`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "[has(self.oauth2), has(self.apiKey), has(self.basic), has(self.customHeaders), has(self.awsAccessKey), has(self.awsIam), has(self.none)].filter(x, x).size() == 1"
).message("exactly one auth scheme must be set: oauth2, apiKey, basic, customHeaders, awsAccessKey, awsIam or none"))]
#[x_kube(validation = Rule::new("!(has(self.secretRef) && has(self.awsSecretsManager))").message("set at most one secret store: secretRef or awsSecretsManager"))]
#[x_kube(validation = Rule::new(
    "has(self.awsIam) || has(self.none) || has(self.secretRef) || has(self.awsSecretsManager)"
).message("this auth scheme reads secret keys: set secretRef (a Kubernetes Secret) or awsSecretsManager"))]
#[x_kube(validation = Rule::new(
    "!(has(self.awsIam) || has(self.none)) || !(has(self.secretRef) || has(self.awsSecretsManager))"
).message("awsIam and none read no secret keys: remove secretRef and awsSecretsManager"))]
pub struct Credentials {
    /// A Kubernetes Secret in the profile's namespace holding the keys the
    /// scheme names. It must opt in to being used by Sluice with the label
    /// `sluice.dev/allowed: "true"` (unless the controller runs with
    /// `--require-secret-opt-in=false`): without it the profile is
    /// `Ready=False` with reason `SecretNotAllowed` and no pod mounts it.
    /// The controller reads its metadata only, never its data; it is
    /// mounted into the run's pod at `$SLUICE_SECRETS_DIR/{name}/{key}` (default
    /// `/var/run/secrets/sluice`). In `sluice local` it is a `Secret`
    /// document of the same file, or the environment variables
    /// `SLUICE_SECRET_{NAME}_{KEY}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<super::common::LocalObjectReference>,
    /// An AWS Secrets Manager secret holding the keys the scheme names,
    /// fetched by the run's pod with its own AWS identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_secrets_manager: Option<AwsSecretsManagerRef>,
    /// OAuth 2.0: refresh-token, client-credentials or JWT-bearer grant.
    /// Access tokens are refreshed transparently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    /// An API key sent in a header or query parameter, with an optional
    /// secret key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKey>,
    /// HTTP basic authentication, or user and password for databases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<Basic>,
    /// Arbitrary headers whose values are secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_headers: Option<CustomHeaders>,
    /// Static AWS access keys (prefer `awsIam`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_access_key: Option<AwsAccessKey>,
    /// The standard AWS credential chain of the run's pod: web identity
    /// (IRSA), EKS Pod Identity, container credentials, environment,
    /// optionally assuming a role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_iam: Option<AwsIam>,
    /// No authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub none: Option<NoAuth>,
}

/// An AWS Secrets Manager secret. Its value must be a JSON object whose
/// members the scheme's key names select; a secret stored as a plain string
/// is read as the single key `value`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.versionStage) && has(self.versionId))").message("set at most one of versionStage or versionId").field_path(".versionId"))]
pub struct AwsSecretsManagerRef {
    /// Name or ARN of the secret.
    #[schemars(length(min = 1, max = 2048))]
    pub secret_id: String,
    /// Region of the secret; defaults to the region of the pod's AWS
    /// configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-z]{2}(-[a-z]+)+-[0-9]+$')").message("must be an AWS region such as eu-west-1"))]
    #[schemars(length(max = 32))]
    pub region: Option<String>,
    /// Version stage to read, such as `AWSCURRENT` (the default) or `AWSPREVIOUS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub version_stage: Option<String>,
    /// Exact version id to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 32, max = 64))]
    pub version_id: Option<String>,
    /// Endpoint URL overriding the regional Secrets Manager endpoint (VPC
    /// endpoints, AWS-compatible servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^https?://[^\\\\s]+$')").message("must be an http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub endpoint: Option<String>,
}

/// The OAuth 2.0 grant used to obtain access tokens.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum OAuth2GrantType {
    /// Exchange a long-lived refresh token (authorization-code flow done
    /// beforehand) for access tokens. Needs `clientIdKey`, `clientSecretKey`
    /// (unless the client is public) and `refreshTokenKey`.
    RefreshToken,
    /// Client credentials. Needs `clientIdKey` and `clientSecretKey`. Not
    /// accepted by Salesforce profiles.
    ClientCredentials,
    /// JWT bearer assertion signed with a private key (RFC 7523). Needs
    /// `clientIdKey`, `privateKeyKey` and `subject`.
    JwtBearer,
}

/// How an OAuth 2.0 client proves itself to the token endpoint.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum OAuth2ClientAuthentication {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1, which
    /// every server must accept).
    #[default]
    Basic,
    /// `client_id` and `client_secret` as form parameters of the token
    /// request, for endpoints that accept only those (some SaaS APIs).
    Body,
}

/// OAuth 2.0 settings. Key names select entries of the secret store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.grantType != 'RefreshToken' || has(self.refreshTokenKey)").message("grantType RefreshToken needs refreshTokenKey").field_path(".refreshTokenKey"))]
#[x_kube(validation = Rule::new("self.grantType != 'ClientCredentials' || has(self.clientSecretKey)").message("grantType ClientCredentials needs clientSecretKey").field_path(".clientSecretKey"))]
#[x_kube(validation = Rule::new("self.grantType != 'JwtBearer' || (has(self.privateKeyKey) && has(self.subject))").message("grantType JwtBearer needs privateKeyKey and subject"))]
pub struct OAuth2 {
    /// The grant used to obtain access tokens.
    pub grant_type: OAuth2GrantType,
    /// Token endpoint. Defaults to the connector's documented endpoint
    /// (Salesforce: `{loginUrl}/services/oauth2/token`); required for `http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^https?://[^\\\\s]+$')").message("must be an http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub token_url: Option<String>,
    /// How the client authenticates to the token endpoint. A public client
    /// (no `clientSecretKey`) always sends only `client_id` in the form.
    #[serde(default)]
    pub client_authentication: OAuth2ClientAuthentication,
    /// Scopes requested with the token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub scopes: Vec<String>,
    /// Audience of JWT-bearer assertions; defaults to the login URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub audience: Option<String>,
    /// Subject (user name) of JWT-bearer assertions, such as
    /// `integration@acme.com`. Not secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub subject: Option<String>,
    /// Key holding the client id (consumer key).
    #[serde(default = "default_client_id_key")]
    #[schemars(length(min = 1, max = 253))]
    pub client_id_key: String,
    /// Key holding the client secret (consumer secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub client_secret_key: Option<String>,
    /// Key holding the refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub refresh_token_key: Option<String>,
    /// Key holding the PEM private key that signs JWT-bearer assertions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub private_key_key: Option<String>,
}

fn default_client_id_key() -> String {
    "clientId".to_owned()
}

/// Where an API key is sent.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ApiKeyPlacement {
    /// In a request header.
    #[default]
    Header,
    /// In a query parameter.
    Query,
}

/// An API key. Sent as `{name}: {prefix}{key}` in a header or
/// `?{name}={key}` in the query.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// Key holding the API key.
    #[serde(default = "default_api_key_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key_key: String,
    /// Key holding a secret key that some APIs pair with the API key. Not
    /// used by `http` sources (send it with `customHeaders`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub secret_key_key: Option<String>,
    /// Where the key is sent.
    #[serde(default, rename = "in")]
    pub placement: ApiKeyPlacement,
    /// Header or query parameter name.
    #[serde(default = "default_api_key_name")]
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Text put before the key in a header, such as `Bearer ` for bearer tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub prefix: Option<String>,
}

fn default_api_key_key() -> String {
    "apiKey".to_owned()
}

fn default_api_key_name() -> String {
    "Authorization".to_owned()
}

/// User and password. For Zendesk API tokens the user is `{email}/token`
/// and the password the token.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Basic {
    /// Key holding the user name.
    #[serde(default = "default_username_key")]
    #[schemars(length(min = 1, max = 253))]
    pub username_key: String,
    /// Key holding the password.
    #[serde(default = "default_password_key")]
    #[schemars(length(min = 1, max = 253))]
    pub password_key: String,
}

fn default_username_key() -> String {
    "username".to_owned()
}

fn default_password_key() -> String {
    "password".to_owned()
}

/// Headers whose values are secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomHeaders {
    /// Header names and the keys holding their values.
    #[schemars(length(min = 1, max = 32))]
    pub headers: Vec<SecretHeader>,
}

/// A header whose value is read from the secret store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretHeader {
    /// Header name.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Key holding the header value.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Static AWS access keys.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsAccessKey {
    /// Key holding the access key id.
    #[serde(default = "default_access_key_id_key")]
    #[schemars(length(min = 1, max = 253))]
    pub access_key_id_key: String,
    /// Key holding the secret access key.
    #[serde(default = "default_secret_access_key_key")]
    #[schemars(length(min = 1, max = 253))]
    pub secret_access_key_key: String,
    /// Key holding a session token, for temporary credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub session_token_key: Option<String>,
}

fn default_access_key_id_key() -> String {
    "accessKeyId".to_owned()
}

fn default_secret_access_key_key() -> String {
    "secretAccessKey".to_owned()
}

/// The pod's AWS identity, optionally assuming a role.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsIam {
    /// Role to assume with the pod's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$')").message("must be an IAM role ARN such as arn:aws:iam::123456789012:role/sluice"))]
    #[schemars(length(max = 2048))]
    pub role_arn: Option<String>,
    /// External id required by the role's trust policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224))]
    pub external_id: Option<String>,
}

/// No authentication (an empty object: `none: {}`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
pub struct NoAuth {}

/// The connector a profile configures, as shown in `kubectl get`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ConnectorKind {
    /// Salesforce.
    Salesforce,
    /// Zendesk Support.
    Zendesk,
    /// Amazon S3 or S3-compatible.
    S3,
    /// PostgreSQL.
    Postgres,
    /// Declarative HTTP.
    Http,
    /// Local files.
    File,
}

/// Observed state of a ConnectorProfile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorProfileStatus {
    /// Latest observations: `Ready` (reasons `Validated`, `SecretNotFound`,
    /// `AuthenticationFailed`, `Unreachable`, `Forbidden`, `InvalidSpec`),
    /// `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The connector of the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<ConnectorKind>,
    /// The auth scheme of the credentials (`oauth2/JwtBearer`, `basic`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_scheme: Option<String>,
    /// When the connection was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_validation_time: Option<Time>,
    /// Flows in the namespace that use this profile, as source, destination
    /// or error location.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<String>,
}
