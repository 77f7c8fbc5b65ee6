//! The W1 workload: what `node/src/sources/generator.rs` emits (seed 0), and its constants.

/// Records per source batch (the gates' `MAX_BATCH`).
pub const BATCH: usize = 1024;
/// Distinct users.
pub const KEYS: u64 = 100_000;
/// Watermark lag (`max_out_of_orderness = "1s"`).
pub const LAG_MS: i64 = 1000;
/// Tumbling window size.
pub const WINDOW_MS: i64 = 1000;
/// Downstream partitions of each keyed stage.
pub const PARTS: u32 = 2;
/// Key groups (`max_parallelism`).
pub const MAX_PARALLELISM: u32 = 128;

/// The generator's splitmix64 (a copy of `quiver_node::sources::generator::splitmix64`).
#[inline]
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Event `seq` with seed 0: `(user, amount, ts)`; its event time is `ts`.
#[inline]
pub fn event(seq: u64) -> (i64, f64, i64) {
    let r = splitmix64(seq);
    let user = (r % KEYS) as i64;
    let amount = ((r >> 32) % 10_000) as f64 / 100.0;
    (user, amount, seq as i64)
}

/// Which key column the source emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `user` as an i64 (W1).
    I64,
    /// `user` as a short string `u<number>` (2–6 bytes): the string-key variant.
    Str,
}

/// Writes the string key of `user` (`u` and its decimal digits) into `buf`; returns it.
#[inline]
pub fn str_key(user: i64, buf: &mut [u8; 24]) -> &str {
    let mut n = user.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    i -= 1;
    buf[i] = b'u';
    std::str::from_utf8(&buf[i..]).unwrap_or("u")
}
