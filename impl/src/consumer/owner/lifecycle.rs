//! The owner's transitions between phases: opening a consumer, closing it, restarting it,
//! suspending, shutting down.

use super::*;

impl<R: Runtime, F: ConsumerFactory, P: Probe> Owner<R, F, P> {
    // ----- opening, closing, restarting ----------------------------------------------------

    /// Creates a consumer (the previous one, if any, is closed already).
    /// The static instance id of the next handle: the configured one.
    fn instance_id(&self) -> Option<String> {
        self.cfg.instance_id().map(str::to_string)
    }

    pub(super) fn open(&mut self) {
        let attempt = match &self.phase {
            Phase::Restarting(r) => r.attempt,
            _ => 0,
        };
        let was_suspended = matches!(self.phase, Phase::Suspended);
        let restarting = matches!(self.phase, Phase::Restarting(_));
        // Always the configured static id: the previous handle is closed by now, so a newcomer
        // takes its place in the group without a rebalance (KIP-345) and fences nobody.
        let id = self.instance_id();
        self.shared.set_fetch_target(self.consuming());
        tracing::debug!(consumer = self.cfg.name(), instance_id = ?id, attempt, "creating a consumer");
        // A create can take the client time (it may look the cluster up): like its closes,
        // time close() does not count against its bound.
        let counted = !mutants::active("close-counts-client-calls");
        let (factory, hook) = (&self.factory, &self.hook);
        let created = self.shared.client_call(
            || self.rt.now(),
            counted,
            || factory.create(id.as_deref(), hook.clone()),
        );
        match created {
            Ok(handle) => {
                self.shared.counters.created.fetch_add(1);
                let now = self.rt.now();
                if restarting && mutants::active("no-resume-after-restart") {
                    self.shared.request(Mode::Paused); // the resume asked for meanwhile is lost
                }
                self.phase = Phase::Open(Open {
                    handle,
                    created_at: now,
                    applied: None,
                    // The first poll (which joins the group) is due at once.
                    last_poll: Instant::from_origin(
                        now.since_origin()
                            .saturating_sub(self.cfg.heartbeat_interval()),
                    ),
                    not_before: now,
                    backoff: self.cfg.retry_backoff(),
                    errors: 0,
                    pending: Pending::default(),
                    flush: false,
                    uncommitted: BTreeMap::new(),
                });
            }
            Err(e) => {
                tracing::warn!(consumer = self.cfg.name(), error = %e, attempt, "creating a consumer failed");
                self.shared.set_error(ConsumerError::Unavailable(e.clone()));
                self.end_run(Err(ConsumerError::Unavailable(e.clone())));
                if was_suspended || self.shared.mode() == Mode::Suspended {
                    // Only a run may open a suspended consumer: no retries in the background.
                    self.phase = Phase::Suspended;
                } else {
                    let attempt = attempt.saturating_add(1);
                    self.phase = Phase::Restarting(Restarting {
                        attempt,
                        retry_at: self.rt.now() + self.backoff(attempt),
                        cause: e,
                    });
                }
            }
        }
    }

    /// Closes the open handle, if any, and drops it; the phase becomes `Idle` (callers set the
    /// phase they mean). Records read and not handed are dropped: they are not committed, so
    /// whoever reads the partitions next reads them again.
    pub(super) fn close_handle(&mut self) {
        let Phase::Open(open) = std::mem::replace(&mut self.phase, Phase::Idle) else {
            return;
        };
        if let Some(f) = &mut self.in_flight {
            f.abandoned = true;
        }
        let id = open.handle.id();
        let closed = self
            .shared
            .client_call(|| self.rt.now(), true, || open.handle.close());
        if let Err(e) = closed {
            tracing::warn!(handle = %id, error = %e, "closing the consumer failed");
        }
        self.shared.counters.closed.fetch_add(1);
        tracing::debug!(handle = %id, "consumer closed");
    }

