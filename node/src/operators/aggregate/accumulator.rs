//! Accumulators of the aggregate functions (`count`, `sum`, `min`, `max`, `avg`).
//!
//! Null inputs are skipped as SQL does: `count()` counts records, the others only the non-null
//! values, and `sum`, `min`, `max`, `avg` of no value are null. An i64 `sum` wraps on overflow
//! (Java's `long` arithmetic, as Flink does).

use crate::operator::OperatorError;
use quiver_protocol::batch::{ColumnBuilder, ValueRef, WrongType};
use quiver_protocol::spec::AggregateFunction;
use quiver_protocol::{Schema, Value, ValueType};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// The running state of one aggregate function for one key (and window).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Acc {
    /// `count()`.
    Count(i64),
    /// `sum` over an i64 column: the sum and whether any value was seen.
    SumI64(i64, bool),
    /// `sum` over a f64 column.
    SumF64(f64, bool),
    /// `min` or `max` (the plan's [`AggregatePlan::keep`] says which): the smallest or
    /// largest value so far, null before any. One variant for both keeps `Acc` 24 bytes.
    Extreme(Value),
    /// `avg`: sum and number of values.
    Avg(f64, i64),
}

/// One aggregate of a stage: its input column and its initial accumulator.
#[derive(Debug, Clone)]
pub(crate) struct AggregatePlan {
    /// The argument column's position in the input row (`None` for `count()`).
    pub(crate) column: Option<usize>,
    /// The name of the argument column (for error messages).
    pub(crate) column_name: String,
    /// The accumulator a new key starts from.
    pub(crate) initial: Acc,
    /// For `min` / `max`: how a new value must compare with the kept one to replace it
    /// (`Less` for min, `Greater` for max); unused by the other functions.
    pub(crate) keep: Ordering,
}

impl AggregatePlan {
    /// Plans `function(column)` over `input`.
    pub(crate) fn new(
        function: AggregateFunction,
        column: Option<&str>,
        input: &Schema,
    ) -> Result<AggregatePlan, OperatorError> {
        let (index, ty) = match column {
            None => (None, None),
            Some(name) => {
                let index = input.index_of(name).ok_or_else(|| {
                    OperatorError::Data(format!(
                        "aggregate column \"{name}\" is not in the input (columns: {})",
                        input.names()
                    ))
                })?;
                (Some(index), Some(input.columns[index].ty))
            }
        };
        let numeric = |f: &str| -> Result<(), OperatorError> {
            match ty {
                Some(t) if t.is_numeric() => Ok(()),
                _ => Err(OperatorError::Data(format!(
                    "{f}({}) needs a numeric column (i64 or f64), found {}",
                    column.unwrap_or(""),
                    ty.map_or("no column".to_string(), |t| t.to_string())
                ))),
            }
        };
        let initial = match function {
            AggregateFunction::Count => Acc::Count(0),
            AggregateFunction::Sum => {
                numeric("sum")?;
                if ty == Some(ValueType::I64) {
                    Acc::SumI64(0, false)
                } else {
                    Acc::SumF64(0.0, false)
                }
            }
            AggregateFunction::Avg => {
                numeric("avg")?;
                Acc::Avg(0.0, 0)
            }
            AggregateFunction::Min | AggregateFunction::Max => {
                if !matches!(
                    ty,
                    Some(ValueType::I64 | ValueType::F64 | ValueType::Str | ValueType::Bool)
                ) {
                    return Err(OperatorError::Data(format!(
                        "min() and max() need a column of type i64, f64, string or bool, found {}",
                        ty.map_or("no column".to_string(), |t| t.to_string())
                    )));
                }
                Acc::Extreme(Value::Null)
            }
        };
        Ok(AggregatePlan {
            column: index,
            column_name: column.unwrap_or("").to_string(),
            initial,
            keep: if function == AggregateFunction::Min {
                Ordering::Less
            } else {
                Ordering::Greater
            },
        })
    }
}

