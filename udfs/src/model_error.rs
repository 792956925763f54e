//! Errors of the model behind a function, as DataFusion errors that name the function.

use datafusion::common::DataFusionError;
use nodefusion_model::ModelError;

/// `error` of the model behind `function`, as a DataFusion execution error that names it.
pub fn model_error(function: &str, error: ModelError) -> DataFusionError {
    DataFusionError::Execution(format!("{function}: {error}"))
}
