//! Functions that run in nodefusion's node operator rather than as plain expressions:
//!
//! - **stateful** ([`StatefulFunction`]): `init(options)` builds an instance once (a model,
//!   a tokenizer, a connection, a lookup table), lazily, on the first batch a partition
//!   sees; `process(&mut self, args)` is then called for every batch; `teardown` at the end.
//! - **async per row** ([`AsyncRowFunction`]): `call(row)` is one request per row, the
//!   shape of most APIs; the operator keeps up to `max_concurrency` calls in flight.
//! - **async per batch** ([`AsyncBatchFunction`]): `call(arrays)` sends a whole batch in one
//!   request.
//! - **isolated** ([`IsolatedFunction`]): instances like a stateful function's, each
//!   computing on a thread or in a process of its own, awaited (Python nodes).
//!
//! Each is registered as a DataFusion `ScalarUDF` through [`NodeUdf`], so it is called
//! from SQL and pipelines alike; [`operator_function`] recovers it from the `ScalarUDF` for the
//! operator. Outside the operator (in a context without nodefusion's planner) a stateful
//! function still reuses its instances through a pool, and an async function runs its calls
//! one after the other, blocking a worker of a multi-threaded Tokio runtime; an isolated
//! function runs only in the operator.

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, new_empty_array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, not_impl_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

use crate::arguments::{ScalarArguments, invoke_kernel};
use crate::calls::{Admission, CallContext, Providers, UsageMetrics};
use crate::isolated::IsolatedFunction;

/// What every node function tells DataFusion about itself.
pub trait FunctionMeta: Debug + Send + Sync + 'static {
    /// The SQL name.
    fn name(&self) -> &str;
    /// The argument types it takes.
    fn signature(&self) -> &Signature;
    /// For a user-defined signature: the types the arguments are coerced to.
    fn coerce_types(&self, _arg_types: &[DataType]) -> Result<Vec<DataType>> {
        not_impl_err!("{} does not coerce its arguments", self.name())
    }
    /// The result type for arguments of `arg_types`.
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType>;
    /// The result type for arguments of `arg_types` whose constant values are `constants`
    /// (one per argument, `None` where it is not a constant): for functions whose type
    /// depends on a constant, such as `embed`, whose vector length is its model's.
    fn return_type_with_constants(
        &self,
        arg_types: &[DataType],
        _constants: &[Option<&ScalarValue>],
    ) -> Result<DataType> {
        self.return_type(arg_types)
    }
    /// The documentation `nodefusion functions` shows.
    fn documentation(&self) -> Option<&Documentation> {
        None
    }
    /// The rows per batch this function works best with, below the node and session
    /// settings and above the built-in default.
    fn default_batch_size(&self) -> Option<usize> {
        None
    }
    /// Whether a parameter may be left out while a later one is given (in a node's
    /// `params`): it is then passed as NULL, which the function reads as its default.
    fn skippable_parameters(&self) -> bool {
        false
    }
    /// Whether a call with `args` (a row's values; for a stateful function, its constant
    /// arguments with `None` for columns) gives the same result every time, so that the
    /// result cache keeps it by default.
    fn deterministic(&self, _args: &[Option<&ScalarValue>]) -> bool {
        false
    }
    /// What a call's result depends on beyond its arguments (the URL a provider's name
    /// stands for), written into the result cache's key.
    fn cache_scope(&self, _args: &[Option<&ScalarValue>], _providers: &Providers) -> String {
        String::new()
    }
}

/// The constant arguments of a call, which a stateful function's `init` may depend on
/// (`token_count(text, 'bert-base-uncased')`: the model).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct InitOptions {
    /// One entry per argument: the constant, or `None` where the argument is a column.
    pub constants: Vec<Option<ScalarValue>>,
    /// The threads the instance may compute with; `None`: as many as the machine has cores.
    pub threads: Option<usize>,
    /// The arithmetic the instance must compute in, by name (the node's `precision` when not
    /// `auto`: `"fp32"`, `"bf16"`, `"int16"`); `None`: the fastest the CPU has within the
    /// function's accuracy bar.
    pub precision: Option<String>,
}

