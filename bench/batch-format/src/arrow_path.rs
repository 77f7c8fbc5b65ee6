//! Path (b), Apache Arrow: a `RecordBatch` of `Int64` / `Float64` arrays (keys `Int64`,
//! `Utf8` or `Utf8View`) with the event time as its first column, fan-out by cloning the
//! batch (`Arc`s), scatter by key group with `arrow_select::take::take_record_batch`, and
//! Arrow IPC stream messages on the wire (one record-batch message per frame; the schema
//! message once per channel).

use crate::keys::{partition_i64, partition_str};
use crate::pipeline::Path;
use crate::state::{self, Acc, ArenaStrTable, Digest, I64Table, KeyTable, WindowColumns, Windows};
use crate::w1::{self, KeyKind, WINDOW_MS};
use arrow_array::builder::{StringBuilder, StringViewBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, UInt32Array};
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow_ipc::MetadataVersion;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use quiver_protocol::codec::MAX_FRAME_BYTES;
use std::sync::Arc;

/// How string keys are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrLayout {
    /// `Utf8`: i32 offsets + one byte buffer.
    Utf8,
    /// `Utf8View`: a 16-byte view per value, strings of up to 12 bytes inline in it.
    View,
}

enum State {
    I64 {
        running: [I64Table; 2],
        windows: [Windows<I64Table>; 2],
    },
    Str {
        running: [ArenaStrTable; 2],
        windows: [Windows<ArenaStrTable>; 2],
    },
}

/// The Arrow path.
pub struct ArrowPath {
    keys: KeyKind,
    layout: StrLayout,
    state: State,
    input: SchemaRef,
    running_out: SchemaRef,
    window_out: SchemaRef,
    writer: StreamWriter<Vec<u8>>,
    decoder: StreamDecoder,
    wire_bytes: u64,
}

fn schema(key: &DataType, columns: &[(&str, DataType)]) -> SchemaRef {
    let mut fields = vec![
        Field::new("__event_time", DataType::Int64, false),
        Field::new("user", key.clone(), false),
    ];
    fields.extend(
        columns
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), false)),
    );
    Arc::new(Schema::new(fields))
}

fn fail<T>(what: &str, e: impl std::fmt::Display) -> T {
    panic!("{what}: {e}")
}

impl ArrowPath {
    /// A path whose source emits `keys`, strings laid out as `layout`.
    pub fn new(keys: KeyKind, layout: StrLayout) -> ArrowPath {
        let key_type = match (keys, layout) {
            (KeyKind::I64, _) => DataType::Int64,
            (KeyKind::Str, StrLayout::Utf8) => DataType::Utf8,
            (KeyKind::Str, StrLayout::View) => DataType::Utf8View,
        };
        let state = match keys {
            KeyKind::I64 => State::I64 {
                running: Default::default(),
                windows: Default::default(),
            },
            KeyKind::Str => State::Str {
                running: Default::default(),
                windows: Default::default(),
            },
        };
        let input = schema(
            &key_type,
            &[("amount", DataType::Float64), ("ts", DataType::Int64)],
        );
        let running_out = schema(
            &key_type,
            &[("n", DataType::Int64), ("total", DataType::Float64)],
        );
        let window_out = schema(
            &key_type,
            &[
                ("window_start", DataType::Int64),
                ("window_end", DataType::Int64),
                ("n", DataType::Int64),
                ("total", DataType::Float64),
            ],
        );
        // One channel: the writer sends the schema once, the decoder reads it once.
        let options = IpcWriteOptions::try_new(8, false, MetadataVersion::V5)
            .unwrap_or_else(|e| fail("ipc options", e));
        let mut writer = StreamWriter::try_new_with_options(Vec::new(), &input, options)
            .unwrap_or_else(|e| fail("ipc writer", e));
        let mut decoder = StreamDecoder::new();
        let mut schema_message = Buffer::from_vec(std::mem::take(writer.get_mut()));
        // A message without a body (the schema) is only acted on when the next bytes arrive:
        // the decoder knows the schema after the first batch's frame.
        if !matches!(decoder.decode(&mut schema_message), Ok(None)) {
            panic!("the IPC schema message did not decode");
        }
        ArrowPath {
            keys,
            layout,
            state,
            input,
            running_out,
            window_out,
            writer,
            decoder,
            wire_bytes: 0,
        }
    }

