//! The CPU kernels of the encoder that candle has no fast path for: GELU with an exact-enough
//! `erf`, and attention over packed sequences of different lengths.
//!
//! Both are plain loops over `f32` written so that LLVM vectorizes them; each is compiled
//! three times (AVX-512, AVX2 + FMA, the baseline) and the best the CPU supports is picked at
//! run time, so one binary runs on any x86-64 machine and uses what the machine has.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, bail};
use rayon::prelude::*;

/// Defines `$name`, which runs the `#[inline(always)]` body `$portable` compiled for the
/// widest vector instructions the CPU has.
macro_rules! dispatch_by_cpu {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $type:ty),*) => $portable:ident) => {
        $(#[$doc])*
        fn $name($($arg: $type),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
                fn avx512($($arg: $type),*) {
                    $portable($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $type),*) {
                    $portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                {
                    // SAFETY: the CPU has every feature `avx512` is compiled with.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has every feature `avx2` is compiled with.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $portable($($arg),*)
        }
    };
}

/// `e^x` to within a few units in the last place, in arithmetic that vectorizes (no libm
/// call): `x = n ln 2 + r`, a polynomial for `e^r`, and `2^n` put into the exponent bits.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to the nearest integer in the low mantissa bits.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let polynomial = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67 + r * (0.041_666_4 + r * (0.008_333_45 + r * 0.001_394_5)))));
    let scale = f32::from_bits(((shifted.to_bits() as i32 - 0x4B40_0000 + 127) << 23) as u32);
    polynomial * scale
}

/// `erf(x)` by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let polynomial = t
        * (0.254_829_6
            + t * (-0.284_496_72 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    (1.0 - polynomial * exp(-a * a)).copysign(x)
}

#[inline(always)]
fn gelu_portable(values: &mut [f32]) {
    for value in values {
        *value = 0.5 * *value * (1.0 + erf(*value * std::f32::consts::FRAC_1_SQRT_2));
    }
}

dispatch_by_cpu! {
    /// GELU (the exact form, `x Φ(x)`, as BERT uses it) in place.
    fn gelu_in_place(values: &mut [f32]) => gelu_portable
}

#[inline(always)]
fn softmax_rows_portable(scores: &mut [f32], row_length: usize) {
    for row in scores.chunks_exact_mut(row_length) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for value in row.iter_mut() {
            *value = exp(*value - max);
            sum += *value;
        }
        let inverse = 1.0 / sum;
        for value in row.iter_mut() {
            *value *= inverse;
        }
    }
}

dispatch_by_cpu! {
    /// Softmax of every row of a row-major matrix whose rows are `row_length` long.
    fn softmax_rows(scores: &mut [f32], row_length: usize) => softmax_rows_portable
}

/// The rows of `storage` that `layout` covers, when they are contiguous `f32`s.
fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else {
        bail!("expected f32 values")
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => bail!("expected a contiguous tensor"),
    }
}

/// GELU as a candle operation; the chunks of the tensor are computed in parallel.
pub struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu-erf"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let mut values = contiguous_f32(storage, layout)?.to_vec();
        values.par_chunks_mut(4096).for_each(gelu_in_place);
        Ok((CpuStorage::F32(values), layout.shape().clone()))
    }
}

/// Multi-head self-attention over packed sequences: the input is `[tokens, 3 * hidden]`,
/// the query, key and value projections of every token of every sequence side by side,
/// sequence after sequence; the output `[tokens, hidden]` is every head's context, heads side
/// by side. Each token attends to the tokens of its own sequence only, so sequences of
/// different lengths need neither padding nor a mask.
pub struct PackedAttention<'a> {
    /// The length of each sequence, in order; they sum to the number of tokens.
    pub lengths: &'a [usize],
    pub heads: usize,
    pub head_size: usize,
}

