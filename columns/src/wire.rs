//! The columnar wire encoding of a [`Batch`]: one frame's payload (the transport adds the
//! length prefix and refuses a frame over its limit before reading it).
//!
//! ```text
//! frame   := "QB" version:u8 rows:u32 columns:u16 read_at event_time column*
//! read_at := 0:u8 | 1:u8 µs:i64 (≥ 0)           when the oldest record was read (version 2)
//! event_time := i64s
//!          | 2:u8 column:u16      the values of that i64 column, which has no nulls (version 3)
//! column  := type:u8 flags:u8 [validity: ceil(rows / 64) × u64] payload   (flags bit 0: nulls)
//! i64s    := 0:u8 rows × i64                                  plain
//!          | 1:u8 base:i64 width:u8 rows × width bytes        frame of reference: v - base
//! f64     := rows × f64
//! bool    := rows × u8 (0 or 1)
//! string  := (rows + 1) × u32 offsets, then offsets[rows] bytes of UTF-8
//! dense   := (rows + 1) × u32 offsets, n = offsets[rows]: n × f64
//! sparse  := rows × u32 dims, (rows + 1) × u32 offsets, nnz = offsets[rows]: nnz × u32, nnz × f64
//! ```
//!
//! Version 2 added `read_at` (a version-1 frame, without it, still decodes, unstamped);
//! version 3 lets the event times name the column they equal, as they do whenever a source
//! reads them from a column (`event_time = "ts"`, the generator's `ts`): on W1 that is 2 of
//! the 15 bytes a row crosses the exchange with.
//! Little-endian throughout. The frame of reference keeps an i64 column of nearby values
//! (event times, sequence numbers, small ids) at 1–4 bytes a value without a branch per
//! value; the encoder picks it when it is smaller than plain.
//!
//! Decoding checks every count against [`Limits`] and against the bytes left *before*
//! allocating for it, validates what a reader relies on (offsets, UTF-8, sparse indices, the
//! column types the receiver expects), and returns [`WireError`] for anything else: no input
//! makes it panic or allocate more than `Limits::max_rows` values per column.

use crate::batch::Batch;
use crate::column::{Bitmap, Column, ColumnData, ColumnType, DenseColumn, SparseColumn, StrColumn};
use std::fmt;

const MAGIC: [u8; 2] = *b"QB";
const VERSION: u8 = 3;
/// The version before the event times could name a column.
const VERSION_STAMPED: u8 = 2;
/// The version before `read_at`.
const VERSION_UNSTAMPED: u8 = 1;
/// The `event_time` tag of a frame whose event times are one of its columns.
const EVENT_TIME_COLUMN: u8 = 2;

/// What a decoder accepts at most.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes in one frame.
    pub max_bytes: usize,
    /// Rows in one batch.
    pub max_rows: u32,
    /// Entries of a dense or sparse vector column over the whole batch.
    pub max_vector_values: u32,
}

impl Default for Limits {
    /// 16 MiB frames (the exchange's frame limit), 64 Ki rows, 4 Mi vector entries.
    fn default() -> Self {
        Limits {
            max_bytes: 16 << 20,
            max_rows: 1 << 16,
            max_vector_values: 1 << 22,
        }
    }
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The frame, a count or a length is over a limit.
    TooLarge(String),
    /// The frame is cut short or inconsistent.
    Malformed(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooLarge(m) => write!(f, "batch frame over a limit: {m}"),
            WireError::Malformed(m) => write!(f, "malformed batch frame: {m}"),
        }
    }
}

impl std::error::Error for WireError {}

fn type_tag(t: ColumnType) -> u8 {
    match t {
        ColumnType::I64 => 1,
        ColumnType::F64 => 2,
        ColumnType::Bool => 3,
        ColumnType::Str => 4,
        ColumnType::Dense => 5,
        ColumnType::Sparse => 6,
    }
}

/// Appends the encoding of `batch` to `out`, i64 columns in frame of reference where that is
/// smaller.
pub fn encode(batch: &Batch, out: &mut Vec<u8>) {
    encode_with(batch, out, true);
}

