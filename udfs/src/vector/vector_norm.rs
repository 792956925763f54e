//! `vector_norm(a)`: the Euclidean (L2) norm of a vector.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::Float32Builder;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::kernels::dot;
use nodefusion_function::arrays::{VectorColumn, coerce_vector_type};
use nodefusion_function::{DOC_SECTION_VECTOR, ScalarArguments, invoke_kernel};

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_VECTOR,
        "The Euclidean (L2) norm of a vector.",
        "vector_norm(a)",
    )
    .with_sql_example("```sql\n> SELECT vector_norm([3.0, 4.0]);\n+-----+\n| 5.0 |\n+-----+\n```")
    .with_argument("a", "A vector: FixedSizeList<Float32> or List<Float32>.")
    .build()
});

/// The `vector_norm` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct VectorNorm {
    signature: Signature,
}

impl VectorNorm {
    /// The function, ready to wrap in a `ScalarUDF`.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(vec!["a"])
                .expect("user-defined signatures take any parameter names"),
        }
    }
}

impl Default for VectorNorm {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for VectorNorm {
    fn name(&self) -> &str {
        "vector_norm"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [a] = arg_types else {
            return plan_err!(
                "vector_norm takes 1 vector, got {} arguments",
                arg_types.len()
            );
        };
        Ok(vec![coerce_vector_type(self.name(), a)?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_kernel(
            self.name(),
            args,
            ScalarArguments::Broadcast,
            |arrays, rows| {
                let vectors = VectorColumn::try_new(self.name(), &arrays[0])?;
                let mut builder = Float32Builder::with_capacity(rows);
                for row in 0..rows {
                    builder.append_option(vectors.get(row).map(|v| dot(v, v).sqrt()));
                }
                Ok(Arc::new(builder.finish()))
            },
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray};
    use datafusion::arrow::datatypes::Float32Type;

    use super::*;
    use nodefusion_function::testing::call_arrays;

    #[test]
    fn norms_with_a_null_row() {
        let a: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(3.0), Some(4.0)]),
            None,
        ]));
        let output = call_arrays(&VectorNorm::new(), vec![a]).unwrap();
        let output = output.as_primitive::<Float32Type>();
        assert_eq!(output.value(0), 5.0);
        assert!(output.is_null(1));
    }
}
