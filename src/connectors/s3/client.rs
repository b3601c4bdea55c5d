//! The AWS SDK clients of a profile, and the small tokio runtime they run on
//! (the shared [`Runtime`], two workers).

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials as StaticCredentials;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use super::{Error, Result};
use crate::api::v1alpha1::connector_profile::{Credentials, S3Profile};
use crate::connectors::secrets::Resolver;

pub use crate::connectors::common::aws::{default_config, runtime};
pub use crate::connectors::common::runtime::Runtime;

/// A connection to AWS for one profile: its SDK configuration, S3 client
/// and runtime.
#[derive(Debug, Clone)]
pub struct Aws {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) s3: aws_sdk_s3::Client,
}

impl Aws {
    /// The S3 client, for requests the [`Store`](crate::pipeline::store::Store)
    /// does not make.
    pub fn s3_client(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// The runtime the clients run on.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Connects with the `s3` profile `name`'s settings and credentials.
    pub fn connect(
        name: &str,
        profile: &S3Profile,
        credentials: Option<&Credentials>,
        secrets: &Resolver,
    ) -> Result<Self> {
        let runtime = runtime().map_err(Error::Runtime)?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(profile.region.clone()))
            // rustls with ring: no OpenSSL, no aws-lc.
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(Provider::Rustls(CryptoMode::Ring))
                    .build_https(),
            );
        let mut role = None;
        match credentials {
            Some(c) if c.none.is_some() => loader = loader.no_credentials(),
            Some(c) if c.aws_access_key.is_some() => {
                let keys = c
                    .aws_access_key
                    .as_ref()
                    .ok_or_else(|| Error::Credentials {
                        profile: name.to_owned(),
                        message: "credentials.awsAccessKey is not set".to_owned(),
                    })?;
                let store = secrets.store(name, Some(c));
                let id = store.get(&keys.access_key_id_key)?;
                let secret = store.get(&keys.secret_access_key_key)?;
                let token = match &keys.session_token_key {
                    Some(key) => Some(store.get(key)?.expose().to_owned()),
                    None => None,
                };
                loader = loader.credentials_provider(StaticCredentials::new(
                    id.expose(),
                    secret.expose(),
                    token,
                    None,
                    "sluice-aws-access-key",
                ));
            }
            Some(c) if c.aws_iam.is_some() => role = c.aws_iam.clone(),
            None => {}
            Some(_) => {
                return Err(Error::Credentials {
                    profile: name.to_owned(),
                    message: "an s3 profile's credentials must be awsIam, awsAccessKey or none"
                        .to_owned(),
                });
            }
        }
        let mut config: SdkConfig = runtime.block_on(loader.load());
        if let Some(arn) = role.and_then(|r| r.role_arn.map(|a| (a, r.external_id))) {
            let (arn, external_id) = arn;
            let mut builder = aws_config::sts::AssumeRoleProvider::builder(arn)
                .session_name("sluice")
                .configure(&config);
            if let Some(id) = external_id {
                builder = builder.external_id(id);
            }
            let provider = runtime.block_on(builder.build());
            config = config
                .into_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build();
        }
        let mut s3 =
            aws_sdk_s3::config::Builder::from(&config).force_path_style(profile.force_path_style);
        if let Some(endpoint) = &profile.endpoint {
            s3 = s3.endpoint_url(endpoint);
        }
        Ok(Self {
            runtime: Arc::new(runtime),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
        })
    }
}