/// [`encode`], with `frame_of_reference: false` writing every i64 column plain (8 bytes a
/// value: the layout Arrow IPC sends, for comparison).
pub fn encode_with(batch: &Batch, out: &mut Vec<u8>, frame_of_reference: bool) {
    let encode_i64s = |v: &[i64], out: &mut Vec<u8>| encode_i64s(v, out, frame_of_reference);
    let rows = batch.len();
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(rows as u32).to_le_bytes());
    out.extend_from_slice(&(batch.columns().len() as u16).to_le_bytes());
    match batch.read_at_us() {
        None => out.push(0),
        Some(us) => {
            out.push(1);
            out.extend_from_slice(&us.to_le_bytes());
        }
    }
    match event_time_column(batch).filter(|_| frame_of_reference) {
        Some(i) => {
            out.push(EVENT_TIME_COLUMN);
            out.extend_from_slice(&(i as u16).to_le_bytes());
        }
        None => encode_i64s(batch.event_time(), out),
    }
    for c in batch.columns() {
        out.push(type_tag(c.ty()));
        out.push(u8::from(c.nulls.is_some()));
        if let Some(b) = &c.nulls {
            let words = rows.div_ceil(64);
            for i in 0..words {
                out.extend_from_slice(&b.0.get(i).copied().unwrap_or(0).to_le_bytes());
            }
        }
        match &c.data {
            ColumnData::I64(v) => encode_i64s(v, out),
            ColumnData::F64(v) => put(v, out),
            ColumnData::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
            ColumnData::Str(s) => {
                let (offsets, text) = s.parts();
                put(offsets, out);
                out.extend_from_slice(text.as_bytes());
            }
            ColumnData::Dense(d) => {
                put(&d.offsets, out);
                put(&d.values, out);
            }
            ColumnData::Sparse(s) => {
                put(&s.dims, out);
                put(&s.offsets, out);
                put(&s.indices, out);
                put(&s.values, out);
            }
        }
    }
}

/// The first i64 column without nulls whose values are the batch's event times, if any (a
/// column that differs mostly does so at its first row, so the search costs little).
fn event_time_column(batch: &Batch) -> Option<usize> {
    let times = batch.event_time();
    if times.is_empty() || batch.columns().len() > usize::from(u16::MAX) {
        return None;
    }
    batch.columns().iter().position(|c| {
        c.nulls.is_none() && matches!(&c.data, ColumnData::I64(v) if v[..] == times[..])
    })
}

/// Plain or frame of reference, whichever is smaller (plain only without `allow_for`).
fn encode_i64s(v: &[i64], out: &mut Vec<u8>, allow_for: bool) {
    let (min, max) = v
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let range = (max as u64).wrapping_sub(min as u64);
    let width = if v.is_empty() {
        0
    } else {
        (64 - range.leading_zeros() as usize).div_ceil(8)
    };
    if width >= 8 || v.is_empty() || !allow_for {
        out.push(0);
        put(v, out);
        return;
    }
    out.push(1);
    out.extend_from_slice(&min.to_le_bytes());
    out.push(width as u8);
    // Each value is stored as 8 bytes at its position, the next one overwriting the unused
    // high bytes: one fixed-size store per value.
    let start = out.len();
    out.resize(start + v.len() * width + 8, 0);
    let mut pos = start;
    for &x in v {
        let d = (x as u64).wrapping_sub(min as u64);
        out[pos..pos + 8].copy_from_slice(&d.to_le_bytes());
        pos += width;
    }
    out.truncate(pos);
}

