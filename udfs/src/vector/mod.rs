//! Vector functions over `FixedSizeList<Float32>` and `List<Float32>` columns:
//! `cosine_similarity`, `dot_product`, `l2_distance` (each a [`PairwiseMetric`] run by
//! [`PairwiseVectorFunction`]) and `vector_norm`.

mod cosine_similarity;
mod dot_product;
pub(crate) mod kernels;
mod l2_distance;
mod pairwise;
mod vector_norm;

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

pub use cosine_similarity::CosineSimilarity;
pub use dot_product::DotProduct;
pub use l2_distance::L2Distance;
pub use pairwise::{PairwiseMetric, PairwiseVectorFunction};
pub use vector_norm::VectorNorm;

/// Every vector function.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(PairwiseVectorFunction::<
            CosineSimilarity,
        >::new())),
        Arc::new(ScalarUDF::new_from_impl(
            PairwiseVectorFunction::<DotProduct>::new(),
        )),
        Arc::new(ScalarUDF::new_from_impl(
            PairwiseVectorFunction::<L2Distance>::new(),
        )),
        Arc::new(ScalarUDF::new_from_impl(VectorNorm::new())),
    ]
}
