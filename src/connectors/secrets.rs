//! Secret values: a redacted string type, and the resolver that reads the
//! keys a ConnectorProfile's `credentials` name from their store.
//!
//! Secret values never appear in a spec, a status, a log line or an error
//! message. [`SecretValue`] prints as `***` (`Debug` and `Display`), is not
//! serializable, and hands out its text only through
//! [`SecretValue::expose`], so every use of the value is explicit and easy
//! to audit.
//!
//! # Where values are read
//!
//! A profile's `credentials.secretRef` names a Kubernetes Secret in the
//! profile's namespace; its scheme names keys of that Secret.
//!
//! - **Run pods** (`sluice run`) read mounted files: the key `{key}` of the
//!   Secret `{secretName}` is the file `$SLUICE_SECRETS_DIR/{secretName}/{key}`
//!   (default directory `/var/run/secrets/sluice`). This is the contract the
//!   controller implements when it mounts the Secrets of a run's profiles
//!   into the run's pod: one Secret volume per Secret, mounted at
//!   `{dir}/{secretName}`, so each key is a file holding its value. The file
//!   is read as UTF-8 and used as is (a trailing newline is kept: Kubernetes
//!   writes values byte for byte).
//! - **Local mode** (`sluice local`) reads the `Secret` documents of the
//!   manifest file (`data`, base64-decoded, and `stringData`). A Secret or a
//!   key that the file does not hold is read from the environment variable
//!   `SLUICE_SECRET_{SECRETNAME}_{KEY}`, both names upper-cased with every
//!   character other than A–Z and 0–9 replaced by `_` (the key `apiKey` of
//!   the Secret `crm-api` is `SLUICE_SECRET_CRM_API_APIKEY`), so secrets can
//!   stay out of files kept in Git.
//!
//! `credentials.awsSecretsManager` names an AWS Secrets Manager secret,
//! fetched (GetSecretValue, with `versionStage` or `versionId` when set) with
//! the AWS credential chain of the process (the run pod's identity; in local
//! mode the environment or `~/.aws`), in `region` or the chain's region, at
//! `endpoint` when set. A secret string holding a JSON object has its members
//! as keys (string members as they are, others as JSON text); any other
//! string is the single key `value`. Each secret is fetched once per
//! resolver.
//!
//! A Secret or key that cannot be found is an [`Error::NotFound`] naming the
//! profile, the Secret and the key (never a value); its
//! [`condition_reason`](Classify::condition_reason) is `SecretNotFound`, the profile condition
//! reason, and a FlowRun reports it as `ReferenceNotFound`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::api::v1alpha1::connector_profile::{AwsSecretsManagerRef, Credentials};
use crate::pipeline::error::{Classify, ErrorClass};

pub use crate::protocol::{DEFAULT_SECRETS_DIR, SECRETS_DIR_ENV};

/// Errors of resolving secret values. Messages name profiles, Secrets and
/// keys, never values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Secret or its key does not exist where this run looks.
    #[error(
        "ConnectorProfile {profile:?}: credentials.secretRef: key {key:?} of Secret {secret:?} not found ({looked}); create the Secret with that key or correct the key name"
    )]
    NotFound {
        /// The profile whose credentials name the key.
        profile: String,
        /// The Secret.
        secret: String,
        /// The key.
        key: String,
        /// Where the key was looked for.
        looked: String,
    },
    /// A mounted key exists but cannot be read.
    #[error(
        "ConnectorProfile {profile:?}: credentials.secretRef: key {key:?} of Secret {secret:?} cannot be read from {path}: {source}"
    )]
    Unreadable {
        /// The profile.
        profile: String,
        /// The Secret.
        secret: String,
        /// The key.
        key: String,
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The AWS Secrets Manager secret or its key does not exist.
    #[error(
        "ConnectorProfile {profile:?}: credentials.awsSecretsManager: key {key:?} of secret {secret_id:?} not found ({looked})"
    )]
    AwsNotFound {
        /// The profile.
        profile: String,
        /// The secret id.
        secret_id: String,
        /// The key.
        key: String,
        /// What was found instead.
        looked: String,
    },
    /// AWS Secrets Manager could not be asked (network, permissions).
    #[error(
        "ConnectorProfile {profile:?}: credentials.awsSecretsManager: cannot read secret {secret_id:?}: {message}"
    )]
    AwsUnavailable {
        /// The profile.
        profile: String,
        /// The secret id.
        secret_id: String,
        /// The SDK's error (never a value).
        message: String,
    },
    /// The scheme needs keys but the credentials name no store.
    #[error(
        "ConnectorProfile {profile:?}: credentials need key {key:?} but name no secret store; set credentials.secretRef to the Secret holding it"
    )]
    NoStore {
        /// The profile.
        profile: String,
        /// The key asked for.
        key: String,
    },
}