    fn batch(schema: &SchemaRef, columns: Vec<ArrayRef>) -> RecordBatch {
        RecordBatch::try_new(schema.clone(), columns).unwrap_or_else(|e| fail("record batch", e))
    }

    fn str_column(&self, len: usize, mut each: impl FnMut(&mut dyn FnMut(&str))) -> ArrayRef {
        match self.layout {
            StrLayout::Utf8 => {
                let mut b = StringBuilder::with_capacity(len, len * 6);
                each(&mut |s| b.append_value(s));
                Arc::new(b.finish())
            }
            StrLayout::View => {
                let mut b = StringViewBuilder::with_capacity(len);
                each(&mut |s| b.append_value(s));
                Arc::new(b.finish())
            }
        }
    }
}

/// Calls `f(row, key bytes)` for every row of a string key column.
#[inline]
fn each_str(keys: &dyn Array, mut f: impl FnMut(usize, &str)) {
    if let Some(a) = keys.as_string_opt::<i32>() {
        (0..a.len()).for_each(|i| f(i, a.value(i)));
    } else if let Some(a) = keys.as_string_view_opt() {
        (0..a.len()).for_each(|i| f(i, a.value(i)));
    }
}

fn i64s(b: &RecordBatch, c: usize) -> &[i64] {
    b.column(c).as_primitive::<Int64Type>().values()
}

fn f64s(b: &RecordBatch, c: usize) -> &[f64] {
    b.column(c).as_primitive::<Float64Type>().values()
}

impl Path for ArrowPath {
    type Batch = RecordBatch;
    type Out = RecordBatch;

    fn generate(&mut self, first: u64, n: usize) -> RecordBatch {
        let mut amount = Vec::with_capacity(n);
        let mut ts = Vec::with_capacity(n);
        let key: ArrayRef = match self.keys {
            KeyKind::I64 => {
                let mut user = Vec::with_capacity(n);
                for seq in first..first + n as u64 {
                    let (u, a, t) = w1::event(seq);
                    user.push(u);
                    amount.push(a);
                    ts.push(t);
                }
                Arc::new(Int64Array::from(user))
            }
            KeyKind::Str => {
                let mut buf = [0u8; 24];
                self.str_column(n, |push| {
                    for seq in first..first + n as u64 {
                        let (u, a, t) = w1::event(seq);
                        push(w1::str_key(u, &mut buf));
                        amount.push(a);
                        ts.push(t);
                    }
                })
            }
        };
        let event_time = ts.clone();
        Self::batch(
            &self.input,
            vec![
                Arc::new(Int64Array::from(event_time)),
                key,
                Arc::new(Float64Array::from(amount)),
                Arc::new(Int64Array::from(ts)),
            ],
        )
    }

    fn fan_out(&mut self, batch: RecordBatch) -> (RecordBatch, RecordBatch) {
        (batch.clone(), batch)
    }

    fn scatter(&mut self, batch: RecordBatch) -> [RecordBatch; 2] {
        let keys = batch.column(1);
        let n = batch.num_rows();
        let mut rows: [Vec<u32>; 2] = [Vec::with_capacity(n), Vec::with_capacity(n)];
        match keys.data_type() {
            DataType::Int64 => {
                for (i, &k) in keys.as_primitive::<Int64Type>().values().iter().enumerate() {
                    rows[partition_i64(k) as usize].push(i as u32);
                }
            }
            _ => each_str(keys.as_ref(), |i, s| {
                rows[partition_str(s) as usize].push(i as u32)
            }),
        }
        rows.map(|r| {
            arrow_select::take::take_record_batch(&batch, &UInt32Array::from(r))
                .unwrap_or_else(|e| fail("take", e))
        })
    }

    fn wire(&mut self, batch: RecordBatch) -> RecordBatch {
        self.writer.get_mut().clear();
        self.writer
            .write(&batch)
            .unwrap_or_else(|e| fail("ipc write", e));
        let frame = self.writer.get_ref();
        self.wire_bytes += frame.len() as u64 + 4;
        // The transport's limit, before anything is decoded; the receiver owns the frame.
        assert!(frame.len() <= MAX_FRAME_BYTES);
        let mut buffer = Buffer::from_slice_ref(frame);
        match self.decoder.decode(&mut buffer) {
            Ok(Some(b)) if buffer.is_empty() => b,
            other => panic!("ipc decode: {other:?}"),
        }
    }

