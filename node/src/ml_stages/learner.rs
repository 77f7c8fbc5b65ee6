//! The operator of a supervised online learner (`logistic_regression`, `linear_regression`):
//! per row, predict with the current model, then learn from the row's label (progressive
//! validation), and add `prediction` (+ `probability`) and `model_version`.
//!
//! With parameter servers (`crate::parameters`) the partition is a worker: its model is a
//! working copy, it pushes its change at every barrier and adopts the newest merged
//! version there ([`Learnt`]); `model_version` is then the version adopted (the checkpoint
//! that closed it), and the partition keeps no state of its own.

use super::columns::{row_error, InputColumn, ScoreColumns};
use super::drift_watch::DriftWatch;
use super::features::FeatureReader;
use super::learnt::{Learnt, Scorers};
use super::served::{Outcome, Scored};
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState, Wait};
use quiver_ml::{Features, MlError, OnlineLearner, Persist, Prediction, SharedParameters};
use quiver_protocol::batch::{Batch, Column};
use quiver_protocol::models::ServedVersion;
use quiver_protocol::spec::{FeatureInput, Predicts, ServingPolicy, StageSpec};
use quiver_protocol::{Barrier, Schema};
use std::time::Instant;

/// A record's prediction (or why the model could not score it) and what scored it.
type Scoring = (Result<Prediction, MlError>, Scored);

/// Creates the model for a feature dimension.
pub(super) type MakeModel<L> = Box<dyn Fn(usize) -> Result<L, MlError> + Send>;

/// A partition built around the model maker of whichever algorithm a learner's settings
/// choose: the learner's own partition (training), or a `predict` stage's (serving).
pub(super) trait Build {
    /// The partition whose models `make` creates.
    fn build<L>(self, make: MakeModel<L>) -> Result<Box<dyn AddColumns>, OperatorError>
    where
        L: OnlineLearner + Persist + SharedParameters + Send + 'static;
}

/// One partition of a supervised learner stage: one model, created at the first row with
/// features.
pub(super) struct Progressive<L> {
    stage: String,
    features: FeatureReader,
    label: InputColumn,
    /// What it adds: `probability` too for a binary classifier.
    predicts: Predicts,
    learnt: Learnt<L>,
    state: PartitionState,
    /// The detector of a drift policy.
    drift: Option<DriftWatch>,
}

impl<L> Progressive<L> {
    /// A partition of the learner stage `stage`, reading `features` and the column `label` from
    /// batches of `input`.
    pub(super) fn new(
        stage: &StageSpec,
        features: &FeatureInput,
        label: &str,
        input: &Schema,
        predicts: Predicts,
        learnt: Learnt<L>,
        state: PartitionState,
    ) -> Result<Self, OperatorError> {
        Ok(Progressive {
            stage: stage.name.clone(),
            features: FeatureReader::new(&stage.name, features, input)?,
            label: InputColumn::find(&stage.name, input, label)?,
            predicts,
            learnt,
            state,
            drift: None,
        })
    }

    /// Watches the column of a drift policy (`policy.update`), if it has one, and warms
    /// swapped-in versions with `policy.warmup` predictions.
    pub(super) fn with_policy(
        mut self,
        policy: &ServingPolicy,
        input: &Schema,
    ) -> Result<Self, OperatorError> {
        self.drift = DriftWatch::new(&self.stage, policy, input)?;
        if let Some(served) = self.learnt.served_mut() {
            served.set_warmup(policy.warmup);
        }
        Ok(self)
    }
}

impl<L: OnlineLearner + SharedParameters + Persist> Learnt<L> {
    /// Scores `x` with what the partition serves (the working copy, or a registered version
    /// by the record's `bucket`), and learns from `label` on the working copy; returns the
    /// prediction and the version that made it.
    fn score(
        &mut self,
        stage: &str,
        x: Features<'_>,
        label: Option<f64>,
        bucket: Option<u32>,
    ) -> Result<Scoring, OperatorError> {
        let Scorers {
            working: model,
            version,
            served,
        } = self.scorers(stage, x.dim(), bucket)?;
        let Some((v, served)) = served else {
            let prediction = match label {
                Some(y) => match model.predict_then_learn(x, y) {
                    // Refused and counted by the model, which is as it was.
                    Err(e) if e.is_refused_update() => model.predict_one(x),
                    scored => scored,
                },
                None => model.predict_one(x),
            };
            return Ok((prediction, (version, true)));
        };
        let prediction = served.predict_one(x);
        if let Some(y) = label {
            match model.learn_one(x, y) {
                Err(e) if !e.is_refused_update() => return Ok((Err(e), (v, false))),
                _ => {}
            }
        }
        Ok((prediction, (v, false)))
    }
}

impl<L> AddColumns for Progressive<L>
where
    L: OnlineLearner + Persist + SharedParameters + Send + 'static,
{
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError> {
        let n = batch.len();
        if let Some(drift) = &mut self.drift {
            drift.watch(batch)?;
        }
        let labels = self.label.numbers(&self.stage, batch)?;
        let mut features = self.features.bind(batch)?;
        let mut scores = ScoreColumns::new(&self.stage, n, self.predicts);
        let started = self.learnt.served_mut().is_some().then(Instant::now);
        let buckets = self.learnt.served_mut().and_then(|s| s.buckets(batch));
        for (row, &event_time) in batch.event_time().iter().enumerate() {
            let label = labels.finite(row)?;
            let (prediction, scored) = match features.read(row)? {
                None => (None, (self.learnt.version(), true)),
                Some(x) => {
                    let bucket = buckets.as_ref().map(|b| b[row]);
                    let (prediction, scored) = self.learnt.score(&self.stage, x, label, bucket)?;
                    let prediction =
                        prediction.map_err(|e| row_error(&self.stage, event_time, e))?;
                    (Some(prediction), scored)
                }
            };
            let version = scored.0;
            if let Some(served) = self.learnt.served_mut() {
                let outcome = prediction.as_ref().zip(label);
                let outcome = outcome.map(|(p, y)| {
                    Outcome::of_prediction(p, y, self.predicts == Predicts::Classification)
                });
                served.note(scored, outcome);
            }
            scores.push(prediction.as_ref(), Some(version))?;
        }
        scores.finish(columns);
        let working = self.learnt.version();
        if let (Some(served), Some(started)) = (self.learnt.served_mut(), started) {
            served.end_batch(started.elapsed().as_micros() as u64, working);
        }
        Ok(())
    }

    fn refused_updates(&self) -> u64 {
        self.learnt.refused_updates()
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.learnt.snapshot(&self.state)
    }

    fn restore(&mut self, states: SavedState) -> Result<(), OperatorError> {
        self.learnt.restore(&self.state, states)
    }

    fn ready(&mut self) -> Option<Wait> {
        self.learnt.ready()
    }

    fn on_barrier(&mut self, barrier: &Barrier) -> Result<Option<Batch>, OperatorError> {
        self.learnt.on_barrier(barrier, |model, zeros| {
            // Only the time matters: a model that cannot score zeros fails on records.
            let _ = std::hint::black_box(model.predict_one(Features::Dense(zeros)));
        })
    }

    fn drifts(&self) -> u64 {
        self.drift.as_ref().map_or(0, DriftWatch::detected)
    }

    fn served(&self) -> Vec<ServedVersion> {
        self.learnt.served()
    }

    fn on_end(&mut self) -> Result<Option<Batch>, OperatorError> {
        Ok(self.learnt.on_end())
    }
}
