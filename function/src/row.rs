//! Row-wise closures lifted into vectorized functions, so that a simple node stays one
//! line: `UserFunction::row("lowercase", |s: &str| s.to_lowercase())`.
//!
//! A closure may take up to three arguments of the kinds [`RowArgument`] lists and return
//! any [`RowOutput`]. A plain argument (`&str`, `i64`, `f64`, `bool`) makes the function
//! strict: a null input gives a null output without calling the closure. An `Option<_>`
//! argument sees nulls as `None`. Returning `Result<_, E>` turns an `Err` into an error that
//! names the function and the row.

use std::fmt::Display;
use std::iter::Copied;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Float64Builder,
    Int64Builder, PrimitiveArray, StringBuilder,
};
use datafusion::arrow::datatypes::{ArrowPrimitiveType, DataType, Float64Type, Int64Type};
use datafusion::arrow::util::bit_iterator::BitIterator;
use datafusion::common::{Result, exec_datafusion_err, exec_err, plan_err};

use crate::arrays::{DenseStrings, StringColumn};
use crate::string_arguments::string_argument_type;

/// A type a row-wise closure can take as an argument.
pub trait RowArgument {
    /// What the closure receives for one row, borrowed from the column.
    type Value<'a>;
    /// The column the values are read from.
    type Column<'a>;
    /// The values of a column with a value in every row, in order (see
    /// [`RowArgument::dense`]).
    type Dense<'a>: Iterator<Item = Self::Value<'a>>;
    /// The Arrow type an argument of type `data_type` is coerced to, if it can be.
    fn coerce(data_type: &DataType) -> Option<DataType>;
    /// A word for the expected type, used in error messages.
    fn expected() -> &'static str;
    /// Reads `array` (already coerced) as this argument's column.
    fn column<'a>(function: &str, array: &'a ArrayRef) -> Result<Self::Column<'a>>;
    /// The value at `row`; `None` where the closure must not be called (a null input to a
    /// plain argument), `Some(None)` for a null given to an `Option` argument.
    fn value<'a>(column: &Self::Column<'a>, row: usize) -> Option<Self::Value<'a>>;
    /// The values of `column` where each of its `rows` rows holds a value of its own (no
    /// nulls, no broadcast): read without per-row checks, in a loop the compiler can
    /// vectorize. `None` otherwise.
    fn dense<'a>(column: &Self::Column<'a>, rows: usize) -> Option<Self::Dense<'a>>;
}

fn coerce_integer(data_type: &DataType) -> Option<DataType> {
    (data_type.is_integer() || data_type.is_null()).then_some(DataType::Int64)
}

fn coerce_float(data_type: &DataType) -> Option<DataType> {
    (data_type.is_numeric() || data_type.is_null()).then_some(DataType::Float64)
}

fn coerce_boolean(data_type: &DataType) -> Option<DataType> {
    matches!(data_type, DataType::Boolean | DataType::Null).then_some(DataType::Boolean)
}

/// A column of one-row arrays broadcasts, as [`StringColumn`] does.
#[derive(Debug, Clone, Copy)]
pub struct Broadcasting<'a, A> {
    array: &'a A,
    broadcast: bool,
}

impl<'a, A: Array> Broadcasting<'a, A> {
    fn new(array: &'a A) -> Self {
        Self {
            array,
            broadcast: array.len() == 1,
        }
    }

    #[inline]
    fn row(&self, row: usize) -> Option<usize> {
        let row = if self.broadcast { 0 } else { row };
        self.array.is_valid(row).then_some(row)
    }

    fn is_dense(&self, rows: usize) -> bool {
        self.array.len() == rows && self.array.null_count() == 0
    }
}

