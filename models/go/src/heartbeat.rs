//! Pause and resume (§3.6–3.8): `pause(immediatePoll)`, `pauseKafkaConsumer`, the heartbeat
//! goroutine G2 under `safego.RunWithRestart`, `resume()` and `_unpause()`. The PR's changes
//! here: the drain in `pause()` (§4.2), the defensive re-resume (§4.3) and the asynchronous
//! restart at the heartbeat's two restart sites (§4.4).

use crate::batch::Read;
use crate::consumer::{BatchConsumer, Go, GoPanic, RETRIABLE_SLEEP, SAFEGO_RESTART_DELAY};
use crate::Variant;
use pausebeat::kafka::{ConsumerFactory, ConsumerHandle, KafkaError};
use pausebeat::probe::DesignEvent;
use pausebeat::sync::{RecvArm, Runtime, Select, Ticker, TrySendError};
use std::sync::Arc;

impl<R: Runtime, F: ConsumerFactory> BatchConsumer<R, F> {
    /// §3.6 `pause(immediatePoll)`: runs in the caller (G1 from `pauseOrSuspend`, GT mid-batch).
    pub(crate) fn pause(self: &Arc<Self>, immediate_poll: bool) -> Go<()> {
        self.event(DesignEvent::PauseCalled);
        if !self.paused.compare_and_swap(false, true) {
            // A heartbeat already exists (or `paused` is stuck true).
            self.event(DesignEvent::PauseReturned);
            return Ok(());
        }
        if self.variant == Variant::Pr1313 {
            // [PR §4.2] non-blocking drain of a stale resume signal.
            if self.resume_channel.try_recv().is_ok() {
                self.note("pause: drained a stale resume signal");
            }
        }
        self.pause_kafka_consumer()?;
        let me = self.clone();
        self.go("heartbeat", move || me.heartbeat(immediate_poll));
        self.event(DesignEvent::PauseReturned);
        Ok(())
    }

    /// §3.6 `pauseKafkaConsumer()`: pause the current assignment (no nil check: a nil consumer
    /// panics); on an error, a SYNCHRONOUS restart (both versions).
    pub(crate) fn pause_kafka_consumer(self: &Arc<Self>) -> Go<()> {
        let c = self.load().ok_or_else(|| {
            GoPanic(
                "nil pointer dereference: Assignment() on a nil consumer in pauseKafkaConsumer"
                    .into(),
            )
        })?;
        let err = match c.assignment() {
            Err(e) => Some(e),
            Ok(parts) if !parts.is_empty() => c.pause(&parts).err(),
            // Empty assignment: rely on the rebalance callback.
            Ok(_) => None,
        };
        if let Some(e) = err {
            self.note(format!(
                "pause_error: Failed to pause kafka consumer: {e}; restarting synchronously"
            ));
            self.restart_consumer(None);
        }
        Ok(())
    }

    /// G2 under `safego.RunWithRestart`: a panic is recovered, logged, and the closure reruns
    /// from the top after 2 s with fresh locals (`paused` untouched).
    fn heartbeat(self: Arc<Self>, immediate_poll: bool) {
        loop {
            match self.heartbeat_loop(immediate_poll) {
                Ok(()) => return,
                Err(GoPanic(what)) => {
                    self.note(format!(
                        "safego: heartbeat recovered from a panic ({what}); restarting it in 2 s"
                    ));
                    self.rt.sleep(SAFEGO_RESTART_DELAY);
                }
            }
        }
    }

