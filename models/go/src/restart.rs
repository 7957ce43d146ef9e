//! Consumer (re)creation (§3.9–3.11): `restartConsumer` with its closer goroutine G4,
//! `restartConsumerAsync` (PR, G3), `initConsumer` and `rebalanceCallback`.

use crate::consumer::{BatchConsumer, GoPanic, RESTART_EXTRA, RETIRE_CHECK};
use pausebeat::kafka::{ConsumerFactory, ConsumerHandle, KafkaError, Partition, RebalanceHook};
use pausebeat::sync::{Runtime, Select, Ticker};
use std::sync::{Arc, Weak};

impl<R: Runtime, F: ConsumerFactory> BatchConsumer<R, F> {
    /// §3.9 `restartConsumer(beforeInit)`: close the current consumer in G4 (it stays published
    /// meanwhile), then every `session.timeout + 15 s` try `beforeInit(); initConsumer(true)`
    /// until it works; every second give up if retired && idle. Blocks its caller.
    pub(crate) fn restart_consumer(self: &Arc<Self>, mut before_init: Option<&mut dyn FnMut()>) {
        if self.retired.load() {
            return;
        }
        self.note("restart: Restarting consumer");
        // G4 gets the pointer Loaded at spawn.
        let old = self.load();
        let me = self.clone();
        self.go("closer", move || me.close_previous(old));
        let mut attempt = Ticker::new(&self.rt, self.timing.session_timeout + RESTART_EXTRA);
        let mut retire = Ticker::new(&self.rt, RETIRE_CHECK);
        loop {
            let fired = Select::new(&self.rt, "restartConsumer: retire check or attempt")
                .arm(&mut retire)
                .arm(&mut attempt)
                .wait();
            if fired == Some(0) {
                if self.idle.load() && self.retired.load() {
                    self.note("restart: retired and idle: giving up");
                    return;
                }
                continue;
            }
            if let Some(f) = before_init.as_mut() {
                f();
            }
            match self.init_consumer(true) {
                Ok(c) => {
                    self.note(format!("restart: new consumer {} stored", c.id()));
                    return;
                }
                Err(e) => self.note(format!("restart: attempt failed: {e}")),
            }
        }
    }

    /// G4: `old.Unsubscribe(); old.Close()`: the static member leaves the group (LeaveGroup,
    /// librdkafka's `unsubscribe()`), so the group rebalances, then the handle is closed. A nil
    /// pointer panics in a goroutine without recover: a process crash.
    fn close_previous(&self, old: Option<Arc<F::Handle>>) {
        match old {
            None => self.crash(GoPanic(
                "nil pointer dereference: Unsubscribe() on a nil consumer in restartConsumer's closer goroutine".into(),
            )),
            Some(c) => {
                if let Err(e) = c.unsubscribe() {
                    self.note(format!("restart: Unsubscribe of {} failed: {e}", c.id()));
                }
                let r = c.close();
                self.note(format!(
                    "restart: Previous consumer {} closed: {}",
                    c.id(),
                    r.err().map_or("ok".to_string(), |e| e.to_string())
                ));
            }
        }
    }

    /// [PR §4.4] `restartConsumerAsync()`: at most one at a time (the `restarting` flag), in G3.
    pub(crate) fn restart_consumer_async(self: &Arc<Self>) {
        if !self.restarting.compare_and_swap(false, true) {
            self.note("restart: an asynchronous restart is in flight: skipped");
            return;
        }
        let me = self.clone();
        self.go("restart", move || {
            me.restart_consumer(None);
            me.restarting.store(false); // the goroutine's defer
        });
    }

    /// §3.10 `initConsumer(force)`: create, subscribe (with `rebalanceCallback`) and Store when
    /// the pointer is nil or `force`; otherwise the current pointer.
    pub(crate) fn init_consumer(
        self: &Arc<Self>,
        force: bool,
    ) -> Result<Arc<F::Handle>, KafkaError> {
        if !force {
            if let Some(c) = self.load() {
                return Ok(c);
            }
        }
        let hook: Arc<dyn RebalanceHook<F::Handle>> = Arc::new(RebalanceCallback {
            bc: Arc::downgrade(self),
        });
        match self
            .factory
            .create(self.timing.instance_id.as_deref(), hook)
        {
            Ok(c) => {
                let c = Arc::new(c);
                self.store(Some(c.clone()));
                Ok(c)
            }
            Err(e) => {
                self.note(format!("initConsumer: Error creating kafka consumer: {e}"));
                Err(e)
            }
        }
    }
}

/// §3.11 `rebalanceCallback`, run inside whoever polls. confluent-kafka-go calls it BEFORE its
/// automatic Assign, so it is the seam's `before_assign`: the Pause may not stick.
struct RebalanceCallback<R: Runtime, F: ConsumerFactory> {
    bc: Weak<BatchConsumer<R, F>>,
}

impl<R: Runtime, F: ConsumerFactory> RebalanceHook<F::Handle> for RebalanceCallback<R, F> {
    fn before_assign(&self, handle: &F::Handle, partitions: &[Partition]) {
        let Some(bc) = self.bc.upgrade() else {
            return;
        };
        if bc.paused.load() {
            match handle.pause(partitions) {
                Ok(()) => bc.note(format!(
                    "rebalanceCallback: assigned {partitions:?} while paused: Pause before the assign"
                )),
                Err(e) => bc.note(format!(
                    "rebalanceCallback: pause_error: Failed to pause kafka consumer: {e}"
                )),
            }
        }
        // RevokedPartitions, and assignments while not paused: nothing.
    }
}
