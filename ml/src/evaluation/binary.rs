//! Binary classification metrics computed exactly as Flink ML's
//! `BinaryClassificationEvaluator` does on one partition: samples sorted by score,
//! highest first; area under ROC from (tie-averaged) ranks, weighted by the sample
//! weights; area under PR, area under Lorenz and KS from the unweighted running
//! counts of that order. Log loss (not in Flink ML) is the weighted mean binary
//! cross-entropy, with probabilities clipped to `[1e-15, 1 - 1e-15]` as scikit-learn does.

use super::{check_column, EvaluationError};
use crate::api::{Column, Frame, MlError};
use serde::{Deserialize, Serialize};

/// Probabilities are clipped to `[EPS, 1 - EPS]` before taking logarithms.
const LOG_LOSS_EPS: f64 = 1e-15;

/// The metrics of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinaryClassificationMetrics {
    /// Area under the ROC curve; NaN when there are no positives or no negatives.
    pub area_under_roc: f64,
    /// Area under the precision-recall curve.
    pub area_under_pr: f64,
    /// Area under the Lorenz curve (true-positive rate against positive rate).
    pub area_under_lorenz: f64,
    /// Kolmogorov-Smirnov statistic: the largest gap between TPR and FPR.
    pub ks: f64,
    /// Weighted log loss, present when every score is a probability in `[0, 1]`.
    pub log_loss: Option<f64>,
}

/// Columns read by [`BinaryClassificationEvaluator::evaluate_frame`] (Flink ML's names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryClassificationEvaluatorParams {
    /// Label column (1.0 is positive). Default `label`.
    pub label_col: String,
    /// Score column: a float (the score or probability of label 1) or a vector whose
    /// element 1 is that score. Default `rawPrediction`.
    pub raw_prediction_col: String,
    /// Optional sample-weight column. Default none.
    pub weight_col: Option<String>,
}

impl Default for BinaryClassificationEvaluatorParams {
    fn default() -> Self {
        Self {
            label_col: "label".into(),
            raw_prediction_col: "rawPrediction".into(),
            weight_col: None,
        }
    }
}

/// Evaluates scored binary predictions (label 1.0 is positive, anything else negative).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinaryClassificationEvaluator {
    /// Columns for [`Self::evaluate_frame`].
    pub params: BinaryClassificationEvaluatorParams,
}

impl BinaryClassificationEvaluator {
    /// Evaluates the label, score and weight columns of `frame`.
    pub fn evaluate_frame(&self, frame: &Frame) -> Result<BinaryClassificationMetrics, MlError> {
        let p = &self.params;
        let labels = frame.numeric(&p.label_col)?;
        let scores: Vec<f64> = match frame.column(&p.raw_prediction_col)? {
            Column::Vector(v) => v.iter().map(|x| x.features().get(1)).collect(),
            _ => frame.numeric(&p.raw_prediction_col)?,
        };
        let weights = p
            .weight_col
            .as_deref()
            .map(|w| frame.numeric(w))
            .transpose()?;
        self.evaluate(&labels, &scores, weights.as_deref())
            .map_err(|e| MlError::InvalidValue {
                column: p.raw_prediction_col.clone(),
                value: e.to_string(),
                reason: "binary evaluation needs finite labels and scores, and weights >= 0",
            })
    }

    /// Computes all metrics for `labels` and `scores` (the score or probability of
    /// label 1), with optional non-negative per-sample `weights` (default 1).
    pub fn evaluate(
        &self,
        labels: &[f64],
        scores: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<BinaryClassificationMetrics, EvaluationError> {
        let n = labels.len();
        if n == 0 {
            return Err(EvaluationError::Empty);
        }
        check_column("labels", labels, n, "labels must be finite", |_| true)?;
        check_column("scores", scores, n, "scores must be finite", |_| true)?;
        if let Some(w) = weights {
            check_column("weights", w, n, "weights must be finite and >= 0", |v| {
                v >= 0.0
            })?;
        }
        let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
        let positive = |i: usize| labels[i] == 1.0;

        // Stable sort, highest score first (Flink sorts each partition by -score).
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));

