//! Pipeline files: the TOML form of a [`Pipeline`] with its input and output, and
//! [`Overrides`]: `--set KEY=VALUE` of any key (`defaults.batch_size=64`,
//! `nodes.clean.batch_size=16`, `output.compression="zstd"`) and the input and output
//! paths. Node settings are read through their declaration ([`crate::settings`]).
//!
//! ```toml
//! name = "clean_docs"
//! [input]
//! path = "data/docs.parquet"
//! [output]
//! path = "out/clean.parquet"
//! columns = ["id", "clean_text", "words"]
//! [defaults]
//! batch_size = 8192
//! [[nodes]]
//! name = "clean"
//! function = "normalize_text"
//! inputs = ["text"]
//! output = "clean_text"
//! [[nodes]]
//! name = "shout"
//! python = "steps.py:shout"    # or "package.module:function"; its parameters are its inputs
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::common::ScalarValue;
use serde::Deserialize;

use nodefusion_function::calls::{PROVIDER_KEYS, Provider};

use crate::error::{Error, Result, did_you_mean};
use crate::io::{FileFormat, Input, Output, WriteMode};
use crate::pipeline::{Node, Pipeline, PythonBody, load_python};
use crate::settings::{NodeSettings, PipelineDefaults, SETTINGS};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    name: Option<String>,
    input: Option<InputSection>,
    output: Option<OutputSection>,
    #[serde(default)]
    defaults: DefaultsSection,
    #[serde(default)]
    nodes: Vec<NodeSection>,
    #[serde(default)]
    providers: BTreeMap<String, BTreeMap<String, toml::Value>>,
}

/// `[defaults]`: `partitions` and the node settings.
#[derive(Debug, Default, Deserialize)]
struct DefaultsSection {
    partitions: Option<usize>,
    #[serde(flatten)]
    settings: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSection {
    path: String,
    format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputSection {
    path: Option<String>,
    columns: Option<Vec<String>>,
    #[serde(default)]
    mode: WriteMode,
    compression: Option<String>,
    row_group_size: Option<usize>,
    #[serde(default)]
    partition_by: Vec<String>,
}

/// `[[nodes]]`: the node's own keys and its settings.
#[derive(Debug, Deserialize)]
struct NodeSection {
    name: String,
    function: Option<String>,
    sql: Option<String>,
    pipeline: Option<String>,
    python: Option<String>,
    native: Option<String>,
    #[serde(default)]
    inputs: Vec<String>,
    output: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    #[serde(default)]
    map_inputs: BTreeMap<String, String>,
    #[serde(default)]
    map_outputs: BTreeMap<String, String>,
    #[serde(flatten)]
    settings: BTreeMap<String, toml::Value>,
}

/// The keys of a `[[nodes]]` entry besides the settings.
const NODE_KEYS: &[&str] = &[
    "name",
    "function",
    "sql",
    "pipeline",
    "python",
    "native",
    "inputs",
    "output",
    "params",
    "map_inputs",
    "map_outputs",
];

/// What the command line changes in a pipeline file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `KEY=VALUE` items: a dotted key of the file, `nodes.NAME.KEY` for the node NAME; the
    /// value is read as TOML, or as a plain string when it is not TOML.
    pub set: Vec<String>,
    /// The input path, instead of the file's `[input] path`.
    pub input: Option<String>,
    /// The output path, instead of the file's `[output] path`.
    pub output: Option<String>,
}

/// A pipeline file, loaded.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// Its `[input]`, if the file has one.
    pub input: Option<Input>,
    /// Its `[output]`, if the file gives a path.
    pub output: Option<Output>,
    /// The file it was loaded from.
    pub file: PathBuf,
}

/// Loads the pipeline file at `path`, with `overrides` applied.
pub fn load(path: impl AsRef<Path>, overrides: &Overrides) -> Result<PipelineSpec> {
    let path = path.as_ref();
    let mut file = read_file(path, &overrides.set, &[])?;
    if let Some(input) = &overrides.input {
        let format = file.input.take().and_then(|section| section.format);
        file.input = Some(InputSection {
            path: input.clone(),
            format,
        });
    }
    if let Some(output) = &overrides.output {
        file.output.get_or_insert_with(OutputSection::default).path = Some(output.clone());
    }
    build_spec(path, file, &mut Vec::new())
}

