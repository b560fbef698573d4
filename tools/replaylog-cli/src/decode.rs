//! Decoding a record's bytes into named field values with a [`Layout`], and parsing the
//! `--layout` option.
//!
//! Values are little-endian. Integers print as decimal, floats with the shortest text that reads
//! back to the same value (`NaN`, `inf`, `-inf` as such; in JSON those three are strings), a
//! `bytes` field as lowercase hex, an array of any other type as a list.
//!
//! `--layout "tick:u64,value:f64,flags:u32"`: fields packed in the order given with natural
//! alignment, like a `#[repr(C)]` struct: each field starts at the next multiple of its element
//! size (1 for `bytes`). `name:TYPE[N]` is an array of N elements (`name:bytes[16]`: 16 opaque
//! bytes); `name:TYPE@OFFSET` places a field at an explicit byte offset. Types: u8 u16 u32 u64
//! i8 i16 i32 i64 f32 f64 bytes.

use replaylog::{Field, FieldType, Layout};
use serde_json::{Map, Number, Value as Json};

/// The help text of every `--layout` option.
pub const LAYOUT_HELP: &str = "Decode records with this layout instead of the one stored in the ring, e.g. \
\"tick:u64,value:f64,flags:u32\". Fields are packed in the order given with natural alignment, like a \
#[repr(C)] struct (each field starts at the next multiple of its element size); NAME:TYPE[N] is an array, \
NAME:bytes[N] N opaque bytes, NAME:TYPE@OFFSET an explicit offset. Types: u8 u16 u32 u64 i8 i16 i32 i64 \
f32 f64 bytes. Values are little-endian.";

/// One decoded value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An unsigned integer.
    U(u64),
    /// A signed integer.
    I(i64),
    /// A single-precision float.
    F32(f32),
    /// A double-precision float.
    F64(f64),
    /// Opaque bytes.
    Bytes(Vec<u8>),
    /// An array.
    List(Vec<Value>),
}

impl Value {
    /// Text form: decimal, shortest float, hex for bytes, `[a, b]` for lists.
    pub fn text(&self) -> String {
        match self {
            Value::U(v) => v.to_string(),
            Value::I(v) => v.to_string(),
            Value::F32(v) => v.to_string(),
            Value::F64(v) => v.to_string(),
            Value::Bytes(b) => crate::output::hex(b),
            Value::List(items) => format!("[{}]", items.iter().map(Value::text).collect::<Vec<_>>().join(", ")),
        }
    }

    /// JSON form: numbers, hex strings for bytes, arrays; non-finite floats as the strings
    /// `"NaN"`, `"inf"`, `"-inf"`.
    pub fn json(&self) -> Json {
        let float = |text: String, v: f64| {
            if v.is_finite() {
                // Through the shortest text, so an f32 0.1 is 0.1 in JSON, not 0.10000000149011612.
                text.parse::<f64>().ok().and_then(Number::from_f64).map_or(Json::String(text), Json::Number)
            } else {
                Json::String(text)
            }
        };
        match self {
            Value::U(v) => Json::from(*v),
            Value::I(v) => Json::from(*v),
            Value::F32(v) => float(v.to_string(), *v as f64),
            Value::F64(v) => float(v.to_string(), *v),
            Value::Bytes(b) => Json::String(crate::output::hex(b)),
            Value::List(items) => Json::Array(items.iter().map(Value::json).collect()),
        }
    }

    /// The scalar values of an array (one for a scalar or bytes), for CSV columns.
    pub fn flatten(&self) -> Vec<&Value> {
        match self {
            Value::List(items) => items.iter().collect(),
            other => vec![other],
        }
    }
}

