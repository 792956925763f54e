//! Dense products in 16-bit integers with 32-bit integer sums, on the AVX-512 VNNI
//! instruction `vpdpwssd` (sixteen lanes, each adding two products of signed 16-bit pairs
//! into an `i32`), in the frame of [`crate::packed_matrix`]: the arithmetic of the bf16
//! products on CPUs that have VNNI but not BF16 (Cascade Lake, Ice Lake). (On AVX2 alone,
//! `vpmaddwd` and an add give the same sums, but measured on Zen 4 no faster than the `f32`
//! products: such CPUs compute in `f32`.)
//!
//! Each weight column is scaled to integers of at most [`weight_limit`] and each activation
//! row to integers of at most [`ACTIVATION_LIMIT`] (symmetric, rounded to nearest): 11-bit
//! activations and 10- to 15-bit weights, where int8 products (what VNNI's byte instruction
//! takes) moved all-MiniLM-L6-v2's vectors as far as a cosine of 0.985 from fp32's (0.996
//! with the weights alone in int8), below the 0.999 bar. The limits are chosen so that no
//! sum can overflow: `inner x ACTIVATION_LIMIT x weight_limit(inner)` stays within `i32`,
//! whatever the values. A sum becomes `f32` once, scaled by its row's and column's factors.

use crate::packed_matrix::{
    Avx512Extension, Block, PackedMatrix, PairFormat, Target, avx512_supported, lane_mask,
};

/// The largest integer an activation is scaled to (11 bits and a sign).
const ACTIVATION_LIMIT: f32 = 2047.0;

/// The narrowest weights a product may have, in integer steps (8 bits and a sign): an inner
/// dimension that leaves less (beyond about 4,100) is refused by [`int16_fits`].
const NARROWEST_WEIGHTS: i32 = 255;

/// The int16 format: a scale per weight column (the column's largest magnitude over
/// [`weight_limit`]) and its inverse.
#[derive(Debug, Clone)]
pub struct Int16 {
    scales: Vec<f32>,
    inverses: Vec<f32>,
    limit: f32,
}

/// A matrix scaled to 16-bit integers and packed for [`PackedMatrix::multiply_add`].
pub type Int16Matrix = PackedMatrix<Int16>;

/// Whether this CPU has the instructions the int16 products are compiled for.
pub fn int16_supported() -> bool {
    avx512_supported(Avx512Extension::Vnni)
}

/// The largest integer a weight of a product with `inner` rows is scaled to: as large as
/// 16 bits allow while `inner` products of it and [`ACTIVATION_LIMIT`] sum within `i32`.
fn weight_limit(inner: usize) -> i32 {
    let padded = inner.div_ceil(2) * 2;
    let limit = i32::MAX as i64 / (ACTIVATION_LIMIT as i64 * padded.max(1) as i64);
    limit.min(i16::MAX as i64) as i32
}

/// Whether a product with `inner` rows keeps weights of at least [`NARROWEST_WEIGHTS`]
/// steps in int16 (a wider layer computes in `f32`).
pub fn int16_fits(inner: usize) -> bool {
    weight_limit(inner) >= NARROWEST_WEIGHTS
}

impl PairFormat for Int16 {
    fn supported() -> bool {
        int16_supported()
    }

    fn for_weights(values: &[f32], inner: usize, columns: usize) -> Self {
        let limit = weight_limit(inner) as f32;
        let mut largest = vec![0f32; columns];
        for row in values.chunks_exact(columns.max(1)) {
            for (largest, value) in largest.iter_mut().zip(row) {
                *largest = largest.max(value.abs());
            }
        }
        Self {
            scales: largest.iter().map(|largest| largest / limit).collect(),
            inverses: largest
                .iter()
                .map(|&largest| if largest > 0.0 { limit / largest } else { 0.0 })
                .collect(),
            limit,
        }
    }

    fn convert_weight(&self, value: f32, column: usize) -> u16 {
        let scaled = (value * self.inverses[column]).round_ties_even();
        scaled.clamp(-self.limit, self.limit) as i16 as u16
    }

    unsafe fn convert_row(&self, row: &[f32], target: &mut [u16]) -> f32 {
        // SAFETY: the CPU has AVX-512 F (this function's contract).
        unsafe { scale_row(row, target) }
    }

    unsafe fn micro_kernel<const ROWS: usize>(&self, block: Block, target: Target) {
        // SAFETY: this function's contract; `scales` has one entry per column.
        unsafe { micro_kernel::<ROWS>(block, &self.scales, target) }
    }
}

