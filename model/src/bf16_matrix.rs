//! Dense products in bfloat16 with `f32` accumulation, on the AVX-512 BF16 dot-product
//! instruction (`vdpbf16ps`: sixteen lanes, each adding two products of bf16 pairs into an
//! `f32`), which does twice the arithmetic of an `f32` fused multiply-add per instruction.
//!
//! The right-hand matrix (a layer's weights) is rounded to bf16 and packed once, at load time,
//! into the order the kernel reads it: panels of [`PANEL_COLUMNS`] columns, each panel the
//! pairs of consecutive inner rows of its columns side by side, one 64-byte vector per pair
//! and half panel. The left-hand matrix (the activations) is rounded to bf16 a block of rows
//! at a time as the product runs. Sums stay `f32`, and the output only ever has products
//! added to it, so a bias or residual already there is kept at full precision.
//!
//! The micro-kernel keeps a block of up to [`BLOCK_ROWS`] rows x [`PANEL_COLUMNS`] columns
//! of sums in registers over the whole inner dimension (the layers of an encoder are a few
//! hundred to a few thousand wide: the weights' panel stays in the second-level cache).

use rayon::prelude::*;

/// Columns of one packed panel: two vectors of sixteen `f32` sums.
const PANEL_COLUMNS: usize = 32;

/// Rows of sums one call of the micro-kernel keeps in registers (2 x 8 = 16 of the 32
/// vector registers, leaving room for the weights and the broadcast activations).
const BLOCK_ROWS: usize = 8;

/// Rows of the left-hand matrix rounded to bf16 together, and handed to one parallel task.
const ROWS_PER_TASK: usize = 64;

/// Sixteen pairs of bf16 values: one vector of the packed weights, aligned for the loads.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct PairVector([u16; 32]);

/// Whether this CPU has the instructions the products here are compiled for.
pub fn bf16_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `value` rounded to the nearest bfloat16 (ties to even), as the conversion instruction does.
fn to_bf16(value: f32) -> u16 {
    if value.is_nan() {
        return 0x7FC0;
    }
    let bits = value.to_bits();
    let rounding = 0x7FFF + ((bits >> 16) & 1);
    (bits.wrapping_add(rounding) >> 16) as u16
}

/// A `inner x columns` matrix rounded to bf16 and packed for [`Bf16Matrix::multiply_add`].
#[derive(Debug, Clone)]
pub struct Bf16Matrix {
    vectors: Vec<PairVector>,
    inner: usize,
    columns: usize,
}

impl Bf16Matrix {
    /// Packs the row-major `inner x columns` matrix `values`.
    ///
    /// # Panics
    /// When `values` does not hold `inner * columns` values: a caller's bug.
    pub fn pack(values: &[f32], inner: usize, columns: usize) -> Self {
        assert_eq!(values.len(), inner * columns, "bf16 matrix shape");
        let pairs = inner.div_ceil(2);
        let panels = columns.div_ceil(PANEL_COLUMNS);
        let mut vectors = vec![PairVector::default(); panels * pairs * 2];
        for panel in 0..panels {
            for pair in 0..pairs {
                for half in 0..2 {
                    let vector = &mut vectors[(panel * pairs + pair) * 2 + half].0;
                    for lane in 0..16 {
                        let column = panel * PANEL_COLUMNS + half * 16 + lane;
                        for (offset, slot) in vector[2 * lane..2 * lane + 2].iter_mut().enumerate()
                        {
                            let row = 2 * pair + offset;
                            if column < columns && row < inner {
                                *slot = to_bf16(values[row * columns + column]);
                            }
                        }
                    }
                }
            }
        }
        Self {
            vectors,
            inner,
            columns,
        }
    }

    /// The inner dimension (rows of the packed matrix).
    pub fn inner(&self) -> usize {
        self.inner
    }

