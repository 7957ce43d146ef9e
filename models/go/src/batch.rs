//! The batch variant (§3.3, `batch_consumer.go`, G1): `batchFunc` with its mid-batch pause timer
//! GT, the offset commit and its synchronous restart, the minimal `processFailed`, and
//! confluent-kafka-go's `ReadMessage`.

use crate::consumer::{BatchConsumer, BatchOutcome, ConsumeError, Go, GoPanic};
use pausebeat::kafka::{ConsumerFactory, ConsumerHandle, ErrorCode, KafkaError, Offset, Record};
use pausebeat::sync::{Chan, RecvError, Runtime};
use std::sync::Arc;

/// What confluent-kafka-go's `ReadMessage(timeout)` returned.
pub(crate) enum Read {
    /// A record.
    Message(Record),
    /// `kafka.ErrTimedOut`: nothing within the timeout.
    TimedOut,
    /// Any other error.
    Error(KafkaError),
}

/// confluent-kafka-go's `err.(kafka.Error).IsRetriable()` for an error `ReadMessage` returned:
/// always false. A poll's errors are librdkafka *events* (`rd_kafka_event_error`), which carry
/// a code and a fatal flag but no retriable flag (only `rd_kafka_error_t` objects do), and
/// confluent-kafka-go builds them without one. So the heartbeat's "retriable: sleep 10 s"
/// branch (§3.6) is never taken for a poll error: broker transport and all-brokers-down errors
/// restart the consumer, whatever class the seam gives them.
pub(crate) fn is_retriable(_e: &KafkaError) -> bool {
    false
}

impl<R: Runtime, F: ConsumerFactory> BatchConsumer<R, F> {
    /// `c.ReadMessage(waitForMessages)`: confluent-kafka-go polls until a record, an error or the
    /// deadline (events such as a served rebalance make a poll return early; it polls again with
    /// what is left). An error whose code is `TimedOut` is the timeout.
    pub(crate) fn read_message(&self, c: &F::Handle) -> Read {
        let deadline = self.rt.now() + self.timing.poll_timeout;
        loop {
            let left = deadline.saturating_since(self.rt.now());
            match c.poll(left) {
                Ok(Some(record)) => return Read::Message(record),
                Err(e) if e.code == ErrorCode::TimedOut => return Read::TimedOut,
                Err(e) => return Read::Error(e),
                Ok(None) if self.rt.now() >= deadline => return Read::TimedOut,
                Ok(None) => {}
            }
        }
    }

