//! Where captures go: an object store and a prefix in it, built from a URL and the environment.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::path::Path as ObjPath;

use crate::{Result, ShipError};

/// Environment variables whose values are secrets: [`redact`] removes their values from any text.
const SECRET_VARS: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
];

/// `text` with the value of every credential variable in the environment (`AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_ACCESS_KEY_ID`, Google's and Azure's keys) replaced by `***`: every
/// message this crate makes passes it, because a store's error text is not ours to trust.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for var in SECRET_VARS {
        if let Ok(v) = std::env::var(var) {
            // Short values would redact ordinary words; real keys are long.
            if v.len() >= 8 {
                out = out.replace(&v, "***");
            }
        }
    }
    out
}

/// An object store and the prefix a capture lives under.
#[derive(Clone, Debug)]
pub struct Target {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix (no leading or trailing slash; may be empty).
    pub prefix: ObjPath,
    /// The URL as messages show it: scheme, bucket and prefix, without user, password or query.
    pub url: String,
}

impl Target {
    /// Builds the store a URL names, with credentials, endpoint and region from the environment:
    /// `s3://bucket/prefix` (`AWS_*`), `gs://bucket/prefix` (`GOOGLE_*`), `az://container/prefix`
    /// (`AZURE_*`), `file:///absolute/dir`.
    ///
    /// # Errors
    /// [`ShipError::BadUrl`] for an unparsable URL, an unknown scheme, a URL carrying
    /// credentials, or a store its builder rejects (naming what to set).
    pub fn parse(url_text: &str) -> Result<Target> {
        let shown = display_url(url_text);
        let bad = |why: String, fix: &str| ShipError::BadUrl { url: shown.clone(), why: redact(&why), fix: fix.into() };
        let url = url::Url::parse(url_text).map_err(|e| {
            bad(format!("not a URL ({e})"), "write it as s3://BUCKET/PREFIX, gs://, az:// or file:///DIR")
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "the URL carries credentials".into(),
                "remove them from the URL and set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the store's variables) instead",
            ));
        }
        let retry = object_store::RetryConfig {
            // Our own retry loop reports every retry; the client's is kept short so it does.
            max_retries: 1,
            retry_timeout: Duration::from_secs(15),
            ..Default::default()
        };
        let prefix_of = |u: &url::Url| ObjPath::from(u.path().trim_matches('/'));
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "s3" | "s3a" => {
                let b = object_store::aws::AmazonS3Builder::from_env().with_url(url_text).with_retry(retry);
                Arc::new(b.build().map_err(|e| bad(e.to_string(), "check the bucket name and the AWS_* variables"))?)
            }
            "gs" => {
                let b = object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(url_text).with_retry(retry);
                Arc::new(b.build().map_err(|e| bad(e.to_string(), "check the bucket name and the GOOGLE_* variables"))?)
            }
            "az" | "abfs" | "abfss" | "azure" => {
                let b = object_store::azure::MicrosoftAzureBuilder::from_env().with_url(url_text).with_retry(retry);
                Arc::new(
                    b.build().map_err(|e| bad(e.to_string(), "check the container name and the AZURE_* variables"))?,
                )
            }
            "file" => {
                let dir = url
                    .to_file_path()
                    .map_err(|()| bad("not an absolute local path".into(), "write it as file:///absolute/dir"))?;
                if !dir.is_dir() {
                    return Err(bad("no such directory".into(), "create the directory first"));
                }
                let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| bad(e.to_string(), "check the directory"))?;
                return Ok(Target { store: Arc::new(fs), prefix: ObjPath::default(), url: shown });
            }
            other => {
                return Err(bad(
                    format!("unknown scheme {other:?}"),
                    "use s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX or file:///DIR",
                ));
            }
        };
        Ok(Target { store, prefix: prefix_of(&url), url: shown })
    }

    /// A target over a given store (tests wrap stores to inject faults).
    pub fn with_store(store: Arc<dyn ObjectStore>, prefix: &str, url: &str) -> Target {
        Target { store, prefix: ObjPath::from(prefix.trim_matches('/')), url: display_url(url) }
    }

    /// The key of object `name` under the prefix.
    pub fn key(&self, name: &str) -> ObjPath {
        if self.prefix.as_ref().is_empty() { ObjPath::from(name) } else { self.prefix.clone().join(name) }
    }

    /// The URL of object `name`, as messages show it.
    pub fn url_of(&self, name: &str) -> String {
        format!("{}/{name}", self.url.trim_end_matches('/'))
    }
}

/// A URL as messages show it: without user, password, query or fragment.
fn display_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            redact(u.as_str().trim_end_matches('/'))
        }
        Err(_) => redact(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show_in_a_url() {
        assert_eq!(display_url("s3://key:secret@bucket/p?x=1#f"), "s3://bucket/p");
        assert!(
            matches!(Target::parse("s3://key:secret@bucket/p"), Err(ShipError::BadUrl { url, .. }) if !url.contains("secret"))
        );
    }

    #[test]
    fn an_unknown_scheme_is_named() {
        let e = Target::parse("ftp://host/x").unwrap_err().to_string();
        assert!(e.contains("unknown scheme \"ftp\"") && e.contains("s3://"), "{e}");
    }
}
