//! The listener: accepts TCP connections, speaks HTTP/1.1 and HTTP/2 through hyper, hands
//! each request to [`handle`], and shuts down gracefully — in-flight requests finish before
//! the process exits.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::error::HttpError;
use super::response::{self, Body};
use super::router::Route;
use super::{App, api, feeds, metrics, pages};

/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves, then drains open connections.
pub async fn run(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, %peer, "could not set TCP_NODELAY");
        }
        let app = Arc::clone(&app);
        let service = service_fn(move |request| {
            let app = Arc::clone(&app);
            async move { Ok::<_, Infallible>(handle(&app, request).await) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests in flight");
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {DRAIN:?}; closing them");
    }
}

/// Answers one request.
pub async fn handle(app: &App, request: Request<Incoming>) -> Response<Body> {
    let route = Route::parse(request.uri().path());
    let head = request.method() == Method::HEAD;
    let result = match route {
        Route::Api(id) => api::handle(app, request, id.as_deref()).await,
        route if request.method() == Method::GET || head => {
            route_get(app, request.headers(), route).await
        }
        _ => Err(HttpError::MethodNotAllowed),
    };
    let response = result.unwrap_or_else(|e| e.into_response(&app.site));
    if head {
        response::without_body(response)
    } else {
        response
    }
}

async fn route_get(
    app: &App,
    headers: &hyper::HeaderMap,
    route: Route,
) -> Result<Response<Body>, HttpError> {
    match route {
        Route::Index => pages::index(app).await,
        Route::Category(slug) => pages::category(app, &slug).await,
        Route::Article(id) => pages::article(app, &id).await,
        Route::Feed { slug, format } => feeds::feed(app, headers, &slug, format).await,
        Route::Metrics => Ok(metrics::render(app)),
        Route::Opml => feeds::opml(app).await,
        Route::Health => Ok(response::bytes(
            hyper::StatusCode::OK,
            response::TEXT,
            "ok\n",
        )),
        Route::Api(_) => unreachable!("the API is routed before GET-only resources"),
        Route::NotFound => Err(HttpError::NotFound(
            "Nothing lives at this address.".to_owned(),
        )),
    }
}