fn config_error(file: &Path, message: impl Into<String>) -> Error {
    Error::Config {
        origin: file.display().to_string(),
        message: message.into(),
    }
}

/// Reads the pipeline file at `path` with the `--set` items `set` applied: straight into
/// its sections when there are none (errors then give the line and column), else through
/// a TOML table the items edit.
fn read_file(path: &Path, set: &[String], stack: &[PathBuf]) -> Result<PipelineFile> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    let canonical = path.canonicalize().map_err(Error::io(path))?;
    if stack.contains(&canonical) {
        return Err(config_error(path, "the pipeline includes itself"));
    }
    let invalid = |error: toml::de::Error| config_error(path, error.to_string());
    if set.is_empty() {
        return toml::from_str(&text).map_err(invalid);
    }
    let mut table: toml::Table = toml::from_str(&text).map_err(invalid)?;
    for item in set {
        apply_override(&mut table, item)
            .map_err(|message| config_error(path, format!("--set {item}: {message}")))?;
    }
    toml::Value::Table(table)
        .try_into()
        .map_err(|error| config_error(path, format!("after --set: {error}")))
}

/// The pipeline file at `path`, nested in the pipelines of `stack`.
fn load_nested(path: &Path, stack: &mut Vec<PathBuf>) -> Result<PipelineSpec> {
    let file = read_file(path, &[], stack)?;
    build_spec(path, file, stack)
}

/// The settings layer of a section's `entries`, its keys besides `other_keys`, each
/// checked against its declaration; `error(message)` is the error of a bad one.
fn read_settings(
    entries: BTreeMap<String, toml::Value>,
    other_keys: &[&str],
    error: impl Fn(String) -> Error,
) -> Result<NodeSettings> {
    let mut settings = NodeSettings::default();
    for (key, value) in entries {
        if let Err(setting_error) = settings.set_value(&key, value) {
            if SETTINGS.iter().any(|setting| setting.name == key) {
                return Err(error(setting_error.to_string()));
            }
            let keys = other_keys
                .iter()
                .copied()
                .chain(SETTINGS.iter().map(|setting| setting.name));
            let hint = did_you_mean(&key, keys.clone());
            let message = format!(
                "unknown key '{key}'{hint}; the keys are {}",
                keys.collect::<Vec<_>>().join(", ")
            );
            return Err(error(message));
        }
    }
    Ok(settings)
}

/// `[providers.NAME]`: a remote model service.
fn read_provider(path: &Path, name: &str, keys: BTreeMap<String, toml::Value>) -> Result<Provider> {
    let error = |message: String| config_error(path, format!("[providers.{name}]: {message}"));
    let mut provider = Provider::default();
    for (key, value) in keys {
        if !PROVIDER_KEYS.iter().any(|(known, _)| *known == key) {
            let known = PROVIDER_KEYS.iter().map(|(known, _)| *known);
            let hint = did_you_mean(&key, known.clone());
            return Err(error(format!(
                "unknown key '{key}'{hint}; the keys are {}",
                known.collect::<Vec<_>>().join(", ")
            )));
        }
        let text = match value {
            toml::Value::String(text) => text,
            toml::Value::Integer(number) => number.to_string(),
            toml::Value::Float(number) => number.to_string(),
            other => {
                return Err(error(format!(
                    "'{key}' must be a string or a number, got {other}"
                )));
            }
        };
        provider.set(&key, &text).map_err(error)?;
    }
    if provider.base_url.is_none() {
        return Err(error("'base_url' is required".to_string()));
    }
    Ok(provider)
}

/// The spec of the file at `path`, read as `file`, nested in the pipelines of `stack`.
fn build_spec(path: &Path, file: PipelineFile, stack: &mut Vec<PathBuf>) -> Result<PipelineSpec> {
    stack.push(path.canonicalize().map_err(Error::io(path))?);
    let spec = build_pipeline(path, file, stack);
    stack.pop();
    spec
}

