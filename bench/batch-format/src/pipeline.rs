//! One W1 source batch through every step, the same for each path:
//!
//! 1. `generate`: the source builds a batch of up to 1024 `(user, amount, ts)` events;
//! 2. `fan_out`: the batch goes to the two consumers (running and windowed aggregate);
//! 3. `scatter` (twice, once per consumer): each consumer's exchange splits it by key group
//!    over its 2 partitions;
//! 4. `wire`: partition 1 of the running stage crosses to another node: encoded to one frame,
//!    decoded there (with the decoder's size limit), and the decoded batch is processed;
//! 5. `running` (per partition): count + sum per key, one output row per event
//!    `(key, n, total)` with the event's time;
//! 6. `window` (per partition): adds the batch to its 1 s tumbling windows, then `fire` emits
//!    `(key, window_start, window_end, n, total)` for every window the watermark (the
//!    batch's last event time minus 1 s) closed;
//! 7. `sink`: a discard sink that reads every output column (into the [`Digest`]) and drops
//!    the batch.
//!
//! Every step is its own `#[inline(never)]` function, so callgrind's inclusive count of
//! `step_*<Path>` is that step's cost.

use crate::alloc_count::{self, Count};
use crate::state::Digest;
use crate::w1::{BATCH, LAG_MS};

/// One way of laying out, sharing, splitting, reading and encoding batches.
pub trait Path {
    /// A batch of input records.
    type Batch;
    /// A batch of output rows.
    type Out;
    /// Builds the batch of events `first..first + n`.
    fn generate(&mut self, first: u64, n: usize) -> Self::Batch;
    /// The batch for each of two consumers.
    fn fan_out(&mut self, batch: Self::Batch) -> (Self::Batch, Self::Batch);
    /// Splits a batch by key group over 2 partitions.
    fn scatter(&mut self, batch: Self::Batch) -> [Self::Batch; 2];
    /// Encodes a batch into one frame and decodes it again; adds the frame's bytes (with a
    /// 4-byte length prefix) to the wire count.
    fn wire(&mut self, batch: Self::Batch) -> Self::Batch;
    /// The running aggregate of partition `part`.
    fn running(&mut self, part: usize, batch: Self::Batch) -> Self::Out;
    /// Adds a batch to partition `part`'s windows.
    fn window(&mut self, part: usize, batch: Self::Batch);
    /// Fires partition `part`'s windows closed by `watermark`.
    fn fire(&mut self, part: usize, watermark: i64) -> Option<Self::Out>;
    /// Reads an output batch into `digest` (`running`: which stage made it) and drops it.
    fn sink(&mut self, out: Self::Out, running: bool, digest: &mut Digest);
    /// Bytes of the frames encoded so far.
    fn wire_bytes(&self) -> u64;
    /// Records in a batch.
    fn rows(batch: &Self::Batch) -> usize;
}

/// The steps, for per-step figures.
pub const STEPS: [&str; 8] = [
    "generate", "fan_out", "scatter", "wire", "running", "window", "fire", "sink",
];

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// What the sinks saw.
    pub digest: Digest,
    /// Allocations per step (in [`STEPS`] order); zero unless counting.
    pub allocs: [Count; 8],
    /// Events that crossed the wire step.
    pub wire_events: u64,
}

macro_rules! step {
    ($name:ident, $( $arg:ident : $ty:ty ),* => $ret:ty, $body:expr) => {
        #[inline(never)]
        fn $name<P: Path>(p: &mut P, $( $arg: $ty ),*) -> $ret {
            $body(p)
        }
    };
}

step!(step_generate, first: u64, n: usize => P::Batch, |p: &mut P| p.generate(first, n));
step!(step_fan_out, b: P::Batch => (P::Batch, P::Batch), |p: &mut P| p.fan_out(b));
step!(step_scatter, b: P::Batch => [P::Batch; 2], |p: &mut P| p.scatter(b));
step!(step_wire, b: P::Batch => P::Batch, |p: &mut P| p.wire(b));
step!(step_running, part: usize, b: P::Batch => P::Out, |p: &mut P| p.running(part, b));
step!(step_window, part: usize, b: P::Batch => (), |p: &mut P| p.window(part, b));
step!(step_fire, part: usize, w: i64 => Option<P::Out>, |p: &mut P| p.fire(part, w));
step!(step_sink, o: P::Out, r: bool, d: &mut Digest => (), |p: &mut P| p.sink(o, r, d));

/// Counts allocations of `f` into `slot`.
#[inline(always)]
fn counted<T>(slot: &mut Count, f: impl FnOnce() -> T) -> T {
    if !alloc_count::COUNTING {
        return f();
    }
    let before = alloc_count::now();
    let out = f();
    let after = alloc_count::now();
    slot.allocs += after.allocs - before.allocs;
    slot.bytes += after.bytes - before.bytes;
    out
}

/// Runs `events` W1 events through `p`.
#[inline(never)]
pub fn run<P: Path>(p: &mut P, events: u64) -> Report {
    let mut r = Report::default();
    let mut next = 0u64;
    while next < events {
        let n = (events - next).min(BATCH as u64) as usize;
        let a = &mut r.allocs;
        let batch = counted(&mut a[0], || step_generate(p, next, n));
        next += n as u64;
        let (to_running, to_window) = counted(&mut a[1], || step_fan_out(p, batch));
        let [r0, r1] = counted(&mut a[2], || step_scatter(p, to_running));
        let [w0, w1] = counted(&mut a[2], || step_scatter(p, to_window));
        r.wire_events += P::rows(&r1) as u64;
        let a = &mut r.allocs;
        let r1 = counted(&mut a[3], || step_wire(p, r1));
        let o0 = counted(&mut a[4], || step_running(p, 0, r0));
        let o1 = counted(&mut a[4], || step_running(p, 1, r1));
        counted(&mut a[5], || step_window(p, 0, w0));
        counted(&mut a[5], || step_window(p, 1, w1));
        // Event time is the sequence number: the last event's time is `next - 1`.
        let watermark = next as i64 - 1 - LAG_MS;
        let watermark = if next >= events { i64::MAX } else { watermark };
        let f0 = counted(&mut a[6], || step_fire(p, 0, watermark));
        let f1 = counted(&mut a[6], || step_fire(p, 1, watermark));
        let d = &mut r.digest;
        counted(&mut a[7], || {
            step_sink(p, o0, true, d);
            step_sink(p, o1, true, d);
            for f in [f0, f1].into_iter().flatten() {
                step_sink(p, f, false, d);
            }
        });
    }
    r
}