impl Classify for Error {
    /// `NotFound` (retryable: the Secret or its mount may appear), or
    /// `Transient` when Secrets Manager could not be reached.
    fn class(&self) -> ErrorClass {
        match self {
            Self::AwsUnavailable { .. } => ErrorClass::Transient,
            _ => ErrorClass::NotFound,
        }
    }

    /// `SecretNotFound`, whatever kept the credentials from being read:
    /// the profile's condition points at its Secret.
    fn condition_reason(&self) -> &'static str {
        crate::api::v1alpha1::reason::SECRET_NOT_FOUND
    }
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A secret string. Prints as `***`; the value is read only through
/// [`expose`](Self::expose). Deliberately not `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value, and remembers it (in every form a message could show
    /// it) so that [`redact`] scrubs it from any text that leaves the
    /// process.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        remember(&value);
        Self(value)
    }

    /// The value itself. Call it only where the value is sent to the
    /// application it authenticates to.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for SecretValue {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

/// Values shorter than this are not scrubbed: they would mangle ordinary
/// words while hiding next to nothing.
const MIN_SCRUBBED: usize = 3;

/// Every form of every secret this process has held, longest first.
static SEEN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// The forms in which `value` could reach a message: as is, trimmed (files
/// mounted from Secrets often end with a newline), with its whitespace
/// normalised (messages quote bodies on one line), each long line of a
/// multi-line value (a PEM key), URL-encoded (query parameters and forms,
/// upper- and lower-case hex), JSON-escaped, and base64 (standard and
/// URL-safe, with and without padding).
pub fn forms(value: &str) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut out: Vec<String> = Vec::new();
    let trimmed = value.trim();
    let normalised = value.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut plain = vec![value.to_owned(), trimmed.to_owned(), normalised];
    plain.extend(
        value
            .lines()
            .map(str::trim)
            .filter(|line| line.len() >= 16)
            .map(str::to_owned),
    );
    for text in plain {
        if text.len() < MIN_SCRUBBED {
            continue;
        }
        out.push(url::form_urlencoded::byte_serialize(text.as_bytes()).collect());
        out.push(percent_encode(&text, false));
        out.push(percent_encode(&text, true));
        if let Ok(json) = serde_json::to_string(&text) {
            out.push(json[1..json.len() - 1].to_owned());
        }
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            out.push(engine.encode(text.as_bytes()));
        }
        out.push(text);
    }
    out.retain(|form| form.len() >= MIN_SCRUBBED);
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

