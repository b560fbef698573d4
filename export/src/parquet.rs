//! Parquet export (feature `parquet`): one row per record, one typed column per layout field,
//! for DuckDB, Polars, pandas and Spark.
//!
//! # Columns
//!
//! Ring records ([`SourceKind::Ring`], [`SourceKind::Recorder`], [`SourceKind::Archive`], fed
//! with [`ParquetExporter::write_record`]), in this order:
//!
//! | column | Arrow type | present | nullable |
//! |---|---|---|---|
//! | `seq` | UInt64 | always | no |
//! | `epoch` | UInt32 | always | no |
//! | `lsn` | UInt64 | archives | yes |
//! | `lane` | Dictionary(Int32, Utf8) | recorders, archives | archives only |
//! | `timestamp` | Timestamp(Nanosecond, None) | [`Source::timestamps`] | yes |
//! | one per layout field | see below | with a layout | no |
//! | `record` | FixedSizeBinary(record_bytes) | without a layout | no |
//! | `evidence_kind` | Dictionary(Int32, Utf8) | always | yes (no evidence) |
//! | `evidence_code` | Int64 | always | yes |
//! | `evidence_message` | Utf8 | always | yes |
//!
//! `evidence_kind` is [`FailureKind::name`](replaylog::FailureKind::name): `backend`,
//! `runtime`, `timeout`, `other(7)`.
//!
//! Plain journals ([`SourceKind::Journal`], fed with [`ParquetExporter::write_frame`]): `lsn`
//! (UInt64), `kind` (Dictionary(Int8, Utf8): `entry` or `snapshot`), `data` (Binary), then,
//! when [`Source::layout`] is set, one nullable column per layout field: a frame's field is
//! decoded when the field lies inside the frame, and null otherwise (each field on its own, so a
//! short frame still fills the fields it holds).
//!
//! # Layout fields
//!
//! Each field's values are decoded straight from the record's little-endian bytes at the
//! field's offset, with the field's exact type: `u8`..`u64` → UInt8..UInt64, `i8`..`i64` →
//! Int8..Int64, `f32` → Float32, `f64` → Float64 (bit-exact, NaN payloads included); an array
//! (`count` > 1) → FixedSizeList of that type (non-nullable items named `item`); `bytes[N]` →
//! FixedSizeBinary(N).
//!
//! A field's column is named as the field is (`outer.inner` stays one flat column named with
//! the dot), **except** when that name is one of the fixed column names of its kind of file —
//! `seq`, `epoch`, `lsn`, `lane`, `timestamp`, `evidence_kind`, `evidence_code`,
//! `evidence_message` for records (whether or not the column is present in this file, so a
//! query does not depend on the source), `lsn`, `kind`, `data` for journals — or the name of an
//! earlier field's column: then it gets the prefix `field_`, repeated until the name is unique
//! and not the name of another field (`seq` → `field_seq`). [`arrow_schema()`](fn@arrow_schema) gives the columns.
//!
//! # File
//!
//! ZSTD (level 3) pages; row groups of at most [`ParquetOptions::row_group_rows`] rows, and
//! closed early once a row group holds about [`ROW_GROUP_BYTES_MAX`] encoded bytes (the writer
//! keeps an open row group's compressed pages in memory); column statistics per column chunk and
//! per page (column index); `seq`, `lsn` and `timestamp` are delta-encoded. Key-value metadata:
//! `replaylog.source` (path), `replaylog.kind`, `replaylog.name`, `replaylog.schema_id`,
//! `replaylog.record_bytes`, `replaylog.layout` (the layout's text,
//! `name { field: type @offset, .. }`), `replaylog.layout_spec` (a `--layout` spec with explicit
//! offsets that parses back to the same fields, when the field names allow one),
//! `replaylog.capacity`, `replaylog.window` (`first..=last`), `replaylog.lanes` (comma
//! separated); unknown ones are left out.
//!
//! ```
//! use replaylog_export::parquet::{ParquetExporter, ParquetOptions};
//! use replaylog_export::{Record, Source, SourceKind};
//!
//! let source = Source {
//!     path: "run.ring".into(),
//!     kind: SourceKind::Ring,
//!     name: "run".into(),
//!     record_bytes: Some(16),
//!     schema_id: Some(1),
//!     layout: Some("tick:u64,value:f64".parse()?),
//!     capacity: Some(1024),
//!     window: Some((0, 0)),
//!     lanes: vec![],
//!     timestamps: false,
//! };
//! let columns: Vec<String> =
//!     replaylog_export::parquet::arrow_schema(&source).fields().iter().map(|f| f.name().clone()).collect();
//! assert_eq!(columns, ["seq", "epoch", "tick", "value", "evidence_kind", "evidence_code", "evidence_message"]);
//!
//! let mut file = Vec::new();
//! let mut out = ParquetExporter::new(&mut file, &source, ParquetOptions::default())?;
//! let mut bytes = 7u64.to_le_bytes().to_vec();
//! bytes.extend_from_slice(&0.5f64.to_le_bytes());
//! let record = Record { seq: 0, epoch: 1, timestamp_ns: None, lane: None, lsn: None, bytes: &bytes, evidence: None };
//! out.write_record(&record)?;
//! assert_eq!(out.finish()?.rows, 1);
//! assert_eq!(&file[..4], b"PAR1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::types::{
    ArrowPrimitiveType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimestampNanosecondType,
    UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{
    ArrayRef, DictionaryArray, FixedSizeBinaryArray, FixedSizeListArray, PrimitiveArray, RecordBatch, StringArray,
};
use arrow_buffer::{Buffer, NullBufferBuilder, ScalarBuffer};
use arrow_schema::{DataType, Field as ArrowField, FieldRef, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use replaylog::{EntryKind, Field, FieldType, Layout};

use crate::{ExportError, Frame, Record, Result, Source, SourceKind};

/// A row group is closed once its encoded (compressed) pages reach about this many bytes, even
/// before [`ParquetOptions::row_group_rows`] rows: the writer holds an open row group's pages in
/// memory, so this bounds the export's memory for wide rows (large journal frames).
pub const ROW_GROUP_BYTES_MAX: usize = 64 << 20;

/// A batch is written once its records' or frames' bytes reach about this many, even before
/// [`ParquetOptions::batch_rows`] rows (bounded memory for large records; a journal batch's
/// Binary offsets are 32-bit).
pub const BATCH_DATA_BYTES_MAX: usize = 16 << 20;

/// ZSTD level of the pages.
const ZSTD_LEVEL: i32 = 3;

/// Fixed columns of a record file; a layout field with one of these names is renamed.
const RECORD_COLUMNS: [&str; 8] =
    ["seq", "epoch", "lsn", "lane", "timestamp", "evidence_kind", "evidence_code", "evidence_message"];
/// Fixed columns of a journal file.
const FRAME_COLUMNS: [&str; 3] = ["lsn", "kind", "data"];
/// Prefix a clashing layout field's column gets.
const CLASH_PREFIX: &str = "field_";

/// Options of a Parquet export.
#[derive(Clone, Debug)]
pub struct ParquetOptions {
    /// Rows buffered into one Arrow batch before it is handed to the writer (default 65,536;
    /// at least 1; fewer when that many rows would hold over [`BATCH_DATA_BYTES_MAX`] bytes).
    pub batch_rows: usize,
    /// Most rows per row group (default 1,000,000; at least 1).
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

/// The Arrow schema of the Parquet file an export of `source` writes: its columns, in order,
/// with their exact types and nullability (see the [module documentation](self) for the
/// columns and the renaming rule of layout fields that clash with a fixed column). A plain
/// journal ([`SourceKind::Journal`]) gets the frame columns.
pub fn arrow_schema(source: &Source) -> Schema {
    let names = field_column_names(source);
    let fields = source.layout.as_ref().map_or(&[][..], |l| &l.fields[..]);
    let mut cols: Vec<ArrowField> = Vec::new();
    if source.kind == SourceKind::Journal {
        cols.push(ArrowField::new("lsn", DataType::UInt64, false));
        cols.push(ArrowField::new("kind", dictionary(DataType::Int8), false));
        cols.push(ArrowField::new("data", DataType::Binary, false));
        for (f, name) in fields.iter().zip(names) {
            cols.push(ArrowField::new(name, field_type(f), true));
        }
        return Schema::new(cols);
    }
    cols.push(ArrowField::new("seq", DataType::UInt64, false));
    cols.push(ArrowField::new("epoch", DataType::UInt32, false));
    if source.kind == SourceKind::Archive {
        cols.push(ArrowField::new("lsn", DataType::UInt64, true));
    }
    if matches!(source.kind, SourceKind::Recorder | SourceKind::Archive) {
        cols.push(ArrowField::new("lane", dictionary(DataType::Int32), source.kind == SourceKind::Archive));
    }
    if source.timestamps {
        cols.push(ArrowField::new("timestamp", DataType::Timestamp(TimeUnit::Nanosecond, None), true));
    }
    match &source.layout {
        Some(_) => {
            for (f, name) in fields.iter().zip(names) {
                cols.push(ArrowField::new(name, field_type(f), false));
            }
        }
        None => cols.push(ArrowField::new("record", field_type(&record_field(source)), false)),
    }
    cols.push(ArrowField::new("evidence_kind", dictionary(DataType::Int32), true));
    cols.push(ArrowField::new("evidence_code", DataType::Int64, true));
    cols.push(ArrowField::new("evidence_message", DataType::Utf8, true));
    Schema::new(cols)
}

fn dictionary(key: DataType) -> DataType {
    DataType::Dictionary(Box::new(key), Box::new(DataType::Utf8))
}

/// The pseudo-field holding a whole record when there is no layout.
fn record_field(source: &Source) -> Field {
    Field::array("record", FieldType::Bytes, 0, source.record_bytes.unwrap_or(0))
}

fn element_type(ty: FieldType) -> DataType {
    match ty {
        FieldType::U8 => DataType::UInt8,
        FieldType::U16 => DataType::UInt16,
        FieldType::U32 => DataType::UInt32,
        FieldType::U64 => DataType::UInt64,
        FieldType::I8 => DataType::Int8,
        FieldType::I16 => DataType::Int16,
        FieldType::I32 => DataType::Int32,
        FieldType::I64 => DataType::Int64,
        FieldType::F32 => DataType::Float32,
        FieldType::F64 => DataType::Float64,
        FieldType::Bytes => DataType::UInt8,
    }
}

/// Counts beyond `i32::MAX` are refused by [`check_layout`] before a schema is used.
fn arrow_count(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

fn list_item(ty: FieldType) -> FieldRef {
    Arc::new(ArrowField::new("item", element_type(ty), false))
}

fn field_type(f: &Field) -> DataType {
    match f.ty {
        FieldType::Bytes => DataType::FixedSizeBinary(arrow_count(f.count)),
        ty if f.count == 1 => element_type(ty),
        ty => DataType::FixedSizeList(list_item(ty), arrow_count(f.count)),
    }
}

/// Column names of the layout's fields (the renaming rule of the module documentation).
fn field_column_names(source: &Source) -> Vec<String> {
    let Some(layout) = &source.layout else { return Vec::new() };
    let reserved: &[&str] = if source.kind == SourceKind::Journal { &FRAME_COLUMNS } else { &RECORD_COLUMNS };
    let originals: HashSet<&str> = layout.fields.iter().map(|f| f.name.as_str()).collect();
    let mut used: HashSet<String> = reserved.iter().map(|s| s.to_string()).collect();
    let mut names = Vec::with_capacity(layout.fields.len());
    for f in &layout.fields {
        let mut name = f.name.clone();
        if used.contains(&name) {
            loop {
                name = format!("{CLASH_PREFIX}{name}");
                if !used.contains(&name) && !originals.contains(name.as_str()) {
                    break;
                }
            }
        }
        used.insert(name.clone());
        names.push(name);
    }
    names
}

/// A `--layout` spec with explicit offsets, if it parses back to exactly these fields.
fn layout_spec(layout: &Layout) -> Option<String> {
    let spec = layout
        .fields
        .iter()
        .map(|f| {
            let count = if f.count == 1 { String::new() } else { format!("[{}]", f.count) };
            format!("{}:{}{count}@{}", f.name, f.ty.name(), f.offset)
        })
        .collect::<Vec<_>>()
        .join(",");
    Layout::parse_spec(&spec).ok().filter(|parsed| parsed.fields == layout.fields).map(|_| spec)
}

fn metadata(source: &Source) -> Vec<KeyValue> {
    let mut kv = vec![
        KeyValue::new("replaylog.source".into(), source.path.display().to_string()),
        KeyValue::new("replaylog.kind".into(), source.kind.name().to_string()),
        KeyValue::new("replaylog.name".into(), source.name.clone()),
    ];
    if let Some(id) = source.schema_id {
        kv.push(KeyValue::new("replaylog.schema_id".into(), id.to_string()));
    }
    if let Some(n) = source.record_bytes {
        kv.push(KeyValue::new("replaylog.record_bytes".into(), n.to_string()));
    }
    if let Some(layout) = &source.layout {
        kv.push(KeyValue::new("replaylog.layout".into(), layout.to_string()));
        if let Some(spec) = layout_spec(layout) {
            kv.push(KeyValue::new("replaylog.layout_spec".into(), spec));
        }
    }
    if let Some(c) = source.capacity {
        kv.push(KeyValue::new("replaylog.capacity".into(), c.to_string()));
    }
    if let Some((first, last)) = source.window {
        kv.push(KeyValue::new("replaylog.window".into(), format!("{first}..={last}")));
    }
    if !source.lanes.is_empty() {
        kv.push(KeyValue::new("replaylog.lanes".into(), source.lanes.join(",")));
    }
    kv
}

fn writer_error(e: impl std::fmt::Display) -> ExportError {
    ExportError::Writer(format!("parquet: {e}"))
}

/// Checks that the source can be exported: a record size for records, a layout that fits.
fn check_source(source: &Source, options: &ParquetOptions) -> Result<()> {
    if options.batch_rows == 0 || options.row_group_rows == 0 {
        return Err(ExportError::Usage(format!(
            "parquet: batch_rows ({}) and row_group_rows ({}) must be at least 1",
            options.batch_rows, options.row_group_rows
        )));
    }
    let record_bytes = match (source.kind, source.record_bytes) {
        (SourceKind::Journal, _) => u32::MAX,
        (_, Some(n)) if n > 0 && n <= i32::MAX as u32 => n,
        (kind, n) => {
            return Err(ExportError::Usage(format!(
                "{}: a {} source needs a record size of 1..=2^31-1 bytes (got {n:?})",
                source.path.display(),
                kind.name()
            )));
        }
    };
    if let Some(layout) = &source.layout {
        layout.check(record_bytes).map_err(|e| ExportError::Usage(format!("layout {}: {e}", layout.name)))?;
        if let Some(f) = layout.fields.iter().find(|f| f.count > i32::MAX as u32) {
            return Err(ExportError::Usage(format!(
                "layout {}: field {:?} has over 2^31-1 elements",
                layout.name, f.name
            )));
        }
    }
    Ok(())
}

/// A primitive column of a batch, nullable or not (a non-nullable one never appends a null).
struct Prim<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    nulls: NullBufferBuilder,
}

impl<T: ArrowPrimitiveType> Prim<T> {
    fn new(rows: usize) -> Self {
        Prim { values: Vec::with_capacity(rows), nulls: NullBufferBuilder::new(rows) }
    }

    fn push(&mut self, v: T::Native) {
        self.values.push(v);
        self.nulls.append_non_null();
    }

    fn push_opt(&mut self, v: Option<T::Native>) {
        match v {
            Some(v) => self.push(v),
            None => {
                self.values.push(T::Native::default());
                self.nulls.append_null();
            }
        }
    }

    fn finish(&mut self) -> PrimitiveArray<T> {
        let capacity = self.values.capacity();
        let values = std::mem::replace(&mut self.values, Vec::with_capacity(capacity));
        PrimitiveArray::new(ScalarBuffer::from(values), self.nulls.finish())
    }
}

/// A string dictionary column whose values grow over the export (lanes, evidence kinds).
struct Dict {
    keys: Prim<Int32Type>,
    values: Vec<String>,
    index: HashMap<String, i32>,
}

impl Dict {
    fn new(rows: usize, values: &[String]) -> Dict {
        let mut d = Dict { keys: Prim::new(rows), values: Vec::new(), index: HashMap::new() };
        for v in values {
            d.key(v);
        }
        d
    }

    fn key(&mut self, v: &str) -> i32 {
        if let Some(k) = self.index.get(v) {
            return *k;
        }
        let k = self.values.len() as i32;
        self.values.push(v.to_string());
        self.index.insert(v.to_string(), k);
        k
    }

    fn push(&mut self, v: Option<&str>) {
        let k = v.map(|v| self.key(v));
        self.keys.push_opt(k);
    }

    fn finish(&mut self) -> ArrayRef {
        let values = Arc::new(StringArray::from_iter_values(&self.values));
        Arc::new(DictionaryArray::new(self.keys.finish(), values))
    }
}

/// One layout field's values in a batch, decoded from the record's bytes.
enum Values {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bytes(Vec<u8>),
}

/// Appends the little-endian elements of `b` (a whole number of `N`-byte elements).
#[inline]
fn extend_le<T, const N: usize>(v: &mut Vec<T>, b: &[u8], from: fn([u8; N]) -> T) {
    match <[u8; N]>::try_from(b) {
        Ok(one) => v.push(from(one)),
        Err(_) => v.extend(b.chunks_exact(N).filter_map(|c| <[u8; N]>::try_from(c).ok()).map(from)),
    }
}

struct FieldColumn {
    start: usize,
    end: usize,
    count: usize,
    ty: FieldType,
    values: Values,
    nulls: NullBufferBuilder,
}

impl FieldColumn {
    fn new(f: &Field, rows: usize) -> FieldColumn {
        let count = f.count as usize;
        let cap = rows.saturating_mul(count);
        let values = match f.ty {
            FieldType::U8 => Values::U8(Vec::with_capacity(cap)),
            FieldType::U16 => Values::U16(Vec::with_capacity(cap)),
            FieldType::U32 => Values::U32(Vec::with_capacity(cap)),
            FieldType::U64 => Values::U64(Vec::with_capacity(cap)),
            FieldType::I8 => Values::I8(Vec::with_capacity(cap)),
            FieldType::I16 => Values::I16(Vec::with_capacity(cap)),
            FieldType::I32 => Values::I32(Vec::with_capacity(cap)),
            FieldType::I64 => Values::I64(Vec::with_capacity(cap)),
            FieldType::F32 => Values::F32(Vec::with_capacity(cap)),
            FieldType::F64 => Values::F64(Vec::with_capacity(cap)),
            FieldType::Bytes => Values::Bytes(Vec::with_capacity(cap)),
        };
        let start = f.offset as usize;
        FieldColumn {
            start,
            end: start + f.span() as usize,
            count,
            ty: f.ty,
            values,
            nulls: NullBufferBuilder::new(rows),
        }
    }

    /// Whether the field lies inside `bytes`.
    fn fits(&self, bytes: &[u8]) -> bool {
        self.end <= bytes.len()
    }

    /// Appends the field's value from `bytes` (which [`FieldColumn::fits`]).
    #[inline]
    fn push(&mut self, bytes: &[u8]) {
        let b = &bytes[self.start..self.end];
        match &mut self.values {
            Values::U8(v) | Values::Bytes(v) => v.extend_from_slice(b),
            Values::U16(v) => extend_le(v, b, u16::from_le_bytes),
            Values::U32(v) => extend_le(v, b, u32::from_le_bytes),
            Values::U64(v) => extend_le(v, b, u64::from_le_bytes),
            Values::I8(v) => extend_le(v, b, i8::from_le_bytes),
            Values::I16(v) => extend_le(v, b, i16::from_le_bytes),
            Values::I32(v) => extend_le(v, b, i32::from_le_bytes),
            Values::I64(v) => extend_le(v, b, i64::from_le_bytes),
            Values::F32(v) => extend_le(v, b, f32::from_le_bytes),
            Values::F64(v) => extend_le(v, b, f64::from_le_bytes),
        }
        self.nulls.append_non_null();
    }

    /// Appends a null (zeros underneath).
    fn push_null(&mut self) {
        let n = self.count;
        match &mut self.values {
            Values::U8(v) | Values::Bytes(v) => v.resize(v.len() + n, 0),
            Values::U16(v) => v.resize(v.len() + n, 0),
            Values::U32(v) => v.resize(v.len() + n, 0),
            Values::U64(v) => v.resize(v.len() + n, 0),
            Values::I8(v) => v.resize(v.len() + n, 0),
            Values::I16(v) => v.resize(v.len() + n, 0),
            Values::I32(v) => v.resize(v.len() + n, 0),
            Values::I64(v) => v.resize(v.len() + n, 0),
            Values::F32(v) => v.resize(v.len() + n, 0.0),
            Values::F64(v) => v.resize(v.len() + n, 0.0),
        }
        self.nulls.append_null();
    }

    fn finish(&mut self) -> ArrayRef {
        fn take<T>(v: &mut Vec<T>) -> Vec<T> {
            let capacity = v.capacity();
            std::mem::replace(v, Vec::with_capacity(capacity))
        }
        let nulls = self.nulls.finish();
        let count = self.count;
        let ty = self.ty;
        fn shape<T: ArrowPrimitiveType>(
            values: Vec<T::Native>,
            nulls: Option<arrow_buffer::NullBuffer>,
            ty: FieldType,
            count: usize,
        ) -> ArrayRef {
            if count == 1 {
                Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), nulls))
            } else {
                let items = Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), None));
                Arc::new(FixedSizeListArray::new(list_item(ty), count as i32, items, nulls))
            }
        }
        match &mut self.values {
            Values::Bytes(v) => Arc::new(FixedSizeBinaryArray::new(count as i32, Buffer::from_vec(take(v)), nulls)),
            Values::U8(v) => shape::<UInt8Type>(take(v), nulls, ty, count),
            Values::U16(v) => shape::<UInt16Type>(take(v), nulls, ty, count),
            Values::U32(v) => shape::<UInt32Type>(take(v), nulls, ty, count),
            Values::U64(v) => shape::<UInt64Type>(take(v), nulls, ty, count),
            Values::I8(v) => shape::<Int8Type>(take(v), nulls, ty, count),
            Values::I16(v) => shape::<Int16Type>(take(v), nulls, ty, count),
            Values::I32(v) => shape::<Int32Type>(take(v), nulls, ty, count),
            Values::I64(v) => shape::<Int64Type>(take(v), nulls, ty, count),
            Values::F32(v) => shape::<Float32Type>(take(v), nulls, ty, count),
            Values::F64(v) => shape::<Float64Type>(take(v), nulls, ty, count),
        }
    }
}

