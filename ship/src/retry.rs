//! Bounded retries with exponential backoff, and which store errors are worth retrying.

use std::future::Future;
use std::time::Duration;

use crate::target::redact;
use crate::{Result, ShipError};

/// How often and how patiently a request is retried after a transient error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: none).
    pub retries: u32,
    /// The wait before the first retry; doubled for each next one.
    pub backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 6 retries, 200 ms doubling up to 5 s (about 16 s of waiting in all).
    fn default() -> Self {
        RetryPolicy { retries: 6, backoff: Duration::from_millis(200), max_backoff: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// No retries (the first error is returned).
    pub fn none() -> RetryPolicy {
        RetryPolicy { retries: 0, ..RetryPolicy::default() }
    }

    fn wait(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// Whether an error is permanent, with what to fix; `None` for a transient one.
pub(crate) fn permanent(e: &object_store::Error) -> Option<&'static str> {
    use object_store::Error as E;
    match e {
        E::Unauthenticated { .. } => {
            Some("check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, or the store's)")
        }
        E::PermissionDenied { .. } => Some(
            "the credentials were refused (a wrong secret key, or a key without read/write on this bucket): check \
             AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's permissions",
        ),
        E::NotImplemented { .. } | E::NotSupported { .. } => Some("this store does not support the operation"),
        E::InvalidPath { .. } => Some("check the prefix"),
        E::UnknownConfigurationKey { .. } => Some("check the store's configuration variables"),
        _ => None,
    }
}

/// A store error as this crate reports it: permanent errors stop at once, others are transient.
pub(crate) fn classify(url: &str, e: &object_store::Error, attempts: u32) -> ShipError {
    match permanent(e) {
        Some(fix) => ShipError::Permanent { url: url.into(), what: redact(&e.to_string()), fix: fix.into() },
        None => ShipError::Transient { url: url.into(), what: redact(&e.to_string()), attempts },
    }
}

/// Runs `op` until it succeeds, fails permanently, or has failed `policy.retries + 1` times;
/// `on_retry(attempt, error text, wait)` is called before each retry. `op` returning
/// `Err(Err(ship_error))` stops at once with that error.
pub(crate) async fn retrying<T, F, Fut>(
    policy: &RetryPolicy,
    url: &str,
    mut on_retry: impl FnMut(u32, &str, Duration),
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, Attempt>>,
{
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let err = match op().await {
            Ok(v) => return Ok(v),
            Err(Attempt::Stop(e)) => return Err(e),
            Err(Attempt::Store(e)) => {
                if permanent(&e).is_some() || attempt > policy.retries {
                    return Err(classify(url, &e, attempt));
                }
                redact(&e.to_string())
            }
            Err(Attempt::Again(what)) => {
                if attempt > policy.retries {
                    return Err(ShipError::Transient { url: url.into(), what: redact(&what), attempts: attempt });
                }
                redact(&what)
            }
        };
        let wait = policy.wait(attempt - 1);
        on_retry(attempt, &err, wait);
        tokio::time::sleep(wait).await;
    }
}

/// How one attempt failed.
pub(crate) enum Attempt {
    /// A store error: retried when transient.
    Store(object_store::Error),
    /// A check failed in a way a new attempt may fix (an upload that did not verify).
    Again(String),
    /// Stop with this error.
    Stop(ShipError),
}

impl From<object_store::Error> for Attempt {
    fn from(e: object_store::Error) -> Attempt {
        Attempt::Store(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let p =
            RetryPolicy { retries: 9, backoff: Duration::from_millis(100), max_backoff: Duration::from_millis(700) };
        let waits: Vec<u128> = (0..5).map(|r| p.wait(r).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 700, 700]);
    }
}
