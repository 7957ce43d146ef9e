//! The owner's work inside `Phase::Open`: applying the fetch target, polling, collecting and
//! handing batches, committing them, rewinding what must be read again, and errors.

use super::*;

impl<R: Runtime, F: ConsumerFactory, P: Probe> Owner<R, F, P> {
    // ----- the open handle -----------------------------------------------------------------

    /// Applies the fetch target to the whole assignment when it was not applied yet (a new
    /// handle, a changed target, a slipped record, a failed hook).
    pub(super) fn reconcile(&mut self, fetching: bool) -> Result<(), KafkaError> {
        let hook_failed = self.shared.take_reapply();
        let Some(open) = self.open_mut() else {
            return Ok(());
        };
        if hook_failed {
            open.applied = None;
        }
        if open.applied == Some(fetching) {
            return Ok(());
        }
        let parts = open.handle.assignment()?;
        if !parts.is_empty() {
            if fetching {
                open.handle.resume(&parts)?;
                // The first fetch at one round trip, not at the leader's next idle wake-up.
                if let Err(e) = open.handle.wake(&parts) {
                    tracing::debug!(error = %e, "waking the resumed partitions' leaders failed");
                }
            } else {
                open.handle.pause(&parts)?;
            }
        }
        open.applied = Some(fetching);
        Ok(())
    }

    /// Puts back records read and not handed (consumption stopped): each partition's position
    /// goes back to its first such record.
    pub(super) fn rewind_pending(&mut self) {
        let Some(open) = self.open_mut() else { return };
        if open.pending.records.is_empty() {
            return;
        }
        let firsts = open.pending.firsts();
        open.pending.take();
        open.flush = false;
        if mutants::active("pending-dropped-on-pause") {
            return;
        }
        for (p, o) in firsts {
            // A partition no longer assigned needs nothing: whoever gets it starts at the
            // committed offset, which is at or before `o`.
            let o = if mutants::active("rewind-one-too-far") {
                (o - 1).max(0)
            } else {
                o
            };
            let _ = open.handle.seek(p, o);
        }
    }

    pub(super) fn poll(&mut self, kind: PollKind) {
        let timeout = match kind {
            PollKind::Consume => self.cfg.poll_timeout(),
            PollKind::Drain => Duration::ZERO,
            PollKind::Maintenance => self.cfg.maintenance_poll_timeout(),
        };
        let epoch_before = self.shared.epoch();
        let start = self.rt.now();
        let Some(open) = self.open_mut() else { return };
        open.last_poll = start;
        let result = open.handle.poll(timeout);
        let epoch = self.shared.epoch();
        let rebalanced = epoch != epoch_before;
        if rebalanced {
            self.drop_revoked_pending(epoch_before);
        }
        match result {
            Ok(Some(record)) => {
                if let Some(open) = self.open_mut() {
                    open.errors = 0;
                }
                self.on_record(record, epoch);
                if kind != PollKind::Maintenance {
                    self.drain();
                }
            }
            Ok(None) => {
                let retry_backoff = self.cfg.retry_backoff();
                let Some(open) = self.open_mut() else { return };
                open.errors = 0;
                open.backoff = retry_backoff;
                match kind {
                    PollKind::Consume => self.on_empty_poll(rebalanced, start, timeout),
                    PollKind::Drain => open.flush = !open.pending.records.is_empty(),
                    PollKind::Maintenance => {}
                }
            }
            Err(e) => self.on_error(e),
        }
    }