impl CustomOp1 for PackedAttention<'_> {
    fn name(&self) -> &'static str {
        "packed-attention"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let qkv = contiguous_f32(storage, layout)?;
        let hidden = self.heads * self.head_size;
        let tokens: usize = self.lengths.iter().sum();
        if qkv.len() != tokens * 3 * hidden {
            bail!(
                "packed attention: {} values for {tokens} tokens of width {}",
                qkv.len(),
                3 * hidden
            );
        }
        let mut offsets = Vec::with_capacity(self.lengths.len());
        let mut offset = 0;
        for &length in self.lengths {
            offsets.push(offset);
            offset += length;
        }
        // One task per (sequence, head); each writes its own disjoint block of the output.
        let tasks: Vec<(usize, usize, usize)> = offsets
            .iter()
            .zip(self.lengths)
            .filter(|(_, length)| **length > 0)
            .flat_map(|(&start, &length)| (0..self.heads).map(move |head| (start, length, head)))
            .collect();
        let mut context = vec![0f32; tokens * hidden];
        let output = SharedOutput(context.as_mut_ptr());
        let scale = 1.0 / (self.head_size as f32).sqrt();
        tasks
            .par_iter()
            .for_each_init(Vec::new, |scores, &(start, length, head)| {
                scores.clear();
                scores.resize(length * length, 0.0);
                let row_stride = 3 * hidden as isize;
                let query = qkv[start * 3 * hidden + head * self.head_size..].as_ptr();
                let key = qkv[start * 3 * hidden + hidden + head * self.head_size..].as_ptr();
                let value = qkv[start * 3 * hidden + 2 * hidden + head * self.head_size..].as_ptr();
                // SAFETY: every matrix below lies inside `qkv`, `scores` or this task's block of
                // `context` (rows `start..start + length`, columns of `head`), which no other
                // task touches; the strides describe those row-major layouts.
                unsafe {
                    // scores = scale * query · keyᵀ
                    gemm::gemm(
                        length,
                        length,
                        self.head_size,
                        scores.as_mut_ptr(),
                        1,
                        length as isize,
                        false,
                        query,
                        1,
                        row_stride,
                        key,
                        row_stride,
                        1,
                        0.0,
                        scale,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                softmax_rows(scores, length);
                unsafe {
                    // context[rows of the sequence, columns of the head] = scores · value
                    let destination = output.at(start * hidden + head * self.head_size);
                    gemm::gemm(
                        length,
                        self.head_size,
                        length,
                        destination,
                        1,
                        hidden as isize,
                        false,
                        scores.as_ptr(),
                        1,
                        length as isize,
                        value,
                        1,
                        row_stride,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            });
        Ok((CpuStorage::F32(context), Shape::from((tokens, hidden))))
    }
}

/// The output buffer of [`PackedAttention`], written by many tasks at disjoint places.
#[derive(Clone, Copy)]
struct SharedOutput(*mut f32);

impl SharedOutput {
    /// The address `offset` values into the buffer.
    ///
    /// # Safety
    /// `offset` must lie inside the buffer.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: the caller keeps `offset` inside the buffer.
        unsafe { self.0.add(offset) }
    }
}

// SAFETY: the tasks that share it write disjoint blocks (see `PackedAttention::cpu_fwd`).
unsafe impl Send for SharedOutput {}
unsafe impl Sync for SharedOutput {}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Taylor series, in f64: a reference for |x| < 3.
    fn reference_erf(x: f64) -> f64 {
        let mut term = x;
        let mut sum = x;
        for n in 1..120 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn exp_and_erf_match_references() {
        for i in -3000..=3000 {
            let x = i as f32 / 100.0;
            let expected = x.exp();
            assert!(
                ((exp(x) - expected) / expected).abs() < 1e-6,
                "exp({x}) = {} vs {expected}",
                exp(x)
            );
            let expected_erf = if x.abs() < 3.0 {
                reference_erf(x as f64) as f32
            } else {
                x.signum()
            };
            assert!((erf(x) - expected_erf).abs() < 3e-5, "erf({x})");
            if x.abs() < 3.0 {
                assert!((erf(x) - expected_erf).abs() < 3e-7, "erf({x})");
            }
        }
        assert!(exp(-1000.0) >= 0.0 && exp(-1000.0) < 1e-37);
    }

    #[test]
    fn gelu_is_x_times_the_normal_cdf() {
        let mut values = vec![-3.0, -1.0, 0.0, 0.5, 2.0];
        let expected: Vec<f32> = values
            .iter()
            .map(|&x: &f32| {
                let cdf = 0.5 * (1.0 + reference_erf(x as f64 / std::f64::consts::SQRT_2));
                (x as f64 * cdf) as f32
            })
            .collect();
        gelu_in_place(&mut values);
        for (value, expected) in values.iter().zip(expected) {
            assert!((value - expected).abs() < 1e-6, "{value} vs {expected}");
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let mut scores = vec![1.0, 2.0, 3.0, -50.0, 0.0, 50.0];
        softmax_rows(&mut scores, 3);
        for row in scores.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            assert!(row[0] < row[1] && row[1] < row[2]);
        }
    }
}