    fn running(&mut self, part: usize, batch: RecordBatch) -> RecordBatch {
        let n = batch.num_rows();
        let amount = f64s(&batch, 2);
        let mut counts = Vec::with_capacity(n);
        let mut totals = Vec::with_capacity(n);
        let mut push = |acc: Acc| {
            counts.push(acc.n);
            totals.push(acc.total);
        };
        match &mut self.state {
            State::I64 { running, .. } => {
                let table = &mut running[part];
                for (&k, &a) in i64s(&batch, 1).iter().zip(amount) {
                    push(table.upsert(k, a));
                }
            }
            State::Str { running, .. } => {
                let table = &mut running[part];
                each_str(batch.column(1).as_ref(), |i, s| {
                    push(table.upsert(s, amount[i]))
                });
            }
        }
        // Event time and key are the input's columns, shared.
        Self::batch(
            &self.running_out,
            vec![
                batch.column(0).clone(),
                batch.column(1).clone(),
                Arc::new(Int64Array::from(counts)),
                Arc::new(Float64Array::from(totals)),
            ],
        )
    }

    fn window(&mut self, part: usize, batch: RecordBatch) {
        let amount = f64s(&batch, 2);
        let times = i64s(&batch, 0);
        match &mut self.state {
            State::I64 { windows, .. } => {
                let w = &mut windows[part];
                for ((&k, &a), &t) in i64s(&batch, 1).iter().zip(amount).zip(times) {
                    w.table(state::window_end(t, WINDOW_MS)).upsert(k, a);
                }
            }
            State::Str { windows, .. } => {
                let w = &mut windows[part];
                each_str(batch.column(1).as_ref(), |i, s| {
                    w.table(state::window_end(times[i], WINDOW_MS))
                        .upsert(s, amount[i]);
                });
            }
        }
    }

    fn fire(&mut self, part: usize, watermark: i64) -> Option<RecordBatch> {
        let mut rest = WindowColumns::default();
        let key: ArrayRef = match &mut self.state {
            State::I64 { windows, .. } => {
                let mut keys = Vec::new();
                windows[part].fire(watermark, |end, t| {
                    keys.reserve(t.len());
                    rest.reserve(t.len());
                    t.for_each(|k, acc| {
                        keys.push(k);
                        rest.push(end, WINDOW_MS, acc);
                    });
                });
                Arc::new(Int64Array::from(keys))
            }
            State::Str { windows, .. } => {
                let layout = self.layout;
                let mut utf8 = StringBuilder::new();
                let mut view = StringViewBuilder::new();
                windows[part].fire(watermark, |end, t| {
                    rest.reserve(t.len());
                    t.for_each(|k, acc| {
                        match layout {
                            StrLayout::Utf8 => utf8.append_value(k),
                            StrLayout::View => view.append_value(k),
                        }
                        rest.push(end, WINDOW_MS, acc);
                    });
                });
                match layout {
                    StrLayout::Utf8 => Arc::new(utf8.finish()),
                    StrLayout::View => Arc::new(view.finish()),
                }
            }
        };
        if rest.event_time.is_empty() {
            return None;
        }
        Some(Self::batch(
            &self.window_out,
            vec![
                Arc::new(Int64Array::from(rest.event_time)),
                key,
                Arc::new(Int64Array::from(rest.start)),
                Arc::new(Int64Array::from(rest.end)),
                Arc::new(Int64Array::from(rest.n)),
                Arc::new(Float64Array::from(rest.total)),
            ],
        ))
    }

    fn sink(&mut self, out: RecordBatch, running: bool, d: &mut Digest) {
        let keys = out.column(1);
        if let Some(k) = keys.as_primitive_opt::<Int64Type>() {
            let k = k.values();
            digest(&out, running, d, |i| state::key_i64(k[i]));
        } else if let Some(k) = keys.as_string_opt::<i32>() {
            digest(&out, running, d, |i| state::key_str(k.value(i).as_bytes()));
        } else if let Some(k) = keys.as_string_view_opt() {
            digest(&out, running, d, |i| state::key_str(k.value(i).as_bytes()));
        }
    }

