//! Batch linear and logistic regression (Flink ML): fit by [`super::sgd`], predict
//! `w·x + b` or, for the classifier, the class, the probability `p` of class 1 and
//! `[1 − p, p]`.

use super::binary_prediction;
use super::sgd::{optimize, Fitted, Loss, SgdParams};
use crate::api::{Column, Estimator, Frame, MlError, Prediction, Transformer};
use crate::finite::{check_column, check_vectors};
use crate::persist::Persist;
use crate::vector::{Features, Vector};
use serde::{Deserialize, Serialize};

/// Features, labels and weights of a training frame.
type TrainingData<'a> = (Vec<Features<'a>>, Vec<f64>, Vec<f64>);

/// Reads features, labels and weights from a frame, all checked finite.
fn training_data<'a>(frame: &'a Frame, p: &SgdParams) -> Result<TrainingData<'a>, MlError> {
    let xs: Vec<Features<'a>> = finite_features(frame, p)?
        .iter()
        .map(Vector::features)
        .collect();
    let ys = frame.numeric(&p.label_col)?;
    check_column(&p.label_col, &ys)?;
    let ws = match &p.weight_col {
        Some(c) => {
            let ws = frame.numeric(c)?;
            check_column(c, &ws)?;
            ws
        }
        None => vec![1.0; xs.len()],
    };
    Ok((xs, ys, ws))
}

/// The feature column of a frame, checked finite.
fn finite_features<'a>(frame: &'a Frame, p: &SgdParams) -> Result<&'a [Vector], MlError> {
    let vectors = frame.vectors(&p.features_col)?;
    check_vectors(&p.features_col, vectors)?;
    Ok(vectors)
}

/// Checks `x` is finite, well formed and has the dimension of `coefficients`.
fn check_input(coefficients: &[f64], x: &Features<'_>) -> Result<(), MlError> {
    x.check(coefficients.len())
}

/// Least-squares linear regression, with an intercept when `params.fit_intercept`.
///
/// Features, labels and weights must be finite. A fit whose coefficients or loss leave
/// the finite range or ±[`crate::MAX_PARAMETER`] fails with [`MlError::Diverged`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LinearRegression {
    /// Parameters.
    pub params: SgdParams,
}

/// A fitted linear regression: `prediction = w·x + b`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearRegressionModel {
    /// Parameters.
    pub params: SgdParams,
    /// The coefficients `w`.
    pub coefficients: Vec<f64>,
    /// The intercept `b` (0 without `fit_intercept`, and in models saved before it existed).
    #[serde(default)]
    pub intercept: f64,
}

impl Estimator for LinearRegression {
    type Model = LinearRegressionModel;

    fn fit(&self, frame: &Frame) -> Result<LinearRegressionModel, MlError> {
        let (xs, ys, ws) = training_data(frame, &self.params)?;
        let Fitted {
            coefficients,
            intercept,
        } = optimize(
            "LinearRegression",
            &xs,
            &ys,
            &ws,
            Loss::LeastSquare,
            &self.params,
        )?;
        Ok(LinearRegressionModel {
            params: self.params.clone(),
            coefficients,
            intercept,
        })
    }
}

impl LinearRegressionModel {
    /// Predicts one finite example.
    pub fn predict_one(&self, x: Features<'_>) -> Result<Prediction, MlError> {
        check_input(&self.coefficients, &x)?;
        Ok(Prediction {
            value: x.dot(&self.coefficients) + self.intercept,
            probability: None,
        })
    }
}

impl Transformer for LinearRegressionModel {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        let preds = finite_features(frame, &self.params)?
            .iter()
            .map(|v| self.predict_one(v.features()).map(|p| p.value))
            .collect::<Result<_, _>>()?;
        let mut out = frame.clone();
        out.set(self.params.prediction_col.clone(), Column::F64(preds))?;
        Ok(out)
    }
}

impl Persist for LinearRegressionModel {
    const KIND: &'static str = "linear_regression_model";
    const VERSION: u32 = 1;
}

/// Binary logistic regression, with an intercept when `params.fit_intercept`; labels must
/// be 0 or 1.
///
/// Features and weights must be finite. A fit whose coefficients or loss leave the finite
/// range or ±[`crate::MAX_PARAMETER`] fails with [`MlError::Diverged`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegression {
    /// Parameters.
    pub params: SgdParams,
}

/// A fitted logistic regression: `p = sigmoid(w·x + b)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegressionModel {
    /// Parameters.
    pub params: SgdParams,
    /// The coefficients `w`.
    pub coefficients: Vec<f64>,
    /// The intercept `b` (0 without `fit_intercept`, and in models saved before it existed).
    #[serde(default)]
    pub intercept: f64,
}

impl Estimator for LogisticRegression {
    type Model = LogisticRegressionModel;

    fn fit(&self, frame: &Frame) -> Result<LogisticRegressionModel, MlError> {
        let (xs, ys, ws) = training_data(frame, &self.params)?;
        if let Some(&bad) = ys.iter().find(|&&y| y != 0.0 && y != 1.0) {
            return Err(MlError::Label {
                value: bad,
                allowed: "0 or 1 (binomial classification only)",
            });
        }
        let Fitted {
            coefficients,
            intercept,
        } = optimize(
            "LogisticRegression",
            &xs,
            &ys,
            &ws,
            Loss::BinaryLogistic,
            &self.params,
        )?;
        Ok(LogisticRegressionModel {
            params: self.params.clone(),
            coefficients,
            intercept,
        })
    }
}

impl LogisticRegressionModel {
    /// Predicts one finite example: class (1 when `w·x + b > 0`) and probability of class 1.
    pub fn predict_one(&self, x: Features<'_>) -> Result<Prediction, MlError> {
        check_input(&self.coefficients, &x)?;
        let (class, p) = binary_prediction(x.dot(&self.coefficients) + self.intercept);
        Ok(Prediction {
            value: class,
            probability: Some(p),
        })
    }
}

impl Transformer for LogisticRegressionModel {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        let mut preds = Vec::with_capacity(frame.num_rows());
        let mut probs = Vec::with_capacity(frame.num_rows());
        let mut raw = Vec::with_capacity(frame.num_rows());
        for v in finite_features(frame, &self.params)? {
            let p = self.predict_one(v.features())?;
            let prob = p.probability.unwrap_or(0.0);
            preds.push(p.value);
            probs.push(prob);
            raw.push(Vector::Dense(vec![1.0 - prob, prob]));
        }
        let mut out = frame.clone();
        out.set(self.params.prediction_col.clone(), Column::F64(preds))?;
        out.set(self.params.probability_col.clone(), Column::F64(probs))?;
        out.set(self.params.raw_prediction_col.clone(), Column::Vector(raw))?;
        Ok(out)
    }
}

impl Persist for LogisticRegressionModel {
    const KIND: &'static str = "logistic_regression_model";
    const VERSION: u32 = 1;
}
