//! The controller's HTTP endpoints: `/metrics` on the metrics address,
//! `/healthz` (the process answers) and `/readyz` (the API server answered
//! and the process is not shutting down) on the health address.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{Error, Metrics, Result, Shutdown, shutdown_requested};

/// Readiness, shared between the runtime and the health endpoint.
#[derive(Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    /// Sets whether `/readyz` answers 200.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// The running servers; [`abort`](Servers::abort) stops them.
pub struct Servers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The bound metrics address (the port is chosen when `:0` was asked).
    pub metrics_addr: SocketAddr,
    /// The bound health address.
    pub health_addr: SocketAddr,
}

impl Servers {
    /// Stops serving.
    pub fn abort(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn text(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// The response to a request on the metrics or the health listener.
pub fn respond(
    path: &str,
    metrics: Option<&Metrics>,
    health: Option<&Health>,
) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    match (path, metrics, health) {
        ("/metrics", Some(metrics), _) => text(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        ("/healthz" | "/livez", _, Some(_)) => text(StatusCode::OK, PLAIN, "ok\n".to_owned()),
        ("/readyz", _, Some(health)) if health.is_ready() => {
            text(StatusCode::OK, PLAIN, "ok\n".to_owned())
        }
        ("/readyz", _, Some(_)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            PLAIN,
            "not ready\n".to_owned(),
        ),
        _ => text(StatusCode::NOT_FOUND, PLAIN, "not found\n".to_owned()),
    }
}

async fn listen(
    listener: TcpListener,
    metrics: Option<Arc<Metrics>>,
    health: Option<Health>,
    shutdown: Shutdown,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown_requested(shutdown.clone()) => return,
        };
        let (stream, _) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "cannot accept a connection");
                continue;
            }
        };
        let metrics = metrics.clone();
        let health = health.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = respond(request.uri().path(), metrics.as_deref(), health.as_ref());
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds both listeners and serves them until `shutdown`. When both
/// addresses are the same, one listener serves every path.
pub async fn serve(
    metrics_addr: SocketAddr,
    health_addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Health,
    shutdown: Shutdown,
) -> Result<Servers> {
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Startup(format!("cannot listen on {addr}: {e}")))
    };
    let metrics_listener = bind(metrics_addr).await?;
    let bound_metrics = metrics_listener
        .local_addr()
        .map_err(|e| Error::Startup(e.to_string()))?;
    if metrics_addr == health_addr && metrics_addr.port() != 0 {
        let task = tokio::spawn(listen(
            metrics_listener,
            Some(metrics),
            Some(health),
            shutdown,
        ));
        return Ok(Servers {
            tasks: vec![task],
            metrics_addr: bound_metrics,
            health_addr: bound_metrics,
        });
    }
    let health_listener = bind(health_addr).await?;
    let bound_health = health_listener
        .local_addr()
        .map_err(|e| Error::Startup(e.to_string()))?;
    tracing::info!(metrics = %bound_metrics, health = %bound_health, "serving /metrics, /healthz and /readyz");
    Ok(Servers {
        tasks: vec![
            tokio::spawn(listen(
                metrics_listener,
                Some(metrics),
                None,
                shutdown.clone(),
            )),
            tokio::spawn(listen(health_listener, None, Some(health), shutdown)),
        ],
        metrics_addr: bound_metrics,
        health_addr: bound_health,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_served_on_their_listener_only() {
        let metrics = Metrics::new();
        let health = Health::default();
        assert_eq!(
            respond("/metrics", Some(&metrics), None).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond("/healthz", Some(&metrics), None).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond("/healthz", None, Some(&health)).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond("/readyz", None, Some(&health)).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        health.set_ready(true);
        assert_eq!(
            respond("/readyz", None, Some(&health)).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond("/metrics", None, Some(&health)).status(),
            StatusCode::NOT_FOUND
        );
    }
}
