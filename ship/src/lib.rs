//! Ship replaylog journals to object storage, and read them back from there.
//!
//! A fleet of hosts records locally (a [`Journal`](replaylog::Journal) or an archive journal of a
//! ring); certification and analysis happen elsewhere. Sealed journal segments are immutable,
//! checksummed and self-describing, so they are the unit to ship: [`Shipper`] uploads each one
//! exactly once under `<prefix>/<segment file name>`, checks it (HEAD: size and digest) and only
//! then lists it in the prefix's manifest (`<prefix>/manifest.json`, see [`Manifest`]).
//! [`open_capture`] reads a shipped capture segment by segment with ranged GETs, each segment
//! used only once its SHA-256 matches the manifest, as a [`Capture`](replaylog::capture::Capture)
//! every reader of the core crate (comparison, reports, exports) takes.
//!
//! Stores are [`object_store`]'s: `s3://bucket/prefix` (AWS S3, Garage, MinIO, …), `gs://…`,
//! `az://…`, `file:///dir`. Credentials, endpoint and region come from the usual environment
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL`, `AWS_REGION`,
//! `AWS_ALLOW_HTTP` for a loopback server; `GOOGLE_*`, `AZURE_*`); they never appear in output,
//! errors, manifests or object metadata (every message passes [`redact`]).
//!
//! Crash and retry rules (tested with a store that fails its k-th request, for every k):
//! * a segment is listed in the manifest only after its upload was verified, so a crash between
//!   upload and manifest re-uploads at most that segment, under the same key: nothing is lost
//!   and nothing is duplicated;
//! * a segment a live writer may still append to (the unsealed newest segment of a journal whose
//!   directory lock is held) is never shipped; a journal no writer holds is shipped whole;
//! * transient errors are retried with bounded exponential backoff, each retry reported; a
//!   permanent error (authentication, permission, a missing bucket, an unknown scheme) stops at
//!   once with a message naming the URL and what to fix;
//! * with [`ShipOptions::delete_after_verify`], local segments are deleted only when shipped and
//!   verified (checked again by HEAD just before), sealed, and older than the segment holding
//!   the journal's newest snapshot (replay starts there); nothing is deleted after an error.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod manifest;
mod remote;
mod retry;
mod ship;
mod target;

pub use manifest::{MANIFEST_FORMAT, MANIFEST_NAME, MANIFEST_VERSION, Manifest, ManifestSegment};
pub use remote::{FetchProgress, RemoteSegment, RemoteSource, RemoteValidation, open_capture, validate};
pub use retry::RetryPolicy;
pub use ship::{Event, ShipOptions, ShipReport, Shipper};
pub use target::{Target, redact};

/// Whether a command-line argument names an object-store location (`scheme://…`) rather than a
/// local path.
pub fn is_url(arg: &str) -> bool {
    match arg.split_once("://") {
        Some((scheme, _)) => {
            !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// Errors of shipping and remote reading. Every message names the URL (never a credential).
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// The URL cannot be used: unknown scheme, bad syntax, or a store that cannot be built from
    /// it and the environment.
    #[error("{url}: {why}; {fix}")]
    BadUrl {
        /// The URL as given (credentials removed).
        url: String,
        /// What is wrong.
        why: String,
        /// What to do.
        fix: String,
    },
    /// The store refused in a way retrying will not change (authentication, permission, a
    /// missing bucket).
    #[error("{url}: {what}; {fix}")]
    Permanent {
        /// The object's URL.
        url: String,
        /// What the store said.
        what: String,
        /// What to fix.
        fix: String,
    },
    /// A transient error persisted through every retry.
    #[error("{url}: {what} (gave up after {attempts} attempts)")]
    Transient {
        /// The object's URL.
        url: String,
        /// The last error.
        what: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The local source cannot be shipped (not a journal, damaged where it would be shipped).
    #[error("{0}")]
    Local(#[from] replaylog::ReplayLogError),
    /// The remote prefix holds something that contradicts the manifest or the local journal.
    #[error("{url}: {what}; {fix}")]
    Conflict {
        /// The object's URL.
        url: String,
        /// What disagrees.
        what: String,
        /// What to do.
        fix: String,
    },
}

impl ShipError {
    /// Whether this is bad input (exit status 2 in the CLI): a URL, credentials, bucket or
    /// source that cannot work, as opposed to a failure along the way (status 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            ShipError::BadUrl { .. } | ShipError::Permanent { .. } | ShipError::Conflict { .. } => true,
            ShipError::Transient { .. } => false,
            ShipError::Local(e) => !matches!(e, replaylog::ReplayLogError::Corrupt { .. }),
        }
    }
}

/// Shorthand.
pub type Result<T, E = ShipError> = std::result::Result<T, E>;

/// Hex of a SHA-256 digest of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}