    /// The heartbeat closure (§3.6).
    fn heartbeat_loop(self: &Arc<Self>, immediate_poll: bool) -> Go<()> {
        let mut error_reported = false;
        let mut first_poll = immediate_poll;
        let mut ticker = Ticker::new(&self.rt, self.timing.max_poll_interval / 2);
        loop {
            if self.idle.load() && self.retired.load() {
                // `paused` is left true.
                self.note("heartbeat: Consumer is retired. Closing");
                self.close()?;
                return Ok(());
            }
            if !first_poll {
                let mut resume = RecvArm::new(&self.resume_channel);
                let fired = Select::new(&self.rt, "heartbeat: resume signal or tick")
                    .arm(&mut resume)
                    .arm(&mut ticker)
                    .wait();
                if fired == Some(0) {
                    self.paused.compare_and_swap(true, false);
                    if self.variant == Variant::Pr1313 {
                        // [PR §4.3] defensive re-resume of the CURRENT consumer.
                        if let Some(current) = self.load() {
                            if let Ok(parts) = current.assignment() {
                                let _ = current.resume(&parts);
                            }
                        }
                    }
                    self.note("heartbeat: Consumer resumed (signal taken); heartbeat ends");
                    return Ok(());
                }
            }
            first_poll = false;
            let Some(c) = self.load() else {
                self.note("heartbeat: Paused Consumer is nil.");
                continue;
            };
            match self.read_message(&c) {
                // "Consumer paused. Heartbeat sent."
                Read::TimedOut => continue,
                Read::Error(e) => {
                    if !error_reported {
                        error_reported = true;
                        self.note(format!("heartbeat: Error on paused consumer: {e}"));
                    }
                    if crate::batch::is_retriable(&e) {
                        self.note("heartbeat: retriable error: sleeping 10 s");
                        self.rt.sleep(RETRIABLE_SLEEP);
                    } else {
                        self.restart_from_heartbeat(&e);
                    }
                }
                Read::Message(m) => {
                    // A record slipped through the pause: rewind to it so it is not lost.
                    match c.seek(m.partition, m.offset) {
                        Ok(()) => self.event(DesignEvent::Rewound {
                            partition: m.partition,
                            offset: m.offset,
                        }),
                        Err(e) => {
                            self.note(format!(
                                "heartbeat: ROLLBACK_ON_PAUSE_ERR: Failed to rollback offset on paused consumer: {e}"
                            ));
                            self.restart_from_heartbeat(&e);
                        }
                    }
                    // May restart SYNCHRONOUSLY (both versions).
                    self.pause_kafka_consumer()?;
                }
            }
        }
    }

    /// The heartbeat's two restart sites: synchronous before the PR, `restartConsumerAsync`
    /// with it (§4.4).
    fn restart_from_heartbeat(self: &Arc<Self>, cause: &KafkaError) {
        match self.variant {
            Variant::Original => {
                self.note(format!(
                    "heartbeat: {:?} is not retriable: restarting the consumer synchronously",
                    cause.code
                ));
                self.restart_consumer(None);
            }
            Variant::Pr1313 => {
                self.note(format!(
                    "heartbeat: {:?} is not retriable: restartConsumerAsync",
                    cause.code
                ));
                self.restart_consumer_async();
            }
        }
    }

    /// §3.7 `resume()`: hand polling back from the heartbeat. `paused` is not touched here.
    pub(crate) fn resume(self: &Arc<Self>) -> Go<()> {
        self.event(DesignEvent::ResumeCalled);
        if !self.paused.load() {
            self.event(DesignEvent::ResumeReturned { ok: true });
            return Ok(());
        }
        // No nil check before #1494.
        let c = self.load().ok_or_else(|| {
            GoPanic("nil pointer dereference: Assignment() on a nil consumer in resume()".into())
        })?;
        let err = match c.assignment() {
            Err(e) => Some(e.to_string()),
            Ok(parts) => {
                match self
                    .resume_channel
                    .send_timeout((), self.timing.max_poll_interval)
                {
                    // Resume on the pointer captured ABOVE.
                    Ok(()) => c.resume(&parts).err().map(|e| e.to_string()),
                    Err(TrySendError::Full(())) => Some("Resume timeout.".to_string()),
                    Err(TrySendError::Closed(())) => {
                        return Err(GoPanic("send on closed channel in resume()".into()))
                    }
                }
            }
        };
        if let Some(e) = &err {
            self.note(format!(
                "resume_error: failed to resume kafka consumer.: {e}"
            ));
        }
        self.event(DesignEvent::ResumeReturned { ok: err.is_none() });
        Ok(())
    }

    /// §3.8 `_unpause()` (suspend path): send the signal, or give up after max.poll.interval.
    /// The caller closes the consumer whatever the outcome.
    pub(crate) fn unpause(&self) -> Go<()> {
        if !self.paused.load() {
            return Ok(());
        }
        match self
            .resume_channel
            .send_timeout((), self.timing.max_poll_interval)
        {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(())) => {
                self.note("resume_error: failed to unpause kafka consumer.");
                Ok(())
            }
            Err(TrySendError::Closed(())) => {
                Err(GoPanic("send on closed channel in _unpause()".into()))
            }
        }
    }
}