/// Every byte other than the unreserved ones (RFC 3986) as `%XX`, in
/// upper- or lower-case hex.
fn percent_encode(text: &str, lower: bool) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else if lower {
            out.push_str(&format!("%{byte:02x}"));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Remembers a secret, or a value derived from secrets as it is sent (the
/// base64 of basic credentials `user:password`), so that [`redact`]
/// scrubs it in all its [`forms`].
pub fn remember(value: &str) {
    if value.trim().len() < MIN_SCRUBBED {
        return;
    }
    let new = forms(value);
    let mut seen = SEEN.write().unwrap_or_else(PoisonError::into_inner);
    let before = seen.len();
    for form in new {
        if !seen.contains(&form) {
            seen.push(form);
        }
    }
    if seen.len() != before {
        seen.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }
}

/// `text` with every form of every secret this process has held replaced
/// by `***`. Applied to everything a run or a check writes where others
/// can read it: the FlowRun's status, the check's result, error messages
/// printed by the command line.
pub fn redact(text: &str) -> String {
    let seen = SEEN.read().unwrap_or_else(PoisonError::into_inner);
    let mut out = text.to_owned();
    for form in seen.iter() {
        if out.contains(form.as_str()) {
            out = out.replace(form.as_str(), "***");
        }
    }
    out
}

/// Every string inside `value` redacted (see [`redact`]).
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => {
            let scrubbed = redact(text);
            if scrubbed != *text {
                *text = scrubbed;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(redact_json),
        _ => {}
    }
}

/// Where a run reads Secret keys from.
#[derive(Clone)]
enum Backend {
    /// Local mode: the manifest's Secret documents, then the environment.
    Manifest(BTreeMap<String, BTreeMap<String, SecretValue>>),
    /// Run pods: files mounted under a directory.
    Mounted(PathBuf),
}

/// Reads the secret keys a profile's credentials name.
#[derive(Clone)]
pub struct Resolver {
    backend: Backend,
    /// AWS Secrets Manager secrets fetched so far, by id and version.
    aws: Arc<Mutex<BTreeMap<String, BTreeMap<String, SecretValue>>>>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.backend {
            Backend::Manifest(secrets) => f
                .debug_struct("Resolver")
                .field("manifest_secrets", &secrets.keys().collect::<Vec<_>>())
                .finish(),
            Backend::Mounted(dir) => f.debug_struct("Resolver").field("dir", dir).finish(),
        }
    }
}

impl Default for Resolver {
    /// No Secrets: every key is looked up in the environment only.
    fn default() -> Self {
        Self::manifest(BTreeMap::new())
    }
}

/// `SLUICE_SECRET_{SECRET}_{KEY}`, upper-cased, other characters as `_`.
pub fn env_var_name(secret: &str, key: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("SLUICE_SECRET_{}_{}", clean(secret), clean(key))
}

impl Resolver {
    /// Local mode: the Secret documents of a manifest file (name → key →
    /// value), with the environment as fallback.
    pub fn manifest(secrets: BTreeMap<String, BTreeMap<String, String>>) -> Self {
        let secrets = secrets
            .into_iter()
            .map(|(name, keys)| {
                let keys = keys
                    .into_iter()
                    .map(|(k, v)| (k, SecretValue::new(v)))
                    .collect();
                (name, keys)
            })
            .collect();
        Self {
            backend: Backend::Manifest(secrets),
            aws: Arc::default(),
        }
    }

    /// Run pods: Secret keys mounted as files under `dir`.
    pub fn mounted(dir: impl Into<PathBuf>) -> Self {
        Self {
            backend: Backend::Mounted(dir.into()),
            aws: Arc::default(),
        }
    }

    /// Run pods: the directory `$SLUICE_SECRETS_DIR`, by default
    /// [`DEFAULT_SECRETS_DIR`].
    pub fn mounted_from_env() -> Self {
        let dir = std::env::var_os(SECRETS_DIR_ENV)
            .filter(|d| !d.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_SECRETS_DIR), PathBuf::from);
        Self::mounted(dir)
    }

    /// The store of `profile`'s `credentials`, to read keys from.
    pub fn store<'a>(&'a self, profile: &str, credentials: Option<&Credentials>) -> Store<'a> {
        let location = match credentials {
            Some(Credentials {
                aws_secrets_manager: Some(reference),
                ..
            }) => Location::AwsSecretsManager(reference.clone()),
            Some(c) => match &c.secret_ref {
                Some(secret) => Location::Secret(secret.name.clone()),
                None => Location::Nowhere,
            },
            None => Location::Nowhere,
        };
        Store {
            resolver: self,
            profile: profile.to_owned(),
            location,
        }
    }

    fn read(&self, profile: &str, secret: &str, key: &str) -> Result<SecretValue> {
        let not_found = |looked: String| Error::NotFound {
            profile: profile.to_owned(),
            secret: secret.to_owned(),
            key: key.to_owned(),
            looked,
        };
        match &self.backend {
            Backend::Manifest(secrets) => {
                if let Some(value) = secrets.get(secret).and_then(|keys| keys.get(key)) {
                    return Ok(value.clone());
                }
                let var = env_var_name(secret, key);
                if let Some(value) = std::env::var_os(&var) {
                    return Ok(SecretValue::new(value.to_string_lossy().into_owned()));
                }
                let in_file = if secrets.contains_key(secret) {
                    format!("the manifest's Secret {secret:?} has no key {key:?}")
                } else {
                    format!("the manifest has no Secret {secret:?}")
                };
                Err(not_found(format!("{in_file}, and ${var} is not set")))
            }
            Backend::Mounted(dir) => {
                let path = mounted_path(dir, secret, key);
                match std::fs::read(&path) {
                    Ok(bytes) => Ok(SecretValue::new(
                        String::from_utf8_lossy(&bytes).into_owned(),
                    )),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Err(not_found(format!("no file {}", path.display())))
                    }
                    Err(source) => Err(Error::Unreadable {
                        profile: profile.to_owned(),
                        secret: secret.to_owned(),
                        key: key.to_owned(),
                        path: path.display().to_string(),
                        source,
                    }),
                }
            }
        }
    }
}

