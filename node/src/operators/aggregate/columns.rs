//! An aggregate's columns: the key and argument columns of an input batch, checked against
//! the input schema once per batch and then read a row at a time without copying, and the
//! output built column by column.

use super::acc_columns::{AccColumns, Hit, Update, Write};
use super::key::GroupKey;
use super::table::AccTable;
use super::Core;
use crate::operator::{OperatorError, Output};
use quiver_protocol::batch::{self, Batch, Column, ColumnBuilder, WrongType};
use quiver_protocol::ValueType;

/// One batch's key columns and aggregate arguments, their types checked.
pub(crate) struct Input<'a, K: GroupKey> {
    keys: K::Columns<'a>,
    /// Each aggregate's argument column (`None` for `count()`).
    args: Vec<Option<&'a Column>>,
}

impl<K: GroupKey> Input<'_, K> {
    /// Row `row`'s key.
    #[inline]
    pub(crate) fn key(&self, row: usize) -> K::Ref<'_> {
        K::get(&self.keys, row)
    }
}

impl Core {
    /// The key and aggregate columns of `batch`; an error names a column that is missing or
    /// not of the input schema's type.
    pub(crate) fn input<'a, K: GroupKey>(
        &self,
        batch: &'a Batch,
    ) -> Result<Input<'a, K>, OperatorError> {
        let keys = self
            .key_columns
            .iter()
            .map(|&c| {
                self.column(batch, c).map_err(|found| match found {
                    None => format!(
                        "the batch has {} columns, the key column is at position {c}",
                        batch.columns().len()
                    ),
                    Some(found) => {
                        format!("key column: expected {}, found {found}", self.input[c])
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.data_error(e))?;
        let args = self
            .plans
            .iter()
            .map(|plan| {
                plan.column
                    .map(|c| {
                        self.column(batch, c).map_err(|found| {
                            let expected = self.input[c];
                            let wrong = match found {
                                None => format!(
                                    "the batch has {} columns, column \"{}\" is at position {c}",
                                    batch.columns().len(),
                                    plan.column_name
                                ),
                                Some(found) if expected.is_numeric() && !found.is_numeric() => {
                                    format!("expected a number, found a {found}")
                                }
                                Some(found) => format!("expected a {expected}, found a {found}"),
                            };
                            format!("column \"{}\": {wrong}", plan.column_name)
                        })
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.data_error(e))?;
        let keys = K::columns(&keys).ok_or_else(|| {
            self.data_error(format!(
                "key columns of types {:?} do not make this stage's key",
                self.key_columns
                    .iter()
                    .map(|&c| self.input[c])
                    .collect::<Vec<_>>()
            ))
        })?;
        Ok(Input { keys, args })
    }

    /// Column `c` of `batch`; `Err` with the type found (`None`: there is no such column)
    /// unless it has the input schema's type.
    fn column<'a>(&self, batch: &'a Batch, c: usize) -> Result<&'a Column, Option<ValueType>> {
        let column = batch.columns().get(c).ok_or(None)?;
        let found = batch::value_type(column.ty());
        if self.input.get(c) == Some(&found) {
            Ok(column)
        } else {
            Err(Some(found))
        }
    }

    /// Adds row `row` of `input` to a key's accumulators.
    #[inline]
    pub(crate) fn accumulate<K: GroupKey>(
        &self,
        accs: &mut (impl Update + ?Sized),
        input: &Input<'_, K>,
        row: usize,
    ) {
        for (i, (plan, arg)) in self.plans.iter().zip(&input.args).enumerate() {
            accs.update(i, arg.map(|c| c.get(row)), plan.keep);
        }
    }

    /// Adds each hit's record of `input` to its slot of `accs`, a column at a time (see
    /// [`AccColumns::add_rows`]); with `out` (one builder per aggregate), appends each hit's
    /// aggregates after its update.
    pub(crate) fn accumulate_rows<K: GroupKey>(
        &self,
        accs: &mut AccColumns,
        hits: &[Hit],
        input: &Input<'_, K>,
        mut out: Option<&mut [ColumnBuilder]>,
    ) -> Result<(), OperatorError> {
        for (i, (plan, &arg)) in self.plans.iter().zip(&input.args).enumerate() {
            let column = out.as_deref_mut().and_then(|o| o.get_mut(i));
            accs.add_rows(i, hits, (arg, plan.keep), column)
                .map_err(|e| self.output_error(e))?;
        }
        Ok(())
    }

    /// Builders of the output columns `range` (output schema positions), room for `rows`.
    fn builders(&self, range: std::ops::Range<usize>, rows: usize) -> Vec<ColumnBuilder> {
        self.output[range]
            .iter()
            .map(|&ty| ColumnBuilder::new(batch::column_type(ty), rows))
            .collect()
    }

    /// Builders of the aggregates' output columns (the last of the output schema).
    pub(crate) fn aggregate_builders(&self, rows: usize) -> Vec<ColumnBuilder> {
        self.builders(
            self.output.len() - self.plans.len()..self.output.len(),
            rows,
        )
    }

    /// Appends a key's aggregates to their output columns.
    #[inline]
    pub(crate) fn push_aggregates(
        &self,
        columns: &mut [ColumnBuilder],
        accs: &(impl Write + ?Sized),
    ) -> Result<(), OperatorError> {
        for (i, column) in columns.iter_mut().enumerate() {
            accs.write(i, column).map_err(|e| self.output_error(e))?;
        }
        Ok(())
    }

    /// An output value that does not fit its column: the stage's own bug.
    fn output_error(&self, wrong: WrongType) -> OperatorError {
        self.data_error(format!(
            "an aggregate's value does not fit its {:?} output column",
            wrong.column
        ))
    }
}

/// Rows of fired windows, built column by column: key columns, `window_start`,
/// `window_end`, aggregates; event time `window_end - 1`.
pub(crate) struct WindowRows {
    event_time: Vec<i64>,
    keys: Vec<ColumnBuilder>,
    start: Vec<i64>,
    end: Vec<i64>,
    aggregates: Vec<ColumnBuilder>,
}

impl WindowRows {
    /// No row yet.
    pub(crate) fn new(core: &Core) -> WindowRows {
        WindowRows {
            event_time: Vec::new(),
            keys: core.builders(0..core.key_columns.len(), 0),
            start: Vec::new(),
            end: Vec::new(),
            aggregates: core.aggregate_builders(0),
        }
    }

    /// Makes room for `rows` more rows.
    pub(crate) fn reserve(&mut self, rows: usize) {
        self.event_time.reserve(rows);
        self.start.reserve(rows);
        self.end.reserve(rows);
    }

    /// Appends the row of `key`'s window `[start, end)` with its accumulators.
    pub(crate) fn push<K: GroupKey>(
        &mut self,
        core: &Core,
        key: &K,
        (start, end): (i64, i64),
        accs: &(impl Write + ?Sized),
    ) -> Result<(), OperatorError> {
        for (column, value) in self.keys.iter_mut().zip(key.values()) {
            column.push(value).map_err(|e| core.output_error(e))?;
        }
        core.push_aggregates(&mut self.aggregates, accs)?;
        self.event_time.push(end.saturating_sub(1));
        self.start.push(start);
        self.end.push(end);
        Ok(())
    }

    /// Appends the rows of every key of `table`, window `[start, end)`, a column at a time.
    pub(crate) fn push_table<K: GroupKey>(
        &mut self,
        core: &Core,
        table: &AccTable<K>,
        (start, end): (i64, i64),
    ) -> Result<(), OperatorError> {
        table
            .write_all(&mut self.keys, &mut self.aggregates)
            .map_err(|e| core.output_error(e))?;
        let rows = table.len();
        let time = end.saturating_sub(1);
        self.event_time.extend(std::iter::repeat_n(time, rows));
        self.start.extend(std::iter::repeat_n(start, rows));
        self.end.extend(std::iter::repeat_n(end, rows));
        Ok(())
    }

    /// Emits the rows as one batch (nothing when there is none).
    pub(crate) fn emit(mut self, core: &Core, out: &mut Output) -> Result<(), OperatorError> {
        if self.event_time.is_empty() {
            return Ok(());
        }
        let mut columns: Vec<Column> = self.keys.iter_mut().map(ColumnBuilder::finish).collect();
        columns.push(Column::i64(self.start));
        columns.push(Column::i64(self.end));
        columns.extend(self.aggregates.iter_mut().map(ColumnBuilder::finish));
        let batch =
            Batch::try_new(self.event_time, columns).map_err(|e| core.data_error(e.to_string()))?;
        out.records.push(batch);
        Ok(())
    }
}
