//! The salesforce source's throughput against the stand-in org of the tests
//! (tests/salesforce/server.rs, HTTPS on loopback): N Opportunity records
//! read through the engine (decoding on its workers) into a destination
//! that only counts, once by REST query pages (`nextRecordsUrl`, 2000 a
//! page) and once by a Bulk API 2.0 query job (CSV result pages fetched
//! five at a time). Prints records per second for each.
//!
//!   cargo run --release --example salesforce_bench -- 200000
//!
//! The stand-in renders each page from its records on request, so the
//! figure includes the server's work on the same machine.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../tests/http/server.rs"]
mod http_server;
#[path = "../tests/salesforce/server.rs"]
mod sf;

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use ring::signature::KeyPair as _;
use serde_json::json;
use sluice::api::v1alpha1::flow::{ErrorHandling, SalesforceApi, SchemaDriftPolicy};
use sluice::connectors::salesforce::{SalesforceConfig, SalesforceRecordSource, SourceSettings};
use sluice::connectors::secrets::Resolver;
use sluice::pipeline::engine::{self, ConnectorError, Destination, Options, Outcome, Source};
use sluice::pipeline::tasks::Tasks;

/// Counts rows and drops them.
struct Count(u64);

impl Destination for Count {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ConnectorError> {
        self.0 += batch.num_rows() as u64;
        Ok(())
    }
    fn bytes_written(&self) -> u64 {
        0
    }
    fn commit(self: Box<Self>) -> Result<Outcome, ConnectorError> {
        Ok(Outcome {
            location: format!("{} records", self.0),
            ..Outcome::default()
        })
    }
    fn abort(self: Box<Self>) -> Result<(), ConnectorError> {
        Ok(())
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl generates the connected app's key");
    let pem = String::from_utf8(out.stdout).unwrap();
    let key = sluice::connectors::salesforce::config::rsa_key(&pem).unwrap();
    let org = sf::Org::start(
        sf::App {
            client_id: "bench-client".into(),
            username: "bench@acme.example".into(),
            public_key: key.public_key().as_ref().to_vec(),
            client_secret: None,
            refresh_token: "unused".into(),
        },
        BTreeMap::from([(
            "Opportunity".to_owned(),
            sf::SObject {
                fields: sf::opportunity_fields(),
                records: (1..=n).map(sf::opportunity).collect(),
                hidden: Vec::new(),
            },
        )]),
    );
    let profile = serde_json::from_value(json!({
        "salesforce": {"loginUrl": org.server.base, "apiVersion": "62.0"},
        "tls": {"caBundle": http_server::test_ca()},
        "credentials": {"secretRef": {"name": "sf"}, "oauth2": {"grantType": "JwtBearer", "subject": "bench@acme.example", "privateKeyKey": "privateKey"}},
    }))
    .unwrap();
    let secrets = Resolver::manifest(BTreeMap::from([(
        "sf".to_owned(),
        BTreeMap::from([
            ("clientId".to_owned(), "bench-client".to_owned()),
            ("privateKey".to_owned(), pem),
        ]),
    )]));
    for api in [SalesforceApi::Rest, SalesforceApi::Bulk] {
        let mut config = SalesforceConfig::new("bench", &profile, &secrets).unwrap();
        config.poll.first = std::time::Duration::from_millis(10);
        let settings = SourceSettings {
            object: "Opportunity".into(),
            api,
            include_deleted: false,
            bulk_threshold: 1,
            window: None,
            tasks: Vec::new(),
            expected_fields: Vec::new(),
            drift: SchemaDriftPolicy::PassThrough,
        };
        let started = Instant::now();
        let source = SalesforceRecordSource::open(config, settings).unwrap();
        let tasks = Tasks::compile(&[], None, &source.schema()).unwrap();
        let options = Options::new(ErrorHandling::default());
        let summary = engine::run(
            Box::new(source),
            &tasks,
            Box::new(Count(0)),
            None,
            &options,
            &mut |_| {},
        )
        .map_err(|f| f.error.to_string())
        .unwrap();
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(summary.counts.records_written, n);
        println!(
            "{api:?}: {n} records, {} pages, {:.1} MB in {seconds:.2}s: {:.0} records/s ({} workers)",
            summary.counts.pages,
            summary.counts.bytes_read as f64 / 1e6,
            n as f64 / seconds,
            options.workers
        );
    }
}
