//! The arithmetic the vector functions share, written so that the compiler vectorizes it:
//! eight independent accumulators over eight-element chunks.

const LANES: usize = 8;

/// `sum(f(a[i], b[i]))` over two slices of equal length.
#[inline]
fn sum_pairs(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0f32; LANES];
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum();
    for (a_chunk, b_chunk) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            lanes[lane] += f(a_chunk[lane], b_chunk[lane]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The dot product of two vectors of equal length.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    sum_pairs(a, b, |x, y| x * y)
}

/// The squared Euclidean distance between two vectors of equal length.
#[inline]
pub fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    sum_pairs(a, b, |x, y| (x - y) * (x - y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_distance_match_the_naive_sums_past_one_chunk() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 3.0 - i as f32).collect();
        let naive_dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let naive_distance: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        assert!((dot(&a, &b) - naive_dot).abs() < 1e-3);
        assert!((squared_distance(&a, &b) - naive_distance).abs() < 1e-3);
    }
}