    /// Reads what is at hand (the handle's zero-timeout polls) into the batch being collected,
    /// until it is full or nothing more is at hand, without going round the loop for every
    /// record (a whole batch is microseconds; commands are taken right after it).
    pub(super) fn drain(&mut self) {
        if !self.consuming() {
            return;
        }
        let batch_size = self.cfg.batch_size();
        let Phase::Open(open) = &mut self.phase else {
            return;
        };
        if open.flush || open.pending.records.len() >= batch_size {
            return;
        }
        let (handle, pending, shared) = (&open.handle, &mut open.pending, &self.shared);
        let mut read = false;
        let mut seen = shared.epoch();
        let result = handle.poll_at_hand(&mut |record| {
            // The epoch after each poll: a rebalance served inside it tags what follows, and
            // what was held of a partition it revoked goes (see `drop_revoked_pending`).
            let epoch = shared.epoch();
            if epoch != seen {
                shared
                    .epochs
                    .with(|ep| pending.drop_revoked(|p| ep.revoked_since(p, seen)));
                seen = epoch;
            }
            if mutants::active("drain-drops-overflow") && pending.records.len() >= batch_size {
                // Checked before taking the record: the one the client handed over is dropped.
                return false;
            }
            pending.push(record, epoch);
            read = true;
            pending.records.len() < batch_size
                || (mutants::active("drain-drops-overflow") && pending.records.len() == batch_size)
        });
        open.flush = !open.pending.records.is_empty();
        if read {
            if let Some(run) = &mut self.run {
                run.caught_up = false;
            }
        }
        if let Err(e) = result {
            self.on_error(e);
        }
    }

    /// A rebalance was served since `since`: records held (read, not handed) of a partition
    /// revoked since then belong to a past assignment. They go: whoever holds the partition now
    /// reads it from its committed offset — this consumer too, when it is given the partition
    /// back, even in the same rebalance (librdkafka's eager unassign drops the fetch position,
    /// `docs/world.md`) — so handing them would hand them twice.
    pub(super) fn drop_revoked_pending(&mut self, since: u64) {
        if mutants::active("pending-kept-across-revoke") {
            return;
        }
        let Phase::Open(open) = &mut self.phase else {
            return;
        };
        if open.pending.records.is_empty() {
            return;
        }
        let pending = &mut open.pending;
        self.shared
            .epochs
            .with(|ep| pending.drop_revoked(|p| ep.revoked_since(p, since)));
        if open.pending.records.is_empty() {
            open.flush = false;
        }
    }

    pub(super) fn on_record(&mut self, record: Record, epoch: u64) {
        let consuming = self.consuming();
        let batch_size = self.cfg.batch_size();
        let Some(open) = self.open_mut() else { return };
        if consuming && open.pending.records.len() < batch_size {
            open.pending.push(record, epoch);
            if open.pending.records.len() >= batch_size {
                open.flush = true;
            }
            if let Some(run) = &mut self.run {
                run.caught_up = false;
            }
        } else {
            // Paused (it slipped through) or the next batch is full: put it back.
            self.rewind(record, !consuming);
        }
    }

    /// Seeks the record's partition back to it so it is read again later, never dropped.
    pub(super) fn rewind(&mut self, record: Record, slipped: bool) {
        let Some(open) = self.open_mut() else { return };
        // A seek fails only if the partition was revoked in the same poll; then whoever gets
        // it starts from the committed offset, which is at or before this record.
        if !(slipped && mutants::active("slipped-record-dropped")) {
            let _ = open.handle.seek(record.partition, record.offset);
        }
        if slipped {
            // The pause did not hold: apply it to the whole assignment again.
            open.applied = None;
        }
        self.shared.counters.rewound.fetch_add(1);
        if slipped {
            tracing::debug!(
                partition = record.partition,
                offset = record.offset,
                "record read while paused, rewound"
            );
            self.note(DesignEvent::Rewound {
                partition: record.partition,
                offset: record.offset,
            });
        }
    }

