//! Dense products on 16-bit values packed in pairs, with 32-bit sums: the frame the bf16
//! ([`crate::bf16_matrix`]) and int16 ([`crate::int16_matrix`]) products share. Their
//! instructions (`vdpbf16ps`, `vpdpwssd`) both take sixteen lanes of two 16-bit values and
//! add the two products of each lane to a 32-bit sum, twice the arithmetic of an `f32`
//! fused multiply-add per instruction; a [`PairFormat`] says how values become 16 bits and
//! holds the micro-kernel, [`PackedMatrix`] does the rest.
//!
//! The right-hand matrix (a layer's weights) is converted and packed once, at load time,
//! into the order the kernel reads it: panels of [`PANEL_COLUMNS`] columns, each panel the
//! pairs of consecutive inner rows of its columns side by side, one 64-byte vector per pair
//! and half panel. The left-hand matrix (the activations) is converted a block of rows at a
//! time as the product runs. The output only ever has products added to it, so a bias or
//! residual already there is kept at full precision.
//!
//! The micro-kernel keeps a block of up to [`BLOCK_ROWS`] rows x [`PANEL_COLUMNS`] columns
//! of sums in registers over the whole inner dimension (the layers of an encoder are a few
//! hundred to a few thousand wide: the weights' panel stays in the second-level cache).

use rayon::prelude::*;

/// Columns of one packed panel: two vectors of sixteen 32-bit sums.
pub(crate) const PANEL_COLUMNS: usize = 32;

/// Rows of sums one call of the micro-kernel keeps in registers (2 x 8 = 16 of the 32
/// vector registers, leaving room for the weights and the broadcast activations).
pub(crate) const BLOCK_ROWS: usize = 8;

/// Rows of the left-hand matrix converted together, and handed to one parallel task.
const ROWS_PER_TASK: usize = 64;

/// Sixteen pairs of 16-bit values: one vector of the packed weights, aligned for the loads.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
pub(crate) struct PairVector(pub(crate) [u16; 32]);

/// How a product's values become 16 bits and how its micro-kernel sums them.
pub(crate) trait PairFormat: Sized + Sync {
    /// Whether this CPU has the instructions of [`Self::convert_row`] and
    /// [`Self::micro_kernel`].
    fn supported() -> bool;

    /// The format of the row-major `inner x columns` weights `values` (a scale per column,
    /// say).
    fn for_weights(values: &[f32], inner: usize, columns: usize) -> Self;

    /// The 16 bits weight `value` of column `column` is packed as.
    fn convert_weight(&self, value: f32, column: usize) -> u16;

    /// Converts `row` into `target` (as long, or one longer with a zero to make whole pairs)
    /// and returns the factor the row's sums are multiplied by.
    ///
    /// # Safety
    /// The CPU must have the format's instructions ([`Self::supported`]).
    unsafe fn convert_row(&self, row: &[f32], target: &mut [u16]) -> f32;

    /// Adds `ROWS` rows of `block.activations` times one panel of weights to `target`.
    ///
    /// # Safety
    /// The CPU must have the format's instructions; `block.activations` must hold
    /// `ROWS * pairs` pairs, `block.factors` `ROWS` factors, `block.weights` `2 * pairs`
    /// vectors and `target.output` `ROWS - 1` rows of `row_stride` and then `width` values.
    unsafe fn micro_kernel<const ROWS: usize>(&self, block: Block, target: Target);

    /// Rows one call of [`Self::add_block`] takes at most.
    fn block_rows(&self) -> usize {
        BLOCK_ROWS
    }

    /// Adds `rows` (1 to [`Self::block_rows`]) rows of `block.activations` times one panel of
    /// weights to `target`: [`Self::micro_kernel`] unless the format has a wider kernel.
    ///
    /// # Safety
    /// As [`Self::micro_kernel`], with `rows` rows.
    unsafe fn add_block(&self, rows: usize, block: Block, target: Target) {
        // SAFETY: this function's contract.
        unsafe { add_register_block(self, rows, block, target) }
    }
}

