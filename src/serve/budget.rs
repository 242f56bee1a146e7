//! Memory for request bodies, taken as their bytes arrive.
//!
//! A body's declared length reserves nothing: a client that declares 10 MiB and sends a byte a
//! second holds one KiB, so a handful of trickling connections cannot keep honest requests out.
//! What a request has taken stays taken until its answer is made (the parsed body lives that
//! long), and one peer address may hold at most its share of the total, so one client cannot
//! fill the budget with bodies it sends quickly and then stalls.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// Every body's bytes in flight, in KiB permits, and what each peer address holds.
pub struct BodyBudget {
    total: Arc<Semaphore>,
    total_kib: u32,
    /// The most one address may hold.
    share_kib: u32,
    held: Mutex<HashMap<IpAddr, u32>>,
    /// How long a body waits for room before its request is refused.
    wait: Duration,
}

impl BodyBudget {
    /// `total` bytes in all (at least one largest body, so every allowed request can run); one
    /// address may hold a quarter of it, or one largest body when that is more.
    pub fn new(total: usize, max_body: usize, wait: Duration) -> BodyBudget {
        let kib = |b: usize| (b.div_ceil(1024)).clamp(1, u32::MAX as usize / 2) as u32;
        let total_kib = kib(total.max(max_body));
        BodyBudget {
            total: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            share_kib: (total_kib / 4).max(kib(max_body)).min(total_kib),
            held: Mutex::new(HashMap::new()),
            wait,
        }
    }

    pub fn total_mib(&self) -> u32 {
        self.total_kib / 1024
    }

    /// KiB not held by any body now.
    pub fn free_kib(&self) -> usize {
        self.total.available_permits()
    }
}

/// Why a body was cut before it was read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every body together would pass `--max-inflight`, and no room came in time.
    Busy,
    /// This address already holds its share.
    Share,
}

/// What one request's body holds; given back when the request's answer is made and the body
/// is gone (the last of the two references dropped).
pub struct Ledger {
    budget: Arc<BodyBudget>,
    peer: Option<IpAddr>,
    state: Mutex<Taken>,
}

#[derive(Default)]
struct Taken {
    bytes: u64,
    kib: u32,
    permit: Option<OwnedSemaphorePermit>,
    refused: Option<Refusal>,
}

impl Ledger {
    pub fn new(budget: Arc<BodyBudget>, peer: Option<IpAddr>) -> Arc<Ledger> {
        Arc::new(Ledger {
            budget,
            peer,
            state: Mutex::new(Taken::default()),
        })
    }

    fn taken(&self) -> std::sync::MutexGuard<'_, Taken> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why the body was cut, if it was.
    pub fn refused(&self) -> Option<Refusal> {
        self.taken().refused
    }

    /// The answer for a cut body.
    pub fn refusal(&self, why: Refusal) -> ApiError {
        match why {
            Refusal::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the server is busy: {} MiB of request bodies are being read or scored (--max-inflight); try again",
                    self.budget.total_mib()
                ),
            ),
            Refusal::Share => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "this address already has {} MiB of request bodies in flight, its share of the server's {} MiB (--max-inflight); wait for answers before sending more",
                    self.budget.share_kib / 1024,
                    self.budget.total_mib()
                ),
            ),
        }
    }

    /// Counts `n` more bytes; the KiB they need beyond what is held, reserved against this
    /// address's share, or the refusal when the share is spent.
    fn need(&self, n: usize) -> Result<u32, Refusal> {
        let mut t = self.taken();
        t.bytes += n as u64;
        let want = t.bytes.div_ceil(1024).min(u32::MAX as u64) as u32;
        let need = want.saturating_sub(t.kib);
        if need == 0 {
            return Ok(0);
        }
        if let Some(peer) = self.peer {
            let mut held = self.budget.held.lock().unwrap_or_else(|p| p.into_inner());
            let h = held.entry(peer).or_insert(0);
            if *h + need > self.budget.share_kib {
                t.refused = Some(Refusal::Share);
                return Err(Refusal::Share);
            }
            *h += need;
        }
        t.kib += need;
        Ok(need)
    }

    /// Keeps `permit` until the request is done.
    fn keep(&self, permit: OwnedSemaphorePermit) {
        let mut t = self.taken();
        match &mut t.permit {
            Some(p) => p.merge(permit),
            none => *none = Some(permit),
        }
    }

    fn refuse(&self, why: Refusal) {
        self.taken().refused = Some(why);
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let kib = self.taken().kib;
        if let (Some(peer), true) = (self.peer, kib > 0) {
            let mut held = self.budget.held.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(h) = held.get_mut(&peer) {
                *h = h.saturating_sub(kib);
                if *h == 0 {
                    held.remove(&peer);
                }
            }
        }
    }
}