/// Reads a frame into a batch. `expected`, when given, is the column types the receiver's
/// schema has; a frame with other columns is refused.
pub fn decode(
    bytes: &[u8],
    limits: &Limits,
    expected: Option<&[ColumnType]>,
) -> Result<Batch, WireError> {
    if bytes.len() > limits.max_bytes {
        return Err(WireError::TooLarge(format!(
            "{} bytes, at most {}",
            bytes.len(),
            limits.max_bytes
        )));
    }
    let mut r = Reader { bytes, pos: 0 };
    if r.take(2)? != MAGIC {
        return Err(WireError::Malformed("not a batch frame".into()));
    }
    let version = r.u8()?;
    if ![VERSION, VERSION_STAMPED, VERSION_UNSTAMPED].contains(&version) {
        return Err(WireError::Malformed(format!(
            "version {version}, expected {VERSION}"
        )));
    }
    let rows = r.u32()?;
    if rows > limits.max_rows {
        return Err(WireError::TooLarge(format!(
            "{rows} rows, at most {}",
            limits.max_rows
        )));
    }
    let rows = rows as usize;
    let ncols = usize::from(r.u16()?);
    if let Some(e) = expected {
        if e.len() != ncols {
            return Err(WireError::Malformed(format!(
                "{ncols} columns, expected {}",
                e.len()
            )));
        }
    }
    let read_at_us = if version == VERSION_UNSTAMPED {
        None
    } else {
        read_at(&mut r)?
    };
    let event_time = if version == VERSION && r.peek()? == EVENT_TIME_COLUMN {
        r.u8()?;
        EventTimes::Column(usize::from(r.u16()?))
    } else {
        EventTimes::Values(r.i64s(rows)?)
    };
    let mut columns = Vec::with_capacity(ncols.min(r.left()));
    for i in 0..ncols {
        let tag = r.u8()?;
        let ty = ColumnType::ALL
            .into_iter()
            .find(|&t| type_tag(t) == tag)
            .ok_or_else(|| WireError::Malformed(format!("column {i}: unknown type {tag}")))?;
        if let Some(e) = expected {
            if e[i] != ty {
                return Err(WireError::Malformed(format!(
                    "column {i} is {ty:?}, expected {:?}",
                    e[i]
                )));
            }
        }
        let nulls = match r.u8()? {
            0 => None,
            1 => Some(Bitmap(r.fixed::<u64>(rows.div_ceil(64))?.into())),
            f => return Err(WireError::Malformed(format!("column {i}: flags {f}"))),
        };
        let data = match ty {
            ColumnType::I64 => ColumnData::I64(r.i64s(rows)?.into()),
            ColumnType::F64 => ColumnData::F64(r.fixed::<f64>(rows)?.into()),
            ColumnType::Bool => {
                let b = r.take(rows)?;
                if b.iter().any(|&x| x > 1) {
                    return Err(WireError::Malformed(format!(
                        "column {i}: a bool is not 0 or 1"
                    )));
                }
                ColumnData::Bool(b.iter().map(|&x| x == 1).collect::<Vec<_>>().into())
            }
            ColumnType::Str => {
                let offsets = r.fixed::<u32>(rows + 1)?;
                let len = offsets.last().copied().unwrap_or(0) as usize;
                let text = r.take(len)?.to_vec();
                ColumnData::Str(StrColumn::try_new(offsets, text).ok_or_else(|| {
                    WireError::Malformed(format!("column {i}: bad string offsets or UTF-8"))
                })?)
            }
            ColumnType::Dense => {
                let offsets = list_offsets(&mut r, rows, limits, i)?;
                let n = offsets.last().copied().unwrap_or(0) as usize;
                ColumnData::Dense(DenseColumn {
                    offsets: offsets.into(),
                    values: r.fixed::<f64>(n)?.into(),
                })
            }
            ColumnType::Sparse => {
                let dims = r.fixed::<u32>(rows)?;
                let offsets = list_offsets(&mut r, rows, limits, i)?;
                let nnz = offsets.last().copied().unwrap_or(0) as usize;
                let indices = r.fixed::<u32>(nnz)?;
                let values = r.fixed::<f64>(nnz)?;
                for (w, &dim) in offsets.windows(2).zip(&dims) {
                    let row = &indices[w[0] as usize..w[1] as usize];
                    if row.iter().any(|&x| x >= dim) || row.windows(2).any(|p| p[0] >= p[1]) {
                        return Err(WireError::Malformed(format!(
                            "column {i}: sparse indices must increase and stay below their dim"
                        )));
                    }
                }
                ColumnData::Sparse(SparseColumn {
                    dims: dims.into(),
                    offsets: offsets.into(),
                    indices: indices.into(),
                    values: values.into(),
                })
            }
        };
        columns.push(Column { data, nulls });
    }
    if r.left() != 0 {
        return Err(WireError::Malformed(format!(
            "{} bytes after the last column",
            r.left()
        )));
    }
    let event_time = match event_time {
        EventTimes::Values(v) => v,
        EventTimes::Column(i) => match columns.get(i) {
            Some(Column {
                data: ColumnData::I64(v),
                nulls: None,
            }) => v.to_vec(),
            _ => {
                return Err(WireError::Malformed(format!(
                    "the event times name column {i}, not an i64 column without nulls"
                )))
            }
        },
    };
    Batch::try_new(event_time, columns)
        .map(|b| b.with_read_at_us(read_at_us))
        .map_err(|e| WireError::Malformed(e.0))
}

/// A frame's event times as read: their values, or the column holding them.
enum EventTimes {
    Values(Vec<i64>),
    Column(usize),
}

