//! Path (c), our own columnar format (`own-batch`): `Arc`-shared typed columns, string keys
//! as offsets + one byte buffer, scatter by gathering row indices, and the hand-written
//! columnar wire encoding with its limits.

use crate::keys::{partition_i64, partition_str};
use crate::pipeline::Path;
use crate::state::{self, Acc, ArenaStrTable, Digest, I64Table, KeyTable, WindowColumns, Windows};
use crate::w1::{self, KeyKind, WINDOW_MS};
use own_batch::wire::{self, Limits};
use own_batch::{Batch, Column, ColumnType, StrBuilder};

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

/// The own-format path.
pub struct Own {
    keys: KeyKind,
    state: State,
    buffer: Vec<u8>,
    limits: Limits,
    input_types: [ColumnType; 3],
    frame_of_reference: bool,
    wire_bytes: u64,
}

impl Own {
    /// A path whose source emits `keys`; its wire step packs i64 columns in frame of
    /// reference.
    pub fn new(keys: KeyKind) -> Own {
        Own::with_encoding(keys, true)
    }

    /// A path whose source emits `keys`; `frame_of_reference: false` sends i64 columns plain.
    pub fn with_encoding(keys: KeyKind, frame_of_reference: bool) -> Own {
        let (state, key_type) = match keys {
            KeyKind::I64 => (
                State::I64 {
                    running: Default::default(),
                    windows: Default::default(),
                },
                ColumnType::I64,
            ),
            KeyKind::Str => (
                State::Str {
                    running: Default::default(),
                    windows: Default::default(),
                },
                ColumnType::Str,
            ),
        };
        Own {
            keys,
            state,
            buffer: Vec::new(),
            limits: Limits::default(),
            input_types: [key_type, ColumnType::F64, ColumnType::I64],
            frame_of_reference,
            wire_bytes: 0,
        }
    }
}

fn amounts(b: &Batch) -> &[f64] {
    b.column(1).as_f64().unwrap_or_default()
}

/// An output batch: event times, the key column, then the rest.
fn out_batch(event_time: Vec<i64>, key: Column, rest: Vec<Column>) -> Batch {
    let mut columns = Vec::with_capacity(1 + rest.len());
    columns.push(key);
    columns.extend(rest);
    match Batch::try_new(event_time, columns) {
        Ok(b) => b,
        Err(e) => panic!("output batch: {e}"),
    }
}

impl Path for Own {
    type Batch = Batch;
    type Out = Batch;

    fn generate(&mut self, first: u64, n: usize) -> Batch {
        let mut amount = Vec::with_capacity(n);
        let mut ts = Vec::with_capacity(n);
        let key = match self.keys {
            KeyKind::I64 => {
                let mut user = Vec::with_capacity(n);
                for seq in first..first + n as u64 {
                    let (u, a, t) = w1::event(seq);
                    user.push(u);
                    amount.push(a);
                    ts.push(t);
                }
                Column::i64(user)
            }
            KeyKind::Str => {
                let mut user = StrBuilder::with_capacity(n, n * 6);
                let mut buf = [0u8; 24];
                for seq in first..first + n as u64 {
                    let (u, a, t) = w1::event(seq);
                    user.push(w1::str_key(u, &mut buf));
                    amount.push(a);
                    ts.push(t);
                }
                Column::str(user.finish())
            }
        };
        // Event time is `ts`: the batch's event-time column shares nothing with it here, as a
        // source whose event time is a column would still fill both.
        let event_time = ts.clone();
        out_batch(event_time, key, vec![Column::f64(amount), Column::i64(ts)])
    }

    fn fan_out(&mut self, batch: Batch) -> (Batch, Batch) {
        (batch.clone(), batch)
    }

    fn scatter(&mut self, batch: Batch) -> [Batch; 2] {
        // Row indices per partition while hashing (as the Arrow path does), then one gather
        // per column and partition.
        let key = batch.column(0);
        let n = batch.len();
        let mut rows: [Vec<u32>; 2] = [Vec::with_capacity(n), Vec::with_capacity(n)];
        if let Some(k) = key.as_i64() {
            for (i, &x) in k.iter().enumerate() {
                rows[partition_i64(x) as usize].push(i as u32);
            }
        } else if let Some(s) = key.as_str() {
            for (i, k) in s.iter().enumerate() {
                rows[partition_str(k) as usize].push(i as u32);
            }
        }
        rows.map(|r| batch.take(&r))
    }

