//! [`Queue`]: the one queue between request handlers and encoder instances. Handlers push
//! jobs (a request's tokenized texts); each instance, when idle, takes texts from the
//! front, across jobs, up to its token budget, so that texts of different clients share a
//! packed forward pass. Batches grow only from backlog: an idle instance never waits for
//! one to fill. An instance takes at most its share of the backlog (the waiting tokens
//! over the instances), so that one large request is computed on several at once, and a
//! backlog that an instance finds while the others are busy leaves the rest to whichever
//! is free next. A job whose request went away is withdrawn with the texts no instance has
//! taken.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::job::Job;

/// A job with the texts from `next` on still waiting.
#[derive(Debug)]
struct Waiting {
    job: Arc<Job>,
    next: usize,
}

#[derive(Debug, Default)]
struct Backlog {
    waiting: VecDeque<Waiting>,
    texts: usize,
    tokens: usize,
    /// Instances waiting for work.
    idle: usize,
    closed: bool,
}

/// What one instance computes in one pass: runs of texts of jobs.
#[derive(Debug)]
pub struct Batch {
    /// Each job with the range of its texts in this batch, in queue order.
    pub pieces: Vec<(Arc<Job>, Range<usize>)>,
    /// The texts' tokens.
    pub tokens: usize,
}

impl Batch {
    /// The texts' token ids, in order.
    pub fn sequences(&self) -> Vec<&[u32]> {
        self.pieces
            .iter()
            .flat_map(|(job, texts)| job.sequences()[texts.clone()].iter().map(Vec::as_slice))
            .collect()
    }
}

/// The queue of texts waiting for an encoder instance.
#[derive(Debug)]
pub struct Queue {
    backlog: Mutex<Backlog>,
    arrived: Condvar,
    batch_tokens: usize,
    instances: usize,
}

impl Queue {
    /// An empty queue for `instances` instances whose batches hold at most `batch_tokens`
    /// tokens (or one text, when a text alone is longer).
    pub fn new(batch_tokens: usize, instances: usize) -> Self {
        Self {
            backlog: Mutex::default(),
            arrived: Condvar::new(),
            batch_tokens: batch_tokens.max(1),
            instances: instances.max(1),
        }
    }

    fn backlog(&self) -> MutexGuard<'_, Backlog> {
        self.backlog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `job`'s texts behind the others.
    pub fn push(&self, job: Arc<Job>) {
        let mut backlog = self.backlog();
        backlog.texts += job.sequences().len();
        backlog.tokens += job.tokens();
        backlog.waiting.push_back(Waiting { job, next: 0 });
        self.arrived.notify_one();
    }

    /// Takes `job`'s waiting texts out of the queue; returns how many there were.
    pub fn withdraw(&self, job: &Arc<Job>) -> usize {
        let mut backlog = self.backlog();
        let Some(position) = backlog
            .waiting
            .iter()
            .position(|waiting| Arc::ptr_eq(&waiting.job, job))
        else {
            return 0;
        };
        let Some(Waiting { job, next }) = backlog.waiting.remove(position) else {
            return 0;
        };
        let sequences = &job.sequences()[next..];
        backlog.texts -= sequences.len();
        backlog.tokens -= sequences.iter().map(Vec::len).sum::<usize>();
        sequences.len()
    }

    /// Texts and tokens waiting.
    pub fn size(&self) -> (usize, usize) {
        let backlog = self.backlog();
        (backlog.texts, backlog.tokens)
    }

    /// Lets the instances stop once the queue is empty.
    pub fn close(&self) {
        self.backlog().closed = true;
        self.arrived.notify_all();
    }