impl InitOptions {
    /// The constant given for argument `position`, if it is one and not null.
    pub fn constant(&self, position: usize) -> Option<&ScalarValue> {
        self.constants
            .get(position)
            .and_then(Option::as_ref)
            .filter(|value| !value.is_null())
    }

    /// The constant string given for argument `position`.
    pub fn string(&self, position: usize) -> Option<&str> {
        self.constant(position)?.try_as_str().flatten()
    }
}

/// One instance of a stateful function, owned by one partition at a time.
pub trait FunctionInstance: Send {
    /// Computes one batch: every argument as an array of the batch's length.
    fn process(&mut self, args: &[ArrayRef]) -> Result<ArrayRef>;
    /// Releases what `init` acquired; called once when the instance is dropped by the
    /// operator at the end of a run.
    fn teardown(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A function with expensive set-up, done once per instance.
pub trait StatefulFunction: FunctionMeta {
    /// Builds an instance for a call with the constant arguments `options`.
    fn init(&self, options: &InitOptions) -> Result<Box<dyn FunctionInstance>>;
}

/// Why an async call failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// What went wrong.
    pub message: String,
    /// Whether the same call may succeed later (a timeout, a 5xx, a 429).
    pub retryable: bool,
    /// How long the service asked to wait before the next try (HTTP `Retry-After`).
    pub retry_after: Option<Duration>,
    /// The service refused for its rate limits (a 429): the call waits for the service's
    /// cool-down; such tries are not counted against `max_retries` (they have their own,
    /// larger bound).
    pub rate_limited: bool,
    /// The failure stops the run whatever `on_error` says (a rejected API key).
    pub fatal: bool,
}

impl CallError {
    /// A failure that will fail again.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            retry_after: None,
            rate_limited: false,
            fatal: false,
        }
    }

    /// A failure that stops the run (a rejected API key).
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            fatal: true,
            ..Self::permanent(message)
        }
    }

    /// A 429: tried again once the service's cool-down is over.
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self {
            rate_limited: true,
            ..Self::transient(message, None)
        }
    }

    /// A failure worth retrying, after `retry_after` if the service said so.
    pub fn transient(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            retry_after,
            rate_limited: false,
            fatal: false,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CallError {}

/// A DataFusion error inside a call (a wrong argument, a bad value) fails it for good.
impl From<datafusion::error::DataFusionError> for CallError {
    fn from(error: datafusion::error::DataFusionError) -> Self {
        CallError::permanent(error.strip_backtrace())
    }
}

/// An I/O-bound function called once per row.
#[async_trait]
pub trait AsyncRowFunction: FunctionMeta {
    /// What a call with `args` must pass before it is sent (its service's rate limits),
    /// if anything; the permit then comes in the call's context.
    fn admission(
        &self,
        _args: &[ScalarValue],
        _providers: &Providers,
    ) -> Result<Option<Admission>, CallError> {
        Ok(None)
    }

    /// Computes one row: `args` holds one value per argument; `return_type` is the type
    /// the result must have. Rows [`skips_row`] names are not called: their result is null.
    async fn call(
        &self,
        args: &[ScalarValue],
        return_type: &DataType,
        context: CallContext<'_>,
    ) -> Result<ScalarValue, CallError>;
}

/// An I/O-bound function called once per batch.
#[async_trait]
pub trait AsyncBatchFunction: FunctionMeta {
    /// What a call with `args` must pass before it is sent, if anything.
    fn admission(
        &self,
        _args: &[ArrayRef],
        _providers: &Providers,
    ) -> Result<Option<Admission>, CallError> {
        Ok(None)
    }

    /// Computes one batch: every argument as an array of the batch's length.
    async fn call(
        &self,
        args: &[ArrayRef],
        context: CallContext<'_>,
    ) -> Result<ArrayRef, CallError>;
}

/// A node function, as the operator sees it.
#[derive(Debug, Clone)]
pub enum OperatorFunction {
    /// Built once per partition, then called per batch.
    Stateful(Arc<dyn StatefulFunction>),
    /// Called per row, many rows in flight.
    AsyncRow(Arc<dyn AsyncRowFunction>),
    /// Called per batch, many batches in flight.
    AsyncBatch(Arc<dyn AsyncBatchFunction>),
    /// Built once per instance on a thread or in a process of its own, then called per
    /// batch, both awaited.
    Isolated(Arc<dyn IsolatedFunction>),
}

impl OperatorFunction {
    /// What DataFusion needs to know about the function.
    pub fn meta(&self) -> &dyn FunctionMeta {
        match self {
            Self::Stateful(function) => function.as_ref(),
            Self::AsyncRow(function) => function.as_ref(),
            Self::AsyncBatch(function) => function.as_ref(),
            Self::Isolated(function) => function.as_ref(),
        }
    }

    /// Whether its calls are async (per row or per batch, many in flight), rather than
    /// made to instances.
    pub fn is_async(&self) -> bool {
        matches!(self, Self::AsyncRow(_) | Self::AsyncBatch(_))
    }

    /// This function as a DataFusion `ScalarUDF`.
    pub fn into_udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(NodeUdf {
            function: self,
            pool: Mutex::new(HashMap::new()),
        })
    }
}

