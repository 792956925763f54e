//! The CPU kernels of the encoder besides its dense products: GELU with an exact-enough
//! `erf`, layer normalisation, and attention over packed sequences of different lengths
//! (its products on [`crate::matrix`], its softmax here).
//!
//! The elementwise kernels are plain loops over `f32` written so that LLVM vectorizes them;
//! each is compiled three times (AVX-512, AVX2 + FMA, the baseline) and the best the CPU
//! supports is picked at run time, so one binary runs on any x86-64 machine and uses what the
//! machine has. Rows are computed in parallel on the current rayon pool.

use rayon::prelude::*;

use crate::matrix::{Output, SharedOutput, View, multiply, multiply_shared};

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

/// Independent accumulators of [`reduce`]: enough for a full AVX-512 register.
const LANES: usize = 16;

/// `map` of each of `values`, folded with `combine` (associative and commutative) from
/// `identity`, in [`LANES`] independent accumulators so that the fold vectorizes: a single
/// running accumulator makes a chain the compiler may not reorder for floats.
#[inline(always)]
fn reduce(
    values: &[f32],
    identity: f32,
    map: impl Fn(f32) -> f32,
    combine: impl Fn(f32, f32) -> f32,
) -> f32 {
    let mut lanes = [identity; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(identity, |total, &value| combine(total, map(value)));
    for chunk in chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane = combine(*lane, map(value));
        }
    }
    lanes.into_iter().fold(tail, combine)
}

#[inline(always)]
fn sum(values: &[f32]) -> f32 {
    reduce(values, 0.0, |x| x, |a, b| a + b)
}

/// Softmax of every row of a row-major matrix whose rows are `row_length` long.
#[inline(always)]
fn softmax_rows_portable(scores: &mut [f32], row_length: usize) {
    for row in scores.chunks_exact_mut(row_length) {
        let max = reduce(
            row,
            f32::NEG_INFINITY,
            |x| x,
            |a, b| if a > b { a } else { b },
        );
        for value in row.iter_mut() {
            *value = exp(*value - max);
        }
        let inverse = 1.0 / sum(row);
        for value in row.iter_mut() {
            *value *= inverse;
        }
    }
}

/// The rows handed to one parallel task of an elementwise kernel.
const ROWS_PER_TASK: usize = 32;

/// GELU in place, rows of `width` values computed in parallel.
pub fn gelu(values: &mut [f32], width: usize) {
    values
        .par_chunks_mut(width * ROWS_PER_TASK)
        .for_each(gelu_in_place);
}

#[inline(always)]
fn layer_norm_portable(rows: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    let width = weight.len() as f32;
    for row in rows.chunks_exact_mut(weight.len()) {
        let mean = sum(row) / width;
        let squares = reduce(row, 0.0, |x| (x - mean) * (x - mean), |a, b| a + b);
        let inverse = 1.0 / (squares / width + eps).sqrt();
        for ((value, &gain), &shift) in row.iter_mut().zip(weight).zip(bias) {
            *value = (*value - mean) * inverse * gain + shift;
        }
    }
}

dispatch_by_cpu! {
    /// Layer normalisation of each row of `rows` (rows as long as `weight`) in place.
    fn layer_norm_rows(rows: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) => layer_norm_portable
}

/// Layer normalisation of every row of `values` in place (rows as long as `weight`), rows
/// computed in parallel.
pub fn layer_norm(values: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    values
        .par_chunks_mut(weight.len() * ROWS_PER_TASK)
        .for_each(|rows| layer_norm_rows(rows, weight, bias, eps));
}

dispatch_by_cpu! {
    /// Softmax of every row of `scores` (see [`softmax_rows_portable`]).
    fn softmax_rows(scores: &mut [f32], row_length: usize) => softmax_rows_portable
}

/// Multi-head self-attention over packed sequences: `qkv` is `[tokens, 3 * hidden]`, the
/// query, key and value projections of every token of every sequence side by side,
/// sequence after sequence (`lengths` says how many tokens each has); the result is
/// `[tokens, hidden]`, every head's context, heads side by side. Each token attends to the
/// tokens of its own sequence only, so sequences of different lengths need neither padding
/// nor a mask. Each (sequence, head) is two matrix products on strided views of `qkv`
/// (scores = Q Kᵀ / √d, context = softmax(scores) V, written straight into the head's
/// columns of the result), computed in parallel.
pub fn packed_attention(
    qkv: &[f32],
    lengths: &[usize],
    heads: usize,
    head_size: usize,
) -> Vec<f32> {
    let hidden = heads * head_size;
    let tokens: usize = lengths.iter().sum();
    assert_eq!(
        qkv.len(),
        tokens * 3 * hidden,
        "packed attention input shape"
    );
    let starts: Vec<usize> = lengths
        .iter()
        .scan(0, |start, &length| {
            let this = *start;
            *start += length;
            Some(this)
        })
        .collect();
    let scale = 1.0 / (head_size as f32).sqrt();
    let tasks: Vec<(usize, usize)> = (0..lengths.len())
        .flat_map(|sequence| (0..heads).map(move |head| (sequence, head)))
        .collect();
    let mut context = vec![0f32; tokens * hidden];
    let shared = SharedOutput::new(&mut context, hidden);
    tasks
        .par_iter()
        .for_each_init(Vec::new, |scores, &(sequence, head)| {
            let (start, length) = (starts[sequence], lengths[sequence]);
            let part = |index: usize| View {
                values: &qkv[start * 3 * hidden + index * hidden + head * head_size..],
                rows: length,
                columns: head_size,
                row_stride: 3 * hidden,
                column_stride: 1,
            };
            scores.resize(length * length, 0.0);
            multiply(
                part(0),
                part(1).transposed(),
                Output::rows(scores, length),
                scale,
                false,
                1,
            );
            softmax_rows(scores, length);
            // SAFETY: this task alone writes the head's columns of the sequence's rows.
            unsafe {
                multiply_shared(
                    View::rows(scores, length),
                    part(2),
                    shared,
                    start * hidden + head * head_size,
                    1.0,
                    false,
                    1,
                );
            }
        });
    context
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
        let output = packed_attention(&qkv, &lengths, heads, head_size);
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
    fn layer_norm_centres_and_scales_each_row() {
        let mut values = vec![1.0, 2.0, 3.0, 4.0, -2.0, 0.0, 2.0, 4.0];
        layer_norm(
            &mut values,
            &[1.0, 1.0, 2.0, 2.0],
            &[0.0, 0.0, 0.0, 1.0],
            0.0,
        );
        for row in values.chunks(4) {
            let expected = [-1.341_640_8, -0.447_213_6, 0.894_427_2, 3.683_281_6];
            for (value, expected) in row.iter().zip(expected) {
                assert!((value - expected).abs() < 1e-5, "{value} vs {expected}");
            }
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
