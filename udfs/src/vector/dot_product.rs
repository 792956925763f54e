//! `dot_product(a, b)`: the sum of the element-wise products of two vectors.

use std::sync::LazyLock;

use datafusion::logical_expr::Documentation;

use super::kernels::dot;
use super::pairwise::PairwiseMetric;
use nodefusion_function::DOC_SECTION_VECTOR;

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_VECTOR,
        "The dot product of two vectors of equal length.",
        "dot_product(a, b)",
    )
    .with_sql_example(
        "```sql\n> SELECT dot_product([1.0, 2.0], [3.0, 4.0]);\n+------+\n| 11.0 |\n+------+\n```",
    )
    .with_argument("a", "A vector: FixedSizeList<Float32> or List<Float32>.")
    .with_argument("b", "A vector of the same length.")
    .build()
});

/// The metric behind `dot_product`.
#[derive(Debug)]
pub struct DotProduct;

impl PairwiseMetric for DotProduct {
    const NAME: &'static str = "dot_product";

    fn documentation() -> &'static Documentation {
        &DOCUMENTATION
    }

    fn compute(a: &[f32], b: &[f32]) -> Option<f32> {
        Some(dot(a, b))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray};
    use datafusion::arrow::datatypes::Float32Type;

    use super::*;
    use crate::vector::PairwiseVectorFunction;
    use nodefusion_function::testing::call_arrays;

    #[test]
    fn dot_products_with_nulls_and_an_empty_vector() {
        let a: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
            None,
            Some(vec![]),
        ]));
        let b: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(3.0), Some(4.0)]),
            Some(vec![Some(1.0)]),
            Some(vec![]),
        ]));
        let output = call_arrays(&PairwiseVectorFunction::<DotProduct>::new(), vec![a, b]).unwrap();
        let output = output.as_primitive::<Float32Type>();
        assert_eq!(output.value(0), 11.0);
        assert!(output.is_null(1));
        assert_eq!(output.value(2), 0.0);
    }
}
