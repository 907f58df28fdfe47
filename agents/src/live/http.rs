//! One HTTP endpoint with a timeout, retries only where a retry can succeed, a concurrency
//! limit and a circuit breaker.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::streams::splitmix64;

/// When to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first wait, in milliseconds; it doubles with every retry.
    pub backoff_ms: u64,
}

/// How long, how often and how many at once an endpoint is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// One attempt, from the moment its request is sent.
    pub timeout: Duration,
    /// The whole call: waiting for a request slot, every attempt and every backoff.
    pub deadline: Duration,
    pub retry: Retry,
    /// Requests in flight at once.
    pub concurrency: u32,
    /// Consecutive failed calls after which the endpoint is not called again; 0 never.
    pub circuit_breaker: u32,
    /// How long requests may wait with no reply at all from the endpoint before it counts as
    /// stalled and its circuit breaker opens; zero never.
    pub stall: Duration,
}

/// A call that did not produce a usable reply, after every retry it was allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallFailure {
    /// What went wrong, with any credential redacted.
    pub message: String,
    pub cause: Cause,
    pub attempts: u32,
}

/// Why a call failed, by kind: what a failure summary counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// Nothing accepted the connection, or the host is unknown.
    Connect,
    /// No complete reply within the timeout.
    Timeout,
    /// Another transport error (a reset connection, a broken reply stream).
    Transport,
    /// The server answered with this HTTP status.
    Status(u16),
    /// The reply was larger than [`MAX_BODY`].
    Oversize,
    /// The reply was not UTF-8 text.
    Undecodable,
    /// The reply was text but not a usable answer (not the API's JSON, no choices).
    Unusable,
    /// The endpoint's circuit breaker is open: not called at all.
    CircuitOpen,
}

impl Cause {
    /// Whether another attempt of the same request can succeed: connection problems, timeouts,
    /// 408, 409, 429 and 5xx. Never authentication or validation errors, oversize or
    /// undecodable replies (a paid provider bills every attempt).
    #[must_use]
    pub const fn retryable(self) -> bool {
        matches!(self, Self::Connect | Self::Timeout | Self::Transport | Self::Status(408 | 409 | 429 | 500..=599))
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect => f.write_str("cannot connect"),
            Self::Timeout => f.write_str("timeout"),
            Self::Transport => f.write_str("transport error"),
            Self::Status(s) => write!(f, "HTTP {s}"),
            Self::Oversize => f.write_str("reply too large"),
            Self::Undecodable => f.write_str("reply not UTF-8"),
            Self::Unusable => f.write_str("unusable reply"),
            Self::CircuitOpen => f.write_str("circuit open"),
        }
    }
}

/// The largest reply read, in bytes.
pub const MAX_BODY: u64 = 10 * 1024 * 1024;

/// A successful reply's body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub body: String,
    pub attempts: u32,
}

/// How often a request waiting on its reply checks whether its endpoint has stalled.
const STALL_POLL: Duration = Duration::from_millis(200);

/// Longest single wait between attempts.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// A counting semaphore whose size can change (once the server says how many requests it
/// runs at once): at most `size` requests in flight.
#[derive(Debug)]
struct Limit {
    /// (requests in flight, size)
    state: Mutex<(u32, u32)>,
    freed: Condvar,
}

struct Permit<'a>(&'a Limit);

impl Limit {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u32, u32)> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot, or `None` when none frees before `until` or `stop` is set.
    fn acquire(&self, until: Instant, stop: &AtomicBool) -> Option<Permit<'_>> {
        let mut state = self.lock();
        while state.0 >= state.1 {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let left = until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
            state = self.freed.wait_timeout(state, left).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
        state.0 += 1;
        Some(Permit(self))
    }

    fn resize(&self, size: u32) {
        self.lock().1 = size.max(1);
        self.freed.notify_all();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.lock().0 -= 1;
        self.0.freed.notify_one();
    }
}

/// A JSON endpoint (`{base_url}/{path}`) called with POST.
#[derive(Debug)]
pub struct HttpClient {
    agent: ureq::Agent,
    /// The server's root, for other routes (the preflight's `models`).
    base: String,
    url: String,
    api_key: Option<String>,
    limits: Limits,
    limit: Limit,
    breaker: Breaker,
    /// Since when requests have waited with no reply from the endpoint (`None`: a reply came
    /// back since the last request was sent, or none was sent).
    quiet_since: Mutex<Option<Instant>>,
}