impl Resolver {
    fn read_aws(
        &self,
        profile: &str,
        reference: &AwsSecretsManagerRef,
        key: &str,
    ) -> Result<SecretValue> {
        let cache_key = format!(
            "{}\n{}\n{}\n{}\n{}",
            reference.secret_id,
            reference.version_stage.as_deref().unwrap_or_default(),
            reference.version_id.as_deref().unwrap_or_default(),
            reference.region.as_deref().unwrap_or_default(),
            reference.endpoint.as_deref().unwrap_or_default(),
        );
        let mut cache = self.aws.lock().unwrap_or_else(|e| e.into_inner());
        if !cache.contains_key(&cache_key) {
            let keys = fetch_aws(profile, reference)?;
            cache.insert(cache_key.clone(), keys);
        }
        let keys = cache.get(&cache_key).cloned().unwrap_or_default();
        keys.get(key).cloned().ok_or_else(|| Error::AwsNotFound {
            profile: profile.to_owned(),
            secret_id: reference.secret_id.clone(),
            key: key.to_owned(),
            looked: if keys.contains_key("value") && keys.len() == 1 {
                "the secret is a plain string: its only key is \"value\"".to_owned()
            } else {
                let names: Vec<&str> = keys.keys().map(String::as_str).collect();
                format!("the secret's keys are {names:?}")
            },
        })
    }
}

/// Fetches a secret and splits it into keys.
fn fetch_aws(
    profile: &str,
    reference: &AwsSecretsManagerRef,
) -> Result<BTreeMap<String, SecretValue>> {
    let unavailable = |message: String| Error::AwsUnavailable {
        profile: profile.to_owned(),
        secret_id: reference.secret_id.clone(),
        message,
    };
    let runtime = crate::connectors::common::aws::runtime()
        .map_err(|e| unavailable(format!("cannot start the AWS client's runtime: {e}")))?;
    let config =
        crate::connectors::common::aws::default_config(&runtime, reference.region.as_deref());
    let mut builder = aws_sdk_secretsmanager::config::Builder::from(&config);
    if let Some(endpoint) = &reference.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    let client = aws_sdk_secretsmanager::Client::from_conf(builder.build());
    let request = client
        .get_secret_value()
        .secret_id(&reference.secret_id)
        .set_version_stage(reference.version_stage.clone())
        .set_version_id(reference.version_id.clone());
    let output = match runtime.block_on(request.send()) {
        Ok(output) => output,
        Err(e) => {
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())
            {
                return Err(Error::AwsNotFound {
                    profile: profile.to_owned(),
                    secret_id: reference.secret_id.clone(),
                    key: String::new(),
                    looked: "the secret (or that version of it) does not exist".to_owned(),
                });
            }
            return Err(unavailable(aws_failure(&e)));
        }
    };
    let Some(text) = output.secret_string() else {
        return Err(unavailable(
            "the secret holds binary data; sluice reads secret strings".to_owned(),
        ));
    };
    Ok(split_secret(text))
}