fn scalar(ty: FieldType, b: &[u8]) -> Value {
    let arr = |n: usize| {
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(&b[..n]);
        a
    };
    match ty {
        FieldType::U8 => Value::U(b[0] as u64),
        FieldType::U16 => Value::U(u16::from_le_bytes([b[0], b[1]]) as u64),
        FieldType::U32 => Value::U(u32::from_le_bytes(b[..4].try_into().unwrap()) as u64),
        FieldType::U64 => Value::U(u64::from_le_bytes(arr(8))),
        FieldType::I8 => Value::I(b[0] as i8 as i64),
        FieldType::I16 => Value::I(i16::from_le_bytes([b[0], b[1]]) as i64),
        FieldType::I32 => Value::I(i32::from_le_bytes(b[..4].try_into().unwrap()) as i64),
        FieldType::I64 => Value::I(i64::from_le_bytes(arr(8))),
        FieldType::F32 => Value::F32(f32::from_le_bytes(b[..4].try_into().unwrap())),
        FieldType::F64 => Value::F64(f64::from_le_bytes(arr(8))),
        FieldType::Bytes => Value::Bytes(b[..1].to_vec()),
    }
}

/// Decodes one field; `None` when the field does not lie inside `record`.
pub fn decode_field(f: &Field, record: &[u8]) -> Option<Value> {
    let start = f.offset as usize;
    let end = start.checked_add(usize::try_from(f.span()).ok()?)?;
    let b = record.get(start..end)?;
    if f.ty == FieldType::Bytes {
        return Some(Value::Bytes(b.to_vec()));
    }
    let size = f.ty.size() as usize;
    if f.count == 1 {
        return Some(scalar(f.ty, b));
    }
    Some(Value::List(b.chunks_exact(size).map(|c| scalar(f.ty, c)).collect()))
}

/// Decodes every field of `layout` from `record`, in the layout's order. Fails naming the first
/// field that does not fit.
pub fn decode(layout: &Layout, record: &[u8]) -> Result<Vec<(String, Value)>, String> {
    layout
        .fields
        .iter()
        .map(|f| {
            decode_field(f, record).map(|v| (f.name.clone(), v)).ok_or_else(|| {
                format!(
                    "field {} ({} bytes at offset {}) lies outside the {}-byte record",
                    f.name,
                    f.span(),
                    f.offset,
                    record.len()
                )
            })
        })
        .collect()
}

/// `name=value name=value ...`
pub fn fields_text(fields: &[(String, Value)]) -> String {
    fields.iter().map(|(n, v)| format!("{n}={}", v.text())).collect::<Vec<_>>().join(" ")
}

/// `{"name": value, ...}` in the layout's order.
pub fn fields_json(fields: &[(String, Value)]) -> Json {
    let mut m = Map::new();
    for (n, v) in fields {
        m.insert(n.clone(), v.json());
    }
    Json::Object(m)
}

/// The layout as JSON: `{"name", "fields": [{"name", "type", "offset", "count"}], "text"}`.
pub fn layout_json(layout: &Layout) -> Json {
    let fields: Vec<Json> = layout
        .fields
        .iter()
        .map(|f| serde_json::json!({"name": f.name, "type": f.ty.name(), "offset": f.offset, "count": f.count}))
        .collect();
    serde_json::json!({"name": layout.name, "fields": fields, "text": layout.to_string()})
}

/// CSV column names for a layout's fields: `name` for a scalar or `bytes`, `name[i]` for each
/// element of an array.
pub fn csv_columns(layout: &Layout) -> Vec<String> {
    let mut cols = Vec::new();
    for f in &layout.fields {
        if f.count == 1 || f.ty == FieldType::Bytes {
            cols.push(f.name.clone());
        } else {
            cols.extend((0..f.count).map(|i| format!("{}[{i}]", f.name)));
        }
    }
    cols
}

