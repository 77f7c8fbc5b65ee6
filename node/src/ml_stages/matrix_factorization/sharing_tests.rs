//! The sparse worker side of matrix factorisation on parameter servers: what a push holds
//! and what adopting a version does, against values worked out from the library's model.

use super::sharing::ItemSharing;
use crate::ml_stages::build_worker;
use crate::operator::Output;
use crate::operators::StageContext;
use crate::parameters::{Board, BoardKey, Boards, JobServing, WorkerLink};
use quiver_ml::recommendation::{MatrixFactorization, MfLayout, MfParams};
use quiver_protocol::batch::{self, Batch, Column};
use quiver_protocol::models::ServingTable;
use quiver_protocol::spec::JobSpec;
use quiver_protocol::{Barrier, CheckpointId, Generation, JobId, PartitionId, Record, Value};
use std::path::Path;
use std::sync::Arc;

/// The link of worker 0 of `workers` to a board of one shard, and the board (to publish on).
fn link(workers: u32) -> (WorkerLink, Arc<Board>) {
    let key = BoardKey {
        job: JobId(1),
        generation: Generation(1),
        learner: "mf".into(),
        partition: PartitionId(0),
    };
    let board = Boards::default().get(key, 1);
    // The deployment's table, as a node loads it before the tasks start.
    let serving = Arc::new(JobServing::default());
    serving.insert_table(ServingTable::default());
    let link = WorkerLink {
        board: board.clone(),
        workers,
        partition: 0,
        serving,
    };
    (link, board)
}

/// A worker of 2, the board (to publish on) and a fresh model.
fn worker() -> (ItemSharing, Arc<Board>, MatrixFactorization) {
    let (link, board) = link(2);
    let model = MatrixFactorization::new(MfParams::biased_mf_stream()).unwrap();
    (ItemSharing::new("mf", link, model.layout()), board, model)
}

/// Shard 0's version `version` of `values` (index, value), then its end record.
fn publish(board: &Board, version: i64, values: &[(i64, f64)]) {
    let mut rows: Vec<(i64, f64)> = values.to_vec();
    rows.push((-1, 0.0));
    let n = rows.len();
    let batch = Batch::try_new(
        vec![0; n],
        vec![
            Column::i64(vec![0; n]),
            Column::i64(vec![version; n]),
            Column::i64(rows.iter().map(|r| r.0).collect()),
            Column::f64(rows.iter().map(|r| r.1).collect()),
        ],
    )
    .unwrap();
    board.apply(&batch).unwrap();
}

/// A push's records as (index, change, averaged).
fn records(batch: &Batch) -> Vec<(i64, f64, i64)> {
    let c = batch.columns();
    let (keys, changes, averaged) = (
        c[0].as_i64().unwrap(),
        c[1].as_f64().unwrap(),
        c[2].as_i64().unwrap(),
    );
    (0..batch.len())
        .map(|i| (keys[i], changes[i], averaged[i]))
        .collect()
}

/// Item `item`'s records: each parameter's index, `change(k)` and averaged.
fn item_records(item: i64, change: impl Fn(usize) -> f64) -> Vec<(i64, f64, i64)> {
    (0..11)
        .map(|k| (2 + item * 11 + k as i64, change(k), 1))
        .collect()
}

#[test]
fn a_push_holds_the_changes_of_the_items_learnt_since_the_last_and_the_summed_mean() {
    let (mut sharing, board, mut model) = worker();
    // The shards hold 4 ratings summing to 12 and item 5.
    let five: Vec<f64> = (0..11).map(|k| 0.01 * k as f64 + 0.1).collect();
    let mut published = vec![(MfLayout::COUNT, 4.0), (MfLayout::SUM, 12.0)];
    published.extend(five.iter().enumerate().map(|(k, &v)| (57 + k as i64, v)));
    publish(&board, 3, &published);
    sharing.start(&mut model).unwrap();
    assert_eq!(sharing.version(), 3);
    assert_eq!(model.rating_stats(), [4.0, 12.0]);

    // Item 5 is pulled and scored (no rating), item 6 (absent from the shards) learnt.
    assert!(sharing.pull(&mut model, 5, false).unwrap());
    assert_eq!(model.item_parameters(5), Some(five.clone()));
    assert!(sharing.pull(&mut model, 6, true).unwrap());
    assert_eq!(model.item_parameters(6), None, "not on the shards");
    model.learn_one(1, 6, 4.0).unwrap();
    let six = model.item_parameters(6).unwrap();
    // The first push: one more rating of 4, and all of item 6 (its base is 0); not item 5.
    let mut expected = vec![(MfLayout::COUNT, 1.0, 0), (MfLayout::SUM, 4.0, 0)];
    expected.extend(
        item_records(6, |k| six[k])
            .into_iter()
            .filter(|r| r.1 != 0.0),
    );
    assert_eq!(records(&sharing.push(&model)), expected);

    // The second: item 6's change since the first push only.
    assert!(sharing.pull(&mut model, 6, true).unwrap());
    model.learn_one(1, 6, 2.0).unwrap();
    let again = model.item_parameters(6).unwrap();
    let mut expected = vec![(MfLayout::COUNT, 1.0, 0), (MfLayout::SUM, 2.0, 0)];
    expected.extend(
        item_records(6, |k| again[k] - six[k])
            .into_iter()
            .filter(|r| r.1 != 0.0),
    );
    assert_eq!(records(&sharing.push(&model)), expected);
    assert!(
        records(&sharing.push(&model)).is_empty(),
        "nothing rated since"
    );

    // An item id without an index is scored but not learnt.
    let beyond = model.layout().max_item() + 1;
    assert!(!sharing.pull(&mut model, beyond, true).unwrap());
}

