//! Faults injected between a connector and a real server, for the
//! contract's mid-run failure cases (tests/conformance.rs).
//!
//! - [`Switch`] — what a stand-in server or a proxy consults on every
//!   request: pass it on, or answer with the armed [`Fault`]. Tests arm it
//!   once the run has opened, so the fault meets a run that already
//!   succeeded with the server.
//! - [`S3Proxy`] — an HTTP proxy on 127.0.0.1 in front of moto that, armed,
//!   answers with S3's documented error XML: `403 InvalidAccessKeyId` (the
//!   key was deactivated), `503 SlowDown` (request rate), `500
//!   InternalError`.
//! - [`PgProxy`] — a TCP proxy on 127.0.0.1 in front of PostgreSQL that,
//!   armed, answers the client's next message with a protocol
//!   `ErrorResponse` of severity FATAL — SQLSTATE `28P01` (the password
//!   refused), `53300` (too many connections) or `57P01` (the server shut
//!   down) — and closes the connection, as the server does.
//!
//! Both proxies listen on 127.0.0.1 only, hold a bounded number of
//! connections and bodies, and stop when dropped.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// A failure a run meets after it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The credentials are refused from now on.
    Auth,
    /// The service's rate limit, for longer than the retry budget.
    RateLimit,
    /// Server errors, for longer than the retries.
    Transient,
}

#[derive(Debug, Default)]
struct SwitchState {
    armed: Mutex<Option<Fault>>,
    passed: AtomicUsize,
    refused: AtomicUsize,
}

/// A fault switch shared by a test and the server or proxy it arms.
#[derive(Debug, Clone, Default)]
pub struct Switch(Arc<SwitchState>);

impl Switch {
    /// From now on, every request is answered with `fault`.
    pub fn arm(&self, fault: Fault) {
        *self.0.armed.lock().unwrap() = Some(fault);
    }

    /// The fault to answer this request with (counted), or `None` to pass
    /// it on.
    pub fn hit(&self) -> Option<Fault> {
        let armed = *self.0.armed.lock().unwrap();
        match armed {
            Some(_) => self.0.refused.fetch_add(1, Ordering::SeqCst),
            None => self.0.passed.fetch_add(1, Ordering::SeqCst),
        };
        armed
    }

    /// Requests answered with the fault so far.
    pub fn refused(&self) -> usize {
        self.0.refused.load(Ordering::SeqCst)
    }

    /// Requests passed on so far.
    pub fn passed(&self) -> usize {
        self.0.passed.load(Ordering::SeqCst)
    }
}

// ------------------------------------------------------------------ S3

/// Most connections the S3 proxy serves at once.
const MAX_CONNECTIONS: usize = 32;
/// Largest request or response body it carries.
const MAX_BODY: usize = 64 << 20;

/// An HTTP proxy in front of moto that injects S3's errors when armed.
pub struct S3Proxy {
    /// `http://127.0.0.1:{port}`: the endpoint for the profile.
    pub endpoint: String,
    /// Arms the fault.
    pub switch: Switch,
    _runtime: tokio::runtime::Runtime,
}

