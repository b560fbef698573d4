//! Decoding a record's bytes into typed field values with its [`Layout`], and the compact
//! layout specification (`"tick:u64,value:f64,flags:u32"`) tools accept instead of a stored
//! layout.
//!
//! Values are little-endian, as every integer in a replaylog file. A field's [`Value`] widens
//! its element type to 64 bits (`u8`..`u64` to [`Value::U64`], `i8`..`i64` to [`Value::I64`]);
//! the exact type stays with the [`Field`] each [`FieldValue`] points at. Floats keep their width
//! ([`Value::F32`], [`Value::F64`]), so a value prints as the shortest text that reads back to the
//! same float of its own type.
//!
//! ```
//! use replaylog::{Layout, Value};
//!
//! let layout: Layout = "tick:u64,value:f32,raw:bytes[2]".parse()?;
//! let mut record = Vec::new();
//! record.extend_from_slice(&7u64.to_le_bytes());
//! record.extend_from_slice(&0.1f32.to_le_bytes());
//! record.extend_from_slice(&[0xab, 0x01]);
//! let decoded = layout.decode_record(&record)?;
//! assert_eq!(decoded.get("tick"), Some(&Value::U64(7)));
//! assert_eq!(decoded.to_string(), "tick=7 value=0.1 raw=ab01");
//! # Ok::<(), replaylog::LayoutError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::format::layout::{Field, FieldType, Layout, LayoutError, NAME_BYTES_MAX};

/// One field's decoded value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// An unsigned integer (`u8`, `u16`, `u32` or `u64`), widened.
    U64(u64),
    /// A signed integer (`i8`, `i16`, `i32` or `i64`), widened.
    I64(i64),
    /// A single-precision float.
    F32(f32),
    /// A double-precision float.
    F64(f64),
    /// An array of unsigned integers.
    U64Array(Vec<u64>),
    /// An array of signed integers.
    I64Array(Vec<i64>),
    /// An array of single-precision floats.
    F32Array(Vec<f32>),
    /// An array of double-precision floats.
    F64Array(Vec<f64>),
    /// Opaque bytes (a `bytes` field).
    Bytes(Vec<u8>),
}

impl Value {
    /// The value as `u64`, for an unsigned scalar.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::U64(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as `i64`, for a signed scalar.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as `f64`, for a float scalar of either width (an `f32` widened exactly).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F32(v) => Some(f64::from(*v)),
            Value::F64(v) => Some(*v),
            _ => None,
        }
    }

    /// The value's scalars: each element of an array, or the value itself for a scalar or
    /// [`Value::Bytes`] (one opaque value). Tabular outputs give each its own column.
    pub fn elements(&self) -> Vec<Value> {
        match self {
            Value::U64Array(a) => a.iter().map(|v| Value::U64(*v)).collect(),
            Value::I64Array(a) => a.iter().map(|v| Value::I64(*v)).collect(),
            Value::F32Array(a) => a.iter().map(|v| Value::F32(*v)).collect(),
            Value::F64Array(a) => a.iter().map(|v| Value::F64(*v)).collect(),
            other => vec![other.clone()],
        }
    }
}

fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    f.write_str("[")?;
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{v}")?;
    }
    f.write_str("]")
}

impl fmt::Display for Value {
    /// Integers in decimal; floats as the shortest text that reads back to the same value of
    /// their width (`NaN`, `inf`, `-inf` as such); bytes as lowercase hex; arrays as `[a, b]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U64(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::U64Array(a) => list(f, a),
            Value::I64Array(a) => list(f, a),
            Value::F32Array(a) => list(f, a),
            Value::F64Array(a) => list(f, a),
            Value::Bytes(b) => b.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

/// A decoded field: the field (name, exact type, offset, count) and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldValue<'a> {
    /// The field of the layout.
    pub field: &'a Field,
    /// Its value in the record.
    pub value: Value,
}

impl fmt::Display for FieldValue<'_> {
    /// `name=value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.field.name, self.value)
    }
}

