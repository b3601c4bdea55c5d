//! A real HTTP/1.1 server on 127.0.0.1 (hyper on its own tokio runtime)
//! for the http source's tests. Each test gives it a handler that answers
//! like the API under test would: pages, cursors, Link headers, 429s with
//! Retry-After, 500s, 401s, OAuth token endpoints, broken pages. Every
//! request is logged for assertions, and the most requests in flight at
//! once is tracked.
//!
//! [`Server::start_tls`] serves HTTPS with a certificate for 127.0.0.1 and
//! localhost signed by a test CA; both are generated when the tests start
//! ([`test_ca`] gives the CA for a profile's `tls.caBundle`), so no private
//! key is kept in the repository.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `POST`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The host of an absolute-form request target (requests sent to a
    /// proxy), else `None`.
    pub proxied_host: Option<String>,
    /// Query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: String,
}

impl Seen {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Form fields of a form-encoded body.
    pub fn form(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    /// 200 with a JSON body.
    pub fn json(body: impl Into<String>) -> Self {
        Self::status(200, body).header("content-type", "application/json")
    }

    /// A status with a body.
    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::from(body.into()),
            delay: Duration::ZERO,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Answers after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

struct State {
    handler: Box<Handler>,
    log: Mutex<Vec<Seen>>,
    active: AtomicUsize,
    max_active: AtomicUsize,
}

/// The server; it stops when dropped.
pub struct Server {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    state: Arc<State>,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    /// Starts a server answering with `handler`.
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        Self::serve(handler, None)
    }

    /// Starts an HTTPS server answering with `handler`.
    pub fn start_tls(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let pki = pki();
        let certs = vec![CertificateDer::from(pki.server_cert.clone())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        Self::serve(
            handler,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
    }

    fn serve(
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            handler: Box::new(handler),
            log: Mutex::default(),
            active: AtomicUsize::new(0),
            max_active: AtomicUsize::new(0),
        });
        let accept_state = state.clone();
        let tls_acceptor = tls.clone();
        runtime.spawn(async move {
            let tls = tls_acceptor;
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = accept_state.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    match tls {
                        None => {
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        Some(acceptor) => {
                            // A client that refuses the certificate ends here.
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        Self {
            base: format!("{scheme}://{addr}"),
            state,
            _runtime: runtime,
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests to `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_active.load(Ordering::SeqCst)
    }
}

async fn handle(
    state: Arc<State>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        proxied_host: parts.uri.host().map(str::to_owned),
        query: url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let now = state.active.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_active.fetch_max(now, Ordering::SeqCst);
    state.log.lock().unwrap().push(seen.clone());
    let reply = (state.handler)(&seen);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    state.active.fetch_sub(1, Ordering::SeqCst);
    let mut response = hyper::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    Ok(response.body(Full::new(reply.body)).unwrap())
}

/// Records `{"id": n, "name": "record n", ...}` for `ids`, as a JSON array.
pub fn records(ids: impl IntoIterator<Item = u64>) -> String {
    let items: Vec<String> = ids
        .into_iter()
        .map(|id| {
            format!(
                r#"{{"id":{id},"name":"record {id}","active":{}}}"#,
                id % 2 == 0
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// The test CA and the server certificate it signed, generated once.
struct Pki {
    ca_pem: String,
    server_cert: Vec<u8>,
    server_key: Vec<u8>,
}

fn pki() -> &'static Pki {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sluice test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let server = server_params.signed_by(&server_key, &issuer).unwrap();
        Pki {
            ca_pem: ca.pem(),
            server_cert: server.der().to_vec(),
            server_key: server_key.serialize_der(),
        }
    })
}

/// The PEM of the CA that signed the HTTPS server's certificate.
pub fn test_ca() -> &'static str {
    &pki().ca_pem
}