/// S3's error document (docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
fn s3_error(fault: Fault) -> (u16, String) {
    let (status, code, message) = match fault {
        Fault::Auth => (
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        Fault::RateLimit => (503, "SlowDown", "Please reduce your request rate."),
        Fault::Transient => (
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>faults</HostId></Error>"
    );
    (status, body)
}

/// Hop-by-hop headers, and those the proxy sets itself.
fn carried(name: &str) -> bool {
    !matches!(
        name,
        "host" | "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "upgrade"
    )
}

async fn forward(
    http: reqwest::Client,
    upstream: String,
    switch: Switch,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let reply = |status: u16, body: Bytes| {
        let mut response = hyper::Response::new(Full::new(body));
        *response.status_mut() =
            hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
        response
    };
    if let Some(fault) = switch.hit() {
        let (status, body) = s3_error(fault);
        let mut response = reply(status, Bytes::from(body));
        response.headers_mut().insert(
            "content-type",
            hyper::header::HeaderValue::from_static("application/xml"),
        );
        response.headers_mut().insert(
            "x-amz-request-id",
            hyper::header::HeaderValue::from_static("4442587FB7D0A2F9"),
        );
        return Ok(response);
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = Limited::new(body, MAX_BODY).collect().await else {
        return Ok(reply(413, Bytes::new()));
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let head = method == reqwest::Method::HEAD;
    let mut outgoing = http.request(method, format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if carried(name.as_str()) {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
    }
    let Ok(answer) = outgoing.body(body.to_bytes()).send().await else {
        return Ok(reply(502, Bytes::new()));
    };
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let Ok(body) = answer.bytes().await else {
        return Ok(reply(502, Bytes::new()));
    };
    let mut response = reply(status, body);
    for (name, value) in &headers {
        // A HEAD answer keeps its length: it describes the object.
        if (carried(name.as_str()) || (head && name.as_str() == "content-length"))
            && let Ok(value) = hyper::header::HeaderValue::from_bytes(value.as_bytes())
        {
            response.headers_mut().append(
                hyper::header::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
                value,
            );
        }
    }
    Ok(response)
}

impl S3Proxy {
    /// A proxy in front of `upstream` (moto's `http://127.0.0.1:port`).
    pub fn start(upstream: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let switch = Switch::default();
        // reqwest is built without a crypto provider; the connectors use
        // ring. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (accept_switch, upstream) = (switch.clone(), upstream.trim_end_matches('/').to_owned());
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (http, upstream, switch) =
                    (http.clone(), upstream.clone(), accept_switch.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        forward(http.clone(), upstream.clone(), switch.clone(), request)
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    drop(slot);
                });
            }
        });
        Self {
            endpoint,
            switch,
            _runtime: runtime,
        }
    }
}

// ------------------------------------------------------------------ PostgreSQL

/// Most client connections the PostgreSQL proxy carries at once.
const MAX_SESSIONS: usize = 16;

/// A TCP proxy in front of PostgreSQL that, armed, ends sessions with a
/// FATAL `ErrorResponse`.
pub struct PgProxy {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    /// Arms the fault.
    pub switch: Switch,
    stop: Arc<AtomicBool>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

/// A protocol `ErrorResponse` ('E'): severity FATAL, the SQLSTATE and the
/// server's message (www.postgresql.org/docs/current/protocol-message-formats.html).
pub fn pg_error_response(code: &str, message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut out = vec![b'E'];
    out.extend_from_slice(&u32::try_from(fields.len() + 4).unwrap().to_be_bytes());
    out.extend_from_slice(&fields);
    out
}

fn pg_fault(fault: Fault, user: &str) -> Vec<u8> {
    match fault {
        Fault::Auth => pg_error_response(
            "28P01",
            &format!("password authentication failed for user \"{user}\""),
        ),
        Fault::RateLimit => pg_error_response("53300", "sorry, too many clients already"),
        Fault::Transient => pg_error_response(
            "57P01",
            "terminating connection due to administrator command",
        ),
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, fault: Option<(Switch, String)>) {
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((switch, user)) = &fault
            && let Some(armed) = switch.hit()
        {
            // The server's answer to whatever the client sent, then the
            // end of the session.
            let _ = from.write_all(&pg_fault(armed, user));
            let _ = from.flush();
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

impl PgProxy {
    /// A proxy in front of the server at `host:port`; `user` is named in
    /// the refusal, as the server names it.
    pub fn start(host: &str, port: u16, user: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let local = listener.local_addr().unwrap().port();
        let switch = Switch::default();
        let stop = Arc::new(AtomicBool::new(false));
        let sockets: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let upstream = format!("{host}:{port}");
        let (accept_switch, accept_stop, accept_sockets, user) = (
            switch.clone(),
            stop.clone(),
            sockets.clone(),
            user.to_owned(),
        );
        let accept = std::thread::spawn(move || {
            let active = Arc::new(AtomicUsize::new(0));
            while !accept_stop.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                // Two pumps a session.
                if active.load(Ordering::SeqCst) >= 2 * MAX_SESSIONS {
                    continue;
                }
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                accept_sockets.lock().unwrap().extend([c, s]);
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                active.fetch_add(2, Ordering::SeqCst);
                let (done_up, done_down) = (active.clone(), active.clone());
                let fault = Some((accept_switch.clone(), user.clone()));
                std::thread::spawn(move || {
                    pump(client, server, fault);
                    done_up.fetch_sub(1, Ordering::SeqCst);
                });
                std::thread::spawn(move || {
                    pump(server2, client2, None);
                    done_down.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            port: local,
            switch,
            stop,
            sockets,
            accept: Some(accept),
        }
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for socket in self.sockets.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}
