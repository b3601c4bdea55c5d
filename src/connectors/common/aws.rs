//! The AWS SDK plumbing every AWS client shares (S3, Secrets Manager):
//! the small multi-thread runtime the SDK runs on and the SDK
//! configuration of the pod's environment.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use super::runtime::Runtime;

/// The runtime the AWS SDK clients (S3, Secrets Manager) run on: two
/// worker threads named `sluice-aws`.
pub fn runtime() -> std::io::Result<Runtime> {
    Runtime::multi_thread("sluice-aws", 2)
}

/// The SDK configuration of the pod's environment (credential chain,
/// region unless `region` is given), with the rustls/ring HTTPS client.
pub fn default_config(runtime: &Runtime, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https(),
    );
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    runtime.block_on(loader.load())
}

/// An AWS SDK error as its message and the messages of its causes, never
/// its `Debug` form: that holds the raw response, whose body may carry
/// credentials (an STS answer, a Secrets Manager value that failed to
/// parse).
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}