/// The node function behind `udf`, if it is one.
pub fn operator_function(udf: &ScalarUDF) -> Option<OperatorFunction> {
    let inner: &dyn std::any::Any = udf.inner().as_ref();
    inner
        .downcast_ref::<NodeUdf>()
        .map(|node| node.function.clone())
}

/// A node function as a DataFusion scalar function.
pub struct NodeUdf {
    function: OperatorFunction,
    /// Stateful instances for calls outside the operator, by constant arguments.
    pool: Mutex<HashMap<InitOptions, Vec<Box<dyn FunctionInstance>>>>,
}

impl Debug for NodeUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeUdf")
            .field("function", &self.function)
            .finish()
    }
}

impl PartialEq for NodeUdf {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for NodeUdf {}

impl std::hash::Hash for NodeUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.function.meta().name().hash(state);
    }
}

fn constants(args: &ScalarFunctionArgs) -> InitOptions {
    InitOptions {
        constants: args
            .args
            .iter()
            .map(|arg| match arg {
                ColumnarValue::Scalar(value) => Some(value.clone()),
                ColumnarValue::Array(_) => None,
            })
            .collect(),
        threads: None,
        precision: None,
    }
}

impl NodeUdf {
    /// Runs a stateful function outside the operator: an idle instance for these constant
    /// arguments is reused, or a new one built, and put back after the batch.
    fn invoke_pooled(
        &self,
        function: &dyn StatefulFunction,
        args: ScalarFunctionArgs,
    ) -> Result<ColumnarValue> {
        let options = constants(&args);
        let idle = self
            .pool
            .lock()
            .map_err(|_| exec_datafusion_err!("{}: instance pool poisoned", function.name()))?
            .get_mut(&options)
            .and_then(Vec::pop);
        let mut instance = match idle {
            Some(instance) => instance,
            None => function.init(&options)?,
        };
        let result = invoke_kernel(
            function.name(),
            args,
            ScalarArguments::Expand,
            |arrays, _| instance.process(arrays),
        );
        if let Ok(mut pool) = self.pool.lock() {
            pool.entry(options).or_default().push(instance);
        }
        result
    }
}

impl ScalarUDFImpl for NodeUdf {
    fn name(&self) -> &str {
        self.function.meta().name()
    }