/// A record decoded with a layout: every field of the layout, in the layout's order.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedRecord<'a> {
    /// The fields, in the layout's order.
    pub fields: Vec<FieldValue<'a>>,
}

impl DecodedRecord<'_> {
    /// The value of the field called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|f| f.field.name == name).map(|f| &f.value)
    }
}

impl fmt::Display for DecodedRecord<'_> {
    /// `name=value name=value ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, fv) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{fv}")?;
        }
        Ok(())
    }
}

fn read<const N: usize>(b: &[u8]) -> [u8; N] {
    b[..N].try_into().expect("chunk of the element size")
}

fn unsigned(ty: FieldType, b: &[u8]) -> u64 {
    match ty {
        FieldType::U8 => u64::from(b[0]),
        FieldType::U16 => u64::from(u16::from_le_bytes(read(b))),
        FieldType::U32 => u64::from(u32::from_le_bytes(read(b))),
        _ => u64::from_le_bytes(read(b)),
    }
}

fn signed(ty: FieldType, b: &[u8]) -> i64 {
    match ty {
        FieldType::I8 => i64::from(b[0] as i8),
        FieldType::I16 => i64::from(i16::from_le_bytes(read(b))),
        FieldType::I32 => i64::from(i32::from_le_bytes(read(b))),
        _ => i64::from_le_bytes(read(b)),
    }
}

impl Field {
    /// Decodes this field from `record` (a whole record's bytes): a scalar when `count` is 1, an
    /// array otherwise, [`Value::Bytes`] for a `bytes` field. Fails when the field does not lie
    /// inside `record`.
    pub fn decode_value(&self, record: &[u8]) -> Result<Value, LayoutError> {
        let outside = || {
            LayoutError(format!(
                "field {} ({} bytes at offset {}) lies outside the {}-byte record",
                self.name,
                self.span(),
                self.offset,
                record.len()
            ))
        };
        let start = self.offset as usize;
        let end = usize::try_from(self.span()).ok().and_then(|n| start.checked_add(n)).ok_or_else(outside)?;
        let b = record.get(start..end).ok_or_else(outside)?;
        let size = self.ty.size() as usize;
        let chunks = b.chunks_exact(size);
        let scalar = self.count == 1;
        use FieldType::*;
        Ok(match self.ty {
            Bytes => Value::Bytes(b.to_vec()),
            U8 | U16 | U32 | U64 if scalar => Value::U64(unsigned(self.ty, b)),
            I8 | I16 | I32 | I64 if scalar => Value::I64(signed(self.ty, b)),
            F32 if scalar => Value::F32(f32::from_le_bytes(read(b))),
            F64 if scalar => Value::F64(f64::from_le_bytes(read(b))),
            U8 | U16 | U32 | U64 => Value::U64Array(chunks.map(|c| unsigned(self.ty, c)).collect()),
            I8 | I16 | I32 | I64 => Value::I64Array(chunks.map(|c| signed(self.ty, c)).collect()),
            F32 => Value::F32Array(chunks.map(|c| f32::from_le_bytes(read(c))).collect()),
            F64 => Value::F64Array(chunks.map(|c| f64::from_le_bytes(read(c))).collect()),
        })
    }
}

/// The `--layout` grammar, for tools' help texts.
pub const LAYOUT_SPEC_HELP: &str = "Fields are packed in the order given with natural alignment, like a \
#[repr(C)] struct (each field starts at the next multiple of its element size); NAME:TYPE[N] is an array, \
NAME:bytes[N] N opaque bytes, NAME:TYPE@OFFSET an explicit offset. Types: u8 u16 u32 u64 i8 i16 i32 i64 \
f32 f64 bytes. Values are little-endian.";

