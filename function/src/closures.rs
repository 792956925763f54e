//! Node functions from closures, so that a user's own stateful or async function is a few
//! lines:
//!
//! ```
//! use datafusion::arrow::array::{ArrayRef, Int64Array};
//! use datafusion::arrow::datatypes::DataType;
//! use datafusion::common::ScalarValue;
//! use datafusion::common::utils::take_function_args;
//! use nodefusion_function::{CallError, FunctionInstance, async_per_row, stateful};
//! use std::sync::Arc;
//!
//! struct Offset(i64);
//! impl FunctionInstance for Offset {
//!     fn process(&mut self, args: &[ArrayRef]) -> datafusion::common::Result<ArrayRef> {
//!         let [values] = take_function_args("add_offset", args)?;
//!         let values = datafusion::common::cast::as_int64_array(values)?;
//!         Ok(Arc::new(values.iter().map(|v| v.map(|v| v + self.0)).collect::<Int64Array>()))
//!     }
//! }
//! // `init` runs once per partition: load the model, open the connection, read the table.
//! let add_offset = stateful("add_offset", vec![DataType::Int64], DataType::Int64, |_options| {
//!     Ok(Offset(42))
//! });
//! // One call per row, many in flight.
//! let echo = async_per_row("echo", vec![DataType::Utf8], DataType::Utf8, |args| async move {
//!     let [text] = take_function_args("echo", args)?;
//!     Ok::<_, CallError>(text)
//! });
//! ```

use std::fmt::{self, Debug};
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ScalarUDF, Signature, Volatility};

use crate::calls::CallContext;
use crate::operator::{
    AsyncBatchFunction, AsyncRowFunction, CallError, FunctionInstance, FunctionMeta, InitOptions,
    OperatorFunction, StatefulFunction,
};

/// A node function made of a closure: its name, argument types and result type, and the
/// closure (`B` says which kind it is).
struct ClosureFunction<B> {
    name: String,
    signature: Signature,
    return_type: DataType,
    body: B,
}

impl<B> ClosureFunction<B> {
    fn new(
        name: impl Into<String>,
        argument_types: Vec<DataType>,
        return_type: DataType,
        body: B,
    ) -> Self {
        Self {
            name: name.into(),
            signature: Signature::exact(argument_types, Volatility::Volatile),
            return_type,
            body,
        }
    }
}

impl<B> Debug for ClosureFunction<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClosureFunction")
            .field("name", &self.name)
            .field("return_type", &self.return_type)
            .finish()
    }
}

impl<B: Send + Sync + 'static> FunctionMeta for ClosureFunction<B> {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.return_type.clone())
    }
}

struct Init<F>(F);
struct PerRow<F>(F);
struct PerBatch<F>(F);

impl<F, I> StatefulFunction for ClosureFunction<Init<F>>
where
    F: Fn(&InitOptions) -> Result<I> + Send + Sync + 'static,
    I: FunctionInstance + 'static,
{
    fn init(&self, options: &InitOptions) -> Result<Box<dyn FunctionInstance>> {
        Ok(Box::new((self.body.0)(options)?))
    }
}

#[async_trait]
impl<F, Fut> AsyncRowFunction for ClosureFunction<PerRow<F>>
where
    F: Fn(Vec<ScalarValue>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ScalarValue, CallError>> + Send + 'static,
{
    async fn call(
        &self,
        args: &[ScalarValue],
        _return_type: &DataType,
        _context: CallContext<'_>,
    ) -> Result<ScalarValue, CallError> {
        (self.body.0)(args.to_vec()).await
    }
}

#[async_trait]
impl<F, Fut> AsyncBatchFunction for ClosureFunction<PerBatch<F>>
where
    F: Fn(Vec<ArrayRef>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ArrayRef, CallError>> + Send + 'static,
{
    async fn call(
        &self,
        args: &[ArrayRef],
        _context: CallContext<'_>,
    ) -> Result<ArrayRef, CallError> {
        (self.body.0)(args.to_vec()).await
    }
}

/// A stateful function `name(argument_types...) -> return_type` whose instances `init`
/// builds (once per partition in the node operator) from the call's constant arguments.
pub fn stateful<F, I>(
    name: impl Into<String>,
    argument_types: Vec<DataType>,
    return_type: DataType,
    init: F,
) -> ScalarUDF
where
    F: Fn(&InitOptions) -> Result<I> + Send + Sync + 'static,
    I: FunctionInstance + 'static,
{
    let function = ClosureFunction::new(name, argument_types, return_type, Init(init));
    OperatorFunction::Stateful(Arc::new(function)).into_udf()
}

/// An async function called once per row with that row's arguments.
pub fn async_per_row<F, Fut>(
    name: impl Into<String>,
    argument_types: Vec<DataType>,
    return_type: DataType,
    call: F,
) -> ScalarUDF
where
    F: Fn(Vec<ScalarValue>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ScalarValue, CallError>> + Send + 'static,
{
    let function = ClosureFunction::new(name, argument_types, return_type, PerRow(call));
    OperatorFunction::AsyncRow(Arc::new(function)).into_udf()
}

/// An async function called once per batch with the batch's arguments as arrays.
pub fn async_per_batch<F, Fut>(
    name: impl Into<String>,
    argument_types: Vec<DataType>,
    return_type: DataType,
    call: F,
) -> ScalarUDF
where
    F: Fn(Vec<ArrayRef>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ArrayRef, CallError>> + Send + 'static,
{
    let function = ClosureFunction::new(name, argument_types, return_type, PerBatch(call));
    OperatorFunction::AsyncBatch(Arc::new(function)).into_udf()
}
