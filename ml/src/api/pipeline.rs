//! [`Pipeline`]: stages fitted in order; [`PipelineModel`]: the fitted chain.

use crate::api::{Estimator, Frame, MlError, Model, Transformer};
use crate::persist::{model_from_stored, Persist, StoredModel};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An [`Estimator`] usable behind a `Box` (the pipeline's estimator stages).
pub trait DynEstimator: Send + Sync {
    /// Fits and boxes the model.
    fn fit_boxed(&self, frame: &Frame) -> Result<Box<dyn Model>, MlError>;
}

impl<E: Estimator + Send + Sync> DynEstimator for E {
    fn fit_boxed(&self, frame: &Frame) -> Result<Box<dyn Model>, MlError> {
        Ok(Box::new(self.fit(frame)?))
    }
}

/// One stage of a [`Pipeline`].
pub enum PipelineStage {
    /// A transformer that needs no fit (or an already fitted model).
    Model(Box<dyn Model>),
    /// An estimator, fitted when the pipeline is.
    Estimator(Box<dyn DynEstimator>),
}

/// Stages run in order: each estimator is fitted on the output of the stages before it.
#[derive(Default)]
pub struct Pipeline {
    stages: Vec<PipelineStage>,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a transformer or fitted model.
    pub fn transformer(mut self, model: impl Model + 'static) -> Self {
        self.stages.push(PipelineStage::Model(Box::new(model)));
        self
    }

    /// Appends an estimator.
    pub fn estimator(mut self, estimator: impl DynEstimator + 'static) -> Self {
        self.stages
            .push(PipelineStage::Estimator(Box::new(estimator)));
        self
    }
}

impl Estimator for Pipeline {
    type Model = PipelineModel;

    /// Walks the stages: fits each estimator on the current frame, and transforms the
    /// frame through every stage but the last (whose output nothing reads).
    fn fit(&self, frame: &Frame) -> Result<PipelineModel, MlError> {
        let mut current = frame.clone();
        let mut fitted: Vec<Box<dyn Model>> = Vec::with_capacity(self.stages.len());
        for (i, stage) in self.stages.iter().enumerate() {
            let model = match stage {
                PipelineStage::Model(m) => clone_model(m.as_ref())?,
                PipelineStage::Estimator(e) => e.fit_boxed(&current)?,
            };
            if i + 1 < self.stages.len() {
                current = model.transform(&current)?;
            }
            fitted.push(model);
        }
        Ok(PipelineModel { stages: fitted })
    }
}

/// Copies a boxed model through its saved form (models need not be `Clone`).
fn clone_model(model: &dyn Model) -> Result<Box<dyn Model>, MlError> {
    Ok(model_from_stored(model.to_stored()?)?)
}

/// A fitted pipeline: its models applied in order.
pub struct PipelineModel {
    stages: Vec<Box<dyn Model>>,
}

impl PipelineModel {
    /// A pipeline model from fitted stages.
    pub fn new(stages: Vec<Box<dyn Model>>) -> Self {
        Self { stages }
    }

    /// The fitted stages, in order.
    pub fn stages(&self) -> &[Box<dyn Model>] {
        &self.stages
    }
}

impl Transformer for PipelineModel {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        let mut current = frame.clone();
        for stage in &self.stages {
            current = stage.transform(&current)?;
        }
        Ok(current)
    }
}

impl Serialize for PipelineModel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let stored = self
            .stages
            .iter()
            .map(|m| m.to_stored())
            .collect::<Result<Vec<_>, _>>()
            .map_err(serde::ser::Error::custom)?;
        stored.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PipelineModel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Vec::<StoredModel>::deserialize(deserializer)?;
        let stages = stored
            .into_iter()
            .map(model_from_stored)
            .collect::<Result<Vec<_>, _>>()
            .map_err(serde::de::Error::custom)?;
        Ok(Self { stages })
    }
}

impl Persist for PipelineModel {
    const KIND: &'static str = "pipeline_model";
    const VERSION: u32 = 1;
}
