//! The job as a graph: operator names, `input` and `late` references, cycles, and the schema
//! flowing along every edge.

use super::error::SpecError;
use super::sink::WrittenSink;
use super::stage::output_schema;
use crate::spec::{SinkKind, SinkSpec, SourceSpec, StageSpec};
use crate::value::Schema;
use std::collections::HashMap;
use std::path::PathBuf;
use toml::{Table, Value};

/// What an operator name may contain.
const NAME_FORMAT: &str = "a non-empty name of letters, digits, '_', '-' and '.'";

/// The `name` of the `index`-th (from 0) table of a `[[what]]` array.
pub(super) fn operator_name(table: &Table, what: &str, index: usize) -> Result<String, SpecError> {
    let at = format!("{what} #{}", index + 1);
    let valid =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c));
    match table.get("name") {
        Some(Value::String(name)) if valid(name) => Ok(name.clone()),
        Some(value) => Err(SpecError::Invalid {
            at,
            field: "name".to_string(),
            value: super::fields::show(value),
            allowed: NAME_FORMAT.to_string(),
        }),
        None => Err(SpecError::Missing {
            at,
            field: "name".to_string(),
            hint: format!("add name = \"...\" ({NAME_FORMAT}, unique in the job)"),
        }),
    }
}

/// Checks every reference between operators, puts stages in dependency order (each after
/// the stage it reads) filling in their schemas, and resolves sinks (their input and default
/// parallelism).
pub(super) fn resolve(
    sources: &[SourceSpec],
    stages: &mut Vec<StageSpec>,
    sinks: Vec<WrittenSink>,
) -> Result<Vec<SinkSpec>, SpecError> {
    check_unique_names(sources, stages, &sinks)?;
    check_distinct_folders(&sinks)?;
    let readable: Vec<String> = sources
        .iter()
        .map(|s| s.name.clone())
        .chain(stages.iter().map(|s| s.name.clone()))
        .collect();
    for stage in stages.iter() {
        check_input(
            &format!("stage \"{}\"", stage.name),
            &stage.input,
            &readable,
        )?;
    }
    order_and_fill_schemas(sources, stages)?;
    let late_of = late_targets(stages, &sinks)?;
    let parallelism_of = |name: &str| {
        sources
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.parallelism)
            .or_else(|| {
                stages
                    .iter()
                    .find(|s| s.name == name)
                    .map(|s| s.parallelism)
            })
            .unwrap_or(1)
    };
    sinks
        .into_iter()
        .map(|sink| {
            let at = format!("sink \"{}\"", sink.name);
            let (input, late) = match (late_of.get(sink.name.as_str()), sink.input) {
                (Some(stage), None) => (stage.to_string(), true),
                (Some(stage), Some(input)) if input == *stage => (input, true),
                (Some(stage), Some(input)) => {
                    return Err(SpecError::Invalid {
                        at,
                        field: "input".to_string(),
                        value: format!("{input:?}"),
                        allowed: format!(
                            "\"{stage}\" or no input: this sink receives the late records of stage \
                             \"{stage}\" (its late = \"{}\"); use another sink for other rows",
                            sink.name
                        ),
                    })
                }
                (None, None) => {
                    return Err(SpecError::Missing {
                        at,
                        field: "input".to_string(),
                        hint: format!(
                            "add input = the name of a source or stage: {}",
                            readable.join(", ")
                        ),
                    })
                }
                (None, Some(input)) => {
                    check_input(&at, &input, &readable)?;
                    (input, false)
                }
            };
            // The rows the sink receives: a late sink's are its stage's input rows.
            let rows_of = match late {
                true => stages
                    .iter()
                    .find(|s| s.name == input)
                    .map_or(input.as_str(), |s| s.input.as_str()),
                false => input.as_str(),
            };
            if let Some(schema) = schema_of(sources, stages, rows_of) {
                super::sink::check_columns(&at, rows_of, &sink.kind, schema)?;
            }
            Ok(SinkSpec {
                parallelism: sink.parallelism.unwrap_or_else(|| parallelism_of(&input)),
                name: sink.name,
                input,
                late,
                kind: sink.kind,
                pool: sink.pool,
            })
        })
        .collect()
}

/// The schema of the rows source or stage `name` emits.
pub(super) fn schema_of<'a>(
    sources: &'a [SourceSpec],
    stages: &'a [StageSpec],
    name: &str,
) -> Option<&'a crate::value::Schema> {
    sources
        .iter()
        .find(|s| s.name == name)
        .map(|s| &s.schema)
        .or_else(|| stages.iter().find(|s| s.name == name).map(|s| &s.schema))
}

/// Every source, stage and sink has its own name.
fn check_unique_names(
    sources: &[SourceSpec],
    stages: &[StageSpec],
    sinks: &[WrittenSink],
) -> Result<(), SpecError> {
    let mut seen: HashMap<&str, String> = HashMap::new();
    let all = label("source", sources.iter().map(|s| s.name.as_str()))
        .chain(label("stage", stages.iter().map(|s| s.name.as_str())))
        .chain(label("sink", sinks.iter().map(|s| s.name.as_str())));
    for (name, label) in all {
        if let Some(first) = seen.get(&name) {
            return Err(SpecError::DuplicateName {
                name: name.to_string(),
                first: first.clone(),
                second: label,
            });
        }
        seen.insert(name, label);
    }
    Ok(())
}