#[test]
fn adopting_a_version_keeps_the_pushed_change_and_drops_the_other_items() {
    let (mut sharing, board, mut model) = worker();
    publish(&board, 0, &[]);
    sharing.start(&mut model).unwrap();
    for item in [5, 6] {
        sharing.pull(&mut model, item, true).unwrap();
    }
    model.learn_one(1, 5, 3.0).unwrap();
    model.learn_one(2, 6, 5.0).unwrap();
    sharing.push(&model);
    // Epoch 2 learns item 6 only; meanwhile the shards published version 1: 10 ratings
    // summing to 30, item 5 and item 6 at 0.5 each.
    sharing.pull(&mut model, 6, true).unwrap();
    model.learn_one(2, 6, 1.0).unwrap();
    let before = model.item_parameters(6).unwrap();
    let mut published = vec![(MfLayout::COUNT, 10.0), (MfLayout::SUM, 30.0)];
    for item in [5, 6] {
        published.extend((0..11).map(|k| (2 + item * 11 + k, 0.5)));
    }
    publish(&board, 1, &published);
    let pushed = records(&sharing.push_then_adopt(&mut model).unwrap());
    assert_eq!(sharing.version(), 1);
    // Item 6: the version's 0.5 plus the change just pushed (which no version holds yet).
    let change = |index: i64| pushed.iter().find(|r| r.0 == index).map_or(0.0, |r| r.1);
    let adopted: Vec<f64> = (0..11).map(|k| 0.5 + change(68 + k)).collect();
    assert_eq!(model.item_parameters(6), Some(adopted));
    assert_ne!(model.item_parameters(6), Some(before));
    // Item 5, not rated in the epoch, left the cache: pulled again at its next row.
    assert_eq!(model.item_parameters(5), None);
    sharing.pull(&mut model, 5, false).unwrap();
    assert_eq!(model.item_parameters(5), Some(vec![0.5; 11]));
    // The mean: the version's count and sum plus the rating just pushed.
    assert_eq!(model.rating_stats(), [11.0, 31.0]);
}

#[test]
fn a_worker_scores_an_item_without_an_index_learns_nothing_from_it_and_counts_it_refused() {
    let text = "[job]\nname = \"t\"\nmax_parallelism = 128\ncheckpoint_interval = \"1s\"\n\n\
        [[source]]\nname = \"events\"\nkind = \"file\"\npath = \"e.csv\"\nformat = \"csv\"\n\
        schema = { u = \"i64\", i = \"i64\", r = \"f64\" }\n\n[[stage]]\nname = \"mf\"\n\
        input = \"events\"\nkind = \"matrix_factorization\"\nuser = \"u\"\nitem = \"i\"\n\
        rating = \"r\"\nparameter_shards = 1\n\n[[sink]]\nname = \"out\"\nkind = \"discard\"\n\
        input = \"mf\"\n";
    let spec = JobSpec::parse(text, Path::new("/jobs")).expect("spec");
    let (stage, input) = (&spec.stages[0], &spec.sources[0].schema);
    let ctx = StageContext {
        max_parallelism: 128,
        state_ttl: None,
        checkpoints: true,
    };
    let (link, board) = link(1);
    publish(&board, 0, &[]);
    let mut op = build_worker(stage, input, &ctx, PartitionId(0), link).expect("build");
    let mut model = MatrixFactorization::new(MfParams::biased_mf_stream()).unwrap();
    let beyond = model.layout().max_item() + 1;
    let rows = [(1, 3, 4.0), (1, beyond as i64, 5.0), (2, 3, 2.0)];
    let ratings: Vec<Record> = rows
        .iter()
        .map(|&(u, i, r)| Record {
            event_time: 0,
            row: vec![Value::I64(u), Value::I64(i), Value::F64(r)],
        })
        .collect();
    let mut out = Output::default();
    op.process_batch(&batch::from_records(input, &ratings).unwrap(), &mut out)
        .expect("process");
    // The library, learning the two rows of item 3 only.
    let mut expected = vec![model.predict_one(1, 3)];
    model.learn_one(1, 3, 4.0).unwrap();
    expected.push(model.predict_one(1, beyond));
    expected.push(model.predict_one(2, 3));
    model.learn_one(2, 3, 2.0).unwrap();
    let found: Vec<Value> = out
        .records
        .iter()
        .flat_map(batch::to_records)
        .map(|r| r.row[3].clone())
        .collect();
    let expected: Vec<Value> = expected.into_iter().map(Value::F64).collect();
    assert_eq!(found, expected);
    assert_eq!(
        op.refused_updates(),
        1,
        "the rating of the item without an index"
    );
    // The push: two ratings (sum 6) and item 3, nothing of the other item.
    let barrier = Barrier {
        checkpoint: CheckpointId(1),
        generation: Generation(1),
        serving: 0,
    };
    let mut out = Output::default();
    op.on_barrier(&barrier, &mut out).expect("barrier");
    let pushed: Vec<(i64, f64, i64)> = out.params.iter().flat_map(records).collect();
    let three = model.item_parameters(3).unwrap();
    let mut want = vec![(MfLayout::COUNT, 2.0, 0), (MfLayout::SUM, 6.0, 0)];
    want.extend(
        item_records(3, |k| three[k])
            .into_iter()
            .filter(|r| r.1 != 0.0),
    );
    assert_eq!(pushed, want);
}