/// What a failed Secrets Manager call says, by the service's error code
/// and message. An answer that could not be read is never quoted: it may
/// hold the secret itself.
fn aws_failure<E, R>(e: &aws_sdk_secretsmanager::error::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_secretsmanager::error::SdkError;
    match e {
        SdkError::ServiceError(service) => {
            let error = service.err();
            match (error.code(), error.message().filter(|m| !m.is_empty())) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => "the service refused the request without an error code".to_owned(),
            }
        }
        SdkError::ResponseError(_) => {
            "the answer could not be read (it is not shown: it may hold the secret)".to_owned()
        }
        SdkError::TimeoutError(_) => "no answer in time".to_owned(),
        other => crate::connectors::common::aws::error_text(other),
    }
}

/// A JSON object's members, or the whole string as the key `value`.
fn split_secret(text: &str) -> BTreeMap<String, SecretValue> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        Ok(members) => members
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, SecretValue::new(v))
            })
            .collect(),
        Err(_) => BTreeMap::from([("value".to_owned(), SecretValue::new(text))]),
    }
}

/// `{dir}/{secret}/{key}`; names with path separators cannot escape `dir`
/// (Kubernetes names and keys never hold them).
fn mounted_path(dir: &Path, secret: &str, key: &str) -> PathBuf {
    let clean = |s: &str| s.replace(['/', '\\'], "_");
    let clean = |s: &str| if s == ".." { "_".to_owned() } else { clean(s) };
    dir.join(clean(secret)).join(clean(key))
}

#[derive(Debug, Clone)]
enum Location {
    Secret(String),
    AwsSecretsManager(AwsSecretsManagerRef),
    Nowhere,
}

/// The secret store of one profile.
#[derive(Debug, Clone)]
pub struct Store<'a> {
    resolver: &'a Resolver,
    profile: String,
    location: Location,
}