/// Opens after `threshold` consecutive failed calls (each after its retries): from then on the
/// endpoint is not called.
#[derive(Debug)]
struct Breaker {
    threshold: u32,
    consecutive: AtomicU32,
    open: AtomicBool,
    /// Why it opened when the endpoint stalled (no failure message says so).
    stalled: Mutex<Option<String>>,
}

/// One attempt's outcome.
enum Attempt {
    Done(Reply),
    /// Failed, with the server's requested wait (`Retry-After`) if it gave one.
    Failed(String, Cause, Option<Duration>),
}

impl HttpClient {
    /// `api_key` is sent as a bearer token and kept only in memory, held for redaction.
    #[must_use]
    pub fn new(base_url: &str, path: &str, api_key: Option<String>, limits: Limits) -> Self {
        if let Some(key) = &api_key {
            super::secrets::hold(key);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let url = format!("{}/{}", base_url.trim_end_matches('/'), path.trim_start_matches('/'));
        Self {
            agent,
            base: base_url.to_string(),
            url,
            api_key,
            limits,
            limit: Limit { state: Mutex::new((0, limits.concurrency.max(1))), freed: Condvar::new() },
            breaker: Breaker {
                threshold: limits.circuit_breaker,
                consecutive: AtomicU32::new(0),
                open: AtomicBool::new(false),
                stalled: Mutex::new(None),
            },
            quiet_since: Mutex::new(None),
        }
    }

    /// How long requests in flight have waited with no reply at all from the endpoint, and how
    /// many there are; `None` when none is in flight or a reply came since they were sent.
    #[must_use]
    pub fn stalled_for(&self) -> Option<(Duration, u32)> {
        let in_flight = self.limit.lock().0;
        let since = *lock(&self.quiet_since);
        since.filter(|_| in_flight > 0).map(|t| (t.elapsed(), in_flight))
    }

    /// Open the circuit breaker if the endpoint has stalled (no reply for the `stall` limit while
    /// requests waited). Returns whether this call opened it. A watcher calls it periodically;
    /// every timed-out attempt does too.
    pub fn check_stall(&self) -> bool {
        let Some(quiet) = *lock(&self.quiet_since) else { return false };
        let waited = quiet.elapsed();
        if self.limits.stall.is_zero() || waited < self.limits.stall || self.circuit_open() {
            return false;
        }
        *lock(&self.breaker.stalled) = Some(format!(
            "no reply from {} in {:.0} s while requests waited (the stall limit, `stall_timeout_secs`, is {} s): the \
             server accepts connections but does not answer",
            self.url,
            waited.as_secs_f64(),
            self.limits.stall.as_secs_f64()
        ));
        self.open_breaker();
        true
    }

    /// Why the breaker opened when the endpoint stalled.
    #[must_use]
    pub fn stall_reason(&self) -> Option<String> {
        lock(&self.breaker.stalled).clone()
    }

    fn open_breaker(&self) {
        self.breaker.open.store(true, Ordering::Relaxed);
        // Requests waiting for a slot give up now rather than at their deadline.
        self.limit.freed.notify_all();
    }

    /// Count a reply that came back but was not a usable answer (garbage, empty) as a failed
    /// call toward the circuit breaker; a usable one resets the count.
    pub fn settle(&self, usable: bool) {
        if usable {
            self.breaker.consecutive.store(0, Ordering::Relaxed);
        } else {
            self.count_failure();
        }
    }

    fn count_failure(&self) {
        let failures = self.breaker.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        if self.breaker.threshold > 0 && failures >= self.breaker.threshold {
            self.open_breaker();
        }
    }

    /// A request is about to be sent: the quiet period starts unless one is running.
    fn sending(&self) {
        lock(&self.quiet_since).get_or_insert_with(Instant::now);
    }

    /// An attempt ended: with a reply of any kind (an HTTP status, a refused connection) the
    /// endpoint is not quiet; a timeout leaves the quiet period running and may end in a stall.
    fn came_back(&self, replied: bool) {
        if replied {
            let in_flight = self.limit.lock().0;
            // This attempt's permit is still held: others are in flight beyond it.
            *lock(&self.quiet_since) = (in_flight > 1).then(Instant::now);
        } else {
            self.check_stall();
        }
    }

    /// Requests in flight at once from now on.
    pub fn set_concurrency(&self, concurrency: u32) {
        self.limit.resize(concurrency);
    }

    /// Requests in flight at once.
    #[must_use]
    pub fn concurrency(&self) -> u32 {
        self.limit.lock().1
    }

    /// Whether the circuit breaker has stopped calls to this endpoint.
    #[must_use]
    pub fn circuit_open(&self) -> bool {
        self.breaker.open.load(Ordering::Relaxed)
    }

    /// `text` with every key Tender holds, in any encoding, and any `Authorization`/`api-key`
    /// value blanked out.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        super::secrets::redact(text)
    }