/// `row` scaled to integers of at most [`ACTIVATION_LIMIT`] into `target` (as long, or one
/// longer with a zero to make whole pairs); returns the factor back (the row's largest
/// magnitude over the limit), NaN when the row holds a NaN or an infinity, so that its
/// outputs are NaN as in `f32`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn scale_row(row: &[f32], target: &mut [u16]) -> f32 {
    use std::arch::x86_64::{
        _CMP_UNORD_Q, _mm256_storeu_si256, _mm512_abs_ps, _mm512_cmp_ps_mask,
        _mm512_cvtepi32_epi16, _mm512_cvtps_epi32, _mm512_loadu_ps, _mm512_max_ps, _mm512_mul_ps,
        _mm512_reduce_max_ps, _mm512_set1_ps, _mm512_setzero_ps,
    };
    let whole = row.len() / 16 * 16;
    let mut largest = _mm512_setzero_ps();
    let mut unordered = 0u16;
    for values in row[..whole].chunks_exact(16) {
        // SAFETY: `values` has 16 f32, read unaligned.
        let values = unsafe { _mm512_loadu_ps(values.as_ptr()) };
        largest = _mm512_max_ps(largest, _mm512_abs_ps(values));
        unordered |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(values, values);
    }
    let largest = row[whole..]
        .iter()
        .fold(_mm512_reduce_max_ps(largest), |largest, value| {
            largest.max(value.abs())
        });
    let finite = unordered == 0 && row[whole..].iter().all(|value| !value.is_nan());
    if !finite || largest.is_infinite() {
        target.fill(0);
        return f32::NAN;
    }
    if largest == 0.0 {
        target.fill(0);
        return 0.0;
    }
    let scale = ACTIVATION_LIMIT / largest;
    let scales = _mm512_set1_ps(scale);
    for (values, scaled) in row[..whole]
        .chunks_exact(16)
        .zip(target.chunks_exact_mut(16))
    {
        // SAFETY: `values` has 16 f32 and `scaled` 16 u16 (32 bytes), both read or written
        // unaligned; the products round (to nearest) into the `i16` range, as `|value| <=
        // largest`.
        unsafe {
            let integers =
                _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(values.as_ptr()), scales));
            _mm256_storeu_si256(scaled.as_mut_ptr().cast(), _mm512_cvtepi32_epi16(integers));
        }
    }
    for (value, scaled) in row[whole..].iter().zip(&mut target[whole..]) {
        *scaled = (value * scale).round_ties_even() as i16 as u16;
    }
    target[row.len()..].fill(0);
    largest / ACTIVATION_LIMIT
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn scale_row(_row: &[f32], _target: &mut [u16]) -> f32 {
    unreachable!("int16 products are only compiled for x86-64");
}

