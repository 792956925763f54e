//! The encoder instances: each a thread of its own with its own [`SentenceEncoder`],
//! loaded and warmed up once, then taking batches from the [`Queue`] until it is closed
//! and empty. A batch that fails (an error, even a panic of the encoder) fails only the
//! requests whose texts it held; the instance goes on with the next.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use nodefusion_model::{Arithmetic, ModelError, SentenceEncoder, SentenceTokenizer};

use super::metrics::Metrics;
use super::queue::{Batch, Queue};

/// How each instance loads its encoder.
#[derive(Debug, Clone)]
pub struct EncoderSpec {
    /// The model's directory.
    pub directory: PathBuf,
    /// Threads per instance.
    pub threads: usize,
    /// The number format of its dense products.
    pub arithmetic: Arithmetic,
}

/// What an instance reports once loaded and warmed up: the tokenizer its encoder reads
/// and the length of its vectors, or why it could not start.
pub type Loaded = Result<(SentenceTokenizer, usize), ModelError>;

/// Starts an instance on a thread named `embed-instance-{index}`; it calls `report` once
/// loaded and warmed up, or once it failed to load.
pub fn spawn_instance(
    index: usize,
    spec: EncoderSpec,
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
    report: impl FnOnce(Loaded) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("embed-instance-{index}"))
        .spawn(move || {
            let encoder = match load_warm(&spec) {
                Ok(encoder) => encoder,
                Err(error) => return report(Err(error)),
            };
            let dimension = encoder.dimension();
            report(Ok((encoder.tokenizer().clone(), dimension)));
            while let Some(batch) = queue.next_batch() {
                compute(&batch, dimension, &metrics, |sequences| {
                    encoder
                        .encode_tokenized(sequences)
                        .map_err(|error| error.to_string())
                });
            }
        })
}

/// The encoder of `spec`, after one forward pass over a sequence at the model's window
/// (the first pass allocates and packs what the later ones reuse).
fn load_warm(spec: &EncoderSpec) -> Result<SentenceEncoder, ModelError> {
    let encoder = SentenceEncoder::load(&spec.directory, spec.threads, spec.arithmetic)?;
    let window = encoder.tokenizer().max_length();
    encoder.encode(&[&"warm up ".repeat(window)])?;
    Ok(encoder)
}

/// Computes `batch` with `encode` (token ids to vectors of `dimension` values, back to
/// back) and hands each job its vectors, or its failure.
fn compute(
    batch: &Batch,
    dimension: usize,
    metrics: &Metrics,
    encode: impl FnOnce(&[&[u32]]) -> Result<Vec<f32>, String>,
) {
    for (job, texts) in &batch.pieces {
        if texts.start == 0 {
            metrics
                .queue_seconds
                .observe_duration(job.enqueued().elapsed());
        }
    }
    let sequences = batch.sequences();
    let started = Instant::now();
    let computed = std::panic::catch_unwind(AssertUnwindSafe(|| encode(&sequences)))
        .unwrap_or_else(|panic| {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_string());
            Err(format!("the encoder stopped: {reason}"))
        });
    metrics
        .inference_seconds
        .observe_duration(started.elapsed());
    metrics.batch_texts.observe(sequences.len() as f64);
    metrics.batch_tokens.observe(batch.tokens as f64);
    let computed = computed.and_then(|vectors| {
        if vectors.len() == sequences.len() * dimension {
            Ok(vectors)
        } else {
            Err(format!(
                "the encoder gave {} values for {} texts of {dimension}",
                vectors.len(),
                sequences.len()
            ))
        }
    });
    match computed {
        Ok(vectors) => {
            metrics.embedded(sequences.len(), batch.tokens);
            let mut offset = 0;
            for (job, texts) in &batch.pieces {
                let end = offset + texts.len() * dimension;
                job.deliver(texts.clone(), &vectors[offset..end]);
                offset = end;
            }
        }
        Err(reason) => {
            for (job, _) in &batch.pieces {
                job.fail(&reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::job::Job;

    #[test]
    fn a_failed_batch_fails_only_its_own_requests() {
        let queue = Queue::new(4, 1);
        let metrics = Metrics::default();
        let (first, mut first_result) = Job::new(vec![vec![1, 2], vec![3, 4]], 1);
        let (second, mut second_result) = Job::new(vec![vec![5, 6]], 1);
        queue.push(first);
        queue.push(second);
        let batch = queue.next_batch().unwrap();
        compute(&batch, 1, &metrics, |_| panic!("out of memory"));
        let batch = queue.next_batch().unwrap();
        compute(&batch, 1, &metrics, |sequences| {
            Ok(sequences.iter().map(|ids| ids[0] as f32).collect())
        });
        assert_eq!(
            first_result.try_recv().unwrap(),
            Err("the encoder stopped: out of memory".to_string())
        );
        assert_eq!(second_result.try_recv().unwrap(), Ok(vec![5.0]));
    }
}