/// Parses a `--layout` specification (see the module docs). Returns the layout, named
/// `layout`, whose fields are checked for names and overlap-free packing by construction.
pub fn parse_layout(spec: &str) -> Result<Layout, String> {
    let mut fields = Vec::new();
    let mut next: u64 = 0;
    for (i, part) in spec.split(',').enumerate() {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("field {} is empty (expected NAME:TYPE)", i + 1));
        }
        let (name, ty) = part.split_once(':').ok_or_else(|| format!("{part:?}: expected NAME:TYPE, e.g. value:f64"))?;
        let name = name.trim();
        if name.is_empty() || name.len() > 255 {
            return Err(format!("{part:?}: a field name must be 1 to 255 bytes"));
        }
        if fields.iter().any(|f: &Field| f.name == name) {
            return Err(format!("field {name:?} appears twice"));
        }
        let (ty, offset) = match ty.split_once('@') {
            Some((t, o)) => {
                let o = o.trim().parse::<u32>().map_err(|_| format!("{part:?}: offset {o:?} is not a number"))?;
                (t.trim(), Some(o))
            }
            None => (ty.trim(), None),
        };
        let (ty, count) = match ty.strip_suffix(']').and_then(|t| t.split_once('[')) {
            Some((t, n)) => {
                let n = n.trim().parse::<u32>().ok().filter(|n| *n > 0);
                (t.trim(), n.ok_or_else(|| format!("{part:?}: array length must be a number above 0"))?)
            }
            None => (ty, 1),
        };
        let ft = FieldType::parse(ty)
            .ok_or_else(|| format!("{part:?}: unknown type {ty:?} (u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 bytes)"))?;
        let align = ft.size() as u64;
        let off = match offset {
            Some(o) => o as u64,
            None => next.div_ceil(align) * align,
        };
        let field =
            Field::array(name, ft, u32::try_from(off).map_err(|_| format!("{part:?}: offset too large"))?, count);
        next = off + field.span();
        if next > u32::MAX as u64 {
            return Err(format!("{part:?}: the record would exceed 4 GiB"));
        }
        fields.push(field);
    }
    Ok(Layout::new("layout", fields))
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
        let l = parse_layout("flag:u8, tick:u64,value:f32,v:f64,arr:i16[3],raw:bytes[5],last:u32").unwrap();
        let offs: Vec<u32> = l.fields.iter().map(|f| f.offset).collect();
        assert_eq!(offs, vec![0, 8, 16, 24, 32, 38, 44]);
        assert_eq!(l.fields[4].count, 3);
        assert_eq!(l.fields[5].ty, FieldType::Bytes);
        assert_eq!(layout_extent(&l), 48);
        let explicit = parse_layout("a:u32@4,b:u8").unwrap();
        assert_eq!((explicit.fields[0].offset, explicit.fields[1].offset), (4, 8));
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in ["", "a", "a:u128", "a:u8,a:u8", ":u8", "a:u8[0]", "a:u8[x]", "a:u8@x", "a:u8,,b:u8"] {
            assert!(parse_layout(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn decodes_every_type() {
        let l = parse_layout("a:u8,b:i8,c:u16,d:i16,e:u32,f:i32,g:f32,h:u64,i:i64,j:f64,k:bytes[3],m:u16[2]").unwrap();
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
        let got = decode(&l, &rec).unwrap();
        let text = fields_text(&got);
        assert_eq!(
            text,
            format!(
                "a=200 b=-1 c=40000 d=-2 e=4000000000 f=-3 g=0.1 h={} i={} j=NaN k=0102ab m=[1, 2]",
                u64::MAX,
                i64::MIN
            )
        );
        let json = fields_json(&got);
        assert_eq!(json["g"], serde_json::json!(0.1));
        assert_eq!(json["h"], serde_json::json!(u64::MAX));
        assert_eq!(json["j"], serde_json::json!("NaN"));
        assert_eq!(json["k"], serde_json::json!("0102ab"));
        assert_eq!(json["m"], serde_json::json!([1, 2]));
        assert!(decode(&l, &rec[..rec.len() - 1]).unwrap_err().contains("field m"));
        assert_eq!(csv_columns(&l).iter().filter(|c| c.starts_with('m')).count(), 2);
    }
}
