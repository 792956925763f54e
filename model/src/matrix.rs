//! Dense `f32` matrix products on the `gemm` crate (the kernels under candle's own CPU
//! matmul, with AVX-512 / AVX2 micro-kernels chosen at run time), called directly so that
//! the caller chooses the number of threads, and so that a product can add onto what the
//! output already holds (a bias, a residual) instead of a separate pass.
//!
//! Every matrix is a strided view over a slice: [`View`] says where element `(row, column)`
//! is, so a head's columns inside a wider row, or a matrix read as its transpose, cost no
//! copy.

use std::marker::PhantomData;

use gemm::Parallelism;

/// A `rows x columns` matrix inside `values`: element `(row, column)` is at
/// `row * row_stride + column * column_stride`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub values: &'a [f32],
    pub rows: usize,
    pub columns: usize,
    pub row_stride: usize,
    pub column_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major matrix: rows one after the other, `columns` values each.
    pub fn rows(values: &'a [f32], columns: usize) -> Self {
        Self {
            values,
            rows: values.len() / columns.max(1),
            columns,
            row_stride: columns,
            column_stride: 1,
        }
    }

    /// The transpose of this matrix, without copying.
    pub fn transposed(self) -> Self {
        Self {
            rows: self.columns,
            columns: self.rows,
            row_stride: self.column_stride,
            column_stride: self.row_stride,
            ..self
        }
    }

    /// Whether every element lies inside `values`.
    fn fits(&self) -> bool {
        self.rows == 0
            || self.columns == 0
            || (self.rows - 1) * self.row_stride + (self.columns - 1) * self.column_stride
                < self.values.len()
    }
}

/// Where a product goes: the `rows x columns` matrix at the start of `values`, rows
/// `row_stride` apart, columns contiguous.
#[derive(Debug)]
pub struct Output<'a> {
    pub values: &'a mut [f32],
    pub row_stride: usize,
}

impl<'a> Output<'a> {
    /// A row-major output matrix with `columns` values per row.
    pub fn rows(values: &'a mut [f32], columns: usize) -> Self {
        Self {
            values,
            row_stride: columns,
        }
    }
}

/// A row-major output matrix that parallel tasks share, each writing elements that no other
/// task reads or writes (one head's columns of a sequence's rows, say): see
/// [`multiply_shared`].
#[derive(Debug, Clone, Copy)]
pub struct SharedOutput<'a> {
    values: *mut f32,
    len: usize,
    row_stride: usize,
    borrowed: PhantomData<&'a mut [f32]>,
}

// SAFETY: the values are written only through `multiply_shared`, whose callers promise
// that no two tasks touch the same element.
unsafe impl Send for SharedOutput<'_> {}
// SAFETY: as for `Send`.
unsafe impl Sync for SharedOutput<'_> {}

impl<'a> SharedOutput<'a> {
    /// `values` as a matrix with rows `row_stride` apart, borrowed while tasks share it.
    pub fn new(values: &'a mut [f32], row_stride: usize) -> Self {
        Self {
            values: values.as_mut_ptr(),
            len: values.len(),
            row_stride,
            borrowed: PhantomData,
        }
    }
}

/// `output = (add ? output : 0) + scale * left x right`, on `threads` threads of the current
/// rayon pool (one: on the calling thread).
///
/// # Panics
/// When the shapes do not agree or a view reaches past its slice: a caller's bug, never
/// the data's.
pub fn multiply(left: View, right: View, output: Output, scale: f32, add: bool, threads: usize) {
    check_output(&left, &right, output.values.len(), output.row_stride);
    // SAFETY: the output fits its slice (checked), which is borrowed mutably, so nothing
    // else reads or writes it meanwhile.
    unsafe {
        multiply_into(
            left,
            right,
            output.values.as_mut_ptr(),
            output.row_stride,
            scale,
            add,
            threads,
        );
    }
}

