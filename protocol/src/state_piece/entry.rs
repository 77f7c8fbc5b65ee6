//! The bytes of one entry of the keyed-state layer as operators write them: values (and
//! the parts of keys that are not numbers) as bincode, `i64` key parts as 8 bytes that sort
//! as the numbers do. Nodes write and restore entries with these; the coordinator reads them
//! back when it exports a model's parameters (`quiver model export`).

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The most bytes one key or value of the layer may decode from.
pub const MAX_ENTRY_BYTES: usize = 64 << 20;

/// Appends `value` as bincode (the layer's encoding of operators' keys and values) to `out`.
pub fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
    bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Decodes what [`encode`] wrote, refusing lengths beyond [`MAX_ENTRY_BYTES`] before
/// allocating and trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let config = bincode::config::standard().with_limit::<MAX_ENTRY_BYTES>();
    let (value, used) =
        bincode::serde::decode_from_slice(bytes, config).map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - used));
    }
    Ok(value)
}

/// An `i64` as 8 bytes that sort as the numbers do (sign bit flipped, big-endian): the
/// prefix of keys that a live-key bound cuts by number, and a parameter server's key.
pub fn ordered_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// The `i64` that [`ordered_i64`] wrote at the start of `bytes`, and the rest.
pub fn split_ordered_i64(bytes: &[u8]) -> Result<(i64, &[u8]), String> {
    let (head, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| format!("a key of {} bytes has no 8-byte prefix", bytes.len()))?;
    Ok(((u64::from_be_bytes(*head) ^ (1 << 63)) as i64, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_i64_sorts_as_numbers_and_round_trips() {
        let values = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for pair in values.windows(2) {
            assert!(ordered_i64(pair[0]) < ordered_i64(pair[1]), "{pair:?}");
        }
        for v in values {
            let mut bytes = ordered_i64(v).to_vec();
            bytes.push(9);
            assert_eq!(split_ordered_i64(&bytes).unwrap(), (v, &[9u8][..]));
        }
        assert!(split_ordered_i64(&[1, 2]).is_err());
    }

    #[test]
    fn values_round_trip_and_trailing_bytes_are_refused() {
        let mut bytes = Vec::new();
        encode(&-0.1f64, &mut bytes).unwrap();
        assert_eq!(
            decode::<f64>(&bytes).unwrap().to_bits(),
            (-0.1f64).to_bits()
        );
        bytes.push(0);
        assert!(decode::<f64>(&bytes).unwrap_err().contains("trailing"));
    }
}
