//! How a Rust type becomes [`Field`]s of a record [`Layout`](crate::Layout): the [`RecordField`]
//! trait that `#[replaylog::record]` builds every layout from.

use crate::format::layout::{Field, FieldType};

/// A Rust type that can be a field of a record, and the [`Field`]s that describe it.
///
/// `#[replaylog::record]` asks every field's type for its fields through this trait, so the
/// stored layout follows the Rust types at compile time (a type alias resolves to the type it
/// names) and a type with no implementation is a compile error, not a wrong layout:
///
/// | Rust type | stored as |
/// |---|---|
/// | `u8`, `u16`, `u32`, `u64`, `i8`, `i16`, `i32`, `i64`, `f32`, `f64` | one field of that [`FieldType`] |
/// | `[T; N]` of one of those, except `u8` | one field of `T`'s type with `count` `N` |
/// | `[u8; N]` | one [`FieldType::Bytes`] field, `count` `N` (bytes, not `N` separate `u8`s) |
/// | a `#[replaylog::record]` struct | its fields, named `outer.inner`, offsets added |
/// | `[T; N]` of a record struct or of an array | element `i` as `name.i` (`name.i.inner`, ...) |
///
/// A zero-length array is described by no field at all (it holds no bytes). `bool`, `char`,
/// `usize`, `isize`, `u128`, `i128`, references, pointers, tuples, `String` and enums are not
/// record fields: store `u8` for a flag, `u32` for a `char`, `u64`/`i64` for a size or index, a
/// fixed `[u8; N]` for text, an integer code for an enum's variant.
///
/// Implement it by hand only for a type whose bytes the listed cases do not cover; the derive
/// implements it for every `#[replaylog::record]` struct.
///
/// ```
/// use replaylog::{Field, FieldType, RecordField};
///
/// let mut fields = Vec::new();
/// <[f32; 3] as RecordField>::push_fields("position", 8, &mut fields);
/// <[u8; 16] as RecordField>::push_fields("label", 20, &mut fields);
/// assert_eq!(fields, [
///     Field::array("position", FieldType::F32, 8, 3),
///     Field::array("label", FieldType::Bytes, 20, 16),
/// ]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a replaylog record",
    label = "not a record field type",
    note = "a record field is u8, u16, u32, u64, i8, i16, i32, i64, f32 or f64, an array `[T; N]` of those \
            (`[u8; N]` is stored as bytes), or another `#[replaylog::record]` struct",
    note = "instead of bool store a u8 (0 or 1); of char a u32; of usize/isize a u64/i64; of a String or &str \
            a fixed `[u8; N]`; of a tuple a `#[replaylog::record]` struct; of an enum an integer code",
    note = "a field whose name starts with `_` (explicit padding) is not described, so its type may be any \
            zerocopy type"
)]
pub trait RecordField: Sized {
    /// Appends to `fields` the fields that describe a value of this type named `name` at byte
    /// `offset` of the record. A record struct prefixes its own fields' names with `name.`
    /// (with nothing when `name` is empty: the record itself).
    fn push_fields(name: &str, offset: u32, fields: &mut Vec<Field>);

    /// Appends the fields that describe `[Self; count]` named `name` at byte `offset`. The
    /// default describes element `i` as `push_fields("name.i", offset + i * size_of::<Self>())`;
    /// the scalar types describe the whole array as one field with `count` elements.
    fn push_array_fields(name: &str, offset: u32, count: u32, fields: &mut Vec<Field>) {
        let stride = size_of::<Self>() as u32;
        for i in 0..count {
            Self::push_fields(&format!("{name}.{i}"), offset + i * stride, fields);
        }
    }
}

macro_rules! scalar {
    ($($ty:ty => $field_type:ident, $array_type:ident;)*) => {$(
        impl RecordField for $ty {
            fn push_fields(name: &str, offset: u32, fields: &mut Vec<Field>) {
                fields.push(Field::new(name, FieldType::$field_type, offset));
            }

            fn push_array_fields(name: &str, offset: u32, count: u32, fields: &mut Vec<Field>) {
                fields.push(Field::array(name, FieldType::$array_type, offset, count));
            }
        }
    )*};
}

scalar! {
    u8 => U8, Bytes;
    u16 => U16, U16;
    u32 => U32, U32;
    u64 => U64, U64;
    i8 => I8, I8;
    i16 => I16, I16;
    i32 => I32, I32;
    i64 => I64, I64;
    f32 => F32, F32;
    f64 => F64, F64;
}

impl<T: RecordField, const N: usize> RecordField for [T; N] {
    fn push_fields(name: &str, offset: u32, fields: &mut Vec<Field>) {
        if N > 0 {
            T::push_array_fields(name, offset, N as u32, fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of<T: RecordField>(name: &str, offset: u32) -> Vec<Field> {
        let mut fields = Vec::new();
        T::push_fields(name, offset, &mut fields);
        fields
    }

    #[test]
    fn scalars_arrays_and_bytes() {
        assert_eq!(fields_of::<i16>("a", 2), [Field::new("a", FieldType::I16, 2)]);
        assert_eq!(fields_of::<[u8; 5]>("b", 3), [Field::array("b", FieldType::Bytes, 3, 5)]);
        assert_eq!(fields_of::<[i8; 5]>("c", 3), [Field::array("c", FieldType::I8, 3, 5)]);
        assert_eq!(fields_of::<[f64; 0]>("d", 8), []);
        // An array of arrays: one field per row.
        assert_eq!(
            fields_of::<[[u16; 2]; 3]>("m", 4),
            [
                Field::array("m.0", FieldType::U16, 4, 2),
                Field::array("m.1", FieldType::U16, 8, 2),
                Field::array("m.2", FieldType::U16, 12, 2),
            ]
        );
    }
}