/// The columns of a record file's batch.
struct RecordColumns {
    seq: Prim<UInt64Type>,
    epoch: Prim<UInt32Type>,
    lsn: Option<Prim<UInt64Type>>,
    lane: Option<Dict>,
    timestamp: Option<Prim<TimestampNanosecondType>>,
    fields: Vec<FieldColumn>,
    evidence_kind: Dict,
    evidence_code: Prim<Int64Type>,
    evidence_message: StringBuilder,
}

/// The columns of a journal file's batch.
struct FrameColumns {
    lsn: Prim<UInt64Type>,
    kind: Prim<Int8Type>,
    data: BinaryBuilder,
    data_bytes: usize,
    fields: Vec<FieldColumn>,
}

impl RecordColumns {
    /// The batch's arrays, in the schema's order; the columns are left empty.
    fn arrays(&mut self) -> Vec<ArrayRef> {
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(self.seq.finish()), Arc::new(self.epoch.finish())];
        if let Some(lsn) = &mut self.lsn {
            arrays.push(Arc::new(lsn.finish()));
        }
        if let Some(lane) = &mut self.lane {
            arrays.push(lane.finish());
        }
        if let Some(ts) = &mut self.timestamp {
            arrays.push(Arc::new(ts.finish()));
        }
        arrays.extend(self.fields.iter_mut().map(FieldColumn::finish));
        arrays.push(self.evidence_kind.finish());
        arrays.push(Arc::new(self.evidence_code.finish()));
        arrays.push(Arc::new(self.evidence_message.finish()));
        arrays
    }
}