impl Layout {
    /// Decodes every field of `record` (a whole record's bytes), in the layout's order. Fails
    /// naming the first field that does not lie inside `record`.
    pub fn decode_record<'a>(&'a self, record: &[u8]) -> Result<DecodedRecord<'a>, LayoutError> {
        let fields = self
            .fields
            .iter()
            .map(|field| Ok(FieldValue { field, value: field.decode_value(record)? }))
            .collect::<Result<_, LayoutError>>()?;
        Ok(DecodedRecord { fields })
    }

    /// Parses a compact layout specification, e.g. `"tick:u64,value:f64,flags:u32"`: fields in
    /// the order given, each at the next multiple of its element size (1 for `bytes`), like a
    /// `#[repr(C)]` struct; `NAME:TYPE[N]` is an array of N elements (`NAME:bytes[N]`: N opaque
    /// bytes); `NAME:TYPE@OFFSET` places a field at an explicit byte offset. The layout is named
    /// `layout`. Also available as `spec.parse::<Layout>()`.
    ///
    /// The layout is not checked against a record size: call [`Layout::check`] for that.
    pub fn parse_spec(spec: &str) -> Result<Layout, LayoutError> {
        let err = |s: String| LayoutError(s);
        let mut fields: Vec<Field> = Vec::new();
        let mut next: u64 = 0;
        for (i, part) in spec.split(',').enumerate() {
            let part = part.trim();
            if part.is_empty() {
                return Err(err(format!("field {} is empty (expected NAME:TYPE)", i + 1)));
            }
            let (name, ty) =
                part.split_once(':').ok_or_else(|| err(format!("{part:?}: expected NAME:TYPE, e.g. value:f64")))?;
            let name = name.trim();
            if name.is_empty() || name.len() > NAME_BYTES_MAX {
                return Err(err(format!("{part:?}: a field name must be 1 to {NAME_BYTES_MAX} bytes")));
            }
            if fields.iter().any(|f| f.name == name) {
                return Err(err(format!("field {name:?} appears twice")));
            }
            let (ty, offset) = match ty.split_once('@') {
                Some((t, o)) => {
                    let o =
                        o.trim().parse::<u32>().map_err(|_| err(format!("{part:?}: offset {o:?} is not a number")))?;
                    (t.trim(), Some(o))
                }
                None => (ty.trim(), None),
            };
            let (ty, count) = match ty.strip_suffix(']').and_then(|t| t.split_once('[')) {
                Some((t, n)) => {
                    let n = n.trim().parse::<u32>().ok().filter(|n| *n > 0);
                    (t.trim(), n.ok_or_else(|| err(format!("{part:?}: array length must be a number above 0")))?)
                }
                None => (ty, 1),
            };
            let ft = FieldType::parse(ty).ok_or_else(|| {
                err(format!("{part:?}: unknown type {ty:?} (u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 bytes)"))
            })?;
            let align = u64::from(ft.size());
            let off = match offset {
                Some(o) => u64::from(o),
                None => next.div_ceil(align) * align,
            };
            let off = u32::try_from(off).map_err(|_| err(format!("{part:?}: offset too large")))?;
            let field = Field::array(name, ft, off, count);
            next = u64::from(off) + field.span();
            if next > u64::from(u32::MAX) {
                return Err(err(format!("{part:?}: the record would exceed 4 GiB")));
            }
            fields.push(field);
        }
        Ok(Layout::new("layout", fields))
    }
}

impl FromStr for Layout {
    type Err = LayoutError;

    /// [`Layout::parse_spec`].
    fn from_str(s: &str) -> Result<Layout, LayoutError> {
        Layout::parse_spec(s)
    }
}

impl std::error::Error for LayoutError {}

#[cfg(feature = "serde")]
mod serde_impls {
    //! `Serialize` for layouts and decoded values (the `serde` feature).
    //!
    //! Shapes: a [`FieldType`] is its name (`"u64"`); a [`Field`] is `{"name", "type",
    //! "offset", "count"}`; a [`Layout`] is `{"name", "fields": [..]}`; a [`Value`] is a number,
    //! a sequence of numbers, or bytes (`serialize_bytes`); a [`FieldValue`] is `{"name",
    //! "type", "value"}`; a [`DecodedRecord`] is a map from field name to value, in the layout's
    //! order. Non-finite floats are handed to the serializer as they are (JSON writers usually
    //! write them as `null`).