    fn signature(&self) -> &Signature {
        self.function.meta().signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.function.meta().coerce_types(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.function.meta().return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let arg_types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|field| field.data_type().clone())
            .collect();
        let data_type = self
            .function
            .meta()
            .return_type_with_constants(&arg_types, args.scalar_arguments)?;
        Ok(Arc::new(Field::new(self.name(), data_type, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match &self.function {
            OperatorFunction::Stateful(function) => self.invoke_pooled(function.as_ref(), args),
            OperatorFunction::Isolated(_) => not_impl_err!(
                "{} runs on a thread or in a process of its own: run it in nodefusion's node \
                 operator (a context from nodefusion::new_context)",
                self.name()
            ),
            _ => {
                let handle = tokio::runtime::Handle::try_current()
                    .map_err(|_| exec_datafusion_err!("{} needs a Tokio runtime", self.name()))?;
                if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
                    return not_impl_err!(
                        "{} is async: run it in nodefusion's node operator (a context from \
                         nodefusion::new_context) or on a multi-threaded runtime",
                        self.name()
                    );
                }
                tokio::task::block_in_place(|| handle.block_on(self.invoke_async(args)))
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.function.meta().documentation()
    }
}

impl NodeUdf {
    /// Runs an async function outside the operator, one call at a time.
    async fn invoke_async(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.name().to_string();
        let rows = args.number_rows;
        let arrays = args
            .args
            .iter()
            .map(|arg| arg.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let entries = args.config_options.entries();
        let providers = Providers::from_config_entries(
            entries
                .iter()
                .filter_map(|entry| Some((entry.key.as_str(), entry.value.as_deref()?))),
        );
        let usage = UsageMetrics::default();
        let output = match &self.function {
            OperatorFunction::AsyncBatch(function) => {
                let failed = |error: CallError| exec_datafusion_err!("{name}: {error}");
                let admission = function.admission(&arrays, &providers).map_err(failed)?;
                let context = CallContext {
                    providers: &providers,
                    usage: &usage,
                    permit: admit(admission).await,
                };
                function.call(&arrays, context).await.map_err(failed)?
            }
            OperatorFunction::AsyncRow(function) => {
                let return_type = args.return_field.data_type().clone();
                let mut values = Vec::with_capacity(rows);
                for row in 0..rows {
                    let row_args = arrays
                        .iter()
                        .map(|array| ScalarValue::try_from_array(array, row))
                        .collect::<Result<Vec<_>>>()?;
                    if skips_row(function.as_ref(), &row_args) {
                        values.push(ScalarValue::try_from(&return_type)?);
                        continue;
                    }
                    let failed = |error: CallError| {
                        exec_datafusion_err!("{name} failed on row {row}: {error}")
                    };
                    let admission = function.admission(&row_args, &providers).map_err(failed)?;
                    let context = CallContext {
                        providers: &providers,
                        usage: &usage,
                        permit: admit(admission).await,
                    };
                    let value = function
                        .call(&row_args, &return_type, context)
                        .await
                        .map_err(failed)?;
                    values.push(value);
                }
                if values.is_empty() {
                    new_empty_array(&return_type)
                } else {
                    ScalarValue::iter_to_array(values)?
                }
            }
            OperatorFunction::Stateful(_) | OperatorFunction::Isolated(_) => {
                return self.invoke_with_args(args);
            }
        };
        Ok(ColumnarValue::Array(output))
    }
}

/// The permit of `admission`, for a call outside the operator (one at a time).
async fn admit(admission: Option<Admission>) -> Option<crate::calls::Permit> {
    match admission {
        Some(admission) => Some(admission.limiter.admit(admission.tokens, 1).await),
        None => None,
    }
}

/// Whether a row with these arguments is not called and gets a null: when an argument is
/// null; for a function with skippable parameters, only when its first argument is (a
/// null later one stands for a parameter's default).
pub fn skips_row(function: &dyn FunctionMeta, args: &[ScalarValue]) -> bool {
    if function.skippable_parameters() {
        args.first().is_some_and(ScalarValue::is_null)
    } else {
        args.iter().any(ScalarValue::is_null)
    }
}