impl FrameColumns {
    /// The batch's arrays, in the schema's order; the columns are left empty.
    fn arrays(&mut self) -> Vec<ArrayRef> {
        let kinds = Arc::new(StringArray::from_iter_values(["entry", "snapshot"]));
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(self.lsn.finish()),
            Arc::new(DictionaryArray::new(self.kind.finish(), kinds)),
            Arc::new(self.data.finish()),
        ];
        self.data_bytes = 0;
        arrays.extend(self.fields.iter_mut().map(FieldColumn::finish));
        arrays
    }
}

fn write_arrays<W: Write + Send>(writer: &mut ArrowWriter<W>, schema: &SchemaRef, arrays: Vec<ArrayRef>) -> Result<()> {
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(writer_error)?;
    writer.write(&batch).map_err(writer_error)
}

enum Columns {
    Records(Box<RecordColumns>),
    Frames(Box<FrameColumns>),
}

/// Streams records into a Parquet file: rows are gathered into Arrow batches of
/// [`ParquetOptions::batch_rows`] rows, each handed to the Parquet writer, which closes a row
/// group every [`ParquetOptions::row_group_rows`] rows. Columns and file settings: see the
/// [module documentation](self).
pub struct ParquetExporter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    columns: Columns,
    kind: SourceKind,
    record_bytes: usize,
    batch_rows: usize,
    buffered: usize,
    rows: u64,
}