fn build_pipeline(
    path: &Path,
    file: PipelineFile,
    stack: &mut Vec<PathBuf>,
) -> Result<PipelineSpec> {
    let name = file.name.unwrap_or_else(|| {
        path.file_stem().map_or_else(
            || "pipeline".into(),
            |stem| stem.to_string_lossy().into_owned(),
        )
    });
    let mut pipeline = Pipeline::new(name);
    let nodes = read_settings(file.defaults.settings, &["partitions"], |message| {
        config_error(path, format!("[defaults]: {message}"))
    })?;
    *pipeline.defaults_mut() = PipelineDefaults {
        partitions: file.defaults.partitions,
        nodes,
    };
    for section in file.nodes {
        pipeline = pipeline.node(build_node(path, section, stack)?);
    }
    for (name, keys) in file.providers {
        pipeline = pipeline.provider(&name, read_provider(path, &name, keys)?);
    }
    let input = file
        .input
        .map(|section| {
            let input = Input::path(section.path);
            match section.format {
                None => Ok(input),
                Some(format) => FileFormat::parse(&format)
                    .map(|format| input.with_format(format))
                    .ok_or_else(|| {
                        config_error(
                            path,
                            format!("input.format '{format}' is not parquet, csv or json"),
                        )
                    }),
            }
        })
        .transpose()?;
    let mut output = None;
    if let Some(section) = file.output {
        if let Some(columns) = section.columns {
            pipeline = pipeline.outputs(columns);
        }
        if let Some(target) = section.path {
            let mut parquet = Output::parquet(target)
                .mode(section.mode)
                .partition_by(section.partition_by);
            if let Some(compression) = section.compression {
                parquet = parquet.compression(compression);
            }
            if let Some(rows) = section.row_group_size {
                parquet = parquet.row_group_size(rows);
            }
            output = Some(parquet);
        }
    }
    Ok(PipelineSpec {
        pipeline,
        input,
        output,
        file: path.to_path_buf(),
    })
}

fn build_node(path: &Path, section: NodeSection, stack: &mut Vec<PathBuf>) -> Result<Node> {
    let node_name = section.name.clone();
    let invalid = |message: String| Error::InvalidNode {
        node: node_name.clone(),
        message,
    };
    // The settings first: a misspelt key (`fucntion`) is named as such, not taken for a
    // missing body.
    let settings = read_settings(section.settings, NODE_KEYS, |message| {
        config_error(path, format!("node '{}': {message}", section.name))
    })?;
    let directory = path.parent().unwrap_or(Path::new("."));
    if section.native.is_some() && section.python.is_none() {
        return Err(invalid(
            "`native` names the native equal of a `python` function; the node has none".to_string(),
        ));
    }
    let mut declared = None;
    let mut node = match (
        section.function,
        section.sql,
        section.pipeline,
        section.python,
    ) {
        (Some(function), None, None, None) => Node::function(&section.name, function),
        (None, Some(sql), None, None) => Node::sql(&section.name, sql),
        (None, None, Some(inner), None) => {
            let inner = load_nested(&directory.join(inner), stack)?;
            Node::pipeline(&section.name, inner.pipeline)
        }
        (None, None, None, Some(reference)) => {
            let body = PythonBody {
                reference,
                native: section.native,
                directory: directory.to_path_buf(),
            };
            match body.native {
                // Wired without importing Python: the native function may run instead.
                Some(_) if section.inputs.is_empty() => {
                    return Err(invalid(
                        "a node with a native equal names its `inputs`".to_string(),
                    ));
                }
                Some(_) => Node::python(&section.name, body),
                None => {
                    let python = load_python(&section.name, &body)?;
                    let node = Node::udf(&section.name, Arc::clone(&python.udf))
                        .inputs(python.parameters.clone());
                    declared = Some(python);
                    node
                }
            }
        }
        _ => {
            return Err(invalid(
                "give exactly one of `function`, `sql`, `pipeline` or `python`".to_string(),
            ));
        }
    };
    if !section.inputs.is_empty() {
        node = node.inputs(section.inputs);
    }
    let declared_output = declared.as_ref().and_then(|python| python.output.clone());
    if let Some(output) = section.output.or(declared_output) {
        node = node.output(output);
    }
    for (name, value) in section.params {
        let scalar = toml_scalar(&value).ok_or_else(|| Error::BadOption {
            node: section.name.clone(),
            option: format!("params.{name}"),
            message: format!("{value} is not a number, string or boolean"),
        })?;
        node = node.param(name, scalar);
    }
    for (inner, outer) in section.map_inputs {
        node = node.map_input(inner, outer);
    }
    for (inner, outer) in section.map_outputs {
        node = node.map_output(inner, outer);
    }
    // A Python function's own settings (its decorator's) lie under the node's.
    *node.settings_mut() = match declared {
        Some(python) => settings.or(&python.settings),
        None => settings,
    };
    Ok(node)
}