    /// The next batch for an instance, waiting while the queue is empty; `None` once the
    /// queue is closed and empty. The batch holds this instance's share of the backlog
    /// (the waiting tokens over the instances), at most the token budget, and always at
    /// least one text.
    pub fn next_batch(&self) -> Option<Batch> {
        let mut backlog = self.backlog();
        while backlog.waiting.is_empty() {
            if backlog.closed {
                return None;
            }
            backlog.idle += 1;
            backlog = self
                .arrived
                .wait(backlog)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            backlog.idle -= 1;
        }
        let share = backlog.tokens.div_ceil(self.instances);
        let limit = self.batch_tokens.min(share.max(1));
        let mut batch = Batch {
            pieces: Vec::new(),
            tokens: 0,
        };
        let mut texts = 0;
        while let Some(front) = backlog.waiting.front_mut() {
            let start = front.next;
            let sequences = front.job.sequences();
            while front.next < sequences.len()
                && (batch.tokens == 0 || batch.tokens + sequences[front.next].len() <= limit)
            {
                batch.tokens += sequences[front.next].len();
                front.next += 1;
            }
            texts += front.next - start;
            if front.next > start {
                batch
                    .pieces
                    .push((Arc::clone(&front.job), start..front.next));
            }
            if front.next < sequences.len() {
                break;
            }
            backlog.waiting.pop_front();
        }
        backlog.texts -= texts;
        backlog.tokens -= batch.tokens;
        if !backlog.waiting.is_empty() && backlog.idle > 0 {
            self.arrived.notify_one();
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(lengths: &[usize]) -> Arc<Job> {
        let sequences = lengths.iter().map(|length| vec![7; *length]).collect();
        Job::new(sequences, 1).0
    }

    fn ranges(batch: &Batch) -> Vec<Range<usize>> {
        batch
            .pieces
            .iter()
            .map(|(_, texts)| texts.clone())
            .collect()
    }

    #[test]
    fn a_batch_takes_texts_of_several_jobs_up_to_the_budget() {
        let queue = Queue::new(10, 1);
        let (first, second) = (job(&[3, 3]), job(&[3, 3, 3]));
        queue.push(Arc::clone(&first));
        queue.push(Arc::clone(&second));
        let batch = queue.next_batch().unwrap();
        assert_eq!(batch.tokens, 9);
        assert_eq!(ranges(&batch), vec![0..2, 0..1]);
        assert!(Arc::ptr_eq(&batch.pieces[1].0, &second));
        assert_eq!(queue.size(), (2, 6));
        let batch = queue.next_batch().unwrap();
        assert_eq!(ranges(&batch), vec![1..3]);
        assert_eq!(queue.size(), (0, 0));
    }

    #[test]
    fn a_text_longer_than_the_budget_is_a_batch_of_its_own() {
        let queue = Queue::new(4, 1);
        queue.push(job(&[9, 2]));
        assert_eq!(queue.next_batch().unwrap().tokens, 9);
        assert_eq!(queue.next_batch().unwrap().tokens, 2);
    }

    #[test]
    fn withdrawing_drops_only_the_texts_still_waiting() {
        let queue = Queue::new(4, 1);
        let (gone, kept) = (job(&[2, 2, 2, 2]), job(&[1]));
        queue.push(Arc::clone(&gone));
        queue.push(Arc::clone(&kept));
        assert_eq!(ranges(&queue.next_batch().unwrap()), vec![0..2]);
        assert_eq!(queue.withdraw(&gone), 2);
        assert_eq!(queue.withdraw(&gone), 0);
        assert_eq!(queue.size(), (1, 1));
        let batch = queue.next_batch().unwrap();
        assert!(Arc::ptr_eq(&batch.pieces[0].0, &kept));
    }

    #[test]
    fn a_closed_queue_is_emptied_before_its_instances_stop() {
        let queue = Queue::new(100, 1);
        queue.push(job(&[5]));
        queue.close();
        assert!(queue.next_batch().is_some());
        assert!(queue.next_batch().is_none());
    }

    #[test]
    fn instances_share_the_backlog() {
        let queue = Arc::new(Queue::new(1000, 2));
        let instances: Vec<_> = (0..2)
            .map(|_| {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || queue.next_batch().map(|batch| batch.tokens))
            })
            .collect();
        while queue.backlog().idle < 2 {
            std::thread::yield_now();
        }
        queue.push(job(&[10; 8]));
        let mut taken: Vec<_> = instances
            .into_iter()
            .map(|instance| instance.join().unwrap())
            .collect();
        taken.sort();
        // Half of the backlog, then half of what is left; the rest waits for the first
        // instance free again.
        assert_eq!(taken, vec![Some(20), Some(40)]);
        assert_eq!(queue.size(), (2, 20));
    }
}
