//! The int16 products of [`crate::int16_matrix`] on CPUs with AVX2 but not AVX-512 VNNI
//! (Intel Haswell to Alder Lake, AMD Zen 1 to 3): `vpmaddwd` (eight lanes, each the sum of
//! two products of 16-bit pairs as an `i32`) and an add in place of each `vpdpwssd`, over
//! the same packed weights. The sums are the same integers and they are scaled by the same
//! operations, so the results are those of the AVX-512 kernel to the bit.
//!
//! With sixteen vector registers, the micro-kernel keeps two rows x 32 columns of sums
//! (eight registers) and takes a block's rows two at a time, reading the panel's weights
//! (in the first- or second-level cache) once per two rows.

use crate::packed_matrix::{Block, Target};

/// Whether this CPU has the instructions of the AVX2 kernel.
pub(crate) fn avx2_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `row` scaled to integers of at most `limit` into `target` (as long, or one longer with a
/// zero to make whole pairs): the factor back (the row's largest magnitude over `limit`),
/// 0 for a row of zeros, NaN (and zeros) for a row holding a NaN or an infinity. Plain code,
/// the semantics every kernel's row scaling keeps; compiled for AVX2 by
/// [`scale_row_avx2`].
#[inline(always)]
pub(crate) fn scale_row_portable(row: &[f32], target: &mut [u16], limit: f32) -> f32 {
    let largest = row
        .iter()
        .fold(0f32, |largest, value| largest.max(value.abs()));
    if row.iter().any(|value| value.is_nan()) || largest.is_infinite() {
        target.fill(0);
        return f32::NAN;
    }
    if largest == 0.0 {
        target.fill(0);
        return 0.0;
    }
    let scale = limit / largest;
    for (value, scaled) in row.iter().zip(target.iter_mut()) {
        *scaled = (value * scale).round_ties_even() as i16 as u16;
    }
    target[row.len()..].fill(0);
    largest / limit
}

/// [`scale_row_portable`] vectorized for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn scale_row_avx2(row: &[f32], target: &mut [u16], limit: f32) -> f32 {
    scale_row_portable(row, target, limit)
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn scale_row_avx2(row: &[f32], target: &mut [u16], limit: f32) -> f32 {
    scale_row_portable(row, target, limit)
}

/// The int16 micro-kernel on AVX2: `ROWS` rows of `block` times one panel, each sum added to
/// `target` times its row's factor and its column's scale.
///
/// # Safety
/// As [`crate::packed_matrix::PairFormat::micro_kernel`], with AVX2 and FMA, and `scales`
/// one per column of the whole matrix.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn micro_kernel_avx2<const ROWS: usize>(
    block: Block,
    scales: &[f32],
    mut target: Target,
) {
    let mut first = 0;
    while first + 2 <= ROWS {
        // SAFETY: rows `first` and `first + 1` are rows of the block (this function's
        // contract).
        unsafe { two_rows::<2>(&block, first, scales, &mut target) };
        first += 2;
    }
    if first < ROWS {
        // SAFETY: as above, for the last row.
        unsafe { two_rows::<1>(&block, first, scales, &mut target) };
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn micro_kernel_avx2<const ROWS: usize>(
    _block: Block,
    _scales: &[f32],
    _target: Target,
) {
    unreachable!("int16 products are only compiled for x86-64");
}

/// Rows `first .. first + R` (`R` at most 2) of [`micro_kernel_avx2`].
///
/// # Safety
/// As [`micro_kernel_avx2`], with `first + R` rows in the block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn two_rows<const R: usize>(
    block: &Block,
    first: usize,
    scales: &[f32],
    target: &mut Target,
) {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_cmpgt_epi32, _mm256_cvtepi32_ps, _mm256_fmadd_ps,
        _mm256_load_si256, _mm256_madd_epi16, _mm256_maskload_ps, _mm256_maskstore_ps,
        _mm256_mul_ps, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setr_epi32, _mm256_setzero_si256,
    };
    let pairs = block.pairs;
    debug_assert!(block.activations.len() >= (first + R) * 2 * pairs);
    debug_assert!(block.weights.len() >= 2 * pairs && block.factors.len() >= first + R);
    debug_assert!(scales.len() >= block.first_column + target.width);
    debug_assert!(target.output.len() >= (first + R - 1) * target.row_stride + target.width);
    let mut sums = [[_mm256_setzero_si256(); 4]; R];
    let activation_pairs = block.activations.as_ptr().cast::<i32>();
    // A pair's two 64-byte vectors are four 32-byte ones: columns 0-7, 8-15, 16-23, 24-31.
    let weight_quarters = block.weights.as_ptr().cast::<__m256i>();
    for pair in 0..pairs {
        // SAFETY: `pair < pairs`, so the four quarters are inside `weights` (aligned to 64
        // bytes by their type) and every activation pair read is inside `activations`.
        unsafe {
            let weights = [0, 1, 2, 3]
                .map(|quarter| _mm256_load_si256(weight_quarters.add(4 * pair + quarter)));
            for (row, sums) in sums.iter_mut().enumerate() {
                let value = activation_pairs
                    .add((first + row) * pairs + pair)
                    .read_unaligned();
                let broadcast = _mm256_set1_epi32(value);
                for (sum, weights) in sums.iter_mut().zip(&weights) {
                    *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(broadcast, *weights));
                }
            }
        }
    }
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let masks = [0, 1, 2, 3].map(|quarter| {
        _mm256_cmpgt_epi32(_mm256_set1_epi32(target.width as i32 - 8 * quarter), lanes)
    });
    let column_scales = [0, 1, 2, 3].map(|quarter| {
        // SAFETY: the masked lanes are the panel's `width` columns, inside `scales`; the
        // others are not read.
        unsafe {
            _mm256_maskload_ps(
                scales
                    .as_ptr()
                    .wrapping_add(block.first_column + 8 * quarter),
                masks[quarter],
            )
        }
    });
    for (row, sums) in sums.iter().enumerate() {
        let factor = _mm256_set1_ps(block.factors[first + row]);
        for (quarter, sum) in sums.iter().enumerate() {
            // SAFETY: the masked lanes are the `width` columns of the row, inside
            // `target.output` by the function's contract; the others are not touched.
            unsafe {
                let at = target
                    .output
                    .as_mut_ptr()
                    .wrapping_add((first + row) * target.row_stride + 8 * quarter);
                let total = _mm256_fmadd_ps(
                    _mm256_cvtepi32_ps(*sum),
                    _mm256_mul_ps(column_scales[quarter], factor),
                    _mm256_maskload_ps(at, masks[quarter]),
                );
                _mm256_maskstore_ps(at, masks[quarter], total);
            }
        }
    }
}
