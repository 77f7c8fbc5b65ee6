//! Path (a), today's format: `Vec<Record>` with a `Vec<Value>` row per record, a deep clone
//! per extra consumer, records moved into per-partition `Vec`s as `node`'s `OutputGate` does,
//! one `Vec<Value>` per output row, and `quiver_protocol::codec` (bincode with the frame
//! limit) on the wire.

use crate::keys::partition_value;
use crate::pipeline::Path;
use crate::state::{self, ArcStrTable, Digest, I64Table, KeyTable, Windows};
use crate::w1::{self, KeyKind, WINDOW_MS};
use quiver_protocol::codec;
use quiver_protocol::{Record, StreamElement, Value};
use std::sync::Arc;

/// Keyed state of one path, by key type.
enum State {
    I64 {
        running: [I64Table; 2],
        windows: [Windows<I64Table>; 2],
    },
    Str {
        running: [ArcStrTable; 2],
        windows: [Windows<ArcStrTable>; 2],
    },
}

/// The rows path.
pub struct Rows {
    keys: KeyKind,
    state: State,
    buffer: Vec<u8>,
    wire_bytes: u64,
}

impl Rows {
    /// A path whose source emits `keys`.
    pub fn new(keys: KeyKind) -> Rows {
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
        Rows {
            keys,
            state,
            buffer: Vec::new(),
            wire_bytes: 0,
        }
    }
}

fn amount(row: &[Value]) -> f64 {
    match row[1] {
        Value::F64(x) => x,
        _ => 0.0,
    }
}

impl Path for Rows {
    type Batch = Vec<Record>;
    type Out = Vec<Record>;

    fn generate(&mut self, first: u64, n: usize) -> Vec<Record> {
        let mut batch = Vec::with_capacity(n);
        let mut buf = [0u8; 24];
        for seq in first..first + n as u64 {
            let (user, amount, ts) = w1::event(seq);
            let key = match self.keys {
                KeyKind::I64 => Value::I64(user),
                KeyKind::Str => Value::Str(Arc::from(w1::str_key(user, &mut buf))),
            };
            batch.push(Record {
                event_time: ts,
                row: vec![key, Value::F64(amount), Value::I64(ts)],
            });
        }
        batch
    }

    fn fan_out(&mut self, batch: Vec<Record>) -> (Vec<Record>, Vec<Record>) {
        (batch.clone(), batch)
    }

    fn scatter(&mut self, batch: Vec<Record>) -> [Vec<Record>; 2] {
        // As `OutputGate::push_records`: each destination starts empty and grows.
        let mut out: [Vec<Record>; 2] = [Vec::new(), Vec::new()];
        for record in batch {
            let p = partition_value(&record.row[0]) as usize;
            out[p].push(record);
        }
        out
    }

    fn wire(&mut self, batch: Vec<Record>) -> Vec<Record> {
        self.buffer.clear();
        let element = StreamElement::Records(batch);
        if let Err(e) = codec::encode_into(&element, &mut self.buffer) {
            panic!("encode: {e}");
        }
        self.wire_bytes += self.buffer.len() as u64 + 4;
        match codec::decode::<StreamElement>(&self.buffer) {
            Ok(StreamElement::Records(b)) => b,
            other => panic!("decode: {other:?}"),
        }
    }

    fn running(&mut self, part: usize, batch: Vec<Record>) -> Vec<Record> {
        let mut out = Vec::with_capacity(batch.len());
        match &mut self.state {
            State::I64 { running, .. } => {
                let table = &mut running[part];
                for record in batch {
                    let Value::I64(key) = record.row[0] else {
                        continue;
                    };
                    let acc = table.upsert(key, amount(&record.row));
                    out.push(Record {
                        event_time: record.event_time,
                        row: vec![Value::I64(key), Value::I64(acc.n), Value::F64(acc.total)],
                    });
                }
            }
            State::Str { running, .. } => {
                let table = &mut running[part];
                for record in batch {
                    let Value::Str(key) = &record.row[0] else {
                        continue;
                    };
                    let acc = table.upsert(key, amount(&record.row));
                    out.push(Record {
                        event_time: record.event_time,
                        row: vec![
                            Value::Str(key.clone()),
                            Value::I64(acc.n),
                            Value::F64(acc.total),
                        ],
                    });
                }
            }
        }
        out
    }

    fn window(&mut self, part: usize, batch: Vec<Record>) {
        match &mut self.state {
            State::I64 { windows, .. } => {
                let w = &mut windows[part];
                for record in batch {
                    let Value::I64(key) = record.row[0] else {
                        continue;
                    };
                    let end = state::window_end(record.event_time, WINDOW_MS);
                    w.table(end).upsert(key, amount(&record.row));
                }
            }
            State::Str { windows, .. } => {
                let w = &mut windows[part];
                for record in batch {
                    let Value::Str(key) = &record.row[0] else {
                        continue;
                    };
                    let end = state::window_end(record.event_time, WINDOW_MS);
                    w.table(end).upsert(key, amount(&record.row));
                }
            }
        }
    }

    fn fire(&mut self, part: usize, watermark: i64) -> Option<Vec<Record>> {
        let mut out = Vec::new();
        let row = |key: Value, end: i64, acc: state::Acc| Record {
            event_time: end - 1,
            row: vec![
                key,
                Value::I64(end - WINDOW_MS),
                Value::I64(end),
                Value::I64(acc.n),
                Value::F64(acc.total),
            ],
        };
        match &mut self.state {
            State::I64 { windows, .. } => windows[part].fire(watermark, |end, t| {
                out.reserve(t.len());
                t.for_each(|k, acc| out.push(row(Value::I64(k), end, acc)));
            }),
            State::Str { windows, .. } => windows[part].fire(watermark, |end, t| {
                out.reserve(t.len());
                t.for_each(|k, acc| out.push(row(Value::Str(k.clone()), end, acc)));
            }),
        }
        (!out.is_empty()).then_some(out)
    }

    fn sink(&mut self, out: Vec<Record>, running: bool, d: &mut Digest) {
        for r in &out {
            let key = match &r.row[0] {
                Value::I64(x) => state::key_i64(*x),
                Value::Str(s) => state::key_str(s.as_bytes()),
                _ => 0,
            };
            let num = |i: usize| match r.row[i] {
                Value::I64(x) => x,
                _ => 0,
            };
            let float = |i: usize| match r.row[i] {
                Value::F64(x) => x,
                _ => 0.0,
            };
            if running {
                d.running(r.event_time, key, num(1), float(2));
            } else {
                d.window(num(2), key, num(3), float(4));
            }
        }
    }

    fn wire_bytes(&self) -> u64 {
        self.wire_bytes
    }

    fn rows(batch: &Vec<Record>) -> usize {
        batch.len()
    }
}