    /// A consuming poll returned nothing.
    pub(super) fn on_empty_poll(&mut self, rebalanced: bool, start: Instant, timeout: Duration) {
        let now = self.rt.now();
        let Some(open) = self.open_mut() else { return };
        let early = !rebalanced && now < start + timeout;
        if early {
            // Returned early with nothing (librdkafka does after serving some events): the next
            // consuming poll waits for the rest of the timeout, so an empty loop never spins.
            open.not_before = start + timeout;
        }
        if !open.pending.records.is_empty() {
            open.flush = true;
        }
        if rebalanced || early {
            // A rebalance was served, or the poll ended before its timeout (rust-rdkafka's
            // BaseConsumer returns None after serving a commit or rebalance event): neither
            // says there is nothing left to read.
            return;
        }
        let Some(run) = self.run.as_ref().filter(|r| r.stage.going()) else {
            return;
        };
        let assign_deadline = run.assign_deadline;
        let Some(open) = self.open_mut() else { return };
        let assigned = match open.handle.assignment() {
            Ok(a) => !a.is_empty(),
            Err(e) => return self.on_error(e),
        };
        if !assigned && now < assign_deadline {
            return; // the group has not assigned anything yet: keep polling
        }
        if let Some(run) = &mut self.run {
            run.caught_up = true;
        }
    }

    pub(super) fn hand_batch(&mut self) {
        let Some(open) = self.open_mut() else { return };
        let epoch = open.pending.epoch;
        let records = open.pending.take();
        open.flush = false;
        let mut ranges: BTreeMap<Partition, (Offset, Offset)> = BTreeMap::new();
        for r in &records {
            ranges
                .entry(r.partition)
                .and_modify(|e| e.1 = r.offset)
                .or_insert((r.offset, r.offset));
        }
        let flight = InFlight {
            epoch,
            ranges,
            records: records.len() as u64,
            abandoned: false,
            by_run: self.run_active(),
        };
        tracing::trace!(records = flight.records, "batch to the handler");
        if mutants::active("commit-before-handler") {
            self.commit(&flight);
        }
        self.in_flight = Some(flight);
        if let Err(e) = self.worker.hand(records) {
            self.on_verdict(Err(e));
        }
    }

    /// The handler finished the batch in flight.
    pub(super) fn on_verdict(&mut self, verdict: Result<(), HandlerError>) {
        self.worker.busy = false;
        let Some(flight) = self.in_flight.take() else {
            return;
        };
        if flight.abandoned {
            return; // its consumer is gone; the records are read again from the committed offset
        }
        match verdict {
            Ok(()) => {
                let c = &self.shared.counters;
                c.records.fetch_add(flight.records);
                c.batches.fetch_add(1);
                if let Some(run) = &mut self.run {
                    run.report.records += flight.records;
                    run.report.batches += 1;
                }
                self.commit(&flight);
            }
            Err(e) => {
                if mutants::active("failed-batch-committed") {
                    self.commit(&flight);
                }
                self.batch_failed(&flight, e)
            }
        }
    }

    /// Commits the next offset of every partition of a finished batch that was not revoked
    /// since the batch was read (those are read again by whoever holds them now), together
    /// with what an earlier commit that failed for a transient reason left uncommitted.
    pub(super) fn commit(&mut self, flight: &InFlight) {
        let Some(open) = self.open_mut() else { return };
        for (p, (_, last)) in &flight.ranges {
            let e = open
                .uncommitted
                .entry(*p)
                .or_insert((last + 1, flight.epoch));
            if e.0 <= last + 1 {
                *e = (last + 1, flight.epoch);
            }
        }
        self.commit_uncommitted();
    }