impl Acc {
    /// Adds one value (`None` for `count()`); `keep` is the plan's [`AggregatePlan::keep`].
    /// The caller checked the column's type: `sum` and `avg` read numbers (`sum` over i64
    /// columns i64s); a value of another type is skipped like a null.
    #[inline]
    pub(crate) fn update(&mut self, value: Option<ValueRef<'_>>, keep: Ordering) {
        match self {
            Acc::Count(n) => *n += 1,
            Acc::SumI64(sum, seen) => *seen |= add_i64(sum, value),
            Acc::SumF64(sum, seen) => *seen |= add_f64(sum, value),
            Acc::Avg(sum, n) => {
                if let Some(x) = value.and_then(number) {
                    *sum += x;
                    *n += 1;
                }
            }
            Acc::Extreme(best) => {
                if let Some(v) = value {
                    if better(v, best, keep) {
                        *best = Value::from(v);
                    }
                }
            }
        }
    }

    /// Folds another accumulator of the same function into this one (session merging);
    /// `keep` is the plan's [`AggregatePlan::keep`].
    pub(crate) fn merge(&mut self, other: &Acc, keep: Ordering) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::SumI64(a, sa), Acc::SumI64(b, sb)) => {
                *a = a.wrapping_add(*b);
                *sa |= sb;
            }
            (Acc::SumF64(a, sa), Acc::SumF64(b, sb)) => {
                *a += b;
                *sa |= sb;
            }
            (Acc::Avg(a, na), Acc::Avg(b, nb)) => {
                *a += b;
                *na += nb;
            }
            (Acc::Extreme(a), Acc::Extreme(b)) if better(b.into(), a, keep) => *a = b.clone(),
            // Min/max that keep their value; accumulators of one slot share their function.
            _ => {}
        }
    }

    /// Appends the aggregate's current value to its output column.
    #[inline]
    pub(crate) fn write(&self, column: &mut ColumnBuilder) -> Result<(), WrongType> {
        match self {
            Acc::Count(n) | Acc::SumI64(n, true) => column.push_i64(*n),
            Acc::SumF64(s, true) => column.push_f64(*s),
            Acc::Avg(s, n) if *n > 0 => column.push_f64(*s / *n as f64),
            Acc::SumI64(_, false) | Acc::SumF64(_, false) | Acc::Avg(..) => {
                column.push_null();
                Ok(())
            }
            Acc::Extreme(v) => column.push(v.into()),
        }
    }
}

/// Adds an i64 `value` to an i64 `sum` (wrapping); whether it was one (others are skipped).
#[inline]
pub(crate) fn add_i64(sum: &mut i64, value: Option<ValueRef<'_>>) -> bool {
    let Some(ValueRef::I64(x)) = value else {
        return false;
    };
    *sum = sum.wrapping_add(x);
    true
}

/// Adds a numeric `value` to an f64 `sum`; whether it was one (others are skipped).
#[inline]
pub(crate) fn add_f64(sum: &mut f64, value: Option<ValueRef<'_>>) -> bool {
    let Some(x) = value.and_then(number) else {
        return false;
    };
    *sum += x;
    true
}

/// A numeric value as f64; `None` for null and other types.
#[inline]
fn number(value: ValueRef<'_>) -> Option<f64> {
    match value {
        ValueRef::F64(x) => Some(x),
        ValueRef::I64(x) => Some(x as f64),
        _ => None,
    }
}

/// Whether `candidate` should replace `best` (`want` = Less for min, Greater for max). Nulls
/// never win; a null `best` loses to any value.
#[inline]
fn better(candidate: ValueRef<'_>, best: &Value, want: Ordering) -> bool {
    match (candidate, best) {
        (ValueRef::Null, _) => false,
        (_, Value::Null) => true,
        (ValueRef::I64(a), Value::I64(b)) => a.cmp(b) == want,
        (ValueRef::Str(a), Value::Str(b)) => a.cmp(b) == want,
        (ValueRef::Bool(a), Value::Bool(b)) => a.cmp(b) == want,
        (a, b) => match (number(a), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y) == Some(want),
            _ => false,
        },
    }
}