    /// One attempt, once a request slot is free, or a timeout when none frees before
    /// `deadline`. Its own timeout runs from the moment the request is sent.
    fn attempt(&self, body: &str, deadline: Instant) -> Attempt {
        let Some(_permit) = self.limit.acquire(deadline, &self.breaker.open) else {
            if self.circuit_open() {
                return Attempt::Failed(self.open_message(), Cause::CircuitOpen, None);
            }
            return Attempt::Failed(
                format!("no request slot freed within the call's deadline of {} s", self.limits.deadline.as_secs_f64()),
                Cause::Timeout,
                None,
            );
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let mut request = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(Some(self.limits.timeout.min(left).max(Duration::from_millis(1))))
            .build()
            .header("content-type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("authorization", &format!("Bearer {key}"));
        }
        self.sending();
        // The request runs on its own thread so that this one can give it up the moment the
        // endpoint counts as stalled, instead of at the attempt's timeout.
        let (tx, rx) = std::sync::mpsc::channel();
        let body = body.to_owned();
        std::thread::spawn(move || {
            let _ = tx.send(Self::outcome(request.send(&body)));
        });
        let outcome = loop {
            match rx.recv_timeout(STALL_POLL) {
                Ok(outcome) => break outcome,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    self.check_stall();
                    if let Some(reason) = self.stall_reason() {
                        break Attempt::Failed(format!("given up: {reason}"), Cause::Timeout, None);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    break Attempt::Failed("the request's thread ended without a reply".into(), Cause::Transport, None);
                }
            }
        };
        self.came_back(!matches!(outcome, Attempt::Failed(_, Cause::Timeout, _)));
        outcome
    }

    /// What a sent request came back with.
    fn outcome(sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Attempt {
        match sent {
            Err(e) => {
                let cause = transport_cause(&e);
                Attempt::Failed(e.to_string(), cause, None)
            }
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s.min(60.0)));
                let bytes = response.body_mut().with_config().limit(MAX_BODY).read_to_vec();
                let text = match bytes {
                    Err(ureq::Error::BodyExceedsLimit(_)) => {
                        return Attempt::Failed(
                            format!("HTTP {status}: the reply exceeds {} MiB", MAX_BODY >> 20),
                            Cause::Oversize,
                            None,
                        );
                    }
                    Err(e) => return Attempt::Failed(format!("reading the reply: {e}"), transport_cause(&e), None),
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => text,
                        Err(_) => {
                            return Attempt::Failed(
                                format!("HTTP {status}: the reply is not UTF-8 text"),
                                Cause::Undecodable,
                                None,
                            );
                        }
                    },
                };
                if (200..=299).contains(&status) {
                    // Redacted at the door: nothing downstream (cache, trace, results) sees a key.
                    Attempt::Done(Reply { body: super::secrets::redact_keys(&text), attempts: 0 })
                } else {
                    Attempt::Failed(format!("HTTP {status}: {}", snippet(&text)), Cause::Status(status), retry_after)
                }
            }
        }
    }

    /// One GET of `{base_url}/{path}` (the preflight's model list), with its own timeout and
    /// no retries.
    pub fn get(&self, path: &str, timeout: Duration) -> Result<String, CallFailure> {
        self.get_url(&format!("{}/{}", self.base.trim_end_matches('/'), path.trim_start_matches('/')), timeout)
    }

    /// One GET of a route at the server's root rather than under its API prefix: llama.cpp's
    /// `/props` sits beside `/v1`.
    pub fn get_root(&self, path: &str, timeout: Duration) -> Result<String, CallFailure> {
        let base = self.base.trim_end_matches('/');
        let root = base.strip_suffix("/v1").unwrap_or(base);
        self.get_url(&format!("{root}/{}", path.trim_start_matches('/')), timeout)
    }

    fn get_url(&self, url: &str, timeout: Duration) -> Result<String, CallFailure> {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into();
        let mut request = agent.get(url);
        if let Some(key) = &self.api_key {
            request = request.header("authorization", &format!("Bearer {key}"));
        }
        let fail = |message: String, cause| CallFailure { message: self.redact(&message), cause, attempts: 1 };
        let mut response = request.call().map_err(|e| fail(e.to_string(), transport_cause(&e)))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(|e| fail(format!("reading the reply: {e}"), transport_cause(&e)))?;
        if (200..=299).contains(&status) {
            Ok(super::secrets::redact_keys(&text))
        } else {
            Err(fail(format!("HTTP {status}: {}", snippet(&text)), Cause::Status(status)))
        }
    }

    /// POST `body`, retrying what can succeed on retry with exponential backoff and jitter.
    /// `jitter_key` seeds the jitter, so waits are spread across requests without an OS random
    /// source. Failure messages never hold the key.
    /// A usable reply's caller says so with [`HttpClient::settle`], which resets the breaker's
    /// count; an unusable one counts as a failed call.
    pub fn post(&self, body: &str, jitter_key: u64) -> Result<Reply, CallFailure> {
        if self.circuit_open() {
            return Err(CallFailure { message: self.open_message(), cause: Cause::CircuitOpen, attempts: 0 });
        }
        let deadline = Instant::now() + self.limits.deadline;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.attempt(body, deadline) {
                Attempt::Done(reply) => return Ok(Reply { attempts, ..reply }),
                Attempt::Failed(message, Cause::CircuitOpen, _) => {
                    return Err(CallFailure { message, cause: Cause::CircuitOpen, attempts: attempts - 1 });
                }
                Attempt::Failed(message, cause, retry_after) => {
                    let wait = backoff(self.limits.retry.backoff_ms, attempts - 1, jitter_key)
                        .max(retry_after.unwrap_or_default())
                        .min(MAX_WAIT);
                    // An open breaker (a stall found meanwhile) stops retries too.
                    let may_retry =
                        cause.retryable() && attempts <= self.limits.retry.max_retries && !self.circuit_open();
                    let past_deadline = Instant::now() + wait >= deadline;
                    if may_retry && !past_deadline {
                        std::thread::sleep(wait);
                        continue;
                    }
                    self.count_failure();
                    let message = if may_retry {
                        format!(
                            "{message} (no retry: the call's deadline of {} s is up)",
                            self.limits.deadline.as_secs_f64()
                        )
                    } else {
                        message
                    };
                    return Err(CallFailure { message: self.redact(&message), cause, attempts });
                }
            }
        }
    }
}

