//! [`UserFunction`]: a function a user writes in code, as a DataFusion scalar function:
//! either a row-wise closure lifted into a vectorized function ([`UserFunction::row`], see
//! [`crate::row`]) or a kernel over whole Arrow arrays ([`UserFunction::vectorized`]). The
//! dispatch of scalar arguments and the check of the result's length are done for both.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::arguments::{ScalarArguments, invoke_kernel};
use crate::documentation::describe;
use crate::row::{DynRowFn, RowFn, erase};

/// The kernel of a vectorized function: arrays in, an array of the same length out.
pub type Kernel = dyn Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync;

enum Body {
    /// Called row by row; scalar arguments broadcast.
    Row(Box<dyn DynRowFn>),
    /// Called on whole arrays of the batch's length.
    Vectorized(Arc<Kernel>),
}

/// A user's function, ready to register or to use as a pipeline node.
pub struct UserFunction {
    name: String,
    signature: Signature,
    return_type: DataType,
    body: Body,
    documentation: Option<Documentation>,
}

impl UserFunction {
    /// Lifts a row-wise `closure` into a function called `name`: `UserFunction::row("lower",
    /// |s: &str| s.to_lowercase())`. See [`crate::row`] for the argument and result types.
    pub fn row<M: 'static, F: RowFn<M>>(name: impl Into<String>, closure: F) -> Self {
        let (closure, return_type) = erase(closure);
        Self {
            name: name.into(),
            signature: Signature::user_defined(Volatility::Immutable),
            return_type,
            body: Body::Row(closure),
            documentation: None,
        }
    }

    /// A function `name(argument_types...) -> return_type` computed by `kernel` over whole
    /// arrays. Arguments of other types are coerced to `argument_types` where DataFusion can.
    pub fn vectorized(
        name: impl Into<String>,
        argument_types: Vec<DataType>,
        return_type: DataType,
        kernel: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            signature: Signature::exact(argument_types, Volatility::Immutable),
            return_type,
            body: Body::Vectorized(Arc::new(kernel)),
            documentation: None,
        }
    }

    /// Adds the one-line description `nodefusion functions` shows.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.documentation = Some(describe(&self.name, description));
        self
    }

    /// This function as a DataFusion `ScalarUDF`.
    pub fn into_udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }
}

impl std::fmt::Debug for UserFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserFunction")
            .field("name", &self.name)
            .field("signature", &self.signature)
            .field("return_type", &self.return_type)
            .finish()
    }
}

impl PartialEq for UserFunction {
    /// Two user functions are the same function only when they are the same value.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for UserFunction {}

impl std::hash::Hash for UserFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for UserFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match &self.body {
            Body::Row(closure) => closure.coerce_arguments(&self.name, arg_types),
            Body::Vectorized(_) => Ok(arg_types.to_vec()),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.return_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match &self.body {
            Body::Row(closure) => invoke_kernel(
                &self.name,
                args,
                ScalarArguments::Broadcast,
                |arrays, rows| closure.evaluate(&self.name, arrays, rows),
            ),
            Body::Vectorized(kernel) => {
                invoke_kernel(&self.name, args, ScalarArguments::Expand, |arrays, _| {
                    kernel(arrays)
                })
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.documentation.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::compute::kernels::numeric::add;
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::common::ScalarValue;

    use super::*;
    use crate::testing::call;

    fn add_columns() -> UserFunction {
        UserFunction::vectorized(
            "add_columns",
            vec![DataType::Int64, DataType::Int64],
            DataType::Int64,
            |arrays| Ok(add(&arrays[0], &arrays[1])?),
        )
    }

    #[test]
    fn a_scalar_argument_is_expanded_to_the_batch_length() {
        let column = ColumnarValue::Array(Arc::new(Int64Array::from(vec![1, 2, 3])));
        let ten = ColumnarValue::Scalar(ScalarValue::Int64(Some(10)));
        let result = call(&add_columns(), vec![column, ten], 3).unwrap();
        let result = result.into_array(3).unwrap();
        assert_eq!(result.as_primitive::<Int64Type>().values(), &[11, 12, 13]);
    }

    #[test]
    fn scalars_in_give_a_scalar_out() {
        let one = ColumnarValue::Scalar(ScalarValue::Int64(Some(1)));
        let result = call(&add_columns(), vec![one.clone(), one], 5).unwrap();
        assert!(matches!(
            result,
            ColumnarValue::Scalar(ScalarValue::Int64(Some(2)))
        ));
    }
}
