//! MinMaxScaler (as Flink ML: rescale each dimension to [min, max]) and MaxAbsScaler
//! (as scikit-learn: divide each dimension by its largest absolute value).

use super::{check_output, VectorColumns};
use crate::api::{Estimator, Frame, MlError, Transformer};
use crate::finite::check_statistic;
use crate::params::ParamError;
use crate::persist::Persist;
use crate::vector::Features;
use serde::{Deserialize, Serialize};

/// Parameters of [`MinMaxScaler`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinMaxScalerParams {
    /// Input and output vector columns.
    pub columns: VectorColumns,
    /// Lower bound of the output range (default 0).
    pub min: f64,
    /// Upper bound of the output range (default 1); must exceed `min`.
    pub max: f64,
}

impl Default for MinMaxScalerParams {
    fn default() -> Self {
        Self {
            columns: VectorColumns::default(),
            min: 0.0,
            max: 1.0,
        }
    }
}

impl MinMaxScalerParams {
    /// Checks `min < max`.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.min < self.max {
            Ok(())
        } else {
            Err(ParamError::new(
                "max",
                self.max,
                format!("({}, +inf), greater than min", self.min),
            ))
        }
    }
}

/// Fits a [`MinMaxScalerModel`]: per-dimension minimum and maximum.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MinMaxScaler {
    /// Parameters.
    pub params: MinMaxScalerParams,
}

/// Rescales vectors to `[params.min, params.max]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinMaxScalerModel {
    /// Parameters.
    pub params: MinMaxScalerParams,
    /// Per-dimension minimum of the training data.
    pub data_min: Vec<f64>,
    /// Per-dimension maximum of the training data.
    pub data_max: Vec<f64>,
}

impl Estimator for MinMaxScaler {
    type Model = MinMaxScalerModel;

    fn fit(&self, frame: &Frame) -> Result<MinMaxScalerModel, MlError> {
        self.params.validate()?;
        let (rows, _) = self.params.columns.dense_rows(frame, "MinMaxScaler")?;
        let mut data_min = rows[0].clone();
        let mut data_max = rows[0].clone();
        for r in &rows {
            for (i, &x) in r.iter().enumerate() {
                data_min[i] = data_min[i].min(x);
                data_max[i] = data_max[i].max(x);
            }
        }
        for (i, (lo, hi)) in data_min.iter().zip(&data_max).enumerate() {
            check_statistic("MinMaxScaler", hi - lo, || {
                format!("the range of feature {i}")
            })?;
        }
        Ok(MinMaxScalerModel {
            params: self.params.clone(),
            data_min,
            data_max,
        })
    }
}

impl MinMaxScalerModel {
    /// Rescales one finite dense vector of the model's dimension into `out` (of that
    /// length too); a constant dimension maps to the middle of the output range (as Flink
    /// ML). On error `out` is left as it was.
    pub fn transform_one(&self, x: &[f64], out: &mut [f64]) -> Result<(), MlError> {
        Features::Dense(x).check(self.data_min.len())?;
        check_output(out.len(), self.data_min.len())?;
        self.rescale(x, out);
        Ok(())
    }

    /// [`Self::transform_one`] of a finite vector of the model's dimension.
    fn rescale(&self, x: &[f64], out: &mut [f64]) {
        let (lo, hi) = (self.params.min, self.params.max);
        let bounds = self.data_min.iter().zip(&self.data_max);
        for ((o, &x), (&dmin, &dmax)) in out.iter_mut().zip(x).zip(bounds) {
            *o = if dmax > dmin {
                (x - dmin) / (dmax - dmin) * (hi - lo) + lo
            } else {
                0.5 * (hi + lo)
            };
        }
    }
}

impl Transformer for MinMaxScalerModel {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        self.params
            .columns
            .map_dense(frame, self.data_min.len(), |x, y| self.rescale(x, y))
    }
}

impl Persist for MinMaxScalerModel {
    const KIND: &'static str = "min_max_scaler_model";
    const VERSION: u32 = 1;
}

/// Fits a [`MaxAbsScalerModel`]: per-dimension largest absolute value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MaxAbsScaler {
    /// Input and output vector columns.
    pub columns: VectorColumns,
}

/// Divides each dimension by its largest absolute training value (1 when that is 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaxAbsScalerModel {
    /// Input and output vector columns.
    pub columns: VectorColumns,
    /// Per-dimension divisor.
    pub scale: Vec<f64>,
}

impl Estimator for MaxAbsScaler {
    type Model = MaxAbsScalerModel;

    fn fit(&self, frame: &Frame) -> Result<MaxAbsScalerModel, MlError> {
        let (rows, dim) = self.columns.dense_rows(frame, "MaxAbsScaler")?;
        let mut scale = vec![0.0f64; dim];
        for r in &rows {
            scale
                .iter_mut()
                .zip(r)
                .for_each(|(s, x)| *s = s.max(x.abs()));
        }
        scale
            .iter_mut()
            .filter(|s| **s == 0.0)
            .for_each(|s| *s = 1.0);
        Ok(MaxAbsScalerModel {
            columns: self.columns.clone(),
            scale,
        })
    }
}

impl Transformer for MaxAbsScalerModel {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        self.columns
            .map_each(frame, self.scale.len(), |i, x| x / self.scale[i])
    }
}

impl Persist for MaxAbsScalerModel {
    const KIND: &'static str = "max_abs_scaler_model";
    const VERSION: u32 = 1;
}