macro_rules! primitive_argument {
    ($plain:ty, $arrow:ty, $coerce:ident, $expected:literal, $as_array:expr, $dense:ty, $dense_of:expr) => {
        impl RowArgument for $plain {
            type Value<'a> = $plain;
            type Column<'a> = Broadcasting<'a, $arrow>;
            type Dense<'a> = $dense;
            fn coerce(data_type: &DataType) -> Option<DataType> {
                $coerce(data_type)
            }
            fn expected() -> &'static str {
                $expected
            }
            fn column<'a>(function: &str, array: &'a ArrayRef) -> Result<Self::Column<'a>> {
                $as_array(array).map(Broadcasting::new).ok_or_else(|| {
                    exec_datafusion_err!(
                        "{function}: expected {}, got {}",
                        $expected,
                        array.data_type()
                    )
                })
            }
            #[inline]
            fn value<'a>(column: &Self::Column<'a>, row: usize) -> Option<Self::Value<'a>> {
                column.row(row).map(|row| column.array.value(row))
            }
            fn dense<'a>(column: &Self::Column<'a>, rows: usize) -> Option<Self::Dense<'a>> {
                column.is_dense(rows).then(|| $dense_of(column.array))
            }
        }

        impl RowArgument for Option<$plain> {
            type Value<'a> = Option<$plain>;
            type Column<'a> = Broadcasting<'a, $arrow>;
            type Dense<'a> = std::iter::Map<$dense, fn($plain) -> Option<$plain>>;
            fn coerce(data_type: &DataType) -> Option<DataType> {
                $coerce(data_type)
            }
            fn expected() -> &'static str {
                $expected
            }
            fn column<'a>(function: &str, array: &'a ArrayRef) -> Result<Self::Column<'a>> {
                <$plain as RowArgument>::column(function, array)
            }
            #[inline]
            fn value<'a>(column: &Self::Column<'a>, row: usize) -> Option<Self::Value<'a>> {
                Some(<$plain as RowArgument>::value(column, row))
            }
            fn dense<'a>(column: &Self::Column<'a>, rows: usize) -> Option<Self::Dense<'a>> {
                let values = <$plain as RowArgument>::dense(column, rows)?;
                Some(values.map(Some))
            }
        }
    };
}

fn as_int64(array: &ArrayRef) -> Option<&PrimitiveArray<Int64Type>> {
    array.as_primitive_opt()
}

fn as_float64(array: &ArrayRef) -> Option<&PrimitiveArray<Float64Type>> {
    array.as_primitive_opt()
}

fn as_boolean(array: &ArrayRef) -> Option<&BooleanArray> {
    array.as_boolean_opt()
}

fn primitive_values<T: ArrowPrimitiveType>(
    array: &PrimitiveArray<T>,
) -> Copied<std::slice::Iter<'_, T::Native>> {
    array.values().iter().copied()
}

fn boolean_values(array: &BooleanArray) -> BitIterator<'_> {
    array.values().iter()
}

primitive_argument!(
    i64,
    PrimitiveArray<Int64Type>,
    coerce_integer,
    "an integer",
    as_int64,
    Copied<std::slice::Iter<'a, i64>>,
    primitive_values
);
primitive_argument!(
    f64,
    PrimitiveArray<Float64Type>,
    coerce_float,
    "a number",
    as_float64,
    Copied<std::slice::Iter<'a, f64>>,
    primitive_values
);
primitive_argument!(
    bool,
    BooleanArray,
    coerce_boolean,
    "a boolean",
    as_boolean,
    BitIterator<'a>,
    boolean_values
);

impl RowArgument for &str {
    type Value<'a> = &'a str;
    type Column<'a> = StringColumn<'a>;
    type Dense<'a> = DenseStrings<'a>;
    fn coerce(data_type: &DataType) -> Option<DataType> {
        string_argument_type(data_type)
    }
    fn expected() -> &'static str {
        "a string"
    }
    fn column<'a>(function: &str, array: &'a ArrayRef) -> Result<Self::Column<'a>> {
        StringColumn::try_new(function, array)
    }
    #[inline]
    fn value<'a>(column: &Self::Column<'a>, row: usize) -> Option<Self::Value<'a>> {
        column.get(row)
    }
    fn dense<'a>(column: &Self::Column<'a>, rows: usize) -> Option<Self::Dense<'a>> {
        column.is_dense(rows).then(|| column.values())
    }
}

impl RowArgument for Option<&str> {
    type Value<'a> = Option<&'a str>;
    type Column<'a> = StringColumn<'a>;
    type Dense<'a> = std::iter::Map<DenseStrings<'a>, fn(&'a str) -> Option<&'a str>>;
    fn coerce(data_type: &DataType) -> Option<DataType> {
        string_argument_type(data_type)
    }
    fn expected() -> &'static str {
        "a string"
    }
    fn column<'a>(function: &str, array: &'a ArrayRef) -> Result<Self::Column<'a>> {
        StringColumn::try_new(function, array)
    }
    #[inline]
    fn value<'a>(column: &Self::Column<'a>, row: usize) -> Option<Self::Value<'a>> {
        Some(column.get(row))
    }
    fn dense<'a>(column: &Self::Column<'a>, rows: usize) -> Option<Self::Dense<'a>> {
        let values = <&str as RowArgument>::dense(column, rows)?;
        Some(values.map(Some))
    }
}

