//! One HTTP endpoint with a timeout, retries and a concurrency limit.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::streams::splitmix64;

/// When to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first wait, in milliseconds; it doubles with every retry.
    pub backoff_ms: u64,
}

/// A call that did not produce a usable reply, after every retry it was allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallFailure {
    pub message: String,
    pub attempts: u32,
}

/// A successful reply's body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub body: String,
    pub attempts: u32,
}

/// Longest single wait between attempts.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// A counting semaphore: at most `limit` requests in flight.
#[derive(Debug)]
struct Limit {
    free: Mutex<u32>,
    freed: Condvar,
}

struct Permit<'a>(&'a Limit);

impl Limit {
    fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}

/// A JSON endpoint (`{base_url}/{path}`) called with POST.
#[derive(Debug)]
pub struct HttpClient {
    agent: ureq::Agent,
    url: String,
    api_key: Option<String>,
    retry: Retry,
    limit: Limit,
}

enum Attempt {
    Done(Reply),
    /// Worth another try (429, 5xx, transport errors), after at least this long.
    Transient(String, Option<Duration>),
    Fatal(String),
}

impl HttpClient {
    /// `api_key` is sent as a bearer token and kept only in memory.
    #[must_use]
    pub fn new(
        base_url: &str,
        path: &str,
        api_key: Option<String>,
        timeout: Duration,
        retry: Retry,
        concurrency: u32,
    ) -> Self {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into();
        let url = format!("{}/{}", base_url.trim_end_matches('/'), path.trim_start_matches('/'));
        Self {
            agent,
            url,
            api_key,
            retry,
            limit: Limit { free: Mutex::new(concurrency.max(1)), freed: Condvar::new() },
        }
    }

    fn attempt(&self, body: &str) -> Attempt {
        let _permit = self.limit.acquire();
        let mut request = self.agent.post(&self.url).header("content-type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("authorization", &format!("Bearer {key}"));
        }
        match request.send(body) {
            Err(e) => Attempt::Transient(e.to_string(), None),
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s.min(60.0)));
                let text = response.body_mut().read_to_string();
                match (status, text) {
                    (200..=299, Ok(body)) => Attempt::Done(Reply { body, attempts: 0 }),
                    (200..=299, Err(e)) => Attempt::Transient(format!("reading the reply: {e}"), None),
                    (429 | 500..=599, body) => Attempt::Transient(
                        format!("HTTP {status}: {}", snippet(&body.unwrap_or_default())),
                        retry_after,
                    ),
                    (_, body) => Attempt::Fatal(format!("HTTP {status}: {}", snippet(&body.unwrap_or_default()))),
                }
            }
        }
    }

    /// POST `body`, retrying transient failures with exponential backoff and jitter.
    /// `jitter_key` seeds the jitter, so waits are spread across requests without an OS random
    /// source.
    pub fn post(&self, body: &str, jitter_key: u64) -> Result<Reply, CallFailure> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.attempt(body) {
                Attempt::Done(reply) => return Ok(Reply { attempts, ..reply }),
                Attempt::Fatal(message) => return Err(CallFailure { message, attempts }),
                Attempt::Transient(message, retry_after) => {
                    if attempts > self.retry.max_retries {
                        return Err(CallFailure { message, attempts });
                    }
                    let wait =
                        backoff(self.retry.backoff_ms, attempts - 1, jitter_key).max(retry_after.unwrap_or_default());
                    std::thread::sleep(wait.min(MAX_WAIT));
                }
            }
        }
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
