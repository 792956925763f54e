//! The errors nodefusion reports at its edge. Every plan-time error names what the user
//! must fix: the node, the column, the function, the option or the file.

use std::fmt;
use std::path::PathBuf;

use datafusion::error::DataFusionError;

/// A nodefusion error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A node reads a column that neither the source nor any node provides.
    #[error("node '{node}': unknown column '{column}'{}", hint_suffix(.hint))]
    UnknownColumn {
        node: String,
        column: String,
        hint: Option<String>,
    },
    /// A requested output column that nothing provides.
    #[error("requested output column '{column}' does not exist{}", hint_suffix(.hint))]
    UnknownOutput {
        column: String,
        hint: Option<String>,
    },
    /// Two nodes (or a node and the source) provide the same column.
    #[error("column '{column}' is produced twice: by {first} and by {second}")]
    DuplicateOutput {
        column: String,
        first: String,
        second: String,
    },
    /// Two nodes of one pipeline share a name.
    #[error("two nodes are named '{node}'")]
    DuplicateNode { node: String },
    /// The nodes' wiring has a cycle.
    #[error("the nodes form a cycle: {}", .cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    /// A node names a function that is not registered.
    #[error("node '{node}': unknown function '{function}'{}", hint_suffix(.hint))]
    UnknownFunction {
        node: String,
        function: String,
        hint: Option<String>,
    },
    /// A node's inputs do not have the types its function takes.
    #[error("node '{node}': type mismatch: {message}")]
    TypeMismatch { node: String, message: String },
    /// A node option (a parameter or a setting) is unknown or has a bad value.
    #[error("node '{node}': bad option '{option}': {message}")]
    BadOption {
        node: String,
        option: String,
        message: String,
    },
    /// A node's definition is incomplete or contradictory.
    #[error("node '{node}': {message}")]
    InvalidNode { node: String, message: String },
    /// A pipeline file or a `--set` override is malformed.
    #[error("{origin}: {message}")]
    Config { origin: String, message: String },
    /// The output exists and the output mode says not to touch it.
    #[error(
        "output '{location}' already exists; set mode = \"overwrite\" or \"append\" to write to it anyway"
    )]
    OutputExists { location: String },
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An object store refused a request, or could not be reached.
    #[error("{url}: {message}")]
    Store { url: String, message: String },
    /// An input could not be read.
    #[error("input '{path}': {message}")]
    Input { path: String, message: String },
    /// A cluster's scheduler or executor could not be reached, started or used.
    #[error("cluster at {address}: {message}")]
    Cluster { address: String, message: String },
    /// A node's function failed at run time.
    #[error(transparent)]
    Node(NodeError),
    /// An error from DataFusion that is not tied to one node.
    #[error(transparent)]
    DataFusion(DataFusionError),
}

/// Where in its input a node's function failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailedRow {
    /// Row `n` of the pipeline's input, counted from 0.
    Input(usize),
    /// Row `row` of the `batch`-th batch of `partition`, where the input's order is not
    /// known (a call in a SQL query).
    Batch {
        partition: usize,
        batch: usize,
        row: usize,
    },
    /// Before any row: the function's instance could not be built.
    Start,
    /// Row `n` of the batch that failed (an expression DataFusion computes sees batches,
    /// not where they are in the input).
    OfBatch(usize),
    /// Somewhere in a batch: no row fails alone.
    Unknown,
}

impl fmt::Display for FailedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailedRow::Input(row) => write!(f, "failed on input row {row}"),
            FailedRow::Batch {
                partition,
                batch,
                row,
            } => write!(
                f,
                "failed on row {row} of batch {batch} in partition {partition}"
            ),
            FailedRow::Start => f.write_str("could not start"),
            FailedRow::OfBatch(row) => write!(f, "failed on row {row} of a batch"),
            FailedRow::Unknown => f.write_str("failed on a batch"),
        }
    }
}

/// A node's function failed at run time: which node, which function, where, and why. It
/// travels through DataFusion inside an external error and comes out as [`Error::Node`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node '{node}' ({function}) {row}: {cause}")]
pub struct NodeError {
    /// The node (a pipeline node's name, or the call's text in SQL).
    pub node: String,
    /// The function it calls.
    pub function: String,
    /// Where it failed.
    pub row: FailedRow,
    /// Why.
    pub cause: String,
}

/// The rows of a job that succeeded elsewhere could not be fetched (the executor that held
/// them died, say): running the job again may succeed. It travels through DataFusion
/// inside an external error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ResultsLost {
    /// What was lost, and where.
    pub message: String,
}

impl ResultsLost {
    /// The lost results that caused `error`, if lost results did.
    pub fn cause_of(error: &DataFusionError) -> Option<&ResultsLost> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = cause {
            if let Some(lost) = current.downcast_ref::<ResultsLost>() {
                return Some(lost);
            }
            cause = current.source();
        }
        None
    }
}

impl From<NodeError> for DataFusionError {
    fn from(error: NodeError) -> Self {
        DataFusionError::External(Box::new(error))
    }
}

impl From<DataFusionError> for Error {
    /// A [`NodeError`] anywhere in the error's chain of causes becomes [`Error::Node`]; a
    /// nodefusion error carried as DataFusion's external error is itself again.
    fn from(error: DataFusionError) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(current) = cause {
            if let Some(node) = current.downcast_ref::<NodeError>() {
                return Error::Node(node.clone());
            }
            cause = current.source();
        }
        // One of ours that went through DataFusion (a table's input, an output's commit).
        match error {
            DataFusionError::External(external) => match external.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(external) => Error::DataFusion(DataFusionError::External(external)),
            },
            error => Error::DataFusion(error),
        }
    }
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(hint) => format!(" (did you mean '{hint}'?)"),
        None => String::new(),
    }
}

/// ` (did you mean 'NAME'?)` with the candidate nearest to `name`, or nothing when none
/// is near: for the end of a message about an unknown name.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    hint_suffix(&nearest(name, candidates))
}

/// A nodefusion result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A wrapper for an I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely
/// typo (at most a third of the name's length, and at least one edit allowed).
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, candidate)| (*distance, candidate.len()))
        .map(|(_, candidate)| candidate.to_string())
}

/// The edit distance between `a` and `b`, case-insensitive, by characters: insertions,
/// deletions, substitutions and swaps of two neighbouring characters (`txet` is one edit
/// from `text`), each counting one (the optimal string alignment distance).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    // rows[i][j]: the distance between the first i characters of a and the first j of b.
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = rows[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(rows[i - 1][j] + 1).min(rows[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_a_close_name_and_ignores_far_ones() {
        let names = ["text", "title", "category"];
        assert_eq!(nearest("txt", names), Some("text".to_string()));
        assert_eq!(nearest("catgory", names), Some("category".to_string()));
        assert_eq!(nearest("zzzzzz", names), None);
        assert_eq!(nearest("txet", names), Some("text".to_string()));
        assert_eq!(nearest("ttile", names), Some("title".to_string()));
    }

    #[test]
    fn messages_name_node_and_column_with_a_hint() {
        let error = Error::UnknownColumn {
            node: "clean".into(),
            column: "txt".into(),
            hint: Some("text".into()),
        };
        assert_eq!(
            error.to_string(),
            "node 'clean': unknown column 'txt' (did you mean 'text'?)"
        );
    }
}
