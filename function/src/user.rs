//! [`UserFunction`]: a function a user writes in code, as a DataFusion scalar function:
//! either a row-wise closure lifted into a vectorized function ([`UserFunction::row`], see
//! [`crate::row`]) or a kernel over whole Arrow arrays ([`UserFunction::vectorized`]). The
//! dispatch of scalar arguments and the check of the result's length are done for both.
//!
//! Two user functions are the same function when they are the same value, or when they
//! have the same name, signature and return type and their closures (or kernels) capture
//! nothing and are of the same type: such a closure's type is all there is to it. So a
//! pipeline built again from the same code compares equal to the first one, and its plan
//! can be kept (`nodefusion`'s plan cache).

use std::any::TypeId;
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

/// What a function's body is known by, besides its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyIdentity {
    /// A closure or kernel that captures nothing: its type says all it does.
    Type(TypeId),
    /// One that captures values: it is only itself.
    Captures,
}

impl BodyIdentity {
    fn of<F: 'static>() -> Self {
        match size_of::<F>() {
            0 => Self::Type(TypeId::of::<F>()),
            _ => Self::Captures,
        }
    }
}

/// A user's function, ready to register or to use as a pipeline node.
pub struct UserFunction {
    name: String,
    signature: Signature,
    return_type: DataType,
    body: Body,
    identity: BodyIdentity,
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
            identity: BodyIdentity::of::<F>(),
            documentation: None,
        }
    }

    /// A function `name(argument_types...) -> return_type` computed by `kernel` over whole
    /// arrays. Arguments of other types are coerced to `argument_types` where DataFusion can.
    pub fn vectorized<K: Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync + 'static>(
        name: impl Into<String>,
        argument_types: Vec<DataType>,
        return_type: DataType,
        kernel: K,
    ) -> Self {
        Self {
            name: name.into(),
            signature: Signature::exact(argument_types, Volatility::Immutable),
            return_type,
            body: Body::Vectorized(Arc::new(kernel)),
            identity: BodyIdentity::of::<K>(),
            documentation: None,
        }
    }

    /// Adds the one-line description `nodefusion functions` shows.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.documentation = Some(describe(&self.name, description));
        self
    }

    /// Whether its closure or kernel captures nothing, so that it is the same function as
    /// any other made from the same code under the same name.
    pub fn captures_nothing(&self) -> bool {
        matches!(self.identity, BodyIdentity::Type(_))
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
    /// The same value, or the same captureless closure under the same name and types.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
            || (self.captures_nothing()
                && self.identity == other.identity
                && self.name == other.name
                && self.signature == other.signature
                && self.return_type == other.return_type)
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

    fn add_one(name: &str) -> UserFunction {
        UserFunction::row(name, |x: i64| x + 1)
    }

    #[test]
    fn the_same_captureless_closure_made_again_is_the_same_function() {
        assert_eq!(add_one("add_one"), add_one("add_one"));
        assert_eq!(add_columns(), add_columns());
        assert_ne!(add_one("add_one"), add_one("plus_one"));
        let other = UserFunction::row("add_one", |x: i64| x + 2);
        assert_ne!(add_one("add_one"), other);
    }

    #[test]
    fn a_closure_that_captures_is_only_itself() {
        let step = 1;
        let capturing = || UserFunction::row("add", move |x: i64| x + step);
        assert_ne!(capturing(), capturing());
        let function = capturing();
        assert_eq!(function, function);
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