    /// `output += left x self`, with `left` the row-major `rows x inner` matrix and `output`
    /// the row-major `rows x columns` one, on `threads` threads of the current rayon pool.
    ///
    /// # Panics
    /// When the shapes do not agree, or the CPU lacks AVX-512 BF16 (see [`bf16_supported`]):
    /// a caller's bug.
    pub fn multiply_add(&self, left: &[f32], output: &mut [f32], threads: usize) {
        assert!(bf16_supported(), "bf16 products need AVX-512 BF16");
        let rows = left.len().checked_div(self.inner).unwrap_or(0);
        assert_eq!(left.len(), rows * self.inner, "bf16 product left shape");
        assert_eq!(
            output.len(),
            rows * self.columns,
            "bf16 product output shape"
        );
        if rows == 0 || self.columns == 0 {
            return;
        }
        let (left_rows, output_rows) = (ROWS_PER_TASK * self.inner, ROWS_PER_TASK * self.columns);
        let run = |(left, output): (&[f32], &mut [f32])| {
            // SAFETY: the CPU has AVX-512 F and BF16 (asserted above), and the shapes of
            // `left` and `output` agree with this matrix (asserted above, cut in whole rows).
            unsafe { self.multiply_add_rows(left, output) }
        };
        if threads > 1 {
            left.par_chunks(left_rows)
                .zip(output.par_chunks_mut(output_rows))
                .for_each(run);
        } else {
            left.chunks(left_rows)
                .zip(output.chunks_mut(output_rows))
                .for_each(run);
        }
    }

    /// [`Self::multiply_add`] for a block of whole rows, on one thread.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and BF16; `left` must hold whole rows of `inner` values and
    /// `output` as many rows of `columns`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn multiply_add_rows(&self, left: &[f32], output: &mut [f32]) {
        let pairs = self.inner.div_ceil(2);
        let rows = left.len() / self.inner;
        let mut rounded = vec![0u16; rows * 2 * pairs];
        for (row, target) in left
            .chunks_exact(self.inner)
            .zip(rounded.chunks_exact_mut(2 * pairs))
        {
            round_row(row, target);
        }
        for panel in 0..self.columns.div_ceil(PANEL_COLUMNS) {
            let first_column = panel * PANEL_COLUMNS;
            let width = (self.columns - first_column).min(PANEL_COLUMNS);
            let weights = &self.vectors[panel * pairs * 2..(panel + 1) * pairs * 2];
            let mut row = 0;
            while row < rows {
                let block = (rows - row).min(BLOCK_ROWS);
                let target = Target {
                    output: &mut output[row * self.columns + first_column..],
                    row_stride: self.columns,
                    width,
                };
                let activations = &rounded[row * 2 * pairs..];
                // SAFETY: `activations` holds `block` rows of `pairs` pairs, `weights` the
                // panel's `pairs` vector pairs, and `target` `block` rows of `width` columns.
                unsafe {
                    match block {
                        8 => micro_kernel::<8>(activations, pairs, weights, target),
                        7 => micro_kernel::<7>(activations, pairs, weights, target),
                        6 => micro_kernel::<6>(activations, pairs, weights, target),
                        5 => micro_kernel::<5>(activations, pairs, weights, target),
                        4 => micro_kernel::<4>(activations, pairs, weights, target),
                        3 => micro_kernel::<3>(activations, pairs, weights, target),
                        2 => micro_kernel::<2>(activations, pairs, weights, target),
                        _ => micro_kernel::<1>(activations, pairs, weights, target),
                    }
                }
                row += block;
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn multiply_add_rows(&self, _left: &[f32], _output: &mut [f32]) {
        unreachable!("bf16 products are only compiled for x86-64");
    }
}

/// `row` rounded to bf16 into `target` (as long, or one longer with a zero to make whole
/// pairs).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
fn round_row(row: &[f32], target: &mut [u16]) {
    use std::arch::x86_64::{
        __m256bh, __m256i, _mm256_storeu_si256, _mm512_cvtneps_pbh, _mm512_loadu_ps,
    };
    let whole = row.len() / 16 * 16;
    for (values, rounded) in row[..whole]
        .chunks_exact(16)
        .zip(target.chunks_exact_mut(16))
    {
        // SAFETY: `values` has 16 f32 and `rounded` 16 u16 (32 bytes), both read or written
        // unaligned.
        unsafe {
            let converted = _mm512_cvtneps_pbh(_mm512_loadu_ps(values.as_ptr()));
            _mm256_storeu_si256(
                rounded.as_mut_ptr().cast(),
                std::mem::transmute::<__m256bh, __m256i>(converted),
            );
        }
    }
    for (value, rounded) in row[whole..].iter().zip(&mut target[whole..]) {
        *rounded = to_bf16(*value);
    }
    target[row.len()..].fill(0);
}

/// Where a micro-kernel adds its sums: `width` columns of rows `row_stride` apart.
struct Target<'a> {
    output: &'a mut [f32],
    row_stride: usize,
    width: usize,
}

/// Adds `ROWS` rows of `activations` (each `pairs` bf16 pairs, rows one after the other)
/// times one panel of weights (`weights`: two vectors per pair) to `target`.
///
/// # Safety
/// The CPU must have AVX-512 F and BF16; `activations` must hold `ROWS * pairs` pairs,
/// `weights` `2 * pairs` vectors and `target.output` `ROWS - 1` rows of `row_stride` and
/// then `width` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn micro_kernel<const ROWS: usize>(
    activations: &[u16],
    pairs: usize,
    weights: &[PairVector],
    target: Target,
) {
    use std::arch::x86_64::{
        __m512, __m512bh, _mm512_add_ps, _mm512_dpbf16_ps, _mm512_load_si512,
        _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_set1_epi32, _mm512_setzero_ps,
    };
    debug_assert!(activations.len() >= ROWS * 2 * pairs && weights.len() >= 2 * pairs);
    debug_assert!(target.output.len() >= (ROWS - 1) * target.row_stride + target.width);
    let mut sums = [[_mm512_setzero_ps(); 2]; ROWS];
    let activation_pairs = activations.as_ptr().cast::<i32>();
    let weight_vectors = weights.as_ptr();
    for pair in 0..pairs {
        // SAFETY: `pair < pairs`, so both weight vectors are inside `weights` (64-byte
        // aligned by their type) and every activation pair read is inside `activations`.
        unsafe {
            let left: __m512bh =
                std::mem::transmute(_mm512_load_si512(weight_vectors.add(2 * pair).cast()));
            let right: __m512bh =
                std::mem::transmute(_mm512_load_si512(weight_vectors.add(2 * pair + 1).cast()));
            for (row, sums) in sums.iter_mut().enumerate() {
                let value = activation_pairs.add(row * pairs + pair).read_unaligned();
                let broadcast: __m512bh = std::mem::transmute(_mm512_set1_epi32(value));
                sums[0] = _mm512_dpbf16_ps(sums[0], broadcast, left);
                sums[1] = _mm512_dpbf16_ps(sums[1], broadcast, right);
            }
        }
    }
    let masks = [
        lane_mask(target.width.min(16)),
        lane_mask(target.width.saturating_sub(16)),
    ];
    for (row, sums) in sums.iter().enumerate() {
        for (half, (&sum, &mask)) in sums.iter().zip(&masks).enumerate() {
            // SAFETY: the masked lanes are the `width` columns of row `row`, inside
            // `target.output` by the function's contract.
            unsafe {
                let at = target
                    .output
                    .as_mut_ptr()
                    .add(row * target.row_stride + half * 16);
                let total: __m512 = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, at), sum);
                _mm512_mask_storeu_ps(at, mask, total);
            }
        }
    }
}