    /// Replaces a broken consumer: the old handle is closed first (so it is never polled and
    /// closed at once, and never alive next to its successor), then a new one is created under
    /// the same static instance id at the next step: it takes the closed member's place.
    ///
    /// The first restart is immediate; a consumer that fails again soon after it was created
    /// (within the backoff cap) counts as a failed attempt, so a persistent failure restarts
    /// with the same doubling backoff as failed creates, never in a tight loop.
    pub(super) fn restart(&mut self, cause: KafkaError) {
        tracing::warn!(consumer = self.cfg.name(), error = %cause, "restarting the consumer");
        self.note(DesignEvent::Note(format!("restart: {cause}")));
        let now = self.rt.now();
        let young = match &self.phase {
            Phase::Open(o) => now - o.created_at < self.cfg.restart_backoff_max(),
            _ => false,
        };
        self.restart_streak = if young { self.restart_streak + 1 } else { 0 };
        if mutants::active("restart-keeps-old-handle") {
            if let Phase::Open(old) = std::mem::replace(&mut self.phase, Phase::Idle) {
                std::mem::forget(old.handle);
            }
        }
        if mutants::active("restart-creates-first") {
            // The replacement first, then the old handle: under the same static id the
            // newcomer takes the member's place while the old handle is still open.
            if let Phase::Open(old) = std::mem::replace(&mut self.phase, Phase::Idle) {
                self.open();
                let _ = self
                    .shared
                    .client_call(|| self.rt.now(), true, || old.handle.close());
                self.shared.counters.closed.fetch_add(1);
                self.shared.counters.restarts.fetch_add(1);
                return;
            }
        }
        self.close_handle();
        self.shared.counters.restarts.fetch_add(1);
        self.phase = Phase::Restarting(Restarting {
            attempt: self.restart_streak,
            retry_at: now + self.backoff(self.restart_streak),
            cause,
        });
    }

    /// The wait before attempt `n` to create a consumer: none for the first, then the restart
    /// backoff doubling up to its cap.
    pub(super) fn backoff(&self, n: u32) -> Duration {
        if n == 0 {
            return Duration::ZERO;
        }
        self.cfg
            .restart_backoff()
            .saturating_mul(1 << (n - 1).min(16))
            .min(self.cfg.restart_backoff_max())
    }

    /// Before the handle that read the batch in the handler is closed (suspend, close): the
    /// handler's verdict is awaited for at most one maintenance poll's timeout (≤ 500 ms), and a
    /// success committed, so that a batch finishing as the consumer closes is not read and
    /// handed again. A batch still in the handler after that is abandoned (not committed: read
    /// again from the committed offset); waiting longer would hold `close()` past its bound.
    pub(super) fn settle_batch_in_flight(&mut self) {
        if !self.worker.busy {
            return;
        }
        if let Ok(verdict) = self
            .worker
            .results
            .recv_timeout(self.cfg.maintenance_poll_timeout())
        {
            self.on_verdict(verdict);
        }
    }

    pub(super) fn suspend_now(&mut self) {
        self.settle_batch_in_flight();
        self.retry_commits();
        if mutants::active("suspend-keeps-handle") {
            self.phase = Phase::Idle; // the open handle is dropped, never closed
        }
        self.close_handle();
        self.phase = Phase::Suspended;
        self.publish_state();
        for r in self.suspends.drain(..) {
            let _ = r.try_send(Ok(()));
        }
        tracing::debug!(consumer = self.cfg.name(), "suspended");
        // Runs asked for while the suspend was pending waited for it; they start now (a run
        // after a suspend reopens). Without a run in progress nothing else would start them.
        if self.run.is_none() && !self.queued_runs.is_empty() && !mutants::active("queued-run-lost")
        {
            let replies = std::mem::take(&mut self.queued_runs);
            let after = std::mem::take(&mut self.queued_after);
            self.start_run(replies, after);
        }
    }

    pub(super) fn shutdown(&mut self) {
        self.settle_batch_in_flight();
        if mutants::active("close-leaves-handle-open") {
            if let Phase::Open(open) = std::mem::replace(&mut self.phase, Phase::Idle) {
                std::mem::forget(open.handle);
            }
        }
        self.end_run(Err(ConsumerError::Closed));
        if let Some(run) = self.run.take() {
            self.note(DesignEvent::RunEnded);
            for r in run.replies {
                let _ = r.try_send(RunReply {
                    result: Err(ConsumerError::Closed),
                });
            }
        }
        self.retry_commits();
        // The handler thread is told first, so that it ends while the client closes the handle.
        self.worker.stop();
        self.shared.set_state(ConsumerState::Closing);
        self.close_handle();
        self.phase = Phase::Idle;
        self.shared.set_state(ConsumerState::Closed);
        for r in self.suspends.drain(..) {
            let _ = r.try_send(Ok(()));
        }
        self.reply_closed();
        self.shut_down = true;
        let _ = self.exited.try_send(());
    }

    /// Answers every request still waiting: the consumer is closed.
    pub(super) fn reply_closed(&mut self) {
        for r in self.queued_runs.drain(..) {
            let _ = r.try_send(RunReply {
                result: Err(ConsumerError::Closed),
            });
        }
        for r in self.pause_acks.drain(..) {
            let _ = r.try_send(());
        }
        while let Ok(c) = self.commands.try_recv() {
            match c {
                Command::Run { reply, .. } => {
                    let _ = reply.try_send(RunReply {
                        result: Err(ConsumerError::Closed),
                    });
                }
                Command::Pause { reply } => {
                    let _ = reply.try_send(());
                }
                Command::Suspend { reply } => {
                    let _ = reply.try_send(Ok(()));
                }
            }
        }
    }
}
