//! [`Job`]: one request's tokenized texts in the queue, and where their vectors gather
//! while encoder instances compute them, perhaps in several batches and on several
//! instances at once. The request's handler waits on the receiver [`Job::new`] gives; it
//! is answered when the last text has its vector, or at the first failure.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

/// What a job's handler receives: every text's vector back to back, or why it failed.
pub type JobResult = Result<Vec<f32>, String>;

/// The vectors gathered so far.
#[derive(Debug)]
struct Gathering {
    vectors: Vec<f32>,
    remaining: usize,
    /// Taken when the job is answered.
    reply: Option<oneshot::Sender<JobResult>>,
}

/// One request's texts, tokenized.
#[derive(Debug)]
pub struct Job {
    sequences: Vec<Vec<u32>>,
    tokens: usize,
    dimension: usize,
    enqueued: Instant,
    gathering: Mutex<Gathering>,
}

impl Job {
    /// A job of `sequences` (at least one), for vectors of `dimension` values, and the
    /// receiver of its result.
    pub fn new(
        sequences: Vec<Vec<u32>>,
        dimension: usize,
    ) -> (Arc<Self>, oneshot::Receiver<JobResult>) {
        let (reply, receiver) = oneshot::channel();
        let job = Self {
            tokens: sequences.iter().map(Vec::len).sum(),
            gathering: Mutex::new(Gathering {
                vectors: vec![0.0; sequences.len() * dimension],
                remaining: sequences.len(),
                reply: Some(reply),
            }),
            sequences,
            dimension,
            enqueued: Instant::now(),
        };
        (Arc::new(job), receiver)
    }

    /// The texts' token ids.
    pub fn sequences(&self) -> &[Vec<u32>] {
        &self.sequences
    }

    /// The tokens of all its texts.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// When it was made, just before it was queued.
    pub fn enqueued(&self) -> Instant {
        self.enqueued
    }

    /// The vectors of the texts `texts` (`vectors`, back to back); the job is answered
    /// once every text has its vector.
    pub fn deliver(&self, texts: Range<usize>, vectors: &[f32]) {
        let Ok(mut gathering) = self.gathering.lock() else {
            return;
        };
        let slots = texts.start * self.dimension..texts.end * self.dimension;
        if let Some(destination) = gathering.vectors.get_mut(slots) {
            destination.copy_from_slice(vectors);
        }
        gathering.remaining = gathering.remaining.saturating_sub(texts.len());
        if gathering.remaining == 0
            && let Some(reply) = gathering.reply.take()
        {
            let vectors = std::mem::take(&mut gathering.vectors);
            let _ = reply.send(Ok(vectors));
        }
    }

    /// Answers the job with `reason`, unless it was answered already.
    pub fn fail(&self, reason: &str) {
        if let Ok(mut gathering) = self.gathering.lock()
            && let Some(reply) = gathering.reply.take()
        {
            let _ = reply.send(Err(reason.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_answered_when_its_last_text_has_a_vector() {
        let (job, mut receiver) = Job::new(vec![vec![1, 2], vec![3], vec![4, 5, 6]], 2);
        assert_eq!(job.tokens(), 6);
        job.deliver(2..3, &[5.0, 6.0]);
        assert!(receiver.try_recv().is_err());
        job.deliver(0..2, &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            receiver.try_recv().unwrap(),
            Ok(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
    }

    #[test]
    fn a_failure_answers_once_and_later_vectors_are_ignored() {
        let (job, mut receiver) = Job::new(vec![vec![1], vec![2]], 1);
        job.fail("the encoder failed");
        job.deliver(0..2, &[1.0, 2.0]);
        job.fail("again");
        assert_eq!(
            receiver.try_recv().unwrap(),
            Err("the encoder failed".to_string())
        );
    }
}
