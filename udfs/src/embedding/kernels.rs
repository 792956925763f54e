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

/// Softmax of every row of a row-major matrix whose rows are `row_length` long.
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

/// The scratch space of one sequence's attention.
#[derive(Default)]
struct AttentionScratch {
    /// One head's keys, transposed: `[head_size, length]`.
    keys: Vec<f32>,
    /// One head's scores: `[length, length]`.
    scores: Vec<f32>,
}

/// One sequence's attention, all heads: `qkv` holds its `[length, 3 * hidden]` query, key
/// and value rows; `context` receives its `[length, hidden]` output. Every inner loop runs
/// along a contiguous row with no horizontal sum, so it vectorizes fully: a head's keys are
/// transposed first, so that a row of scores is a sum of key rows scaled by the query's
/// values, and a row of output is a sum of value rows scaled by the scores.
#[inline(always)]
fn attend_portable(
    qkv: &[f32],
    context: &mut [f32],
    shape: AttentionShape,
    scratch: &mut AttentionScratch,
) {
    let AttentionShape {
        length,
        heads,
        head_size,
        scale,
    } = shape;
    let hidden = heads * head_size;
    let row = |token: usize, part: usize, head: usize| {
        let start = token * 3 * hidden + part * hidden + head * head_size;
        &qkv[start..start + head_size]
    };
    scratch.keys.resize(head_size * length, 0.0);
    scratch.scores.resize(length * length, 0.0);
    for head in 0..heads {
        for token in 0..length {
            for (dimension, &value) in row(token, 1, head).iter().enumerate() {
                scratch.keys[dimension * length + token] = value;
            }
        }
        for (token, scores) in scratch.scores.chunks_exact_mut(length).enumerate() {
            scores.fill(0.0);
            for (&query, keys) in row(token, 0, head)
                .iter()
                .zip(scratch.keys.chunks_exact(length))
            {
                let query = query * scale;
                for (score, &key) in scores.iter_mut().zip(keys) {
                    *score += query * key;
                }
            }
        }
        softmax_rows_portable(&mut scratch.scores, length);
        for (token, scores) in scratch.scores.chunks_exact(length).enumerate() {
            let start = token * hidden + head * head_size;
            let output = &mut context[start..start + head_size];
            output.fill(0.0);
            for (other, &weight) in scores.iter().enumerate() {
                for (out, &value) in output.iter_mut().zip(row(other, 2, head)) {
                    *out += weight * value;
                }
            }
        }
    }
}

/// The sizes of one sequence's attention.
#[derive(Clone, Copy)]
struct AttentionShape {
    length: usize,
    heads: usize,
    head_size: usize,
    scale: f32,
}

dispatch_by_cpu! {
    /// One sequence's attention (see [`attend_portable`]).
    fn attend(
        qkv: &[f32],
        context: &mut [f32],
        shape: AttentionShape,
        scratch: &mut AttentionScratch
    ) => attend_portable
}

/// Multi-head self-attention over packed sequences: the input is `[tokens, 3 * hidden]`,
/// the query, key and value projections of every token of every sequence side by side,
/// sequence after sequence; the output `[tokens, hidden]` is every head's context, heads side
/// by side. Each token attends to the tokens of its own sequence only, so sequences of
/// different lengths need neither padding nor a mask. Sequences are computed in parallel.
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
        let mut context = vec![0f32; tokens * hidden];
        // Each sequence's rows, input and output, as disjoint slices.
        let mut sequences = Vec::with_capacity(self.lengths.len());
        let (mut inputs, mut outputs) = (qkv, context.as_mut_slice());
        for &length in self.lengths {
            let (input, rest_in) = inputs.split_at(length * 3 * hidden);
            let (output, rest_out) = outputs.split_at_mut(length * hidden);
            sequences.push((input, output, length));
            (inputs, outputs) = (rest_in, rest_out);
        }
        let scale = 1.0 / (self.head_size as f32).sqrt();
        sequences.into_par_iter().for_each_init(
            AttentionScratch::default,
            |scratch, (input, output, length)| {
                let shape = AttentionShape {
                    length,
                    heads: self.heads,
                    head_size: self.head_size,
                    scale,
                };
                attend(input, output, shape, scratch);
            },
        );
        Ok((CpuStorage::F32(context), Shape::from((tokens, hidden))))
    }
}

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
    fn packed_attention_matches_a_direct_computation() {
        let (heads, head_size, lengths) = (2, 4, [3usize, 1, 5]);
        let hidden = heads * head_size;
        let tokens: usize = lengths.iter().sum();
        let mut state = 12345u32;
        let qkv: Vec<f32> = (0..tokens * 3 * hidden)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
            })
            .collect();
        let attention = PackedAttention {
            lengths: &lengths,
            heads,
            head_size,
        };
        let (CpuStorage::F32(output), _) = attention
            .cpu_fwd(
                &CpuStorage::F32(qkv.clone()),
                &Layout::contiguous((tokens, 3 * hidden)),
            )
            .unwrap()
        else {
            panic!("f32 in, f32 out")
        };
        let at = |token: usize, part: usize, head: usize, d: usize| {
            qkv[token * 3 * hidden + part * hidden + head * head_size + d]
        };
        let mut start = 0;
        for length in lengths {
            for head in 0..heads {
                for i in start..start + length {
                    let scores: Vec<f32> = (start..start + length)
                        .map(|j| {
                            (0..head_size)
                                .map(|d| at(i, 0, head, d) * at(j, 1, head, d))
                                .sum::<f32>()
                                / (head_size as f32).sqrt()
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let weights: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                    let total: f32 = weights.iter().sum();
                    for d in 0..head_size {
                        let expected: f32 = (start..start + length)
                            .zip(&weights)
                            .map(|(j, w)| w / total * at(j, 2, head, d))
                            .sum();
                        let actual = output[i * hidden + head * head_size + d];
                        assert!((actual - expected).abs() < 1e-5, "{actual} vs {expected}");
                    }
                }
            }
            start += length;
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let mut scores = vec![1.0, 2.0, 3.0, -50.0, 0.0, 50.0];
        softmax_rows_portable(&mut scores, 3);
        for row in scores.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            assert!(row[0] < row[1] && row[1] < row[2]);
        }
    }
}