/// [`PairFormat::add_block`] on the format's register micro-kernel ([`BLOCK_ROWS`] rows at
/// most).
///
/// # Safety
/// As [`PairFormat::micro_kernel`], with `rows` rows.
pub(crate) unsafe fn add_register_block<F: PairFormat>(
    format: &F,
    rows: usize,
    block: Block,
    target: Target,
) {
    // SAFETY: this function's contract, for `rows` rows.
    unsafe {
        match rows {
            8 => format.micro_kernel::<8>(block, target),
            7 => format.micro_kernel::<7>(block, target),
            6 => format.micro_kernel::<6>(block, target),
            5 => format.micro_kernel::<5>(block, target),
            4 => format.micro_kernel::<4>(block, target),
            3 => format.micro_kernel::<3>(block, target),
            2 => format.micro_kernel::<2>(block, target),
            _ => format.micro_kernel::<1>(block, target),
        }
    }
}

/// A `inner x columns` matrix converted and packed in format `F`, for
/// [`PackedMatrix::multiply_add`].
#[derive(Debug, Clone)]
pub struct PackedMatrix<F> {
    vectors: Vec<PairVector>,
    inner: usize,
    columns: usize,
    format: F,
}

/// The activations and weights one micro-kernel call multiplies.
pub(crate) struct Block<'a> {
    /// Rows of `pairs` pairs, one after the other.
    pub activations: &'a [u16],
    /// Each row's factor ([`PairFormat::convert_row`]).
    pub factors: &'a [f32],
    pub pairs: usize,
    /// The panel's vectors: two per pair.
    pub weights: &'a [PairVector],
    /// The panel's first column.
    pub first_column: usize,
}

/// Where a micro-kernel adds its sums: `width` columns of rows `row_stride` apart.
pub(crate) struct Target<'a> {
    pub output: &'a mut [f32],
    pub row_stride: usize,
    pub width: usize,
}

impl<F: PairFormat> PackedMatrix<F> {
    /// Converts and packs the row-major `inner x columns` matrix `values`.
    ///
    /// # Panics
    /// When `values` does not hold `inner * columns` values: a caller's bug.
    pub fn pack(values: &[f32], inner: usize, columns: usize) -> Self {
        assert_eq!(values.len(), inner * columns, "packed matrix shape");
        let format = F::for_weights(values, inner, columns);
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
                                *slot =
                                    format.convert_weight(values[row * columns + column], column);
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
            format,
        }
    }

    /// The format the matrix was packed in, to change how it computes in a test.
    #[cfg(test)]
    pub(crate) fn format_mut(&mut self) -> &mut F {
        &mut self.format
    }

    /// The inner dimension (rows of the packed matrix).
    pub fn inner(&self) -> usize {
        self.inner
    }

    /// `output += left x self`, with `left` the row-major `rows x inner` matrix and `output`
    /// the row-major `rows x columns` one, on `threads` threads of the current rayon pool.
    ///
    /// # Panics
    /// When the shapes do not agree, or the CPU lacks the format's instructions (see
    /// [`PairFormat::supported`]): a caller's bug.
    pub fn multiply_add(&self, left: &[f32], output: &mut [f32], threads: usize) {
        assert!(F::supported(), "this CPU lacks the product's instructions");
        let rows = left.len().checked_div(self.inner).unwrap_or(0);
        assert_eq!(left.len(), rows * self.inner, "packed product left shape");
        assert_eq!(
            output.len(),
            rows * self.columns,
            "packed product output shape"
        );
        if rows == 0 || self.columns == 0 {
            return;
        }
        let (left_rows, output_rows) = (ROWS_PER_TASK * self.inner, ROWS_PER_TASK * self.columns);
        let run = |(left, output): (&[f32], &mut [f32])| {
            // SAFETY: the CPU has the format's instructions (asserted above), and the shapes
            // of `left` and `output` agree with this matrix (asserted above, cut in whole
            // rows).
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
    /// The CPU must have the format's instructions; `left` must hold whole rows of `inner`
    /// values and `output` as many rows of `columns`.
    unsafe fn multiply_add_rows(&self, left: &[f32], output: &mut [f32]) {
        let pairs = self.inner.div_ceil(2);
        let rows = left.len() / self.inner;
        let mut converted = vec![0u16; rows * 2 * pairs];
        let mut factors = vec![0f32; rows];
        for ((row, target), factor) in left
            .chunks_exact(self.inner)
            .zip(converted.chunks_exact_mut(2 * pairs))
            .zip(&mut factors)
        {
            // SAFETY: the CPU has the format's instructions (this function's contract).
            *factor = unsafe { self.format.convert_row(row, target) };
        }
        for panel in 0..self.columns.div_ceil(PANEL_COLUMNS) {
            let first_column = panel * PANEL_COLUMNS;
            let width = (self.columns - first_column).min(PANEL_COLUMNS);
            let weights = &self.vectors[panel * pairs * 2..(panel + 1) * pairs * 2];
            let mut row = 0;
            while row < rows {
                let rows_here = (rows - row).min(self.format.block_rows());
                let target = Target {
                    output: &mut output[row * self.columns + first_column..],
                    row_stride: self.columns,
                    width,
                };
                let block = Block {
                    activations: &converted[row * 2 * pairs..],
                    factors: &factors[row..],
                    pairs,
                    weights,
                    first_column,
                };
                // SAFETY: `block` holds `rows_here` rows of `pairs` pairs and their factors,
                // the panel's `pairs` vector pairs, and `target` `rows_here` rows of `width`
                // columns.
                unsafe { self.format.add_block(rows_here, block, target) };
                row += rows_here;
            }
        }
    }
}

/// The AVX-512 extension a format's instructions belong to, beside AVX-512 F.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Avx512Extension {
    /// `vdpbf16ps` and the bf16 conversions.
    Bf16,
    /// `vpdpwssd`.
    Vnni,
}

