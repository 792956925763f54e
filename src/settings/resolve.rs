//! [`resolve`]: the one place where a node's setting layers meet, for pipeline nodes and
//! for the calls SQL lifts alike.

use datafusion::logical_expr::ScalarUDF;
use nodefusion_function::{OperatorFunction, operator_function};

use super::{BatchSize, DEFAULT_ASYNC_CONCURRENCY, NodeSettings, RunSettings, SessionOptions};

/// The function's own preference: its batch size, and for async functions (and isolated
/// ones whose calls overlap, async Python) a number of calls in flight.
fn preference(udf: &ScalarUDF) -> NodeSettings {
    let Some(function) = operator_function(udf) else {
        return NodeSettings::default();
    };
    let calls_in_flight = match &function {
        OperatorFunction::Stateful(_) => false,
        OperatorFunction::Isolated(function) => function.concurrent_calls(),
        OperatorFunction::AsyncRow(_) | OperatorFunction::AsyncBatch(_) => true,
    };
    NodeSettings {
        batch_size: function.meta().default_batch_size().map(BatchSize::Rows),
        max_concurrency: calls_in_flight.then_some(DEFAULT_ASYNC_CONCURRENCY),
        ..NodeSettings::default()
    }
}

/// The settings a node calling `function` (none for a plain SQL expression) runs with.
/// Highest first:
///
/// 1. `layers`: the node's own settings, then the defaults of the pipelines it is in,
///    innermost first (empty for a call in a SQL query);
/// 2. the session's options for the function (`SET nodefusion.embed.batch_size`), then
///    for every function (`SET nodefusion.batch_size`);
/// 3. the function's own preference (an embedding model's batch size; calls in flight for
///    async functions);
/// 4. the built-in values of the declaration.
///
/// `batch_size = "auto"` stays for a stateful or isolated function (it tunes its calls);
/// any other node takes the batch size it would have had without it.
pub fn resolve(
    layers: &[&NodeSettings],
    session: &SessionOptions,
    function: Option<&ScalarUDF>,
) -> RunSettings {
    let own = NodeSettings::layered(layers);
    let session = session.for_function(function.map(ScalarUDF::name));
    let preference = function.map(preference).unwrap_or_default();
    let mut settings = own.or(&session).or(&preference).with_builtins();
    let instances = function
        .and_then(operator_function)
        .is_some_and(|function| !function.is_async());
    if settings.batch_size == BatchSize::Auto && !instances {
        settings.batch_size = preference.with_builtins().batch_size;
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::DEFAULT_BATCH_SIZE;
    use datafusion::arrow::array::ArrayRef;
    use datafusion::arrow::datatypes::DataType;
    use datafusion::common::config::ExtensionOptions;
    use std::sync::Arc;

    fn batch_size(size: usize) -> NodeSettings {
        NodeSettings {
            batch_size: Some(BatchSize::Rows(size)),
            ..NodeSettings::default()
        }
    }

    #[test]
    fn a_node_setting_overrides_its_pipelines_which_override_the_session_and_builtins() {
        let mut session = SessionOptions::default();
        session.set("batch_size", "256").unwrap();
        let (node, inner, outer) = (batch_size(16), batch_size(32), batch_size(64));
        let resolved = |layers: &[&NodeSettings]| resolve(layers, &session, None).batch_size.rows();
        assert_eq!(resolved(&[&node, &inner, &outer]), 16);
        assert_eq!(resolved(&[&NodeSettings::default(), &inner, &outer]), 32);
        assert_eq!(resolved(&[&NodeSettings::default(), &outer]), 64);
        assert_eq!(resolved(&[]), 256);
        let builtin = resolve(&[], &SessionOptions::default(), None);
        assert_eq!(builtin.batch_size, BatchSize::Rows(DEFAULT_BATCH_SIZE));
        assert_eq!(builtin.max_concurrency, None);
    }

    #[test]
    fn auto_batch_size_stays_for_stateful_functions_and_is_the_default_for_others() {
        let mut session = SessionOptions::default();
        session.set("batch_size", "auto").unwrap();
        struct Identity;
        impl nodefusion_function::FunctionInstance for Identity {
            fn process(&mut self, args: &[ArrayRef]) -> datafusion::common::Result<ArrayRef> {
                Ok(Arc::clone(&args[0]))
            }
        }
        let stateful =
            nodefusion_function::stateful("tuned", vec![DataType::Int64], DataType::Int64, |_| {
                Ok(Identity)
            });
        let plain = nodefusion_function::UserFunction::vectorized(
            "plain",
            vec![DataType::Int64],
            DataType::Int64,
            |args| Ok(Arc::clone(&args[0])),
        )
        .into_udf();
        let resolved = |function| resolve(&[], &session, function).batch_size;
        assert_eq!(resolved(Some(&stateful)), BatchSize::Auto);
        assert_eq!(resolved(Some(&plain)), BatchSize::Rows(DEFAULT_BATCH_SIZE));
        assert_eq!(resolved(None), BatchSize::Rows(DEFAULT_BATCH_SIZE));
    }
}