    /// §3.3 `batchFunc` of the batch variant (`processBatchImpl`).
    pub(crate) fn batch_func(self: &Arc<Self>, high: Option<Offset>) -> Go<BatchOutcome> {
        // Captured ONCE for the whole batch.
        let c = self.load();
        let mut records: Vec<Record> = Vec::new();
        for _ in 0..self.timing.batch_size {
            if self.retired.load() {
                // Abort the stream; nothing is committed.
                return Ok(BatchOutcome {
                    consumed: records.len(),
                    next_batch: false,
                    err: None,
                });
            }
            if let (Some(latest), Some(high)) = (records.last(), high) {
                if latest.offset >= high - 1 {
                    break; // reached the watermark read at the start of ConsumeAll
                }
            }
            let c = c.as_ref().ok_or_else(|| {
                GoPanic(
                    "nil pointer dereference: ReadMessage() on a nil consumer in the batch".into(),
                )
            })?;
            match self.read_message(c) {
                Read::TimedOut => break, // "considering batch as full"
                Read::Error(e) => {
                    // Baseline: abort the stream and return the error; no restart here.
                    return Ok(BatchOutcome {
                        consumed: records.len(),
                        next_batch: false,
                        err: Some(ConsumeError::Read(e)),
                    });
                }
                Read::Message(m) => records.push(m),
            }
        }
        let (Some(first), Some(latest)) = (records.first().cloned(), records.last().cloned())
        else {
            return Ok(BatchOutcome {
                consumed: 0,
                next_batch: false,
                err: None,
            });
        };
        let consumed = records.len();
        let next_batch = consumed == self.timing.batch_size;

        // GT: keep the group alive during a slow destination load (only when asked for: it costs
        // a thread per batch).
        let timer = self.start_pause_timer();
        let handled = self.handler.handle(&records); // stream.Complete()
        if let Some(stop) = timer {
            let _ = stop.try_send(()); // GT.Stop(): too late if it already fired
        }
        if let Err(e) = handled {
            // failedPosition = latest; the defer: nextBatch = false, then processFailed.
            self.process_failed(&first)?;
            return Ok(BatchOutcome {
                consumed,
                next_batch: false,
                err: Some(ConsumeError::Handler(e)),
            });
        }

        // CommitMessage(latest): the next offset, on the consumer captured above.
        let c = c.as_ref().ok_or_else(|| {
            GoPanic(
                "nil pointer dereference: CommitMessage() on a nil consumer in the batch".into(),
            )
        })?;
        let commit = [(latest.partition, latest.offset + 1)];
        let Err(e) = c.commit(&commit) else {
            return Ok(BatchOutcome {
                consumed,
                next_batch,
                err: None,
            });
        };
        self.note(format!(
            "batch: KAFKA_COMMIT_ERR: {e}; restarting the consumer synchronously (beforeInit: AlterConsumerGroupOffsets)"
        ));
        let mut admin_failed = false;
        let mut before_init = || {
            // The seam has no admin client: AlterConsumerGroupOffsets counts as failed.
            admin_failed = true;
        };
        self.restart_consumer(Some(&mut before_init));
        let mut err = e;
        if admin_failed {
            // The fallback: commit on the NEW consumer (re-Load).
            let now = self.load().ok_or_else(|| {
                GoPanic("nil pointer dereference: CommitMessage() on a nil consumer after the commit-failure restart".into())
            })?;
            match now.commit(&commit) {
                Ok(()) => {
                    self.note(format!("batch: committed on the new consumer {}", now.id()));
                    return Ok(BatchOutcome {
                        consumed,
                        next_batch,
                        err: None,
                    });
                }
                Err(e2) => err = e2,
            }
        }
        Ok(BatchOutcome {
            consumed,
            next_batch: false,
            err: Some(ConsumeError::Commit(err)),
        })
    }

    /// GT (§3.3): `time.AfterFunc(maxPoll/2, pause(true))`, as a `pause-timer` thread that waits
    /// for a stop signal until the timer's deadline. Returns the stop channel (`GT.Stop()`), or
    /// `None` when `Timing::mid_batch_timer` is off.
    fn start_pause_timer(self: &Arc<Self>) -> Option<Chan<R, ()>> {
        if !self.timing.mid_batch_timer {
            return None;
        }
        let stop: Chan<R, ()> = Chan::new(&self.rt, 1);
        let stopped = stop.clone();
        let after = self.timing.max_poll_interval / 2;
        let me = self.clone();
        self.go("pause-timer", move || {
            if stopped.recv_timeout(after) == Err(RecvError::Empty) {
                me.note("mid-batch pause timer fired: pause(true)");
                // An AfterFunc goroutine has no recover.
                if let Err(p) = me.pause(true) {
                    me.crash(p);
                }
            }
        });
        Some(stop)
    }

    /// `processFailed`, minimally (§3.3): the consumer Loaded at its start, `resume()` (the
    /// mid-batch pause may have fired), a seek back to the batch's first record so it is read
    /// again; a failure restarts the consumer synchronously. The retry-topic producer is not
    /// modeled: nothing is committed.
    fn process_failed(self: &Arc<Self>, first: &Record) -> Go<()> {
        let c = self.load();
        self.resume()?;
        let c = c.ok_or_else(|| {
            GoPanic(
                "nil pointer dereference: SeekPartitions() on a nil consumer in processFailed"
                    .into(),
            )
        })?;
        match c.seek(first.partition, first.offset) {
            Ok(()) => self.note(format!(
                "processFailed: rolled back to p{}@{} (the batch will be read again)",
                first.partition, first.offset
            )),
            Err(e) => {
                self.note(format!(
                    "processFailed: SEEK_ERROR {e}; restarting the consumer synchronously"
                ));
                self.restart_consumer(None);
            }
        }
        Ok(())
    }
}
