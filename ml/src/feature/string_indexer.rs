//! StringIndexer (as Flink ML / Spark): maps each string of a column to an index.

use super::{filter_rows, one_output_per_input, HandleInvalid};
use crate::api::{Column, Estimator, Frame, MlError, Transformer};
use crate::persist::Persist;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How indices are assigned to the distinct strings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StringOrder {
    /// In order of first appearance (default).
    #[default]
    Arbitrary,
    /// Most frequent first; ties alphabetically.
    FrequencyDesc,
    /// Least frequent first; ties alphabetically.
    FrequencyAsc,
    /// Reverse alphabetical.
    AlphabetDesc,
    /// Alphabetical.
    AlphabetAsc,
}

/// Parameters of [`StringIndexer`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StringIndexerParams {
    /// String (or i64) columns to index.
    pub input_cols: Vec<String>,
    /// One f64 output column per input column.
    pub output_cols: Vec<String>,
    /// Index order.
    pub string_order: StringOrder,
    /// Unseen strings: `Error` (default), `Skip` the row, or `Keep` as index = #labels.
    pub handle_invalid: HandleInvalid,
}

/// Fits a [`StringIndexerModel`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StringIndexer {
    /// Parameters.
    pub params: StringIndexerParams,
}

/// Maps strings to the indices learnt by [`StringIndexer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StringIndexerModel {
    /// Parameters.
    pub params: StringIndexerParams,
    /// Per input column, the strings in index order.
    pub labels: Vec<Vec<String>>,
}

fn strings(frame: &Frame, name: &str) -> Result<Vec<String>, MlError> {
    match frame.column(name)? {
        Column::Str(v) => Ok(v.clone()),
        Column::I64(v) => Ok(v.iter().map(i64::to_string).collect()),
        other => Err(MlError::ColumnType {
            name: name.to_string(),
            expected: "string or i64",
            found: other.type_name(),
        }),
    }
}

impl Estimator for StringIndexer {
    type Model = StringIndexerModel;

    fn fit(&self, frame: &Frame) -> Result<StringIndexerModel, MlError> {
        let p = &self.params;
        one_output_per_input(
            "StringIndexer input_cols and output_cols",
            &p.input_cols,
            &p.output_cols,
        )?;
        let mut labels = Vec::with_capacity(p.input_cols.len());
        for name in &p.input_cols {
            let mut counts: Vec<(String, usize)> = Vec::new();
            let mut seen: HashMap<String, usize> = HashMap::new();
            for s in strings(frame, name)? {
                match seen.get(&s) {
                    Some(&i) => counts[i].1 += 1,
                    None => {
                        seen.insert(s.clone(), counts.len());
                        counts.push((s, 1));
                    }
                }
            }
            match p.string_order {
                StringOrder::Arbitrary => {}
                StringOrder::FrequencyDesc => {
                    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)))
                }
                StringOrder::FrequencyAsc => {
                    counts.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)))
                }
                StringOrder::AlphabetDesc => counts.sort_by(|a, b| b.0.cmp(&a.0)),
                StringOrder::AlphabetAsc => counts.sort_by(|a, b| a.0.cmp(&b.0)),
            }
            labels.push(counts.into_iter().map(|(s, _)| s).collect());
        }
        Ok(StringIndexerModel {
            params: p.clone(),
            labels,
        })
    }
}

impl Transformer for StringIndexerModel {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        let p = &self.params;
        let mut result = frame.clone();
        let mut keep = vec![true; frame.num_rows()];
        for ((name, out), labels) in p.input_cols.iter().zip(&p.output_cols).zip(&self.labels) {
            let index: HashMap<&str, usize> = labels
                .iter()
                .enumerate()
                .map(|(i, s)| (s.as_str(), i))
                .collect();
            let mut values = Vec::with_capacity(frame.num_rows());
            for (r, s) in strings(frame, name)?.iter().enumerate() {
                let v = match (index.get(s.as_str()), p.handle_invalid) {
                    (Some(&i), _) => i as f64,
                    (None, HandleInvalid::Keep) => labels.len() as f64,
                    (None, HandleInvalid::Skip) => {
                        keep[r] = false;
                        f64::NAN
                    }
                    (None, HandleInvalid::Error) => {
                        return Err(MlError::UnseenValue {
                            column: name.clone(),
                            value: s.clone(),
                        })
                    }
                };
                values.push(v);
            }
            result.set(out.clone(), Column::F64(values))?;
        }
        filter_rows(result, &keep)
    }
}

impl Persist for StringIndexerModel {
    const KIND: &'static str = "string_indexer_model";
    const VERSION: u32 = 1;
}