    /// Commits what is left uncommitted (of partitions not revoked since their batch was
    /// read). A failure for a transient reason keeps it for the next commit or the retries
    /// before a close; any other drops it (a broken membership shows in the next poll).
    /// True when nothing is left.
    pub(super) fn commit_uncommitted(&mut self) -> bool {
        let Phase::Open(open) = &mut self.phase else {
            return true;
        };
        let offsets: Vec<(Partition, Offset)> = self.shared.epochs.with(|ep| {
            open.uncommitted
                .iter()
                .filter(|(p, (_, epoch))| {
                    !ep.revoked_since(**p, *epoch) || mutants::active("commit-after-revoke")
                })
                .map(|(p, (o, _))| (*p, *o))
                .collect()
        });
        if offsets.is_empty() {
            open.uncommitted.clear();
            return true;
        }
        // A commit can take the client time (the coordinator's reply): time close() does not
        // count against its bound, as for the client's creates and closes.
        let counted = !mutants::active("close-counts-client-calls");
        let rt = &self.rt;
        let committed =
            self.shared
                .client_call(|| rt.now(), counted, || open.handle.commit(&offsets));
        match committed {
            Ok(()) => {
                open.uncommitted.clear();
                self.shared.counters.commits.fetch_add(1);
                if let Some(run) = &mut self.run {
                    run.report.commits += 1;
                }
                true
            }
            // Not fatal to the batch: the records were handled, a later commit covers them, and
            // a broken membership shows in the next poll, which decides about restarting.
            Err(e) => {
                tracing::warn!(error = %e, "commit failed");
                if !transient(&e) || mutants::active("no-commit-retry") {
                    open.uncommitted.clear();
                }
                let done = open.uncommitted.is_empty();
                self.shared.set_error(ConsumerError::Kafka(e));
                done
            }
        }
    }

    /// Before the handle is closed (suspend, close): what a transient failure left uncommitted
    /// is committed again, every retry backoff, for at most a quarter of the command timeout
    /// (the rest of `close()`'s bound is the batch's settling and the client's close), so a
    /// hiccup of the coordinator does not cost a redelivery.
    pub(super) fn retry_commits(&mut self) {
        let deadline = self.rt.now() + self.cfg.command_timeout() / 4;
        let backoff = self.cfg.retry_backoff();
        while !self.commit_uncommitted() {
            if self.rt.now() + backoff > deadline {
                tracing::warn!(
                    "giving up on a commit before closing: its records will be read again"
                );
                return;
            }
            self.rt.sleep(backoff);
        }
    }

    /// The handler refused a batch: nothing of it is committed; each partition's position goes
    /// back to the batch's first record (records read after it are dropped: they are read again).
    pub(super) fn batch_failed(&mut self, flight: &InFlight, e: HandlerError) {
        tracing::warn!(error = %e, records = flight.records, "the handler failed a batch");
        self.shared.set_error(ConsumerError::Handler(e.clone()));
        let revoked: Vec<Partition> = self.shared.epochs.with(|ep| {
            flight
                .ranges
                .keys()
                .copied()
                .filter(|p| ep.revoked_since(*p, flight.epoch))
                .collect()
        });
        let retry = self.cfg.retry_backoff();
        let now = self.rt.now();
        if let Some(open) = self.open_mut() {
            for (p, (first, _)) in &flight.ranges {
                if revoked.contains(p) {
                    continue;
                }
                open.pending.drop_partition(*p);
                if !mutants::active("failed-batch-not-rewound") {
                    let _ = open.handle.seek(*p, *first);
                }
            }
            if open.pending.records.is_empty() {
                open.flush = false;
            }
            open.not_before = now + retry;
        }
        // A run ends on its own batch's failure (read again at the next run); a batch handed
        // before it began does not end it: the run reads the records again after the backoff.
        if flight.by_run || mutants::active("run-ends-on-an-earlier-batch") {
            self.end_run(Err(ConsumerError::Handler(e)));
        }
    }

    /// A consumer call failed.
    pub(super) fn on_error(&mut self, e: KafkaError) {
        self.shared.set_error(ConsumerError::Kafka(e.clone()));
        if e.membership_lost() {
            return self.restart(e);
        }
        let now = self.rt.now();
        let max = self.cfg.max_consecutive_errors();
        let (heartbeat, retry) = (self.cfg.heartbeat_interval(), self.cfg.retry_backoff());
        let Some(open) = self.open_mut() else { return };
        if transient(&e) {
            open.not_before = now + open.backoff;
            open.backoff = (open.backoff * 2).min(heartbeat);
        } else {
            open.errors += 1;
            if open.errors >= max {
                return self.restart(e);
            }
            open.not_before = now + retry;
        }
        tracing::debug!(error = %e, "consumer call failed");
        self.end_run(Err(ConsumerError::Kafka(e)));
    }
}
