//! Parquet export (feature `parquet`). TO BE WRITTEN: see the helper's task.

use std::io::Write;

use crate::{Frame, Record, Result, Source};

/// Options of a Parquet export.
#[derive(Clone, Debug)]
pub struct ParquetOptions {
    /// Rows buffered into one Arrow batch before it is handed to the writer.
    pub batch_rows: usize,
    /// Most rows per row group.
    pub row_group_rows: usize,
}

impl Default for ParquetOptions {
    fn default() -> ParquetOptions {
        ParquetOptions { batch_rows: 65_536, row_group_rows: 1_000_000 }
    }
}

/// What a Parquet export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParquetSummary {
    /// Rows.
    pub rows: u64,
    /// Row groups.
    pub row_groups: u64,
}

/// Streams records into a Parquet file.
pub struct ParquetExporter<W: Write + Send> {
    _out: W,
}

impl<W: Write + Send> ParquetExporter<W> {
    /// Starts a Parquet file on `out` for records of `source`.
    pub fn new(out: W, source: &Source, options: ParquetOptions) -> Result<ParquetExporter<W>> {
        let _ = (source, options);
        Ok(ParquetExporter { _out: out })
    }

    /// Adds one ring record.
    pub fn write_record(&mut self, record: &Record<'_>) -> Result<()> {
        let _ = record;
        unimplemented!()
    }

    /// Adds one plain-journal frame.
    pub fn write_frame(&mut self, frame: &Frame<'_>) -> Result<()> {
        let _ = frame;
        unimplemented!()
    }

    /// Flushes the last batch and writes the footer.
    pub fn finish(self) -> Result<ParquetSummary> {
        unimplemented!()
    }
}
