//! Accepting connections: HTTP/1.1 with a deadline for every request head (which also closes a
//! keep-alive connection that stays idle), and a shutdown that stops accepting, lets requests in
//! flight finish, and cuts whatever is left when its deadline passes.
//!
//! axum's own `serve` sets no timer, so a client that sends half a request line is never timed
//! out and holds a graceful shutdown open for as long as it likes.

use std::future::Future;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_service::Service;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// A request head (request line and headers) must arrive within this; an idle keep-alive
    /// connection is closed after it too.
    pub header_timeout: Duration,
    /// How long a shutdown waits for requests in flight before it closes their connections.
    pub shutdown_timeout: Duration,
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, Default)]
pub struct Drained {
    /// Connections still open at the deadline, closed without waiting further.
    pub cut: usize,
}

/// Serves `app` on `listener` until `stop` completes, then drains within the deadline.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    stop: impl Future<Output = ()>,
) -> Drained {
    let (quit_tx, quit_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            // Finished connections are reaped as they end, so the set holds only live ones.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    // Out of descriptors, say: wait a moment rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                // Each request knows its peer, which the body budget shares out by.
                let app = app.clone();
                let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    app.clone().call(req)
                });
                let mut quit = quit_rx.clone();
                conns.spawn(async move {
                    let mut builder = hyper::server::conn::http1::Builder::new();
                    builder
                        .timer(TokioTimer::new())
                        .header_read_timeout(limits.header_timeout)
                        .keep_alive(true);
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => return,
                        _ = quit.wait_for(|q| *q) => conn.as_mut().graceful_shutdown(),
                    }
                    let _ = conn.await;
                });
            }
        }
    }
    drop(listener);
    let _ = quit_tx.send(true);
    let deadline = tokio::time::sleep(limits.shutdown_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = conns.join_next() => if next.is_none() { return Drained::default() },
            _ = &mut deadline => {
                let cut = conns.len();
                conns.abort_all();
                while conns.join_next().await.is_some() {}
                return Drained { cut };
            }
        }
    }
}
