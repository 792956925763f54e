//! Dense products in bfloat16 with `f32` accumulation, on the AVX-512 BF16 dot-product
//! instruction (`vdpbf16ps`: sixteen lanes, each adding two products of bf16 pairs into an
//! `f32`), in the frame of [`crate::packed_matrix`]: the weights rounded to bf16 once at
//! load, the activations a block of rows at a time as the product runs, sums in `f32`.

use crate::amx_tiles::{TILE_BLOCK_ROWS, add_tile_block, tiles_supported};
use crate::packed_matrix::{
    Avx512Extension, BLOCK_ROWS, Block, PackedMatrix, PairFormat, Target, add_register_block,
    avx512_supported, lane_mask,
};

/// The bf16 format: values rounded to the nearest bfloat16, sums added to the output as
/// they are; on AMX tiles where the CPU has them ([`crate::amx_tiles`]), else on AVX-512.
#[derive(Debug, Clone, Copy)]
pub struct Bf16 {
    tiles: bool,
}

/// A matrix rounded to bf16 and packed for [`PackedMatrix::multiply_add`].
pub type Bf16Matrix = PackedMatrix<Bf16>;

/// Whether this CPU has the instructions the bf16 products are compiled for.
pub fn bf16_supported() -> bool {
    avx512_supported(Avx512Extension::Bf16)
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

impl PairFormat for Bf16 {
    fn supported() -> bool {
        bf16_supported()
    }

    fn for_weights(_values: &[f32], _inner: usize, _columns: usize) -> Self {
        Self {
            tiles: tiles_supported(),
        }
    }

    fn convert_weight(&self, value: f32, _column: usize) -> u16 {
        to_bf16(value)
    }

    unsafe fn convert_row(&self, row: &[f32], target: &mut [u16]) -> f32 {
        // SAFETY: the CPU has AVX-512 F and BF16 (this function's contract).
        unsafe { round_row(row, target) };
        1.0
    }

    unsafe fn micro_kernel<const ROWS: usize>(&self, block: Block, target: Target) {
        // SAFETY: this function's contract.
        unsafe { micro_kernel::<ROWS>(block, target) }
    }

    fn block_rows(&self) -> usize {
        if self.tiles {
            TILE_BLOCK_ROWS
        } else {
            BLOCK_ROWS
        }
    }

    unsafe fn add_block(&self, rows: usize, block: Block, target: Target) {
        // SAFETY: this function's contract; the tiles only where they were granted.
        unsafe {
            if self.tiles {
                add_tile_block(rows, block, target);
            } else {
                add_register_block(self, rows, block, target);
            }
        }
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

#[cfg(not(target_arch = "x86_64"))]
unsafe fn round_row(_row: &[f32], _target: &mut [u16]) {
    unreachable!("bf16 products are only compiled for x86-64");
}

/// [`PairFormat::micro_kernel`] for bf16: `vdpbf16ps` into `f32` sums, added to the output.
///
/// # Safety
/// As [`PairFormat::micro_kernel`], with AVX-512 F and BF16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn micro_kernel<const ROWS: usize>(block: Block, target: Target) {
    use std::arch::x86_64::{
        __m512, __m512bh, _mm512_add_ps, _mm512_dpbf16_ps, _mm512_load_si512,
        _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_set1_epi32, _mm512_setzero_ps,
    };
    let pairs = block.pairs;
    debug_assert!(block.activations.len() >= ROWS * 2 * pairs && block.weights.len() >= 2 * pairs);
    debug_assert!(target.output.len() >= (ROWS - 1) * target.row_stride + target.width);
    let mut sums = [[_mm512_setzero_ps(); 2]; ROWS];
    let activation_pairs = block.activations.as_ptr().cast::<i32>();
    let weight_vectors = block.weights.as_ptr();
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
                    .wrapping_add(row * target.row_stride + half * 16);
                let total: __m512 = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, at), sum);
                _mm512_mask_storeu_ps(at, mask, total);
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn micro_kernel<const ROWS: usize>(_block: Block, _target: Target) {
    unreachable!("bf16 products are only compiled for x86-64");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packed_matrix::{check_products, test_values};

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

    #[test]
    fn products_equal_the_sums_of_the_rounded_values() {
        if !bf16_supported() {
            eprintln!("skipped: this CPU has no AVX-512 BF16");
            return;
        }
        check_products::<Bf16>(|left, right, rows, inner, columns| {
            (0..rows * columns)
                .map(|at| {
                    let (row, column) = (at / columns, at % columns);
                    let sum = (0..inner)
                        .map(|k| {
                            bf16_value(left[row * inner + k]) as f64
                                * bf16_value(right[k * columns + column]) as f64
                        })
                        .sum();
                    // Only the f32 sums' rounding.
                    (sum, 1e-4 * (1.0 + inner as f64).sqrt())
                })
                .collect()
        });
    }

    #[test]
    fn tiles_and_vector_instructions_give_the_same_sums() {
        if !bf16_supported() || !tiles_supported() {
            eprintln!("skipped: this CPU has no AMX tiles or AVX-512 BF16");
            return;
        }
        for (rows, inner, columns) in [(1, 32, 32), (33, 33, 70), (100, 384, 64), (17, 1536, 40)] {
            let left = test_values(rows * inner, 4);
            let mut matrix = Bf16Matrix::pack(&test_values(inner * columns, 5), inner, columns);
            let mut on_tiles = vec![0.0; rows * columns];
            matrix.multiply_add(&left, &mut on_tiles, 2);
            matrix.format_mut().tiles = false;
            let mut on_vectors = vec![0.0; rows * columns];
            matrix.multiply_add(&left, &mut on_vectors, 2);
            let allowed = 1e-4 * (1.0 + inner as f32).sqrt();
            for (at, (tiles, vectors)) in on_tiles.iter().zip(&on_vectors).enumerate() {
                assert!(
                    (tiles - vectors).abs() <= allowed,
                    "{rows}x{inner}x{columns} at {at}: {tiles} on tiles, {vectors} on vectors"
                );
            }
        }
    }
}