/// A type a row-wise closure can return.
pub trait RowOutput {
    /// The builder of the output column.
    type Builder: ArrayBuilder;
    /// The Arrow type of the output column.
    fn data_type() -> DataType;
    /// A builder with room for `rows` values.
    fn builder(rows: usize) -> Self::Builder;
    /// Appends this value; an `Err` carries the closure's own error message.
    fn append(self, builder: &mut Self::Builder) -> std::result::Result<(), String>;
    /// Appends a null.
    fn append_null(builder: &mut Self::Builder);
    /// The column of `rows` results, one per row in order (no null inputs to skip); an
    /// `Err` carries the row and the closure's message.
    fn collect(
        rows: usize,
        results: impl Iterator<Item = Self>,
    ) -> std::result::Result<ArrayRef, (usize, String)>
    where
        Self: Sized,
    {
        let mut builder = Self::builder(rows);
        for (row, result) in results.enumerate() {
            result
                .append(&mut builder)
                .map_err(|message| (row, message))?;
        }
        Ok(builder.finish())
    }
}

macro_rules! builder_output {
    ($plain:ty, $builder:ty, $data_type:expr, $new:expr $(, $arrow:ty)?) => {
        impl RowOutput for $plain {
            type Builder = $builder;
            fn data_type() -> DataType {
                $data_type
            }
            fn builder(rows: usize) -> $builder {
                $new(rows)
            }
            #[inline]
            fn append(self, builder: &mut $builder) -> std::result::Result<(), String> {
                builder.append_value(self);
                Ok(())
            }
            fn append_null(builder: &mut $builder) {
                builder.append_null();
            }
            $(
            /// Straight into the values buffer: no validity to track, a loop the compiler
            /// can vectorize.
            fn collect(
                _rows: usize,
                results: impl Iterator<Item = Self>,
            ) -> std::result::Result<ArrayRef, (usize, String)> {
                let values: Vec<$plain> = results.collect();
                Ok(Arc::new(PrimitiveArray::<$arrow>::from(values)))
            }
            )?
        }

        impl RowOutput for Option<$plain> {
            type Builder = $builder;
            fn data_type() -> DataType {
                $data_type
            }
            fn builder(rows: usize) -> $builder {
                $new(rows)
            }
            #[inline]
            fn append(self, builder: &mut $builder) -> std::result::Result<(), String> {
                builder.append_option(self);
                Ok(())
            }
            fn append_null(builder: &mut $builder) {
                builder.append_null();
            }
        }
    };
}

builder_output!(String, StringBuilder, DataType::Utf8, |rows| {
    StringBuilder::with_capacity(rows, rows * 16)
});
builder_output!(
    i64,
    Int64Builder,
    DataType::Int64,
    Int64Builder::with_capacity,
    Int64Type
);
builder_output!(
    f64,
    Float64Builder,
    DataType::Float64,
    Float64Builder::with_capacity,
    Float64Type
);
builder_output!(
    bool,
    BooleanBuilder,
    DataType::Boolean,
    BooleanBuilder::with_capacity
);

impl<T: RowOutput, E: Display> RowOutput for std::result::Result<T, E> {
    type Builder = T::Builder;
    fn data_type() -> DataType {
        T::data_type()
    }
    fn builder(rows: usize) -> T::Builder {
        T::builder(rows)
    }
    #[inline]
    fn append(self, builder: &mut T::Builder) -> std::result::Result<(), String> {
        match self {
            Ok(value) => value.append(builder),
            Err(error) => Err(error.to_string()),
        }
    }
    fn append_null(builder: &mut T::Builder) {
        T::append_null(builder);
    }
}

/// A closure that can be lifted into a vectorized function. `Marker` is the closure's
/// signature as a function pointer type; it is inferred, never written.
pub trait RowFn<Marker>: Send + Sync + 'static {
    /// The number of arguments.
    fn arity(&self) -> usize;
    /// The types the arguments are coerced to, or an error naming the first that cannot be.
    fn coerce_arguments(&self, function: &str, types: &[DataType]) -> Result<Vec<DataType>>;
    /// The Arrow type of the result.
    fn return_type(&self) -> DataType;
    /// Calls the closure on each of `rows` rows of `arrays`.
    fn evaluate(&self, function: &str, arrays: &[ArrayRef], rows: usize) -> Result<ArrayRef>;
}