/// [`multiply`] into the block of `output` whose first element is element `offset` of its
/// values (rows as far apart as `output`'s).
///
/// # Safety
/// While it runs, nothing else reads or writes the block's elements (other tasks sharing
/// `output` write elsewhere).
///
/// # Panics
/// As [`multiply`], and when the block reaches past `output`'s values.
pub unsafe fn multiply_shared(
    left: View,
    right: View,
    output: SharedOutput,
    offset: usize,
    scale: f32,
    add: bool,
    threads: usize,
) {
    let len = output
        .len
        .checked_sub(offset)
        .expect("output offset inside its values");
    check_output(&left, &right, len, output.row_stride);
    // SAFETY: the block fits the values from `offset` on (checked), which `output` borrows
    // mutably for its lifetime; the caller promises that nothing else touches the block.
    unsafe {
        multiply_into(
            left,
            right,
            output.values.add(offset),
            output.row_stride,
            scale,
            add,
            threads,
        );
    }
}

/// Panics unless `left x right` agree in shape, lie inside their values, and fit an output
/// of `len` values with rows `row_stride` apart.
fn check_output(left: &View, right: &View, len: usize, row_stride: usize) {
    let (rows, columns) = (left.rows, right.columns);
    assert_eq!(
        left.columns, right.rows,
        "matrix product of mismatched shapes"
    );
    assert!(
        left.fits() && right.fits(),
        "matrix view outside its values"
    );
    assert!(
        rows == 0 || columns == 0 || (rows - 1) * row_stride + columns <= len,
        "matrix product output too small"
    );
}

/// The product of [`multiply`] into the matrix at `output`, rows `row_stride` apart.
///
/// # Safety
/// The shapes are checked ([`check_output`]) against the values at `output`, which nothing
/// else reads or writes while this runs.
unsafe fn multiply_into(
    left: View,
    right: View,
    output: *mut f32,
    row_stride: usize,
    scale: f32,
    add: bool,
    threads: usize,
) {
    let (rows, inner, columns) = (left.rows, left.columns, right.columns);
    if rows == 0 || columns == 0 {
        return;
    }
    if inner == 0 {
        if !add {
            for row in 0..rows {
                // SAFETY: row `row` of the output lies inside its values (checked).
                unsafe { std::slice::from_raw_parts_mut(output.add(row * row_stride), columns) }
                    .fill(0.0);
            }
        }
        return;
    }
    let parallelism = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: every element gemm reads or writes is inside the views and the output
    // (checked), and nothing else touches the output meanwhile (the caller's promise).
    unsafe {
        gemm::gemm(
            rows,
            columns,
            inner,
            output,
            1,
            row_stride as isize,
            add,
            left.values.as_ptr(),
            left.column_stride as isize,
            left.row_stride as isize,
            right.values.as_ptr(),
            right.column_stride as isize,
            right.row_stride as isize,
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(left: &View, right: &View) -> Vec<f32> {
        let at = |view: &View, row: usize, column: usize| {
            view.values[row * view.row_stride + column * view.column_stride]
        };
        let mut out = Vec::new();
        for row in 0..left.rows {
            for column in 0..right.columns {
                out.push(
                    (0..left.columns)
                        .map(|k| at(left, row, k) * at(right, k, column))
                        .sum(),
                );
            }
        }
        out
    }

    #[test]
    fn strided_and_transposed_products_match_the_naive_sums() {
        let values: Vec<f32> = (0..600).map(|i| ((i * 37) % 23) as f32 - 11.0).collect();
        // A 7 x 5 block inside rows of 20 values, times the transpose of a 9 x 5 matrix.
        let left = View {
            values: &values[3..],
            rows: 7,
            columns: 5,
            row_stride: 20,
            column_stride: 1,
        };
        let right = View::rows(&values[200..245], 5).transposed();
        let expected = naive(&left, &right);
        for threads in [1, 2] {
            let mut out = vec![1.0; 7 * 9];
            multiply(left, right, Output::rows(&mut out, 9), 0.5, true, threads);
            for (got, want) in out.iter().zip(&expected) {
                assert!((got - (1.0 + 0.5 * want)).abs() < 1e-3, "{got} vs {want}");
            }
        }
    }

    #[test]
    fn an_empty_inner_dimension_gives_zeros_or_keeps_the_output() {
        let mut out = vec![5.0; 4];
        let empty = View::rows(&[], 0);
        let left = View { rows: 2, ..empty };
        let right = View {
            columns: 2,
            ..empty
        };
        multiply(left, right, Output::rows(&mut out, 2), 1.0, true, 1);
        assert_eq!(out, vec![5.0; 4]);
        multiply(left, right, Output::rows(&mut out, 2), 1.0, false, 1);
        assert_eq!(out, vec![0.0; 4]);
    }
}