fn toml_scalar(value: &toml::Value) -> Option<ScalarValue> {
    match value {
        toml::Value::Integer(integer) => Some(ScalarValue::Int64(Some(*integer))),
        toml::Value::Float(float) => Some(ScalarValue::Float64(Some(*float))),
        toml::Value::String(string) => Some(ScalarValue::Utf8(Some(string.clone()))),
        toml::Value::Boolean(boolean) => Some(ScalarValue::Boolean(Some(*boolean))),
        _ => None,
    }
}

/// Sets the dotted key of `item` (`KEY=VALUE`) in `table`. `nodes.NAME.KEY` addresses the
/// node named NAME. The value is read as TOML, or as a plain string when it is not TOML.
fn apply_override(table: &mut toml::Table, item: &str) -> Result<(), String> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| "expected KEY=VALUE".to_string())?;
    let value = toml::from_str::<toml::Table>(&format!("value = {raw}"))
        .ok()
        .and_then(|mut parsed| parsed.remove("value"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let (last, path) = parts.split_last().ok_or_else(|| "empty key".to_string())?;
    let mut current = table;
    let mut index = 0;
    while index < path.len() {
        let part = path[index];
        if part == "nodes" {
            let name = path.get(index + 1).ok_or("nodes.NAME.KEY names a node")?;
            let nodes = current
                .get_mut("nodes")
                .and_then(toml::Value::as_array_mut)
                .ok_or("the pipeline has no nodes")?;
            let names: Vec<String> = nodes
                .iter()
                .filter_map(|node| node.get("name")?.as_str().map(str::to_string))
                .collect();
            let node = nodes
                .iter_mut()
                .find(|node| node.get("name").and_then(toml::Value::as_str) == Some(name))
                .and_then(toml::Value::as_table_mut);
            current = node.ok_or_else(|| {
                let hint = did_you_mean(name, names.iter().map(String::as_str));
                format!("no node named '{name}'{hint}")
            })?;
            index += 2;
        } else {
            current = current
                .entry(part)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| format!("'{part}' is not a table"))?;
            index += 1;
        }
    }
    current.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn overrides_reach_defaults_nodes_and_new_sections() {
        let mut pipeline =
            table("[defaults]\nbatch_size = 8\n[[nodes]]\nname = \"clean\"\nfunction = \"f\"\n");
        apply_override(&mut pipeline, "defaults.batch_size=64").unwrap();
        apply_override(&mut pipeline, "nodes.clean.batch_size=16").unwrap();
        apply_override(&mut pipeline, "output.path=out/x.parquet").unwrap();
        assert_eq!(pipeline["defaults"]["batch_size"].as_integer(), Some(64));
        assert_eq!(pipeline["nodes"][0]["batch_size"].as_integer(), Some(16));
        assert_eq!(pipeline["output"]["path"].as_str(), Some("out/x.parquet"));
    }

    #[test]
    fn an_override_of_an_unknown_node_suggests_the_nearest() {
        let mut pipeline = table("[[nodes]]\nname = \"clean\"\nfunction = \"f\"\n");
        let error = apply_override(&mut pipeline, "nodes.clen.batch_size=1").unwrap_err();
        assert_eq!(error, "no node named 'clen' (did you mean 'clean'?)");
    }
}