        Ok(BinaryClassificationMetrics {
            area_under_roc: area_under_roc(&order, scores, &positive, &weight),
            log_loss: log_loss(labels, scores, &weight),
            ..curve_metrics(&order, &positive)
        })
    }
}

/// Mann-Whitney area under ROC: the lowest score has rank 1, tied scores share
/// their mean rank, and each positive adds `rank * weight`.
fn area_under_roc(
    order: &[usize],
    scores: &[f64],
    positive: &impl Fn(usize) -> bool,
    weight: &impl Fn(usize) -> f64,
) -> f64 {
    let n = order.len();
    let (mut rank_sum, mut pos, mut neg) = (0.0, 0.0, 0.0);
    let mut start = 0;
    while start < n {
        let score = scores[order[start]];
        let end = start
            + order[start..]
                .iter()
                .take_while(|&&i| scores[i] == score)
                .count();
        // Descending position p has rank n - p; the group's mean rank:
        let mean_rank = (start..end).map(|p| (n - p) as f64).sum::<f64>() / (end - start) as f64;
        let (mut group_pos, mut group_neg) = (0.0, 0.0);
        for &i in &order[start..end] {
            if positive(i) {
                group_pos += weight(i);
            } else {
                group_neg += weight(i);
            }
        }
        rank_sum += mean_rank * group_pos;
        pos += group_pos;
        neg += group_neg;
        start = end;
    }
    if pos > 0.0 && neg > 0.0 {
        (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
    } else {
        f64::NAN
    }
}

/// Running TPR, FPR, precision and positive rate over the descending order,
/// integrated by trapezoids as Flink ML's `updateBinaryMetrics`.
fn curve_metrics(
    order: &[usize],
    positive: &impl Fn(usize) -> bool,
) -> BinaryClassificationMetrics {
    let total_true = order.iter().filter(|&&i| positive(i)).count() as f64;
    let total_false = order.len() as f64 - total_true;
    let ratio = |num: f64, den: f64| if den == 0.0 { 1.0 } else { num / den };
    let (mut tp, mut fp) = (0.0, 0.0);
    // (tpr, precision, positive rate) at the previous threshold.
    let mut prev = (ratio(0.0, total_true), 1.0, 0.0);
    let mut metrics = BinaryClassificationMetrics {
        area_under_roc: f64::NAN,
        area_under_pr: 0.0,
        area_under_lorenz: 0.0,
        ks: 0.0,
        log_loss: None,
    };
    for &i in order {
        if positive(i) {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let tpr = ratio(tp, total_true);
        let fpr = ratio(fp, total_false);
        let precision = ratio(tp, tp + fp);
        let positive_rate = (tp + fp) / (total_true + total_false);
        metrics.area_under_lorenz += (positive_rate - prev.2) * (tpr + prev.0) / 2.0;
        metrics.area_under_pr += (tpr - prev.0) * (precision + prev.1) / 2.0;
        metrics.ks = metrics.ks.max((fpr - tpr).abs());
        prev = (tpr, precision, positive_rate);
    }
    metrics
}

/// Weighted mean cross-entropy, or `None` when a score is not a probability.
fn log_loss(labels: &[f64], scores: &[f64], weight: &impl Fn(usize) -> f64) -> Option<f64> {
    if scores.iter().any(|&p| !(0.0..=1.0).contains(&p)) {
        return None;
    }
    let (mut loss, mut total) = (0.0, 0.0);
    for (i, (&y, &p)) in labels.iter().zip(scores).enumerate() {
        let p = p.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS);
        let l = if y == 1.0 { -p.ln() } else { -(1.0 - p).ln() };
        loss += weight(i) * l;
        total += weight(i);
    }
    (total > 0.0).then(|| loss / total)
}
