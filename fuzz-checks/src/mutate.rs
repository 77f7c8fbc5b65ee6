//! Seeded mutations for the stable smoke run: a small, deterministic stand-in for
//! libFuzzer's mutators (bit flips, byte overwrites with interesting values, insertions,
//! deletions, truncation and splices of two inputs), so the smoke test reaches past the
//! seeds without a nightly toolchain.

/// SplitMix64: a tiny, well-mixed generator; the same seed gives the same inputs.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Bytes that often sit on a decoder's edges: zero, one, sign bits, all ones, and bincode's
/// varint markers (251–254 announce a 2-, 4-, 8- or 16-byte integer).
const INTERESTING: [u8; 9] = [0, 1, 0x7f, 0x80, 0xff, 251, 252, 253, 254];

/// A mutation of `input` (with `other` as splice material): one to four random edits.
pub fn mutate(rng: &mut SplitMix, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => out.insert(at, rng.next_u64() as u8),
            3 if at < out.len() => {
                let n = rng.below(out.len() - at) + 1;
                out.drain(at..at + n.min(8));
            }
            4 => out.truncate(at),
            5 if !other.is_empty() => {
                let from = rng.below(other.len());
                let n = rng.below(other.len() - from) + 1;
                out.splice(at..at, other[from..from + n].iter().copied());
            }
            _ => {
                // Four random bytes: a forged length or count.
                let bytes = (rng.next_u64() as u32).to_le_bytes();
                out.splice(at..at, bytes);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // The first outputs of SplitMix64 seeded with 0 (Vigna's reference implementation).
        let mut rng = SplitMix::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn mutations_are_deterministic_and_change_something() {
        let a = mutate(&mut SplitMix::new(9), b"hello world", b"xyz");
        let b = mutate(&mut SplitMix::new(9), b"hello world", b"xyz");
        assert_eq!(a, b);
        let changed = (0..64)
            .filter(|&s| mutate(&mut SplitMix::new(s), b"hello world", b"xyz") != b"hello world")
            .count();
        assert!(changed > 48, "{changed} of 64 mutations changed the input");
    }
}
