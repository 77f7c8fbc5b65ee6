//! The late side output end to end: a windowed stage with `late = "SINK"` sends every record
//! whose window already fired to that sink, unchanged, and leaves it out of its windows.
//! Input: the shared event stream (out of order by at most 1.5 s, within the 2 s lag) with a
//! record 5 s behind the newest one inserted every 37 events; read 10 records per batch.

mod common;

use common::{csv_source, events, per_user_stage, quiver, sorted, windows_of, write_csv};
use quiver_chaos_tests::read_committed_rows;
use serde_json::{json, Value};

/// On-time events in the input.
const EVENTS: usize = 3000;
/// Every this many input lines, one is late.
const LATE_EVERY: usize = 37;
/// Out-of-orderness the source allows, ms.
const LAG: i64 = 2000;
/// The most records a batch carries at `rate = 1000` (one hundredth of the rate): the
/// watermark a record meets comes from records at least this far before it.
const BATCH: usize = 10;

/// The job: the windowed aggregate with a late sink, checkpoints every 200 ms.
fn job_spec() -> String {
    let job = "[job]\nname = \"late\"\nparallelism = 2\ncheckpoint_interval = \"200ms\"\n";
    let late_sink = "[[sink]]\nname = \"late_out\"\nkind = \"file\"\npath = \"late/\"\n";
    [
        job,
        &csv_source("rate = 1000"),
        &per_user_stage("late = \"late_out\""),
        late_sink,
    ]
    .concat()
}

type Event = (String, f64, i64);

/// The input lines: the shared events with, after every `LATE_EVERY - 1` of them, a record
/// 5 s behind the newest so far (its user's amount made distinct).
fn input() -> Vec<Event> {
    let mut lines: Vec<Event> = Vec::new();
    let mut newest = i64::MIN;
    for (i, (user, amount, ts)) in events(EVENTS).into_iter().enumerate() {
        newest = newest.max(ts);
        lines.push((user.clone(), amount, ts));
        if i % (LATE_EVERY - 1) == LATE_EVERY - 2 {
            lines.push((user, 1000.0 + i as f64, newest - 5000));
        }
    }
    lines
}

/// Whether line `i` is late when the watermark it meets comes from the lines before
/// `seen_until`: its (only) window ends at or before that watermark + 1.
fn is_late(lines: &[Event], i: usize, seen_until: usize) -> bool {
    let Some(newest) = lines[..seen_until].iter().map(|e| e.2).max() else {
        return false;
    };
    let watermark = newest - LAG - 1;
    let ts = lines[i].2;
    let end = ts - ts.rem_euclid(1000) + 1000;
    end - 1 <= watermark
}

/// The late lines, as the guarantee defines them. The input is built so that the answer is
/// the same whether the watermark comes from every line before a record or only from those
/// a full batch before it — so however the source cuts batches.
fn late_lines(lines: &[Event]) -> Vec<bool> {
    (0..lines.len())
        .map(|i| {
            let finest = is_late(lines, i, i);
            let coarsest = is_late(lines, i, (i + 1).saturating_sub(BATCH));
            assert_eq!(finest, coarsest, "line {i} is late or not by batching");
            finest
        })
        .collect()
}

#[test]
fn records_whose_window_fired_go_to_the_late_sink_exactly_as_read() {
    let dir = tempfile::tempdir().unwrap();
    let lines = input();
    write_csv(dir.path(), &lines);
    let spec = dir.path().join("job.toml");
    std::fs::write(&spec, job_spec()).unwrap();

    let out = quiver(&["local", spec.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "quiver local failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let late = late_lines(&lines);
    let (late_events, on_time): (Vec<_>, Vec<_>) =
        lines.into_iter().zip(&late).partition(|(_, &late)| late);
    assert_eq!(
        late_events.len(),
        EVENTS / (LATE_EVERY - 1),
        "every inserted line is late"
    );
    let expected_late: Vec<Value> = late_events
        .into_iter()
        .map(|((user, amount, ts), _)| json!({"user": user, "amount": amount, "ts": ts}))
        .collect();
    assert_eq!(
        sorted(read_committed_rows(&dir.path().join("late"))),
        sorted(expected_late),
        "the late sink holds exactly the late records"
    );
    let on_time: Vec<Event> = on_time.into_iter().map(|(e, _)| e).collect();
    assert_eq!(
        sorted(read_committed_rows(&dir.path().join("out"))),
        windows_of(on_time),
        "the windows hold exactly the records on time"
    );
}