/// `row_fn!(count; Type column value, ...; zipped; pattern)`: `zipped` zips the arguments'
/// dense values (named as their `value`s) and `pattern` takes one item of it apart.
macro_rules! row_fn {
    ($count:literal; $($arg:ident $column:ident $value:ident),+; $zipped:expr; $pattern:pat) => {
        impl<F, O, $($arg),+> RowFn<fn($($arg),+) -> O> for F
        where
            F: Fn($($arg),+) -> O + for<'a> Fn($($arg::Value<'a>),+) -> O + Send + Sync + 'static,
            O: RowOutput,
            $($arg: RowArgument),+
        {
            fn arity(&self) -> usize {
                $count
            }

            fn coerce_arguments(&self, function: &str, types: &[DataType]) -> Result<Vec<DataType>> {
                let [$($value),+] = types else {
                    return plan_err!("{function} takes {} arguments, got {}", $count, types.len());
                };
                let mut position = 0;
                Ok(vec![$({
                    position += 1;
                    $arg::coerce($value).ok_or_else(|| {
                        datafusion::common::plan_datafusion_err!(
                            "{function}: argument {position} must be {}, got {}",
                            $arg::expected(),
                            $value
                        )
                    })?
                }),+])
            }

            fn return_type(&self) -> DataType {
                O::data_type()
            }

            fn evaluate(&self, function: &str, arrays: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
                fn call<'r, F, O, $($arg: RowArgument),+>(f: &F, $($value: $arg::Value<'r>),+) -> O
                where
                    F: for<'a> Fn($($arg::Value<'a>),+) -> O,
                {
                    f($($value),+)
                }
                let [$($column),+] = arrays else {
                    return exec_err!("{function} takes {} arguments, got {}", $count, arrays.len());
                };
                $(let $column = $arg::column(function, $column)?;)+
                let failed = |(row, message)| exec_datafusion_err!("{function} failed on row {row}: {message}");
                if let ($(Some($value),)+) = ($($arg::dense(&$column, rows),)+) {
                    let results = $zipped.map(|$pattern| call::<F, O, $($arg),+>(self, $($value),+));
                    return O::collect(rows, results).map_err(failed);
                }
                let mut builder = O::builder(rows);
                for row in 0..rows {
                    let ($(Some($value),)+) = ($($arg::value(&$column, row),)+) else {
                        O::append_null(&mut builder);
                        continue;
                    };
                    call::<F, O, $($arg),+>(self, $($value),+)
                        .append(&mut builder)
                        .map_err(|message| failed((row, message)))?;
                }
                Ok(builder.finish())
            }
        }
    };
}

row_fn!(1; A a_column a_value; a_value; a_value);
row_fn!(2; A a_column a_value, B b_column b_value; a_value.zip(b_value); (a_value, b_value));
row_fn!(
    3;
    A a_column a_value, B b_column b_value, C c_column c_value;
    a_value.zip(b_value).zip(c_value);
    ((a_value, b_value), c_value)
);

/// [`RowFn`] without its marker, so that closures of every signature can be stored alike.
pub(crate) trait DynRowFn: Send + Sync {
    fn coerce_arguments(&self, function: &str, types: &[DataType]) -> Result<Vec<DataType>>;
    fn evaluate(&self, function: &str, arrays: &[ArrayRef], rows: usize) -> Result<ArrayRef>;
}

struct Erased<F, M> {
    closure: F,
    marker: std::marker::PhantomData<fn() -> M>,
}

impl<F: RowFn<M>, M> DynRowFn for Erased<F, M> {
    fn coerce_arguments(&self, function: &str, types: &[DataType]) -> Result<Vec<DataType>> {
        self.closure.coerce_arguments(function, types)
    }
    fn evaluate(&self, function: &str, arrays: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
        self.closure.evaluate(function, arrays, rows)
    }
}