type Waiting = Pin<
    Box<
        dyn Future<
                Output = Result<
                    Result<OwnedSemaphorePermit, tokio::sync::AcquireError>,
                    tokio::time::error::Elapsed,
                >,
            > + Send,
    >,
>;

/// A request body that takes budget for each frame before handing it on.
pub struct Metered {
    inner: Body,
    ledger: Arc<Ledger>,
    /// A frame waiting for room, and the wait.
    waiting: Option<(Frame<Bytes>, Waiting)>,
}

impl Metered {
    pub fn wrap(inner: Body, ledger: Arc<Ledger>) -> Body {
        Body::new(Metered {
            inner,
            ledger,
            waiting: None,
        })
    }

    fn cut(&mut self, why: Refusal) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.ledger.refuse(why);
        self.waiting = None;
        Poll::Ready(Some(Err(axum::Error::new(std::io::Error::other(
            "the request body was refused for want of room",
        )))))
    }
}

impl http_body::Body for Metered {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Some((_, wait)) = &mut this.waiting {
            return match wait.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(Ok(permit))) => {
                    this.ledger.keep(permit);
                    let (frame, _) = this.waiting.take().expect("a frame waits");
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(_) => this.cut(Refusal::Busy),
            };
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        let n = frame.data_ref().map_or(0, Bytes::len);
        let need = match this.ledger.need(n) {
            Ok(0) => return Poll::Ready(Some(Ok(frame))),
            Ok(need) => need,
            Err(why) => return this.cut(why),
        };
        let total = this.ledger.budget.total.clone();
        match total.clone().try_acquire_many_owned(need) {
            Ok(permit) => {
                this.ledger.keep(permit);
                Poll::Ready(Some(Ok(frame)))
            }
            Err(_) => {
                let wait = this.ledger.budget.wait;
                let mut fut: Waiting =
                    Box::pin(tokio::time::timeout(wait, total.acquire_many_owned(need)));
                match fut.as_mut().poll(cx) {
                    Poll::Ready(Ok(Ok(permit))) => {
                        this.ledger.keep(permit);
                        Poll::Ready(Some(Ok(frame)))
                    }
                    Poll::Ready(_) => this.cut(Refusal::Busy),
                    Poll::Pending => {
                        this.waiting = Some((frame, fut));
                        Poll::Pending
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.waiting.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_holds_what_it_sent_and_a_peer_at_most_its_share() {
        let b = Arc::new(BodyBudget::new(64 << 20, 10 << 20, Duration::from_secs(1)));
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        let a = Ledger::new(b.clone(), Some(one));
        // A byte holds a KiB, the rest of that KiB nothing more.
        assert_eq!(a.need(1), Ok(1));
        assert_eq!(a.need(1023), Ok(0));
        assert_eq!(a.need(1), Ok(1));
        // A quarter of 64 MiB is this address's share; the next body from it is refused.
        let c = Ledger::new(b.clone(), Some(one));
        assert_eq!(c.need((16 << 20) - 2048), Ok(16 * 1024 - 2));
        assert_eq!(c.need(1), Err(Refusal::Share));
        assert_eq!(c.refused(), Some(Refusal::Share));
        // Another address is not held back by it.
        let d = Ledger::new(b.clone(), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(d.need(8 << 20), Ok(8 * 1024));
        // What a request held is given back when it is done.
        drop((a, c));
        assert!(b.held.lock().unwrap().get(&one).is_none());
        drop(d);
        assert!(b.held.lock().unwrap().is_empty());
    }
}
