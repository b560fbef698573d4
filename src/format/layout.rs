//! Self-describing record layouts: field names, types and offsets, stored once in a ring file so
//! any reader can decode records without the producing code.
//!
//! Encoding (all little-endian), `docs/FORMAT.md` "Layout block":
//! ```text
//! u16 version (1) | u8 name_len | name | u16 field_count |
//!   per field: u8 name_len | name | u8 type | u32 offset | u32 count
//! ```

use std::fmt;

/// Version of the layout encoding.
pub const LAYOUT_ENCODING_VERSION: u16 = 1;
/// Longest record or field name, in bytes.
pub const NAME_BYTES_MAX: usize = 255;

/// A field's scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FieldType {
    /// Unsigned integers.
    U8 = 1,
    /// Unsigned 16-bit.
    U16 = 2,
    /// Unsigned 32-bit.
    U32 = 3,
    /// Unsigned 64-bit.
    U64 = 4,
    /// Signed 8-bit.
    I8 = 5,
    /// Signed 16-bit.
    I16 = 6,
    /// Signed 32-bit.
    I32 = 7,
    /// Signed 64-bit.
    I64 = 8,
    /// IEEE 754 single.
    F32 = 9,
    /// IEEE 754 double.
    F64 = 10,
    /// Opaque bytes (`count` of them).
    Bytes = 11,
}

impl FieldType {
    /// Size of one element in bytes.
    pub fn size(self) -> u32 {
        match self {
            FieldType::U8 | FieldType::I8 | FieldType::Bytes => 1,
            FieldType::U16 | FieldType::I16 => 2,
            FieldType::U32 | FieldType::I32 | FieldType::F32 => 4,
            FieldType::U64 | FieldType::I64 | FieldType::F64 => 8,
        }
    }

    /// The name used in text (`u64`, `f32`, `bytes`).
    pub fn name(self) -> &'static str {
        match self {
            FieldType::U8 => "u8",
            FieldType::U16 => "u16",
            FieldType::U32 => "u32",
            FieldType::U64 => "u64",
            FieldType::I8 => "i8",
            FieldType::I16 => "i16",
            FieldType::I32 => "i32",
            FieldType::I64 => "i64",
            FieldType::F32 => "f32",
            FieldType::F64 => "f64",
            FieldType::Bytes => "bytes",
        }
    }

    fn from_tag(tag: u8) -> Option<FieldType> {
        use FieldType::*;
        [U8, U16, U32, U64, I8, I16, I32, I64, F32, F64, Bytes].into_iter().find(|t| *t as u8 == tag)
    }

    /// Parses a type name.
    pub fn parse(s: &str) -> Option<FieldType> {
        use FieldType::*;
        [U8, U16, U32, U64, I8, I16, I32, I64, F32, F64, Bytes].into_iter().find(|t| t.name() == s)
    }
}

/// One field of a record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Element type.
    pub ty: FieldType,
    /// Byte offset inside the record.
    pub offset: u32,
    /// Number of elements (1 for a scalar; the byte length for `Bytes`).
    pub count: u32,
}

impl Field {
    /// A scalar field.
    pub fn new(name: impl Into<String>, ty: FieldType, offset: u32) -> Field {
        Field { name: name.into(), ty, offset, count: 1 }
    }

    /// An array field of `count` elements.
    pub fn array(name: impl Into<String>, ty: FieldType, offset: u32, count: u32) -> Field {
        Field { name: name.into(), ty, offset, count }
    }

    /// Bytes the field spans.
    pub fn span(&self) -> u64 {
        self.ty.size() as u64 * self.count as u64
    }
}

/// A record's layout: its name and its fields' names, types, offsets and counts. A ring stores it
/// once in its file, so any reader decodes records without the producing code.
///
/// Get one from `#[replaylog::record]` (`T::layout()`), build it by hand, or parse the compact
/// spec tools accept; decode a record's bytes with [`Layout::decode_record`]:
///
/// ```
/// use replaylog::{Field, FieldType, Layout, RecordLayout};
///
/// #[replaylog::record(name = "sample")]
/// struct Sample { seq: u64, volts: [f32; 2] }
///
/// let by_hand = Layout::new("sample", vec![
///     Field::new("seq", FieldType::U64, 0),
///     Field::array("volts", FieldType::F32, 8, 2),
/// ]);
/// assert_eq!(Sample::layout(), by_hand);
/// assert_eq!("seq:u64,volts:f32[2]".parse::<Layout>()?.fields, by_hand.fields);
///
/// let bytes = replaylog::zerocopy::IntoBytes::as_bytes(&Sample { seq: 3, volts: [1.5, -2.0] }).to_vec();
/// assert_eq!(by_hand.decode_record(&bytes)?.to_string(), "seq=3 volts=[1.5, -2]");
/// # Ok::<(), replaylog::LayoutError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Record type name.
    pub name: String,
    /// Fields, in any order.
    pub fields: Vec<Field>,
}