/// `closure` with its signature erased, and its return type.
pub(crate) fn erase<M: 'static, F: RowFn<M>>(closure: F) -> (Box<dyn DynRowFn>, DataType) {
    let return_type = closure.return_type();
    let erased = Erased {
        closure,
        marker: std::marker::PhantomData,
    };
    (Box::new(erased), return_type)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray, StringViewArray};

    use super::*;
    use crate::UserFunction;
    use crate::testing::call_arrays;
    use datafusion::logical_expr::ScalarUDFImpl;

    #[test]
    fn lifts_a_string_closure_and_propagates_nulls() {
        let lower = UserFunction::row("lower_case", |s: &str| s.to_lowercase());
        let input: ArrayRef = Arc::new(StringViewArray::from(vec![Some("AbC"), None]));
        let output = call_arrays(&lower, vec![input]).unwrap();
        let output = output.as_string::<i32>();
        assert_eq!(output.value(0), "abc");
        assert!(output.is_null(1));
    }

    #[test]
    fn option_arguments_see_nulls() {
        let or_zero = UserFunction::row("or_zero", |x: Option<f64>| x.unwrap_or(0.0));
        let input: ArrayRef = Arc::new(Float64Array::from(vec![Some(2.5), None]));
        let output = call_arrays(&or_zero, vec![input]).unwrap();
        assert_eq!(output.as_primitive::<Float64Type>().values(), &[2.5, 0.0]);
    }

    #[test]
    fn two_arguments_of_different_kinds() {
        let repeat = UserFunction::row("repeat_text", |s: &str, n: i64| s.repeat(n as usize));
        let text: ArrayRef = Arc::new(StringArray::from(vec!["ab", "c"]));
        let counts: ArrayRef = Arc::new(Int64Array::from(vec![2, 3]));
        let output = call_arrays(&repeat, vec![text, counts]).unwrap();
        let output = output.as_string::<i32>();
        assert_eq!((output.value(0), output.value(1)), ("abab", "ccc"));
    }

    #[test]
    fn dense_and_checked_paths_agree() {
        // No nulls: the dense path; a null in `a` (row 3) or a broadcast `c`: checked reads.
        let blend = UserFunction::row(
            "blend",
            |a: i64, b: Option<f64>, c: bool| {
                if c { a as f64 } else { b.unwrap_or(-1.0) }
            },
        );
        let b: ArrayRef = Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5, 3.5]));
        let c: ArrayRef = Arc::new(BooleanArray::from(vec![true, false, true, false]));
        let dense: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 4]));
        let with_null: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(3), None]));
        let all_true: ArrayRef = Arc::new(BooleanArray::from(vec![true]));
        let values = |args: Vec<ArrayRef>| {
            let output = call_arrays(&blend, args).unwrap();
            let output = output.as_primitive::<Float64Type>();
            (0..output.len())
                .map(|row| output.is_valid(row).then(|| output.value(row)))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            values(vec![Arc::clone(&dense), Arc::clone(&b), Arc::clone(&c)]),
            [Some(1.0), Some(1.5), Some(3.0), Some(3.5)]
        );
        assert_eq!(
            values(vec![with_null, Arc::clone(&b), c]),
            [Some(1.0), Some(1.5), Some(3.0), None]
        );
        assert_eq!(
            values(vec![dense, b, all_true]),
            [Some(1.0), Some(2.0), Some(3.0), Some(4.0)]
        );
    }

    #[test]
    fn dense_strings_of_every_layout() {
        let length = UserFunction::row("text_length", |s: Option<&str>| {
            s.map_or(-1, |s| s.len() as i64)
        });
        let inputs: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["a", "bcd"])),
            Arc::new(StringViewArray::from(vec!["a", "bcd"])),
            Arc::new(datafusion::arrow::array::LargeStringArray::from(vec![
                "a", "bcd",
            ])),
        ];
        for input in inputs {
            let output = call_arrays(&length, vec![input]).unwrap();
            assert_eq!(output.as_primitive::<Int64Type>().values(), &[1, 3]);
        }
    }

    #[test]
    fn a_closure_error_names_function_and_row() {
        let parse = UserFunction::row("parse_int", |s: &str| s.parse::<i64>());
        let input: ArrayRef = Arc::new(StringArray::from(vec!["1", "x"]));
        let error = call_arrays(&parse, vec![input]).unwrap_err().to_string();
        assert!(error.contains("parse_int failed on row 1"), "{error}");
    }

    #[test]
    fn coercion_rejects_a_wrong_type_by_position() {
        let lower = UserFunction::row("lower_case", |s: &str| s.to_lowercase());
        let error = lower
            .coerce_types(&[DataType::Int64])
            .unwrap_err()
            .to_string();
        assert!(error.contains("argument 1 must be a string"), "{error}");
        assert_eq!(
            lower.coerce_types(&[DataType::Utf8View]).unwrap(),
            vec![DataType::Utf8View]
        );
    }
}
