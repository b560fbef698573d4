//! The manifest object: which segments of a capture are shipped and verified.

use serde::{Deserialize, Serialize};

/// The manifest's object name under the prefix.
pub const MANIFEST_NAME: &str = "manifest.json";
/// The manifest's `format` value.
pub const MANIFEST_FORMAT: &str = "replaylog-ship-manifest";
/// The manifest version this crate writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// `<prefix>/manifest.json`: the shipped segments, ascending by number. Rewritten (one PUT)
/// after each segment's upload is verified; a segment not listed here is not part of the
/// remote capture, whatever objects exist. See `docs/FORMAT.md`, "Shipped captures".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// `journal` or `archive`.
    pub kind: String,
    /// The shipped segments, ascending by number.
    pub segments: Vec<ManifestSegment>,
}

/// One shipped segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSegment {
    /// The segment number.
    pub number: u64,
    /// Its object name under the prefix (its file name, `NNNNNNNNNNNNNNNNNNNN.seg`).
    pub name: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
    /// Whether it was sealed by a roll when shipped (else it was the newest segment of a journal
    /// no writer held, and is shipped again, replacing this entry, if it grows).
    pub sealed: bool,
    /// The LSN of its first frame.
    pub first_lsn: Option<u64>,
    /// The LSN after its last frame.
    pub next_lsn: u64,
    /// The lanes its archive entries name (archives of recorder directories), ascending.
    #[serde(default)]
    pub lanes: Vec<String>,
}

impl Manifest {
    /// An empty manifest of `kind`.
    pub fn new(kind: &str) -> Manifest {
        Manifest { format: MANIFEST_FORMAT.into(), version: MANIFEST_VERSION, kind: kind.into(), segments: Vec::new() }
    }

    /// Parses a manifest, saying why bytes are not one.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| format!("not a replaylog ship manifest ({e})"))?;
        if m.format != MANIFEST_FORMAT {
            return Err(format!("format {:?}, expected {MANIFEST_FORMAT:?}", m.format));
        }
        if m.version != MANIFEST_VERSION {
            return Err(format!("version {}, this build reads {MANIFEST_VERSION}", m.version));
        }
        if m.segments.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err("segments not in ascending order".into());
        }
        Ok(m)
    }

    /// The manifest's bytes (pretty JSON, one segment per few lines: small and diffable).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a manifest serializes");
        v.push(b'\n');
        v
    }

    /// The entry for segment `number`.
    pub fn get(&self, number: u64) -> Option<&ManifestSegment> {
        self.segments.iter().find(|s| s.number == number)
    }

    /// Adds or replaces the entry for `seg.number`, keeping the order.
    pub fn put(&mut self, seg: ManifestSegment) {
        match self.segments.binary_search_by_key(&seg.number, |s| s.number) {
            Ok(i) => self.segments[i] = seg,
            Err(i) => self.segments.insert(i, seg),
        }
    }

    /// Every lane any segment names, ascending.
    pub fn lanes(&self) -> Vec<String> {
        let mut set: std::collections::BTreeSet<&String> = std::collections::BTreeSet::new();
        for s in &self.segments {
            set.extend(s.lanes.iter());
        }
        set.into_iter().cloned().collect()
    }

    /// Bytes of all shipped segments.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }
}

/// Reads and parses the manifest at `target` (`None` when there is none: nothing shipped there
/// yet, or no such bucket), retrying transient errors; `on_retry` hears each retry.
///
/// # Errors
/// `Conflict` for an object there that is not a manifest (nothing is changed); the store's
/// errors after retries.
pub(crate) async fn fetch_manifest(
    target: &crate::Target,
    retry: &crate::RetryPolicy,
    on_retry: impl FnMut(u32, &str, std::time::Duration),
) -> crate::Result<Option<Manifest>> {
    use object_store::ObjectStoreExt;
    let key = target.key(MANIFEST_NAME);
    let url = target.url_of(MANIFEST_NAME);
    let got = crate::retry::retrying(retry, &url, on_retry, || async {
        match target.store.get(&key).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(crate::retry::Attempt::Store(e)),
        }
    })
    .await?;
    let Some(bytes) = got else { return Ok(None) };
    Manifest::parse(&bytes).map(Some).map_err(|why| crate::ShipError::Conflict {
        url,
        what: why,
        fix: "this object is not a replaylog manifest: use another prefix (nothing was changed)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/FORMAT.md, "Shipped captures", names the constants the code uses.
    #[test]
    fn format_doc_matches_the_constants() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/FORMAT.md")).unwrap();
        let section = &doc[doc.find("## Shipped captures").expect("the section")..];
        for want in [
            format!("`PREFIX/{MANIFEST_NAME}`"),
            format!("\"format\": \"{MANIFEST_FORMAT}\""),
            format!("\"version\": {MANIFEST_VERSION}"),
            format!("`{}`", crate::ship::META_SHA256),
            format!("`{}`", crate::ship::META_BYTES),
        ] {
            assert!(section.contains(&want), "docs/FORMAT.md lacks {want}");
        }
        // The example manifest parses (a valid shape), once its elided digest is filled in.
        let start = section.find("```json\n").unwrap() + 8;
        let end = start + section[start..].find("```").unwrap();
        let m = Manifest::parse(&section.as_bytes()[start..end]).unwrap();
        assert_eq!(m.segments[0].name, replaylog::lowlevel::format::journal::segment_name(m.segments[0].number));
    }

    #[test]
    fn a_foreign_or_unordered_manifest_is_refused() {
        assert!(Manifest::parse(b"{}").is_err());
        let mut m = Manifest::new("journal");
        let seg = |n| ManifestSegment {
            number: n,
            name: replaylog::lowlevel::format::journal::segment_name(n),
            bytes: 1,
            sha256: String::new(),
            sealed: true,
            first_lsn: None,
            next_lsn: 1,
            lanes: Vec::new(),
        };
        m.put(seg(2));
        m.put(seg(0));
        m.put(seg(2));
        assert_eq!(m.segments.iter().map(|s| s.number).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(Manifest::parse(&m.to_bytes()).unwrap(), m);
        let mut bad = m.clone();
        bad.segments.swap(0, 1);
        assert!(Manifest::parse(&bad.to_bytes()).unwrap_err().contains("ascending"));
        bad = m.clone();
        bad.format = "other".into();
        assert!(Manifest::parse(&bad.to_bytes()).is_err());
    }
}