/// Why a layout cannot be used or decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Layout {
    /// A layout with the given name and fields.
    pub fn new(name: impl Into<String>, fields: Vec<Field>) -> Layout {
        Layout { name: name.into(), fields }
    }

    /// Checks names and that every field lies inside a record of `record_bytes`.
    pub fn check(&self, record_bytes: u32) -> Result<(), LayoutError> {
        if self.name.len() > NAME_BYTES_MAX {
            return Err(LayoutError(format!("record name longer than {NAME_BYTES_MAX} bytes")));
        }
        if self.fields.len() > u16::MAX as usize {
            return Err(LayoutError("more than 65535 fields".into()));
        }
        for f in &self.fields {
            if f.name.is_empty() || f.name.len() > NAME_BYTES_MAX {
                return Err(LayoutError(format!("field name {:?} must be 1..={NAME_BYTES_MAX} bytes", f.name)));
            }
            if f.count == 0 || f.offset as u64 + f.span() > record_bytes as u64 {
                return Err(LayoutError(format!(
                    "field {:?} ({} x {} at offset {}) does not fit a {record_bytes}-byte record",
                    f.name,
                    f.count,
                    f.ty.name(),
                    f.offset
                )));
            }
        }
        Ok(())
    }

    /// Encodes the layout block. Call [`Layout::check`] first.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&LAYOUT_ENCODING_VERSION.to_le_bytes());
        out.push(self.name.len() as u8);
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(&(self.fields.len() as u16).to_le_bytes());
        for f in &self.fields {
            out.push(f.name.len() as u8);
            out.extend_from_slice(f.name.as_bytes());
            out.push(f.ty as u8);
            out.extend_from_slice(&f.offset.to_le_bytes());
            out.extend_from_slice(&f.count.to_le_bytes());
        }
        out
    }

    /// Decodes a layout block; every byte must be consumed.
    pub fn decode(bytes: &[u8]) -> Result<Layout, LayoutError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = u16::from_le_bytes(r.take(2)?.try_into().unwrap());
        if version != LAYOUT_ENCODING_VERSION {
            return Err(LayoutError(format!("layout encoding version {version}, expected {LAYOUT_ENCODING_VERSION}")));
        }
        let name = r.string()?;
        let count = u16::from_le_bytes(r.take(2)?.try_into().unwrap());
        let mut fields = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let fname = r.string()?;
            let tag = r.take(1)?[0];
            let ty = FieldType::from_tag(tag).ok_or_else(|| LayoutError(format!("unknown field type {tag}")))?;
            let offset = u32::from_le_bytes(r.take(4)?.try_into().unwrap());
            let n = u32::from_le_bytes(r.take(4)?.try_into().unwrap());
            fields.push(Field { name: fname, ty, offset, count: n });
        }
        if r.pos != bytes.len() {
            return Err(LayoutError(format!("{} trailing bytes after the layout", bytes.len() - r.pos)));
        }
        Ok(Layout { name, fields })
    }
}

impl fmt::Display for Layout {
    /// `name { field: type @offset, arr: [u8; 4] @8 }`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {{", self.name)?;
        for (i, fld) in self.fields.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            if fld.count == 1 {
                write!(f, "{sep}{}: {} @{}", fld.name, fld.ty.name(), fld.offset)?;
            } else {
                write!(f, "{sep}{}: [{}; {}] @{}", fld.name, fld.ty.name(), fld.count, fld.offset)?;
            }
        }
        write!(f, " }}")
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LayoutError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| LayoutError(format!("layout truncated at byte {}", self.pos)))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn string(&mut self) -> Result<String, LayoutError> {
        let n = self.take(1)?[0] as usize;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| LayoutError("name is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_display() {
        let l = Layout::new(
            "Tick",
            vec![Field::new("tick", FieldType::U64, 0), Field::array("pad", FieldType::Bytes, 8, 4)],
        );
        l.check(12).unwrap();
        assert!(l.check(11).is_err());
        let enc = l.encode();
        assert_eq!(Layout::decode(&enc).unwrap(), l);
        assert!(Layout::decode(&enc[..enc.len() - 1]).is_err());
        assert_eq!(l.to_string(), "Tick { tick: u64 @0, pad: [bytes; 4] @8 }");
    }
}
