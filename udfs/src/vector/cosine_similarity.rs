//! `cosine_similarity(a, b)`: the cosine of the angle between two vectors, in [-1, 1];
//! null where either vector is null or has length zero.

use std::sync::LazyLock;

use datafusion::logical_expr::Documentation;

use super::kernels::dot;
use super::pairwise::PairwiseMetric;
use nodefusion_function::DOC_SECTION_VECTOR;

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_VECTOR,
        "The cosine similarity of two vectors of equal length (null if either is all zeros).",
        "cosine_similarity(a, b)",
    )
    .with_sql_example(
        "```sql\n> SELECT cosine_similarity([1.0, 0.0], [1.0, 1.0]);\n+-----------+\n| 0.70710677 |\n+-----------+\n```",
    )
    .with_argument("a", "A vector: FixedSizeList<Float32> or List<Float32>.")
    .with_argument("b", "A vector of the same length.")
    .build()
});

/// The metric behind `cosine_similarity`.
#[derive(Debug)]
pub struct CosineSimilarity;

impl PairwiseMetric for CosineSimilarity {
    const NAME: &'static str = "cosine_similarity";

    fn documentation() -> &'static Documentation {
        &DOCUMENTATION
    }

    fn compute(a: &[f32], b: &[f32]) -> Option<f32> {
        let norms = (dot(a, a) * dot(b, b)).sqrt();
        (norms > 0.0).then(|| dot(a, b) / norms)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, ListArray};
    use datafusion::arrow::datatypes::{DataType, Float32Type};
    use datafusion::logical_expr::ScalarUDFImpl;

    use super::*;
    use crate::vector::PairwiseVectorFunction;
    use nodefusion_function::testing::call_arrays;

    fn vectors(rows: Vec<Option<Vec<f32>>>) -> ArrayRef {
        Arc::new(
            FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
                rows.into_iter()
                    .map(|row| row.map(|v| v.into_iter().map(Some).collect::<Vec<_>>())),
                2,
            ),
        )
    }

    #[test]
    fn cosine_of_parallel_orthogonal_opposite_null_and_zero_vectors() {
        let a = vectors(vec![
            Some(vec![1.0, 0.0]),
            Some(vec![1.0, 0.0]),
            Some(vec![1.0, 2.0]),
            None,
            Some(vec![0.0, 0.0]),
        ]);
        let b = vectors(vec![
            Some(vec![2.0, 0.0]),
            Some(vec![0.0, 3.0]),
            Some(vec![-1.0, -2.0]),
            Some(vec![1.0, 1.0]),
            Some(vec![1.0, 1.0]),
        ]);
        let function = PairwiseVectorFunction::<CosineSimilarity>::new();
        let output = call_arrays(&function, vec![a, b]).unwrap();
        let output = output.as_primitive::<Float32Type>();
        assert!((output.value(0) - 1.0).abs() < 1e-6);
        assert!(output.value(1).abs() < 1e-6);
        assert!((output.value(2) + 1.0).abs() < 1e-6);
        assert!(output.is_null(3));
        assert!(output.is_null(4));
    }

    #[test]
    fn a_length_mismatch_names_both_lengths() {
        let a: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0), Some(3.0)]),
        ]));
        let b: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
        ]));
        let function = PairwiseVectorFunction::<CosineSimilarity>::new();
        let error = call_arrays(&function, vec![a, b]).unwrap_err().to_string();
        assert!(
            error.contains("different lengths at row 0: 3 and 2"),
            "{error}"
        );
    }

    #[test]
    fn coerces_float64_lists() {
        let function = PairwiseVectorFunction::<CosineSimilarity>::new();
        let list = DataType::new_list(DataType::Float64, true);
        let coerced = function.coerce_types(&[list.clone(), list]).unwrap();
        assert_eq!(coerced[0], DataType::new_list(DataType::Float32, true));
    }
}