impl<W: Write + Send> ParquetExporter<W> {
    /// Starts a Parquet file on `out` for records of `source`. Fails with
    /// [`ExportError::Usage`] when the source has no usable record size (a ring, recorder or
    /// archive), its layout does not fit its records, or an option is 0; with
    /// [`ExportError::Writer`] when the Parquet writer cannot start.
    pub fn new(out: W, source: &Source, options: ParquetOptions) -> Result<ParquetExporter<W>> {
        check_source(source, &options)?;
        // The replaylog.* entries go both into the file's key-value metadata and into the Arrow
        // schema's metadata, which is where pyarrow and pandas show them (`schema.metadata`).
        let kv: std::collections::HashMap<String, String> =
            metadata(source).into_iter().map(|k| (k.key, k.value.unwrap_or_default())).collect();
        let schema = Arc::new(arrow_schema(source).with_metadata(kv));
        let batch_rows = match source.record_bytes {
            Some(n) if source.kind != SourceKind::Journal => {
                options.batch_rows.min((BATCH_DATA_BYTES_MAX / n as usize).max(1))
            }
            _ => options.batch_rows,
        };
        // Columns' initial capacity (they grow if a batch needs more).
        let rows = batch_rows.min(1 << 16);
        let layout_fields: Vec<Field> = match &source.layout {
            Some(layout) => layout.fields.clone(),
            None if source.kind == SourceKind::Journal => Vec::new(),
            None => vec![record_field(source)],
        };
        let fields = layout_fields.iter().map(|f| FieldColumn::new(f, rows)).collect();
        let columns = if source.kind == SourceKind::Journal {
            Columns::Frames(Box::new(FrameColumns {
                lsn: Prim::new(rows),
                kind: Prim::new(rows),
                data: BinaryBuilder::new(),
                data_bytes: 0,
                fields,
            }))
        } else {
            Columns::Records(Box::new(RecordColumns {
                seq: Prim::new(rows),
                epoch: Prim::new(rows),
                lsn: (source.kind == SourceKind::Archive).then(|| Prim::new(rows)),
                lane: matches!(source.kind, SourceKind::Recorder | SourceKind::Archive)
                    .then(|| Dict::new(rows, &source.lanes)),
                timestamp: source.timestamps.then(|| Prim::new(rows)),
                fields,
                evidence_kind: Dict::new(rows, &[]),
                evidence_code: Prim::new(rows),
                evidence_message: StringBuilder::new(),
            }))
        };
        let zstd = ZstdLevel::try_new(ZSTD_LEVEL).map_err(writer_error)?;
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(zstd))
            .set_max_row_group_row_count(Some(options.row_group_rows))
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES_MAX))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_key_value_metadata(Some(metadata(source)));
        // Sequence numbers, LSNs and timestamps rise: deltas, never a dictionary.
        for name in ["seq", "lsn", "timestamp"] {
            if schema.field_with_name(name).is_ok() {
                props = props
                    .set_column_dictionary_enabled(ColumnPath::from(name), false)
                    .set_column_encoding(ColumnPath::from(name), Encoding::DELTA_BINARY_PACKED);
            }
        }
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props.build())).map_err(writer_error)?;
        Ok(ParquetExporter {
            writer,
            schema,
            columns,
            kind: source.kind,
            record_bytes: source.record_bytes.unwrap_or(0) as usize,
            batch_rows,
            buffered: 0,
            rows: 0,
        })
    }

    /// Adds one ring record (a ring, recorder or archive source). Fails with
    /// [`ExportError::Usage`] naming the record's seq when its length is not the source's
    /// record size, a recorder's record names no lane, or its timestamp exceeds `i64::MAX`
    /// nanoseconds; nothing of a refused record is written.
    pub fn write_record(&mut self, record: &Record<'_>) -> Result<()> {
        let Columns::Records(c) = &mut self.columns else {
            return Err(ExportError::Usage("parquet: a plain journal's export takes frames, not records".into()));
        };
        if record.bytes.len() != self.record_bytes {
            return Err(ExportError::Usage(format!(
                "record seq {}: {} bytes, the source's records are {} bytes",
                record.seq,
                record.bytes.len(),
                self.record_bytes
            )));
        }
        if self.kind == SourceKind::Recorder && record.lane.is_none() {
            return Err(ExportError::Usage(format!("record seq {}: a recorder's record names no lane", record.seq)));
        }
        let timestamp = match record.timestamp_ns.map(i64::try_from) {
            Some(Err(_)) => {
                return Err(ExportError::Usage(format!(
                    "record seq {}: timestamp {} ns exceeds the Parquet timestamp range",
                    record.seq,
                    record.timestamp_ns.unwrap_or_default()
                )));
            }
            Some(Ok(t)) => Some(t),
            None => None,
        };
        c.seq.push(record.seq);
        c.epoch.push(record.epoch);
        if let Some(lsn) = &mut c.lsn {
            lsn.push_opt(record.lsn);
        }
        if let Some(lane) = &mut c.lane {
            lane.push(record.lane);
        }
        if let Some(ts) = &mut c.timestamp {
            ts.push_opt(timestamp);
        }
        for f in &mut c.fields {
            f.push(record.bytes);
        }
        match record.evidence {
            Some(e) => {
                c.evidence_kind.push(Some(&e.kind.name()));
                c.evidence_code.push(e.code);
                c.evidence_message.append_value(&e.message);
            }
            None => {
                c.evidence_kind.push(None);
                c.evidence_code.push_opt(None);
                c.evidence_message.append_null();
            }
        }
        self.row_added(0)
    }

    /// Adds one plain-journal frame (a [`SourceKind::Journal`] source). Fails with
    /// [`ExportError::Usage`] naming the frame's LSN when it is 2 GiB or longer.
    pub fn write_frame(&mut self, frame: &Frame<'_>) -> Result<()> {
        let Columns::Frames(c) = &mut self.columns else {
            return Err(ExportError::Usage(format!(
                "parquet: a {} source's export takes records, not journal frames",
                self.kind.name()
            )));
        };
        if frame.data.len() > i32::MAX as usize {
            return Err(ExportError::Usage(format!("frame lsn {}: {} bytes, over 2 GiB", frame.lsn, frame.data.len())));
        }
        // A batch's Binary offsets are 32-bit: a large frame goes into a batch of its own.
        if c.data_bytes + frame.data.len() > i32::MAX as usize && self.buffered > 0 {
            self.buffered = 0;
            write_arrays(&mut self.writer, &self.schema, c.arrays())?;
        }
        c.lsn.push(frame.lsn);
        c.kind.push(match frame.kind {
            EntryKind::Entry => 0,
            EntryKind::Snapshot => 1,
        });
        c.data.append_value(frame.data);
        c.data_bytes += frame.data.len();
        for f in &mut c.fields {
            if f.fits(frame.data) {
                f.push(frame.data);
            } else {
                f.push_null();
            }
        }
        let data_bytes = c.data_bytes;
        self.row_added(data_bytes)
    }

    fn row_added(&mut self, data_bytes: usize) -> Result<()> {
        self.buffered += 1;
        self.rows += 1;
        if self.buffered >= self.batch_rows || data_bytes >= BATCH_DATA_BYTES_MAX {
            self.write_batch()?;
        }
        Ok(())
    }

    /// Hands the buffered rows to the Parquet writer as one batch.
    fn write_batch(&mut self) -> Result<()> {
        if self.buffered == 0 {
            return Ok(());
        }
        self.buffered = 0;
        let arrays = match &mut self.columns {
            Columns::Records(c) => c.arrays(),
            Columns::Frames(c) => c.arrays(),
        };
        write_arrays(&mut self.writer, &self.schema, arrays)
    }

    /// Writes the last batch, closes the last row group and writes the footer.
    pub fn finish(mut self) -> Result<ParquetSummary> {
        self.write_batch()?;
        let meta = self.writer.close().map_err(writer_error)?;
        Ok(ParquetSummary { rows: self.rows, row_groups: meta.num_row_groups() as u64 })
    }
}
