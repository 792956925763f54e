//! [`VectorizedFunction`]: a user's function over whole Arrow arrays, as a DataFusion
//! scalar function. The kernel always sees arrays of the batch's length; the dispatch of
//! scalar arguments and the check of the result's length are done for it.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::arguments::{ScalarArguments, invoke_kernel};
use super::documentation::describe;

/// The kernel of a vectorized function.
pub type Kernel = dyn Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync;

/// A function over whole arrays with fixed argument types and a fixed return type.
pub struct VectorizedFunction {
    name: String,
    signature: Signature,
    return_type: DataType,
    kernel: Arc<Kernel>,
    documentation: Option<Documentation>,
}

impl VectorizedFunction {
    /// A function `name(argument_types...) -> return_type` computed by `kernel`. Arguments
    /// of other types are coerced to `argument_types` where DataFusion can.
    pub fn new(
        name: impl Into<String>,
        argument_types: Vec<DataType>,
        return_type: DataType,
        kernel: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            signature: Signature::exact(argument_types, Volatility::Immutable),
            return_type,
            kernel: Arc::new(kernel),
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

impl std::fmt::Debug for VectorizedFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorizedFunction")
            .field("name", &self.name)
            .field("signature", &self.signature)
            .field("return_type", &self.return_type)
            .finish()
    }
}

impl PartialEq for VectorizedFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.kernel, &other.kernel)
    }
}

impl Eq for VectorizedFunction {}

impl std::hash::Hash for VectorizedFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for VectorizedFunction {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.return_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_kernel(
            &self.name,
            args,
            ScalarArguments::Expand,
            |arrays, _rows| (self.kernel)(arrays),
        )
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
    use crate::function::test_support::call;

    fn add_columns() -> VectorizedFunction {
        VectorizedFunction::new(
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