    fn wire_bytes(&self) -> u64 {
        self.wire_bytes
    }

    fn rows(batch: &RecordBatch) -> usize {
        batch.num_rows()
    }
}

/// Reads an output batch's columns into the digest; `key(i)` is row `i`'s key hash.
#[inline]
fn digest(out: &RecordBatch, running: bool, d: &mut Digest, key: impl Fn(usize) -> u64) {
    if running {
        let (et, n, total) = (i64s(out, 0), i64s(out, 2), f64s(out, 3));
        for i in 0..out.num_rows() {
            d.running(et[i], key(i), n[i], total[i]);
        }
    } else {
        let (end, n, total) = (i64s(out, 3), i64s(out, 4), f64s(out, 5));
        for i in 0..out.num_rows() {
            d.window(end[i], key(i), n[i], total[i]);
        }
    }
}

/// The schema message and one W1 partition batch's frame, for the robustness check.
pub fn frames(keys: KeyKind, layout: StrLayout) -> (Vec<u8>, Vec<u8>) {
    let mut p = ArrowPath::new(keys, layout);
    let b = p.generate(0, crate::w1::BATCH);
    let [b, _] = p.scatter(b);
    let options = IpcWriteOptions::try_new(8, false, MetadataVersion::V5)
        .unwrap_or_else(|e| fail("ipc options", e));
    let mut w = StreamWriter::try_new_with_options(Vec::new(), &p.input, options)
        .unwrap_or_else(|e| fail("ipc writer", e));
    let schema = std::mem::take(w.get_mut());
    w.write(&b).unwrap_or_else(|e| fail("ipc write", e));
    (schema, std::mem::take(w.get_mut()))
}

/// Decodes one frame after the schema message; whether it gave exactly one batch. The batch
/// is also read (every column's values) as a consumer would.
pub fn decode_frame(schema: &[u8], frame: &[u8]) -> bool {
    let mut d = StreamDecoder::new();
    if d.decode(&mut Buffer::from_slice_ref(schema)).is_err() {
        return false;
    }
    let mut buf = Buffer::from_slice_ref(frame);
    match d.decode(&mut buf) {
        Ok(Some(b)) if buf.is_empty() => {
            let mut sum = 0u64;
            for c in b.columns() {
                if let Some(a) = c.as_primitive_opt::<Int64Type>() {
                    sum = sum.wrapping_add(a.values().iter().map(|&x| x as u64).sum::<u64>());
                } else if let Some(a) = c.as_string_opt::<i32>() {
                    sum += (0..a.len()).map(|i| a.value(i).len() as u64).sum::<u64>();
                } else if let Some(a) = c.as_string_view_opt() {
                    sum += (0..a.len()).map(|i| a.value(i).len() as u64).sum::<u64>();
                }
            }
            std::hint::black_box(sum);
            true
        }
        _ => false,
    }
}

/// What Quiver would have to check itself before handing a frame to Arrow's decoder, which
/// panics (at 60.1) when a buffer's offset + length in the message lies outside the body or
/// an offset is not aligned: one record-batch message, its body exactly the rest of the frame,
/// no compression, every buffer 8-byte aligned and inside the body.
pub fn precheck(frame: &[u8]) -> bool {
    let word = |i: usize| -> Option<u32> {
        let b = frame.get(i..i + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(0xffff_ffff), Some(meta)) = (word(0), word(4)) else {
        return false;
    };
    let Some(meta_bytes) = frame.get(8..8 + meta as usize) else {
        return false;
    };
    let Ok(message) = arrow_ipc::root_as_message(meta_bytes) else {
        return false;
    };
    let Some(batch) = message.header_as_record_batch() else {
        return false;
    };
    let body = (frame.len() - 8 - meta as usize) as i64;
    if message.bodyLength() != body || batch.compression().is_some() {
        return false;
    }
    batch.buffers().is_some_and(|buffers| {
        buffers.iter().all(|b| {
            b.offset() >= 0
                && b.length() >= 0
                && b.offset() % 8 == 0
                && b.offset()
                    .checked_add(b.length())
                    .is_some_and(|end| end <= body)
        })
    })
}