/// No two file sinks write to one folder: their part files would mix. Resolved paths are
/// lexically normal (`out`, `out/`, `./out` and `a/../out` are one folder).
fn check_distinct_folders(sinks: &[WrittenSink]) -> Result<(), SpecError> {
    let mut writers: HashMap<PathBuf, &str> = HashMap::new();
    for sink in sinks {
        let SinkKind::File { path: folder, .. } = &sink.kind else {
            continue;
        };
        if let Some(first) = writers.get(folder) {
            return Err(SpecError::Invalid {
                at: format!("sink \"{}\"", sink.name),
                field: "path".to_string(),
                value: format!("{:?}", sink.written_path.as_deref().unwrap_or_default()),
                allowed: format!(
                    "a folder no other sink writes to; sink \"{first}\" writes to {}: give each \
                     file sink its own folder",
                    folder.display()
                ),
            });
        }
        writers.insert(folder.clone(), &sink.name);
    }
    Ok(())
}

/// Names paired with their place in the spec: `stage #2`.
fn label<'n>(
    what: &'static str,
    names: impl Iterator<Item = &'n str>,
) -> impl Iterator<Item = (&'n str, String)> {
    names
        .enumerate()
        .map(move |(i, name)| (name, format!("{what} #{}", i + 1)))
}

/// `input` names a source or stage.
fn check_input(at: &str, input: &str, readable: &[String]) -> Result<(), SpecError> {
    if readable.iter().any(|name| name == input) {
        return Ok(());
    }
    Err(SpecError::Invalid {
        at: at.to_string(),
        field: "input".to_string(),
        value: format!("{input:?}"),
        allowed: format!("the name of a source or stage: {}", readable.join(", ")),
    })
}

/// Orders `stages` so that each follows the stage it reads, keeping spec order otherwise (a
/// spec already in that order keeps its operator ids), and fills in their schemas in that
/// order. A stage reading its own output, directly or through others, is a cycle. Every
/// `input` names a source or a stage.
fn order_and_fill_schemas(
    sources: &[SourceSpec],
    stages: &mut Vec<StageSpec>,
) -> Result<(), SpecError> {
    let order = dependency_order(stages)?;
    let mut schemas: HashMap<String, Schema> = sources
        .iter()
        .map(|s| (s.name.clone(), s.schema.clone()))
        .collect();
    let mut unordered: Vec<Option<StageSpec>> = stages.drain(..).map(Some).collect();
    for i in order {
        let Some(mut stage) = unordered[i].take() else {
            continue;
        };
        // The input is a source or a stage placed before this one.
        let input = schemas.get(&stage.input).cloned().unwrap_or_default();
        stage.schema = output_schema(&stage, &input)?;
        schemas.insert(stage.name.clone(), stage.schema.clone());
        stages.push(stage);
    }
    Ok(())
}

/// The positions of `stages`, each after the stage it reads, spec order otherwise. Each stage
/// has one input, so following inputs from a stage either reaches a source, reaches a stage
/// already placed, or comes back to a stage on the path: a cycle.
fn dependency_order(stages: &[StageSpec]) -> Result<Vec<usize>, SpecError> {
    let index_of: HashMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut placed = vec![false; stages.len()];
    let mut order = Vec::with_capacity(stages.len());
    for start in 0..stages.len() {
        // Stages from `start` up its inputs, until a source or a placed stage.
        let mut path: Vec<usize> = Vec::new();
        let mut next = Some(start);
        while let Some(i) = next.filter(|&i| !placed[i]) {
            if let Some(pos) = path.iter().position(|&p| p == i) {
                // `path` follows inputs backwards; print it in the direction data flows.
                let mut cycle: Vec<&str> = path[pos..]
                    .iter()
                    .map(|&p| stages[p].name.as_str())
                    .collect();
                cycle.push(&stages[i].name);
                cycle.reverse();
                return Err(SpecError::Cycle {
                    cycle: cycle.join(" -> "),
                });
            }
            path.push(i);
            next = index_of.get(stages[i].input.as_str()).copied();
        }
        for &i in path.iter().rev() {
            placed[i] = true;
            order.push(i);
        }
    }
    Ok(order)
}

/// Which stage sends its late records to which sink; checks that `late` names a sink used by
/// one stage only.
fn late_targets<'s>(
    stages: &'s [StageSpec],
    sinks: &[WrittenSink],
) -> Result<HashMap<&'s str, &'s str>, SpecError> {
    let mut late_of: HashMap<&str, &str> = HashMap::new();
    for stage in stages {
        let Some(late) = stage.late.as_deref() else {
            continue;
        };
        let invalid = |allowed: String| SpecError::Invalid {
            at: format!("stage \"{}\"", stage.name),
            field: "late".to_string(),
            value: format!("{late:?}"),
            allowed,
        };
        if !sinks.iter().any(|s| s.name == late) {
            let names: Vec<&str> = sinks.iter().map(|s| s.name.as_str()).collect();
            return Err(invalid(format!(
                "the name of a sink (it receives the stage's late input rows): {}",
                if names.is_empty() {
                    "none defined; add a [[sink]]".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
        if let Some(other) = late_of.insert(late, &stage.name) {
            return Err(invalid(format!(
                "a sink no other stage sends late records to; sink \"{late}\" already receives those of stage \"{other}\": add another sink"
            )));
        }
    }
    Ok(late_of)
}
