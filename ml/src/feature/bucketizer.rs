//! Bucketizer (as Flink ML): maps each value to the bucket of given split points.

use super::{filter_rows, HandleInvalid};
use crate::api::{Column, Frame, MlError, Transformer};
use crate::finite::{check, Position};
use crate::params::ParamError;
use crate::persist::Persist;
use serde::{Deserialize, Serialize};

/// Parameters of [`Bucketizer`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BucketizerParams {
    /// Numeric columns to bucket.
    pub input_cols: Vec<String>,
    /// One f64 output column per input column.
    pub output_cols: Vec<String>,
    /// Per input column, strictly increasing split points (at least 3); bucket `i` is
    /// `[s[i], s[i+1])`, the last bucket also holds `s[last]`.
    pub splits_array: Vec<Vec<f64>>,
    /// NaN, infinite or out-of-range values: `Error` (default), `Skip` the row, or `Keep`
    /// as an extra bucket (index = number of buckets). An infinity is invalid even when
    /// the splits run to ±inf (which then hold every finite value).
    pub handle_invalid: HandleInvalid,
}

impl BucketizerParams {
    /// Checks the columns line up and every split array is valid.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.output_cols.len() != self.input_cols.len()
            || self.splits_array.len() != self.input_cols.len()
        {
            return Err(ParamError::new(
                "splits_array",
                format!("{} arrays", self.splits_array.len()),
                format!("one per input column ({})", self.input_cols.len()),
            ));
        }
        for s in &self.splits_array {
            if s.len() < 3 || !s.windows(2).all(|w| w[0] < w[1]) {
                return Err(ParamError::new(
                    "splits_array",
                    format!("{s:?}"),
                    "at least 3 strictly increasing split points",
                ));
            }
        }
        Ok(())
    }
}

/// Maps values to buckets (a stateless transformer).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucketizer {
    /// Parameters.
    pub params: BucketizerParams,
}

/// The bucket of `x` for `splits`, or `None` when not finite or out of range.
pub(super) fn bucket_of(splits: &[f64], x: f64) -> Option<usize> {
    let last = *splits.last()?;
    let x = check(x, || Position::Value).ok()?;
    if x < splits[0] || x > last {
        return None;
    }
    if x == last {
        return Some(splits.len() - 2);
    }
    Some(splits.partition_point(|&s| s <= x) - 1)
}

impl Transformer for Bucketizer {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        let p = &self.params;
        p.validate()?;
        let mut result = frame.clone();
        let mut keep = vec![true; frame.num_rows()];
        for ((name, out), splits) in p.input_cols.iter().zip(&p.output_cols).zip(&p.splits_array) {
            let values = frame.numeric(name)?;
            let mut buckets = Vec::with_capacity(values.len());
            for (r, &x) in values.iter().enumerate() {
                let b = match (bucket_of(splits, x), p.handle_invalid) {
                    (Some(b), _) => b as f64,
                    (None, HandleInvalid::Keep) => (splits.len() - 1) as f64,
                    (None, HandleInvalid::Skip) => {
                        keep[r] = false;
                        f64::NAN
                    }
                    (None, HandleInvalid::Error) => {
                        check(x, || Position::cell(name, r))?;
                        return Err(MlError::InvalidValue {
                            column: name.clone(),
                            value: x.to_string(),
                            reason: "outside the splits (set handle_invalid to skip or keep)",
                        });
                    }
                };
                buckets.push(b);
            }
            result.set(out.clone(), Column::F64(buckets))?;
        }
        filter_rows(result, &keep)
    }
}

impl Persist for Bucketizer {
    const KIND: &'static str = "bucketizer";
    const VERSION: u32 = 1;
}
