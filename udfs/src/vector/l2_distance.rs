//! `l2_distance(a, b)`: the Euclidean distance between two vectors.

use std::sync::LazyLock;

use datafusion::logical_expr::Documentation;

use super::kernels::squared_distance;
use super::pairwise::PairwiseMetric;
use nodefusion_function::DOC_SECTION_VECTOR;

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_VECTOR,
        "The Euclidean (L2) distance between two vectors of equal length.",
        "l2_distance(a, b)",
    )
    .with_sql_example(
        "```sql\n> SELECT l2_distance([0.0, 0.0], [3.0, 4.0]);\n+-----+\n| 5.0 |\n+-----+\n```",
    )
    .with_argument("a", "A vector: FixedSizeList<Float32> or List<Float32>.")
    .with_argument("b", "A vector of the same length.")
    .build()
});

/// The metric behind `l2_distance`.
#[derive(Debug)]
pub struct L2Distance;

impl PairwiseMetric for L2Distance {
    const NAME: &'static str = "l2_distance";

    fn documentation() -> &'static Documentation {
        &DOCUMENTATION
    }

    fn compute(a: &[f32], b: &[f32]) -> Option<f32> {
        Some(squared_distance(a, b).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray};
    use datafusion::arrow::datatypes::Float32Type;

    use super::*;
    use crate::vector::PairwiseVectorFunction;
    use nodefusion_function::testing::call_arrays;

    #[test]
    fn distances_with_a_null_row() {
        let a: ArrayRef = Arc::new(
            FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
                vec![
                    Some(vec![Some(0.0), Some(0.0)]),
                    Some(vec![Some(1.0), Some(1.0)]),
                ],
                2,
            ),
        );
        let b: ArrayRef = Arc::new(
            FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
                vec![Some(vec![Some(3.0), Some(4.0)]), None],
                2,
            ),
        );
        let output = call_arrays(&PairwiseVectorFunction::<L2Distance>::new(), vec![a, b]).unwrap();
        let output = output.as_primitive::<Float32Type>();
        assert_eq!(output.value(0), 5.0);
        assert!(output.is_null(1));
    }
}