/// [`PairFormat::micro_kernel`] for int16: `vpdpwssd` into `i32` sums, each added to the
/// output times its row's factor and its column's scale.
///
/// # Safety
/// As [`PairFormat::micro_kernel`], with AVX-512 F and VNNI, and `scales` one per column of
/// the whole matrix.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn micro_kernel<const ROWS: usize>(block: Block, scales: &[f32], target: Target) {
    use std::arch::x86_64::{
        _mm512_cvtepi32_ps, _mm512_dpwssd_epi32, _mm512_fmadd_ps, _mm512_load_si512,
        _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps, _mm512_set1_epi32,
        _mm512_set1_ps, _mm512_setzero_si512,
    };
    let pairs = block.pairs;
    debug_assert!(block.activations.len() >= ROWS * 2 * pairs && block.weights.len() >= 2 * pairs);
    debug_assert!(block.factors.len() >= ROWS);
    debug_assert!(scales.len() >= block.first_column + target.width);
    debug_assert!(target.output.len() >= (ROWS - 1) * target.row_stride + target.width);
    let mut sums = [[_mm512_setzero_si512(); 2]; ROWS];
    let activation_pairs = block.activations.as_ptr().cast::<i32>();
    let weight_vectors = block.weights.as_ptr();
    for pair in 0..pairs {
        // SAFETY: `pair < pairs`, so both weight vectors are inside `weights` (64-byte
        // aligned by their type) and every activation pair read is inside `activations`.
        unsafe {
            let left = _mm512_load_si512(weight_vectors.add(2 * pair).cast());
            let right = _mm512_load_si512(weight_vectors.add(2 * pair + 1).cast());
            for (row, sums) in sums.iter_mut().enumerate() {
                let value = activation_pairs.add(row * pairs + pair).read_unaligned();
                let broadcast = _mm512_set1_epi32(value);
                sums[0] = _mm512_dpwssd_epi32(sums[0], broadcast, left);
                sums[1] = _mm512_dpwssd_epi32(sums[1], broadcast, right);
            }
        }
    }
    let masks = [
        lane_mask(target.width.min(16)),
        lane_mask(target.width.saturating_sub(16)),
    ];
    let column_scales = [0, 1].map(|half| {
        // SAFETY: the masked lanes are the panel's `width` columns, inside `scales`.
        unsafe {
            _mm512_maskz_loadu_ps(
                masks[half],
                scales.as_ptr().wrapping_add(block.first_column + half * 16),
            )
        }
    });
    for (row, sums) in sums.iter().enumerate() {
        let factor = _mm512_set1_ps(block.factors[row]);
        for (half, ((&sum, &mask), &scale)) in
            sums.iter().zip(&masks).zip(&column_scales).enumerate()
        {
            // SAFETY: the masked lanes are the `width` columns of row `row`, inside
            // `target.output` by the function's contract.
            unsafe {
                let at = target
                    .output
                    .as_mut_ptr()
                    .wrapping_add(row * target.row_stride + half * 16);
                let total = _mm512_fmadd_ps(
                    _mm512_cvtepi32_ps(sum),
                    _mm512_mul_ps(scale, factor),
                    _mm512_maskz_loadu_ps(mask, at),
                );
                _mm512_mask_storeu_ps(at, mask, total);
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn micro_kernel<const ROWS: usize>(_block: Block, _scales: &[f32], _target: Target) {
    unreachable!("int16 products are only compiled for x86-64");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packed_matrix::check_products;

    /// Each value times the exact one, within what the two scalings can move it: half a
    /// step of the row times the weight, half a step of the column times the activation,
    /// and their product, summed over the inner dimension (plus the `f32` sum's rounding).
    #[test]
    fn products_are_within_the_scalings_steps_of_the_exact_ones() {
        if !int16_supported() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        check_products::<Int16>(|left, right, rows, inner, columns| {
            let limit = weight_limit(inner) as f64;
            (0..rows * columns)
                .map(|at| {
                    let (row, column) = (at / columns, at % columns);
                    let row_values = &left[row * inner..(row + 1) * inner];
                    let column_values: Vec<f64> = (0..inner)
                        .map(|k| right[k * columns + column] as f64)
                        .collect();
                    let row_step = row_values.iter().fold(0f64, |m, v| m.max(v.abs() as f64))
                        / ACTIVATION_LIMIT as f64;
                    let column_step =
                        column_values.iter().fold(0f64, |m, v| m.max(v.abs())) / limit;
                    let mut exact = 0.0;
                    let mut allowed = 1e-5 * (1.0 + inner as f64).sqrt();
                    for (x, w) in row_values.iter().zip(&column_values) {
                        let x = *x as f64;
                        exact += x * w;
                        allowed += (x.abs() * column_step
                            + w.abs() * row_step
                            + row_step * column_step / 2.0)
                            / 2.0
                            * 1.001;
                    }
                    (exact, allowed)
                })
                .collect()
        });
    }

    /// The largest magnitudes everywhere: every sum at its bound, none overflows.
    #[test]
    fn the_largest_sums_do_not_overflow() {
        if !int16_supported() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        for inner in [384, 1536, 4112] {
            assert!(int16_fits(inner));
            for sign in [1.0f32, -1.0] {
                let matrix = Int16Matrix::pack(&vec![sign * 3.0; inner * 20], inner, 20);
                let mut output = vec![1.0f32; 3 * 20];
                matrix.multiply_add(&vec![-5.0; 3 * inner], &mut output, 1);
                let expected = 1.0 - sign as f64 * 15.0 * inner as f64;
                for got in output {
                    assert!(
                        (got as f64 - expected).abs() <= expected.abs() * 1e-6,
                        "inner {inner}: {got} vs {expected}"
                    );
                }
            }
        }
        assert!(!int16_fits(5000));
    }

    #[test]
    fn rows_of_zeros_give_nothing_and_rows_with_a_nan_or_infinity_give_nans() {
        if !int16_supported() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        let inner = 40;
        let matrix = Int16Matrix::pack(&vec![0.5; inner * 3], inner, 3);
        let mut left = vec![0.0f32; 3 * inner];
        left[inner + 7] = f32::NAN;
        left[2 * inner + 39] = f32::INFINITY;
        let mut output = vec![2.0f32; 9];
        matrix.multiply_add(&left, &mut output, 1);
        assert_eq!(&output[..3], &[2.0; 3]);
        assert!(output[3..].iter().all(|value| value.is_nan()), "{output:?}");
    }
}
