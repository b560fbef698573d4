//! The baseline `tools/bench-ship.sh` compares `replaylog ship` with: every file of a directory
//! PUT to `URL/<file name>` with `object_store` directly (multipart above 8 MiB, as `ship`), no
//! digest, no verification, no manifest — what a user would script instead.
//!
//! Usage: `replaylog-plain-put DIR URL` (credentials from the environment, as `ship`).

use std::sync::Arc;

use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use replaylog_ship::Target;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: replaylog-plain-put DIR URL");
        std::process::exit(2);
    }
    let target = Target::parse(&args[2]).unwrap_or_else(|e| {
        eprintln!("replaylog-plain-put: {e}");
        std::process::exit(2);
    });
    let store = Arc::clone(&target.store);
    let mut files: Vec<_> = std::fs::read_dir(&args[1]).expect("DIR").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut total = 0u64;
    for f in files.iter().filter(|f| f.is_file()) {
        let bytes = bytes::Bytes::from(std::fs::read(f).expect("read"));
        total += bytes.len() as u64;
        let key = target.key(&f.file_name().expect("name").to_string_lossy());
        rt.block_on(async {
            if bytes.len() > 8 << 20 {
                let upload = store.put_multipart(&key).await?;
                let mut w = WriteMultipart::new_with_chunk_size(upload, 8 << 20);
                w.put(bytes);
                w.finish().await.map(|_| ())
            } else {
                store.put(&key, PutPayload::from(bytes)).await.map(|_| ())
            }
        })
        .unwrap_or_else(|e| {
            eprintln!("replaylog-plain-put: {}: {}", f.display(), replaylog_ship::redact(&e.to_string()));
            std::process::exit(1);
        });
    }
    println!("put {} files, {total} bytes, to {}", files.len(), target.url);
}
