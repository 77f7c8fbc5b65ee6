//! The key hash of `quiver_protocol::keygroup`, and partitioning by key group.

use quiver_protocol::keygroup::{java_hash_code, key_group, partition_of};
use quiver_protocol::Value;

use crate::w1::{MAX_PARALLELISM, PARTS};

/// The partition of an i64 key: `quiver_protocol`'s hash, key group and range assignment.
#[inline]
pub fn partition_i64(x: i64) -> u32 {
    partition_of_code(java_hash_code(&Value::I64(x)))
}

/// Java's `String.hashCode` of `s`, as `quiver_protocol::keygroup::java_hash_code` computes
/// it for `Value::Str` (which needs an `Arc<str>`, so an allocation, to call). Checked equal
/// in the tests.
#[inline]
pub fn str_hash_code(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)))
}

/// The partition of a string key.
#[inline]
pub fn partition_str(s: &str) -> u32 {
    partition_of_code(str_hash_code(s))
}

/// The partition of a value, through `quiver_protocol` alone (the rows path).
#[inline]
pub fn partition_value(v: &Value) -> u32 {
    partition_of_code(java_hash_code(v))
}

#[inline]
fn partition_of_code(code: i32) -> u32 {
    partition_of(key_group(code, MAX_PARALLELISM), MAX_PARALLELISM, PARTS).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_protocol() {
        let mut buf = [0u8; 24];
        for user in [0, 7, 42, 99_999, 12_345] {
            let s = crate::w1::str_key(user, &mut buf).to_string();
            assert_eq!(str_hash_code(&s), java_hash_code(&Value::from(s.as_str())));
            assert_eq!(partition_str(&s), partition_value(&Value::from(s.as_str())));
        }
        assert_eq!(partition_i64(42), partition_value(&Value::I64(42)));
    }
}
