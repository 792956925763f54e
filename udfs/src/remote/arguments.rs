//! What the remote functions share about their arguments: their signature (named
//! parameters, coerced by the function), their coercion (strings, and a few numbers) and
//! the provider URL a call's `provider` argument stands for.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Signature, Volatility};
use nodefusion_function::calls::Providers;
use nodefusion_function::string_argument_type;

/// The kind of a parameter that is not a string.
#[derive(Debug, Clone, Copy)]
pub enum Number {
    /// Any number, taken as Float64.
    Float,
    /// A whole number, taken as Int64.
    Whole,
}

/// The signature of a remote function with `parameters`: volatile (a service answers), its
/// arguments coerced by the function itself.
pub fn remote_signature(parameters: &[&str]) -> Signature {
    Signature::user_defined(Volatility::Volatile)
        .with_parameter_names(parameters.iter().map(|name| name.to_string()).collect())
        .expect("user-defined signatures take any parameter names")
}

/// The types `function(parameters...)`'s arguments are coerced to: the first is required,
/// the parameters named in `numbers` are numbers of their kind, the others strings.
pub fn coerce_arguments(
    function: &str,
    arg_types: &[DataType],
    parameters: &[&str],
    numbers: &[(&str, Number)],
) -> Result<Vec<DataType>> {
    if arg_types.is_empty() || arg_types.len() > parameters.len() {
        return plan_err!(
            "{function} takes 1 to {} arguments ({}), got {}",
            parameters.len(),
            parameters.join(", "),
            arg_types.len()
        );
    }
    arg_types
        .iter()
        .zip(parameters)
        .map(|(data_type, name)| {
            let number = numbers.iter().find(|(number, _)| number == name);
            let wanted = match number.map(|(_, kind)| kind) {
                Some(Number::Float) => {
                    (data_type.is_numeric() || data_type.is_null()).then_some(DataType::Float64)
                }
                Some(Number::Whole) => {
                    (data_type.is_integer() || data_type.is_null()).then_some(DataType::Int64)
                }
                None => string_argument_type(data_type),
            };
            match wanted {
                Some(wanted) => Ok(wanted),
                None => plan_err!("{function}: {name} cannot be {data_type}"),
            }
        })
        .collect()
}

/// The base URL of the provider that argument `position` names (or the default one): what
/// a result depends on beyond the arguments.
pub fn provider_url(
    args: &[Option<&ScalarValue>],
    position: usize,
    providers: &Providers,
) -> String {
    let name = args
        .get(position)
        .copied()
        .flatten()
        .and_then(|value| value.try_as_str().flatten());
    providers
        .resolve(name)
        .ok()
        .and_then(|(_, provider)| provider.base_url)
        .unwrap_or_default()
}
