//! Data quality of the columns an operator emits (`checks`, §8 "Data quality"): per watched
//! column, nulls, NaN / ±inf, values outside the declared range, and drift statistics
//! ([`drift`]). One pass over each watched column of each batch, on the task that emits it;
//! the heartbeat reads the figures through the task's [`QualityBoard`].

mod drift;

use drift::Drift;
use quiver_protocol::batch::{Batch, Bitmap, Column, ColumnData};
use quiver_protocol::quality::ColumnQuality;
use quiver_protocol::spec::{ColumnCheck, QualitySpec};
use quiver_protocol::Schema;
use std::sync::{Arc, Mutex};

/// One watched column: where it is in the operator's batches, its range, what was seen.
#[derive(Debug)]
struct ColumnWatch {
    index: usize,
    min: f64,
    max: f64,
    ranged: bool,
    seen: ColumnQuality,
    drift: Option<Drift>,
    /// The finite values of the batch being observed, for `drift` (kept to reuse its buffer).
    finite: Vec<f64>,
}

impl ColumnWatch {
    /// Counts what `column` holds.
    fn observe(&mut self, column: &Column) {
        self.seen.values += column.len() as u64;
        let nulls = column.nulls.as_ref();
        let counts_only = nulls.is_none() && !self.ranged && self.drift.is_none();
        match &column.data {
            // Nothing to count: an i64 is finite.
            ColumnData::I64(_) if counts_only => {}
            ColumnData::F64(values) if counts_only => {
                let non_finite = values.iter().filter(|x| !x.is_finite()).count();
                self.seen.non_finite += non_finite as u64;
            }
            ColumnData::F64(values) => self.numbers(values.iter().copied(), nulls),
            ColumnData::I64(values) => self.numbers(values.iter().map(|&x| x as f64), nulls),
            _ => {
                if let Some(bitmap) = nulls {
                    let null = |i: &usize| !bitmap.is_valid(*i);
                    self.seen.nulls += (0..column.len()).filter(null).count() as u64;
                }
            }
        }
    }

    /// Counts numbers: nulls (rows `nulls` marks), non-finite, out of range; feeds drift.
    /// Without nulls the loop has no branch but drift's window end.
    #[inline]
    fn numbers(&mut self, values: impl Iterator<Item = f64>, nulls: Option<&Bitmap>) {
        let (min, max, ranged) = (self.min, self.max, u64::from(self.ranged));
        let drifts = self.drift.is_some();
        let (mut null, mut non_finite, mut out) = (0, 0, 0);
        for (i, x) in values.enumerate() {
            if nulls.is_some_and(|b| !b.is_valid(i)) {
                null += 1;
                continue;
            }
            let finite = x.is_finite();
            non_finite += u64::from(!finite);
            out += if finite {
                u64::from(x < min || x > max)
            } else {
                ranged
            };
            if drifts && finite {
                self.finite.push(x);
            }
        }
        if let Some(drift) = &mut self.drift {
            drift.extend(&self.finite);
            self.finite.clear();
        }
        self.seen.nulls += null;
        self.seen.non_finite += non_finite;
        self.seen.out_of_range += out;
    }

    /// What was seen, with the last drift window.
    fn report(&self) -> ColumnQuality {
        ColumnQuality {
            drift: self.drift.as_ref().and_then(Drift::last),
            ..self.seen.clone()
        }
    }
}

/// The watched columns of one operator's output.
#[derive(Debug)]
pub(crate) struct OperatorQuality {
    columns: Vec<ColumnWatch>,
}

impl OperatorQuality {
    /// Watches what `spec` names of operator `operator`'s batches of `schema`; `None` when
    /// it names nothing.
    pub(crate) fn new(operator: &str, spec: &QualitySpec, schema: &Schema) -> Option<Self> {
        let watch = |check: &ColumnCheck| {
            Some(ColumnWatch {
                index: schema.index_of(&check.column)?,
                min: check.min.unwrap_or(f64::NEG_INFINITY),
                max: check.max.unwrap_or(f64::INFINITY),
                ranged: check.min.is_some() || check.max.is_some(),
                seen: ColumnQuality {
                    operator: operator.to_string(),
                    column: check.column.clone(),
                    ..ColumnQuality::default()
                },
                drift: check.drifts.then(|| Drift::new(spec.drift_window)),
                finite: Vec::new(),
            })
        };
        let columns: Vec<ColumnWatch> = spec.columns.iter().filter_map(watch).collect();
        (!columns.is_empty()).then_some(OperatorQuality { columns })
    }