/// The `read_at` field: absent, or µs since the epoch (a time before it is refused).
fn read_at(r: &mut Reader<'_>) -> Result<Option<i64>, WireError> {
    match r.u8()? {
        0 => Ok(None),
        1 => match r.fixed::<i64>(1)?[0] {
            us if us >= 0 => Ok(Some(us)),
            us => Err(WireError::Malformed(format!("read at {us} µs"))),
        },
        tag => Err(WireError::Malformed(format!("read_at tag {tag}"))),
    }
}

/// The `rows + 1` offsets of a list column (dense or sparse vectors): from 0, never
/// decreasing, and at most `Limits::max_vector_values` entries in all.
fn list_offsets(
    r: &mut Reader<'_>,
    rows: usize,
    limits: &Limits,
    column: usize,
) -> Result<Vec<u32>, WireError> {
    let offsets = r.fixed::<u32>(rows + 1)?;
    if offsets.first() != Some(&0) || offsets.windows(2).any(|w| w[0] > w[1]) {
        return Err(WireError::Malformed(format!(
            "column {column}: bad vector offsets"
        )));
    }
    let n = offsets.last().copied().unwrap_or(0);
    if n > limits.max_vector_values {
        return Err(WireError::TooLarge(format!(
            "column {column}: {n} vector entries, at most {}",
            limits.max_vector_values
        )));
    }
    Ok(offsets)
}

/// A fixed-width little-endian value.
trait Le: Copy {
    const W: usize;
    fn put(self, to: &mut [u8]);
    fn get(from: &[u8]) -> Self;
}

macro_rules! le {
    ($($t:ty),*) => {$(
        impl Le for $t {
            const W: usize = std::mem::size_of::<$t>();
            #[inline(always)]
            fn put(self, to: &mut [u8]) {
                to.copy_from_slice(&self.to_le_bytes());
            }
            #[inline(always)]
            fn get(from: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(from);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}

le!(u32, u64, i64, f64);

/// Appends `v` little-endian: one resize, then fixed-size stores.
fn put<T: Le>(v: &[T], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + v.len() * T::W, 0);
    for (to, x) in out[start..].chunks_exact_mut(T::W).zip(v) {
        x.put(to);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.left() {
            return Err(WireError::Malformed(format!(
                "{n} bytes announced, {} left",
                self.left()
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    /// The next byte, left to be read.
    fn peek(&self) -> Result<u8, WireError> {
        let next = self.bytes.get(self.pos).copied();
        next.ok_or_else(|| WireError::Malformed("the frame ends early".into()))
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// `n` fixed-width values, after checking that their bytes are there.
    fn fixed<T: Le>(&mut self, n: usize) -> Result<Vec<T>, WireError> {
        let len = n
            .checked_mul(T::W)
            .ok_or_else(|| WireError::TooLarge(format!("{n} values")))?;
        let b = self.take(len)?;
        Ok(b.chunks_exact(T::W).map(T::get).collect())
    }

    fn i64s(&mut self, rows: usize) -> Result<Vec<i64>, WireError> {
        match self.u8()? {
            0 => self.fixed::<i64>(rows),
            1 => {
                let base = self.fixed::<i64>(1)?[0] as u64;
                let width = usize::from(self.u8()?);
                if width == 0 {
                    // Every value equals the base (one row, or a constant column); `rows` was
                    // checked against the limits before.
                    return Ok(vec![base as i64; rows]);
                }
                if !(1..8).contains(&width) {
                    return Err(WireError::Malformed(format!(
                        "frame-of-reference width {width}"
                    )));
                }
                let b = self.take(rows * width)?;
                let mask = (1u64 << (8 * width)) - 1;
                let mut out = Vec::with_capacity(rows);
                let whole = if b.len() >= 8 {
                    (b.len() - 8) / width + 1
                } else {
                    0
                };
                for i in 0..whole.min(rows) {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&b[i * width..i * width + 8]);
                    out.push(base.wrapping_add(u64::from_le_bytes(a) & mask) as i64);
                }
                for i in whole.min(rows)..rows {
                    let mut a = [0u8; 8];
                    a[..width].copy_from_slice(&b[i * width..(i + 1) * width]);
                    out.push(base.wrapping_add(u64::from_le_bytes(a)) as i64);
                }
                Ok(out)
            }
            e => Err(WireError::Malformed(format!("integer encoding {e}"))),
        }
    }
}

#[cfg(test)]
mod tests;