    fn wire(&mut self, batch: Batch) -> Batch {
        self.buffer.clear();
        wire::encode_with(&batch, &mut self.buffer, self.frame_of_reference);
        self.wire_bytes += self.buffer.len() as u64 + 4;
        match wire::decode(&self.buffer, &self.limits, Some(&self.input_types)) {
            Ok(b) => b,
            Err(e) => panic!("decode: {e}"),
        }
    }

    fn running(&mut self, part: usize, batch: Batch) -> Batch {
        let n = batch.len();
        let amount = amounts(&batch);
        let mut counts = Vec::with_capacity(n);
        let mut totals = Vec::with_capacity(n);
        let mut push = |acc: Acc| {
            counts.push(acc.n);
            totals.push(acc.total);
        };
        let key = match &mut self.state {
            State::I64 { running, .. } => {
                let table = &mut running[part];
                let keys = batch.column(0).as_i64().unwrap_or_default();
                for (&k, &a) in keys.iter().zip(amount) {
                    push(table.upsert(k, a));
                }
                // The output's key column is the input's, shared.
                batch.column(0).clone()
            }
            State::Str { running, .. } => {
                let table = &mut running[part];
                let Some(keys) = batch.column(0).as_str() else {
                    return batch;
                };
                for (k, &a) in keys.iter().zip(amount) {
                    push(table.upsert(k, a));
                }
                batch.column(0).clone()
            }
        };
        match batch.derive(vec![key, Column::i64(counts), Column::f64(totals)]) {
            Ok(b) => b,
            Err(e) => panic!("output batch: {e}"),
        }
    }

    fn window(&mut self, part: usize, batch: Batch) {
        let amount = amounts(&batch);
        let times = batch.event_time();
        match &mut self.state {
            State::I64 { windows, .. } => {
                let w = &mut windows[part];
                let keys = batch.column(0).as_i64().unwrap_or_default();
                for ((&k, &a), &t) in keys.iter().zip(amount).zip(times) {
                    w.table(state::window_end(t, WINDOW_MS)).upsert(k, a);
                }
            }
            State::Str { windows, .. } => {
                let w = &mut windows[part];
                let Some(keys) = batch.column(0).as_str() else {
                    return;
                };
                for ((k, &a), &t) in keys.iter().zip(amount).zip(times) {
                    w.table(state::window_end(t, WINDOW_MS)).upsert(k, a);
                }
            }
        }
    }

    fn fire(&mut self, part: usize, watermark: i64) -> Option<Batch> {
        let mut rest = WindowColumns::default();
        let key = match &mut self.state {
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
                Column::i64(keys)
            }
            State::Str { windows, .. } => {
                let mut keys = StrBuilder::with_capacity(0, 0);
                windows[part].fire(watermark, |end, t| {
                    rest.reserve(t.len());
                    t.for_each(|k, acc| {
                        keys.push(k);
                        rest.push(end, WINDOW_MS, acc);
                    });
                });
                Column::str(keys.finish())
            }
        };
        if rest.event_time.is_empty() {
            return None;
        }
        Some(out_batch(
            rest.event_time,
            key,
            vec![
                Column::i64(rest.start),
                Column::i64(rest.end),
                Column::i64(rest.n),
                Column::f64(rest.total),
            ],
        ))
    }

    fn sink(&mut self, out: Batch, running: bool, d: &mut Digest) {
        let key = out.column(0);
        if let Some(k) = key.as_i64() {
            digest(&out, running, d, |i| state::key_i64(k[i]));
        } else if let Some(k) = key.as_str() {
            digest(&out, running, d, |i| state::key_str(k.get_bytes(i)));
        }
    }

    fn wire_bytes(&self) -> u64 {
        self.wire_bytes
    }

    fn rows(batch: &Batch) -> usize {
        batch.len()
    }
}

/// Reads an output batch's columns into the digest; `key(i)` is row `i`'s key hash.
#[inline]
fn digest(out: &Batch, running: bool, d: &mut Digest, key: impl Fn(usize) -> u64) {
    let i64s = |c: usize| out.column(c).as_i64().unwrap_or_default();
    let f64s = |c: usize| out.column(c).as_f64().unwrap_or_default();
    if running {
        let (et, n, total) = (out.event_time(), i64s(1), f64s(2));
        for i in 0..out.len() {
            d.running(et[i], key(i), n[i], total[i]);
        }
    } else {
        let (end, n, total) = (i64s(2), i64s(3), f64s(4));
        for i in 0..out.len() {
            d.window(end[i], key(i), n[i], total[i]);
        }
    }
}