/// The mask of the first `lanes` (at most 16) lanes of a vector.
fn lane_mask(lanes: usize) -> u16 {
    ((1u32 << lanes) - 1) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(count: usize, seed: u32) -> Vec<f32> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    fn bf16_value(value: f32) -> f32 {
        f32::from_bits((to_bf16(value) as u32) << 16)
    }

    #[test]
    fn rounding_to_bf16_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3F80);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to the even 1.
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3F80);
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3F82);
        assert_eq!(to_bf16(-2.5), 0xC020);
        assert_eq!(to_bf16(f32::INFINITY), 0x7F80);
        assert!(f32::from_bits((to_bf16(f32::NAN) as u32) << 16).is_nan());
    }

    /// Every shape edge: odd inner sizes, partial panels and row blocks, several tasks.
    #[test]
    fn products_equal_the_sums_of_the_rounded_values() {
        if !bf16_supported() {
            eprintln!("skipped: this CPU has no AVX-512 BF16");
            return;
        }
        for (rows, inner, columns) in [
            (1, 1, 1),
            (3, 5, 17),
            (9, 384, 32),
            (13, 33, 70),
            (130, 96, 40),
        ] {
            let left = values(rows * inner, 1);
            let right = values(inner * columns, 2);
            let matrix = Bf16Matrix::pack(&right, inner, columns);
            for threads in [1, 2] {
                let mut output: Vec<f32> = values(rows * columns, 3);
                let start = output.clone();
                matrix.multiply_add(&left, &mut output, threads);
                for row in 0..rows {
                    for column in 0..columns {
                        let expected: f64 = (0..inner)
                            .map(|k| {
                                bf16_value(left[row * inner + k]) as f64
                                    * bf16_value(right[k * columns + column]) as f64
                            })
                            .sum::<f64>()
                            + start[row * columns + column] as f64;
                        let got = output[row * columns + column] as f64;
                        assert!(
                            (got - expected).abs() < 1e-4 * (1.0 + inner as f64).sqrt(),
                            "{rows}x{inner}x{columns} at ({row}, {column}): {got} vs {expected}"
                        );
                    }
                }
            }
        }
    }
}
