//! [`PairwiseVectorFunction`]: the one `ScalarUDFImpl` behind every function of two
//! vectors. Each such function supplies only a [`PairwiseMetric`]: its name, its
//! documentation and its kernel; type coercion, null handling, broadcasting of a constant
//! vector and the length check are here, once.

use std::marker::PhantomData;
use std::sync::Arc;

use datafusion::arrow::array::Float32Builder;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use nodefusion_function::arrays::{VectorColumn, coerce_vector_type};
use nodefusion_function::{ScalarArguments, invoke_kernel};

/// A function of two vectors of equal length.
pub trait PairwiseMetric: Send + Sync + 'static {
    /// The SQL name.
    const NAME: &'static str;
    /// The documentation `nodefusion functions` shows.
    fn documentation() -> &'static Documentation;
    /// The value for two vectors of equal length; `None` where it is undefined.
    fn compute(a: &[f32], b: &[f32]) -> Option<f32>;
}

/// The scalar function computing metric `M` row by row, as `Float32`.
pub struct PairwiseVectorFunction<M> {
    signature: Signature,
    metric: PhantomData<M>,
}

impl<M: PairwiseMetric> PairwiseVectorFunction<M> {
    /// The function, ready to wrap in a `ScalarUDF`.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(vec!["a", "b"])
                .expect("user-defined signatures take any parameter names"),
            metric: PhantomData,
        }
    }
}

impl<M: PairwiseMetric> Default for PairwiseVectorFunction<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> std::fmt::Debug for PairwiseVectorFunction<M>
where
    M: PairwiseMetric,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairwiseVectorFunction")
            .field("name", &M::NAME)
            .finish()
    }
}

impl<M> PartialEq for PairwiseVectorFunction<M> {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl<M> Eq for PairwiseVectorFunction<M> {}

impl<M: PairwiseMetric> std::hash::Hash for PairwiseVectorFunction<M> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        M::NAME.hash(state);
    }
}

impl<M: PairwiseMetric> ScalarUDFImpl for PairwiseVectorFunction<M> {
    fn name(&self) -> &str {
        M::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [a, b] = arg_types else {
            return plan_err!(
                "{} takes 2 vectors, got {} arguments",
                M::NAME,
                arg_types.len()
            );
        };
        Ok(vec![
            coerce_vector_type(M::NAME, a)?,
            coerce_vector_type(M::NAME, b)?,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_kernel(M::NAME, args, ScalarArguments::Broadcast, |arrays, rows| {
            let a = VectorColumn::try_new(M::NAME, &arrays[0])?;
            let b = VectorColumn::try_new(M::NAME, &arrays[1])?;
            let mut builder = Float32Builder::with_capacity(rows);
            for row in 0..rows {
                let (Some(a), Some(b)) = (a.get(row), b.get(row)) else {
                    builder.append_null();
                    continue;
                };
                if a.len() != b.len() {
                    return exec_err!(
                        "{}: vectors of different lengths at row {row}: {} and {}",
                        M::NAME,
                        a.len(),
                        b.len()
                    );
                }
                builder.append_option(M::compute(a, b));
            }
            Ok(Arc::new(builder.finish()))
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(M::documentation())
    }
}