impl HttpClient {
    /// Why a request is not sent: the open breaker, and what opened it.
    fn open_message(&self) -> String {
        match self.stall_reason() {
            Some(reason) => format!("not called: its circuit breaker is open ({reason})"),
            None => format!(
                "not called: {} consecutive calls to {} failed, so its circuit breaker is open",
                self.breaker.threshold, self.url
            ),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The cause of a transport-level error.
fn transport_cause(e: &ureq::Error) -> Cause {
    match e {
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => Cause::Connect,
        ureq::Error::Timeout(_) => Cause::Timeout,
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => Cause::Connect,
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Cause::Timeout,
        ureq::Error::BodyExceedsLimit(_) => Cause::Oversize,
        _ => Cause::Transport,
    }
}

/// `base * 2^retry`, times a jitter factor in [0.5, 1.5).
fn backoff(base_ms: u64, retry: u32, key: u64) -> Duration {
    let factor = 0.5 + (splitmix64(key ^ u64::from(retry)) >> 11) as f64 / (1u64 << 53) as f64;
    let ms = base_ms as f64 * 2f64.powi(retry.min(20) as i32) * factor;
    Duration::from_secs_f64((ms / 1000.0).min(MAX_WAIT.as_secs_f64()))
}

fn snippet(body: &str) -> String {
    let one_line: String = body.chars().take(200).map(|c| if c.is_control() { ' ' } else { c }).collect();
    one_line.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_can_succeed_is_retried() {
        for c in [
            Cause::Connect,
            Cause::Timeout,
            Cause::Transport,
            Cause::Status(408),
            Cause::Status(409),
            Cause::Status(429),
            Cause::Status(503),
        ] {
            assert!(c.retryable(), "{c}");
        }
        for c in [
            Cause::Status(400),
            Cause::Status(401),
            Cause::Status(403),
            Cause::Status(404),
            Cause::Status(422),
            Cause::Oversize,
            Cause::Undecodable,
            Cause::Unusable,
            Cause::CircuitOpen,
        ] {
            assert!(!c.retryable(), "{c}");
        }
    }

    #[test]
    fn backoff_doubles_within_its_jitter_and_is_capped() {
        for retry in 0..5 {
            let d = backoff(100, retry, 7).as_secs_f64() * 1000.0;
            let nominal = 100.0 * f64::from(1u32 << retry);
            assert!(d >= 0.5 * nominal && d < 1.5 * nominal, "{retry}: {d}");
        }
        assert_eq!(backoff(10_000, 30, 1), MAX_WAIT.min(backoff(10_000, 30, 1)));
        assert!(backoff(10_000, 30, 1) <= MAX_WAIT);
    }
}