/// Whether this CPU has AVX-512 F and `extension`.
pub(crate) fn avx512_supported(extension: Avx512Extension) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && match extension {
                Avx512Extension::Bf16 => std::arch::is_x86_feature_detected!("avx512bf16"),
                Avx512Extension::Vnni => std::arch::is_x86_feature_detected!("avx512vnni"),
            }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = extension;
        false
    }
}

/// The mask of the first `lanes` (at most 16) lanes of a vector.
pub(crate) fn lane_mask(lanes: usize) -> u16 {
    ((1u32 << lanes) - 1) as u16
}

/// Test values: `count` numbers in [-1, 1) from `seed`.
#[cfg(test)]
pub(crate) fn test_values(count: usize, seed: u32) -> Vec<f32> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

/// Checks `PackedMatrix<F>` over every shape edge (odd inner sizes, partial panels and row
/// blocks, several tasks): `expected(left, right, rows, inner, columns)` gives each output's
/// value (beside what the output held before) and how far from it the product may be.
#[cfg(test)]
pub(crate) fn check_products<F: PairFormat>(
    expected: impl Fn(&[f32], &[f32], usize, usize, usize) -> Vec<(f64, f64)>,
) {
    for (rows, inner, columns) in [
        (1, 1, 1),
        (3, 5, 17),
        (9, 384, 32),
        (13, 33, 70),
        (130, 96, 40),
    ] {
        let left = test_values(rows * inner, 1);
        let right = test_values(inner * columns, 2);
        let matrix = PackedMatrix::<F>::pack(&right, inner, columns);
        let expected = expected(&left, &right, rows, inner, columns);
        for threads in [1, 2] {
            let mut output: Vec<f32> = test_values(rows * columns, 3);
            let start = output.clone();
            matrix.multiply_add(&left, &mut output, threads);
            for (at, (got, (start, (expected, allowed)))) in
                output.iter().zip(start.iter().zip(&expected)).enumerate()
            {
                let (got, expected) = (*got as f64, expected + *start as f64);
                assert!(
                    (got - expected).abs() <= *allowed,
                    "{rows}x{inner}x{columns} at ({}, {}): {got} vs {expected}",
                    at / columns,
                    at % columns
                );
            }
        }
    }
}
