//! Data quality of one watched column of a task (`checks`, §8 "Data quality"), as a task
//! reports it with its heartbeat: counts since the task started, and the drift statistics of
//! its last complete window.

use serde::{Deserialize, Serialize};

/// What a task saw of one column one of its operators emits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnQuality {
    /// The source or stage emitting the column.
    pub operator: String,
    /// The column.
    pub column: String,
    /// Values seen (rows emitted).
    pub values: u64,
    /// Nulls among them.
    pub nulls: u64,
    /// NaN and ±infinity among them (f64 columns).
    pub non_finite: u64,
    /// Values outside the column's `min..=max` (non-finite ones included).
    pub out_of_range: u64,
    /// The last complete drift window; `None` before one completed (or no drift kept).
    pub drift: Option<DriftWindow>,
}

/// Statistics of the finite values of one drift window, and how far their distribution
/// moved from the reference window's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftWindow {
    /// Windows completed so far (the first is the reference).
    pub windows: u64,
    /// Finite values in the window.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Their standard deviation (population).
    pub std: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// The population stability index of the window against the reference window, over the
    /// reference's deciles (0 for the reference itself).
    pub psi: f64,
}

impl ColumnQuality {
    /// Adds another partition's counts of the same column; the drift kept is the one that
    /// moved most (the largest PSI).
    pub fn add(&mut self, other: &ColumnQuality) {
        self.values += other.values;
        self.nulls += other.nulls;
        self.non_finite += other.non_finite;
        self.out_of_range += other.out_of_range;
        self.drift = match (self.drift, other.drift) {
            (Some(a), Some(b)) => Some(if b.psi > a.psi { b } else { a }),
            (a, b) => a.or(b),
        };
    }
}

/// Merges `from` into `into`, column by column (matched on operator and column).
pub fn merge(into: &mut Vec<ColumnQuality>, from: &[ColumnQuality]) {
    for column in from {
        match into
            .iter_mut()
            .find(|c| c.operator == column.operator && c.column == column.column)
        {
            Some(known) => known.add(column),
            None => into.push(column.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, nulls: u64, psi: Option<f64>) -> ColumnQuality {
        ColumnQuality {
            operator: "events".into(),
            column: name.into(),
            values: 10,
            nulls,
            non_finite: 1,
            out_of_range: 2,
            drift: psi.map(|psi| DriftWindow {
                psi,
                ..DriftWindow::default()
            }),
        }
    }

    #[test]
    fn partitions_add_up_per_column_and_keep_the_largest_drift() {
        let mut all = vec![column("amount", 1, Some(0.05))];
        merge(
            &mut all,
            &[column("amount", 2, Some(0.3)), column("user", 0, None)],
        );
        merge(&mut all, &[column("amount", 4, Some(0.1))]);
        assert_eq!(all.len(), 2);
        let amount = &all[0];
        assert_eq!((amount.values, amount.nulls, amount.non_finite), (30, 7, 3));
        assert_eq!(amount.out_of_range, 6);
        assert_eq!(amount.drift.map(|d| d.psi), Some(0.3));
        assert_eq!(all[1].column, "user");
    }
}
