//! MCAP export (feature `mcap`). TO BE WRITTEN: see the helper's task.

use std::io::{Seek, Write};

use crate::{Frame, Record, Result, Source, TimeSource};

/// Options of an MCAP export.
#[derive(Clone, Debug)]
pub struct McapOptions {
    /// Where each message's `log_time` and `publish_time` come from.
    pub time: TimeSource,
}

impl Default for McapOptions {
    fn default() -> McapOptions {
        McapOptions { time: TimeSource::Auto }
    }
}

/// What an MCAP export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct McapSummary {
    /// Record (or frame) messages.
    pub messages: u64,
    /// Messages on `/replaylog/failures`.
    pub failures: u64,
    /// Channels.
    pub channels: u32,
}

/// Streams records into an MCAP file.
pub struct McapExporter<W: Write + Seek> {
    _out: W,
}

impl<W: Write + Seek> McapExporter<W> {
    /// Starts an MCAP file on `out` for records of `source`.
    pub fn new(out: W, source: &Source, options: McapOptions) -> Result<McapExporter<W>> {
        let _ = (source, options);
        Ok(McapExporter { _out: out })
    }

    /// Writes one ring record (and its failure evidence, if any).
    pub fn write_record(&mut self, record: &Record<'_>) -> Result<()> {
        let _ = record;
        unimplemented!()
    }

    /// Writes one plain-journal frame.
    pub fn write_frame(&mut self, frame: &Frame<'_>) -> Result<()> {
        let _ = frame;
        unimplemented!()
    }

    /// Writes the summary section and footer.
    pub fn finish(self) -> Result<McapSummary> {
        unimplemented!()
    }
}