    use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};

    use super::*;

    impl Serialize for FieldType {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(self.name())
        }
    }

    impl Serialize for Field {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("Field", 4)?;
            st.serialize_field("name", &self.name)?;
            st.serialize_field("type", &self.ty)?;
            st.serialize_field("offset", &self.offset)?;
            st.serialize_field("count", &self.count)?;
            st.end()
        }
    }

    impl Serialize for Layout {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("Layout", 2)?;
            st.serialize_field("name", &self.name)?;
            st.serialize_field("fields", &self.fields)?;
            st.end()
        }
    }

    impl Serialize for Value {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Value::U64(v) => s.serialize_u64(*v),
                Value::I64(v) => s.serialize_i64(*v),
                Value::F32(v) => s.serialize_f32(*v),
                Value::F64(v) => s.serialize_f64(*v),
                Value::U64Array(a) => a.serialize(s),
                Value::I64Array(a) => a.serialize(s),
                Value::F32Array(a) => a.serialize(s),
                Value::F64Array(a) => a.serialize(s),
                Value::Bytes(b) => s.serialize_bytes(b),
            }
        }
    }

    impl Serialize for FieldValue<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("FieldValue", 3)?;
            st.serialize_field("name", &self.field.name)?;
            st.serialize_field("type", &self.field.ty)?;
            st.serialize_field("value", &self.value)?;
            st.end()
        }
    }

    impl Serialize for DecodedRecord<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(self.fields.len()))?;
            for f in &self.fields {
                m.serialize_entry(&f.field.name, &f.value)?;
            }
            m.end()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte extent of a layout: the end of its last field.
    fn layout_extent(layout: &Layout) -> u64 {
        layout.fields.iter().map(|f| f.offset as u64 + f.span()).max().unwrap_or(0)
    }

    #[test]
    fn packs_like_repr_c() {
        let l = Layout::parse_spec("flag:u8, tick:u64,value:f32,v:f64,arr:i16[3],raw:bytes[5],last:u32").unwrap();
        let offs: Vec<u32> = l.fields.iter().map(|f| f.offset).collect();
        assert_eq!(offs, vec![0, 8, 16, 24, 32, 38, 44]);
        assert_eq!(l.fields[4].count, 3);
        assert_eq!(l.fields[5].ty, FieldType::Bytes);
        assert_eq!(layout_extent(&l), 48);
        assert_eq!(l.name, "layout");
        let explicit: Layout = "a:u32@4,b:u8".parse().unwrap();
        assert_eq!((explicit.fields[0].offset, explicit.fields[1].offset), (4, 8));
    }

    #[test]
    fn rejects_bad_specs_saying_why() {
        let cases = [
            ("", "field 1 is empty (expected NAME:TYPE)"),
            ("a", "\"a\": expected NAME:TYPE, e.g. value:f64"),
            ("a:u128", "\"a:u128\": unknown type \"u128\" (u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 bytes)"),
            ("a:u8,a:u8", "field \"a\" appears twice"),
            (":u8", "\":u8\": a field name must be 1 to 255 bytes"),
            ("a:u8[0]", "\"a:u8[0]\": array length must be a number above 0"),
            ("a:u8[x]", "\"a:u8[x]\": array length must be a number above 0"),
            ("a:u8@x", "\"a:u8@x\": offset \"x\" is not a number"),
            ("a:u8,,b:u8", "field 2 is empty (expected NAME:TYPE)"),
            ("a:bytes[4294967295]@1", "\"a:bytes[4294967295]@1\": the record would exceed 4 GiB"),
        ];
        for (spec, why) in cases {
            assert_eq!(Layout::parse_spec(spec).unwrap_err().to_string(), why, "{spec:?}");
        }
    }

    fn all_types() -> (Layout, Vec<u8>) {
        let l = Layout::parse_spec(
            "a:u8,b:i8,c:u16,d:i16,e:u32,f:i32,g:f32,h:u64,i:i64,j:f64,k:bytes[3],m:u16[2],n:f32[2],o:i8[2],p:f64[1]",
        )
        .unwrap();
        let mut rec = vec![0u8; layout_extent(&l) as usize];
        let mut put = |name: &str, bytes: &[u8]| {
            let f = l.fields.iter().find(|f| f.name == name).unwrap();
            rec[f.offset as usize..f.offset as usize + bytes.len()].copy_from_slice(bytes);
        };
        put("a", &[200]);
        put("b", &[0xff]);
        put("c", &40000u16.to_le_bytes());
        put("d", &(-2i16).to_le_bytes());
        put("e", &4_000_000_000u32.to_le_bytes());
        put("f", &(-3i32).to_le_bytes());
        put("g", &0.1f32.to_le_bytes());
        put("h", &u64::MAX.to_le_bytes());
        put("i", &i64::MIN.to_le_bytes());
        put("j", &f64::NAN.to_le_bytes());
        put("k", &[1, 2, 0xab]);
        put("m", &[1, 0, 2, 0]);
        put("n", &[f32::INFINITY.to_le_bytes(), (-1.5f32).to_le_bytes()].concat());
        put("o", &[0x80, 0x7f]);
        put("p", &2.5f64.to_le_bytes());
        (l, rec)
    }

    #[test]
    fn decodes_every_type_with_its_exact_width() {
        let (l, rec) = all_types();
        let got = l.decode_record(&rec).unwrap();
        assert_eq!(got.get("a"), Some(&Value::U64(200)));
        assert_eq!(got.get("b"), Some(&Value::I64(-1)));
        assert_eq!(got.get("e"), Some(&Value::U64(4_000_000_000)));
        assert_eq!(got.get("g"), Some(&Value::F32(0.1)));
        assert_eq!(got.get("h").and_then(Value::as_u64), Some(u64::MAX));
        assert_eq!(got.get("i").and_then(Value::as_i64), Some(i64::MIN));
        assert!(got.get("j").and_then(Value::as_f64).unwrap().is_nan());
        assert_eq!(got.get("k"), Some(&Value::Bytes(vec![1, 2, 0xab])));
        assert_eq!(got.get("m"), Some(&Value::U64Array(vec![1, 2])));
        assert_eq!(got.get("o"), Some(&Value::I64Array(vec![-128, 127])));
        assert_eq!(got.get("p"), Some(&Value::F64(2.5)), "a count of 1 is a scalar");
        assert_eq!(got.fields[0].field.ty, FieldType::U8, "the exact type stays with the field");
        assert_eq!(
            got.to_string(),
            format!(
                "a=200 b=-1 c=40000 d=-2 e=4000000000 f=-3 g=0.1 h={} i={} j=NaN k=0102ab m=[1, 2] n=[inf, -1.5] \
                 o=[-128, 127] p=2.5",
                u64::MAX,
                i64::MIN
            )
        );
        assert_eq!(got.fields[12].to_string(), "n=[inf, -1.5]");
        assert_eq!(got.get("n").unwrap().elements(), vec![Value::F32(f32::INFINITY), Value::F32(-1.5)]);
        assert_eq!(got.get("k").unwrap().elements(), vec![Value::Bytes(vec![1, 2, 0xab])]);
        let short = l.decode_record(&rec[..rec.len() - 1]).unwrap_err();
        assert_eq!(short.to_string(), "field p (8 bytes at offset 72) lies outside the 79-byte record");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serializes_layouts_and_values() {
        let (l, rec) = all_types();
        let got = l.decode_record(&rec).unwrap();
        let v = serde_json::to_value(&got).unwrap();
        assert_eq!(v["a"], serde_json::json!(200));
        assert_eq!(v["i"], serde_json::json!(i64::MIN));
        assert_eq!(v["m"], serde_json::json!([1, 2]));
        assert_eq!(v["k"], serde_json::json!([1, 2, 0xab]));
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), l.fields.len());
        let layout = serde_json::to_value(&l).unwrap();
        assert_eq!(layout["fields"][2], serde_json::json!({"name": "c", "type": "u16", "offset": 2, "count": 1}));
        let fv = serde_json::to_value(&got.fields[0]).unwrap();
        assert_eq!(fv, serde_json::json!({"name": "a", "type": "u8", "value": 200}));
    }
}