    /// Counts what a batch the operator emitted holds.
    pub(crate) fn observe(&mut self, batch: &Batch) {
        for watch in &mut self.columns {
            if let Some(column) = batch.columns().get(watch.index) {
                watch.observe(column);
            }
        }
    }

    fn report(&self, into: &mut Vec<ColumnQuality>) {
        into.extend(self.columns.iter().map(ColumnWatch::report));
    }
}

/// An operator's watch, shared by the task that feeds it and its [`QualityBoard`].
pub(crate) type SharedQuality = Arc<Mutex<OperatorQuality>>;

/// Feeds `batch` to `quality` (a lock per batch: only the heartbeat's read contends).
pub(crate) fn observe(quality: &SharedQuality, batch: &Batch) {
    quality
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .observe(batch);
}

/// The watches of a task's operators, read by its heartbeat.
#[derive(Debug, Default)]
pub(crate) struct QualityBoard {
    watches: Mutex<Vec<SharedQuality>>,
}

impl QualityBoard {
    /// Adds an operator's watch; returns it shared.
    pub(crate) fn register(&self, quality: OperatorQuality) -> SharedQuality {
        let shared = Arc::new(Mutex::new(quality));
        self.watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(shared.clone());
        shared
    }

    /// Every watched column's figures so far.
    pub(crate) fn report(&self) -> Vec<ColumnQuality> {
        let mut columns = Vec::new();
        for watch in self
            .watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            watch
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .report(&mut columns);
        }
        columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_protocol::batch::StrColumn;
    use quiver_protocol::ValueType;

    fn check(column: &str, ty: ValueType, range: Option<(f64, f64)>) -> ColumnCheck {
        ColumnCheck {
            column: column.into(),
            ty,
            min: range.map(|r| r.0),
            max: range.map(|r| r.1),
            drifts: ty != ValueType::Str,
        }
    }

    #[test]
    fn nulls_non_finite_and_out_of_range_are_counted_per_column() {
        let schema = Schema::new([
            ("name", ValueType::Str),
            ("amount", ValueType::F64),
            ("n", ValueType::I64),
        ]);
        let spec = QualitySpec {
            columns: vec![
                check("name", ValueType::Str, None),
                check("amount", ValueType::F64, Some((0.0, 10.0))),
                check("n", ValueType::I64, Some((0.0, 1.0))),
            ],
            drift_window: 3,
        };
        let mut quality = OperatorQuality::new("events", &spec, &schema).expect("watched");
        let names = StrColumn::try_new(vec![0, 1, 2, 2, 3, 4], b"abcd".to_vec()).expect("strings");
        let amount = vec![1.0, f64::NAN, 11.0, f64::INFINITY, 5.0];
        let batch = Batch::try_new(
            vec![0; 5],
            vec![
                Column {
                    nulls: Some(Bitmap::from_bools([true, true, false, true, true])),
                    ..Column::str(names)
                },
                Column {
                    nulls: Some(Bitmap::from_bools([true, true, true, true, false])),
                    ..Column::f64(amount)
                },
                Column::i64(vec![0, 1, 2, -1, 1]),
            ],
        )
        .expect("batch");
        quality.observe(&batch);
        quality.observe(&batch);
        let mut report = Vec::new();
        quality.report(&mut report);
        let counts: Vec<(&str, u64, u64, u64, u64)> = report
            .iter()
            .map(|c| {
                (
                    c.column.as_str(),
                    c.values,
                    c.nulls,
                    c.non_finite,
                    c.out_of_range,
                )
            })
            .collect();
        // name: one null a batch; amount: NaN and inf non-finite (and out of range), 11 out
        // of range, one null; n: 2 and -1 out of 0..=1.
        assert_eq!(
            counts,
            [
                ("name", 10, 2, 0, 0),
                ("amount", 10, 2, 4, 6),
                ("n", 10, 0, 0, 4)
            ]
        );
        // amount's finite values 1, 11 twice: the window of 3 is 1, 11, 1.
        let w = report[1].drift.expect("a window of amount");
        assert_eq!((w.count, w.min, w.max), (3, 1.0, 11.0));
        assert!((w.mean - 13.0 / 3.0).abs() < 1e-12);
        assert!(report[0].drift.is_none(), "strings do not drift");
    }

    #[test]
    fn an_operator_watching_nothing_has_no_watch() {
        let schema = Schema::new([("x", ValueType::F64)]);
        assert!(OperatorQuality::new("s", &QualitySpec::default(), &schema).is_none());
    }
}