impl Store<'_> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Result<SecretValue> {
        match &self.location {
            Location::Secret(secret) => self.resolver.read(&self.profile, secret, key),
            Location::AwsSecretsManager(reference) => {
                self.resolver.read_aws(&self.profile, reference, key)
            }
            Location::Nowhere => Err(Error::NoStore {
                profile: self.profile.clone(),
                key: key.to_owned(),
            }),
        }
    }

    /// The profile's name.
    pub fn profile(&self) -> &str {
        &self.profile
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn every_form_a_secret_can_take_in_a_message_is_redacted() {
        use base64::Engine as _;
        let value = "p@ss w0rd/+=Zq\"x";
        let _secret = SecretValue::new(value);
        let b64 = base64::engine::general_purpose::STANDARD;
        let shown = [
            value.to_owned(),
            "p%40ss+w0rd%2F%2B%3DZq%22x".to_owned(),
            "p%40ss%20w0rd%2F%2B%3DZq%22x".to_owned(),
            "p%40ss%20w0rd%2f%2b%3dZq%22x".to_owned(),
            r#"p@ss w0rd/+=Zq\"x"#.to_owned(),
            b64.encode(value),
        ];
        for form in shown {
            let text = format!("the server said: [{form}] go away");
            let out = redact(&text);
            assert!(!out.contains(&form), "{form:?} survived in {out:?}");
            assert_eq!(out, "the server said: [***] go away");
        }
        // A value mounted from a Secret file ends with a newline; the
        // message shows it without.
        let _ = SecretValue::new("tok-with-newline-8812\n");
        assert_eq!(redact("tok-with-newline-8812 leaked"), "*** leaked");
        // Whitespace normalised: a multi-line value quoted on one line.
        let _ = SecretValue::new("line-one-abcdefgh\n  line-two-ijklmnop");
        assert_eq!(
            redact("body: line-one-abcdefgh line-two-ijklmnop"),
            "body: ***"
        );
        // Basic credentials as sent.
        remember("alice:s3cr3t-basic");
        let header = b64.encode("alice:s3cr3t-basic");
        assert_eq!(redact(&format!("Basic {header}")), "Basic ***");
        // Short values are left alone.
        let _ = SecretValue::new("ab");
        assert_eq!(redact("a tab"), "a tab");
    }

    #[test]
    fn redact_json_scrubs_every_string_of_a_document() {
        let _ = SecretValue::new("json-doc-secret-5521");
        let mut doc = serde_json::json!({
            "message": "refused json-doc-secret-5521",
            "list": [{"x": "anc%2Fjson-doc-secret-5521"}],
            "n": 3
        });
        redact_json(&mut doc);
        assert_eq!(doc["message"], "refused ***");
        assert_eq!(doc["list"][0]["x"], "anc%2F***");
        assert_eq!(doc["n"], 3);
    }
    use crate::api::v1alpha1::flow_run::ErrorReason;

    fn credentials(secret: &str) -> Credentials {
        serde_json::from_value(serde_json::json!({
            "secretRef": {"name": secret},
            "apiKey": {}
        }))
        .unwrap()
    }

    #[test]
    fn secret_values_never_print() {
        let value = SecretValue::new("hunter2");
        assert_eq!(format!("{value}"), "***");
        assert_eq!(format!("{value:?}"), "***");
        assert_eq!(format!("{:?}", Some(&value)), "Some(***)");
        assert_eq!(value.expose(), "hunter2");
    }

    #[test]
    fn env_names_are_upper_case_with_underscores() {
        assert_eq!(
            env_var_name("crm-api", "apiKey"),
            "SLUICE_SECRET_CRM_API_APIKEY"
        );
        assert_eq!(env_var_name("a.b", "c_d"), "SLUICE_SECRET_A_B_C_D");
    }

    #[test]
    fn manifest_secrets_are_read_and_missing_keys_named() {
        let mut keys = BTreeMap::new();
        keys.insert("apiKey".to_owned(), "s3cr3t".to_owned());
        let mut secrets = BTreeMap::new();
        secrets.insert("creds".to_owned(), keys);
        let resolver = Resolver::manifest(secrets);
        let creds = credentials("creds");
        let store = resolver.store("api", Some(&creds));
        assert_eq!(store.get("apiKey").unwrap().expose(), "s3cr3t");
        let error = store.get("sluice-test-missing-key").unwrap_err();
        let message = error.to_string();
        assert_eq!(error.condition_reason(), "SecretNotFound");
        assert!(message.contains("\"api\""), "{message}");
        assert!(message.contains("\"creds\""), "{message}");
        assert!(message.contains("\"sluice-test-missing-key\""), "{message}");
        assert!(
            message.contains("SLUICE_SECRET_CREDS_SLUICE_TEST_MISSING_KEY"),
            "{message}"
        );
        assert!(!message.contains("s3cr3t"), "{message}");
    }

    #[test]
    fn mounted_secrets_are_files_under_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("creds")).unwrap();
        std::fs::write(dir.path().join("creds/apiKey"), "from-file").unwrap();
        let resolver = Resolver::mounted(dir.path());
        let creds = credentials("creds");
        let store = resolver.store("api", Some(&creds));
        assert_eq!(store.get("apiKey").unwrap().expose(), "from-file");
        let error = store.get("other").unwrap_err();
        assert!(matches!(error, Error::NotFound { .. }));
        assert!(error.to_string().contains("creds/other"), "{error}");
        assert_eq!(error.reason(), ErrorReason::ReferenceNotFound);
        assert_eq!(error.condition_reason(), "SecretNotFound");
    }

    #[test]
    fn aws_secrets_split_into_keys() {
        let keys = split_secret(r#"{"accessKeyId":"AK","n":1}"#);
        assert_eq!(keys["accessKeyId"].expose(), "AK");
        assert_eq!(keys["n"].expose(), "1");
        let keys = split_secret("just-a-token");
        assert_eq!(keys["value"].expose(), "just-a-token");
        assert_eq!(keys.len(), 1);
    }
}
