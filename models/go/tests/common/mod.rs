//! Helpers for the Go ports' tests: play a timeline of runs against a modeled world on
//! `Virtual<Std>` and return the event log.

#![allow(dead_code)] // each test file uses a part

use pausebeat::handler::{Handler, HandlerError};
use pausebeat::kafka::{
    ConsumerFactory, ConsumerHandle, HandleId, KafkaError, Offset, Partition, RebalanceHook, Record,
};
use pausebeat::probe::DesignEvent;
use pausebeat::sync::{Aborted, Backend, Runtime, Std, Virtual};
use pausebeat_world::{
    Design, Env, Event, EventKind, EventLog, Timing, World, WorldHandle, WorldSpec,
};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

/// Seconds.
pub fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The batch handler: takes `delay` per batch and logs `HandlerBegin` / `HandlerEnd`, as the
/// scenario harness's handler does.
pub struct TestHandler<R: Runtime> {
    pub rt: R,
    pub log: EventLog<R>,
    pub delay: Duration,
}

impl<R: Runtime> Handler for TestHandler<R> {
    fn handle(&self, batch: &[Record]) -> Result<(), HandlerError> {
        let records = batch.iter().map(|r| (r.partition, r.offset)).collect();
        self.log.record(None, EventKind::HandlerBegin { records });
        if !self.delay.is_zero() {
            self.rt.sleep(self.delay);
        }
        self.log.record(None, EventKind::HandlerEnd { ok: true });
        Ok(())
    }
}

/// The modeled world with a high-watermark query, which the Go consumer makes at the start of
/// every run (`QueryWatermarkOffsets`): a broker round trip on the handle (it fails when the
/// handle is closed or the broker is down, like the `committed` query it is made of here), then
/// the partition's high watermark as of now.
#[derive(Clone)]
pub struct Watermarked<R: Runtime> {
    pub world: World<R>,
}

/// A world handle that answers [`ConsumerHandle::high_watermark`].
pub struct WatermarkedHandle<R: Runtime> {
    inner: WorldHandle<R>,
    world: World<R>,
}

impl<R: Runtime> ConsumerHandle for WatermarkedHandle<R> {
    fn id(&self) -> HandleId {
        self.inner.id()
    }
    fn poll(&self, timeout: Duration) -> Result<Option<Record>, KafkaError> {
        self.inner.poll(timeout)
    }
    fn pause(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        self.inner.pause(partitions)
    }
    fn resume(&self, partitions: &[Partition]) -> Result<(), KafkaError> {
        self.inner.resume(partitions)
    }
    fn assignment(&self) -> Result<Vec<Partition>, KafkaError> {
        self.inner.assignment()
    }
    fn seek(&self, partition: Partition, offset: Offset) -> Result<(), KafkaError> {
        self.inner.seek(partition, offset)
    }
    fn commit(&self, offsets: &[(Partition, Offset)]) -> Result<(), KafkaError> {
        self.inner.commit(offsets)
    }
    fn committed(
        &self,
        partitions: &[Partition],
    ) -> Result<Vec<(Partition, Option<Offset>)>, KafkaError> {
        self.inner.committed(partitions)
    }
    fn high_watermark(&self, partition: Partition) -> Result<Option<Offset>, KafkaError> {
        self.inner.committed(&[partition])?;
        Ok(self.world.snapshot().produced.get(&partition).copied())
    }
    fn close(&self) -> Result<(), KafkaError> {
        self.inner.close()
    }
}

/// Hands the world's rebalance callbacks to the design's hook with the wrapped handle.
struct HookAdapter<R: Runtime> {
    hook: Arc<dyn RebalanceHook<WatermarkedHandle<R>>>,
    world: World<R>,
}

impl<R: Runtime> HookAdapter<R> {
    fn wrap(&self, h: &WorldHandle<R>) -> WatermarkedHandle<R> {
        WatermarkedHandle {
            inner: h.clone(),
            world: self.world.clone(),
        }
    }
}

impl<R: Runtime> RebalanceHook<WorldHandle<R>> for HookAdapter<R> {
    fn revoked(&self, handle: &WorldHandle<R>, partitions: &[Partition]) {
        self.hook.revoked(&self.wrap(handle), partitions)
    }
    fn before_assign(&self, handle: &WorldHandle<R>, partitions: &[Partition]) {
        self.hook.before_assign(&self.wrap(handle), partitions)
    }
    fn after_assign(&self, handle: &WorldHandle<R>, partitions: &[Partition]) {
        self.hook.after_assign(&self.wrap(handle), partitions)
    }
}

impl<R: Runtime> ConsumerFactory for Watermarked<R> {
    type Handle = WatermarkedHandle<R>;
    fn create(
        &self,
        instance_id: Option<&str>,
        hook: Arc<dyn RebalanceHook<WatermarkedHandle<R>>>,
    ) -> Result<WatermarkedHandle<R>, KafkaError> {
        let adapter = Arc::new(HookAdapter {
            hook,
            world: self.world.clone(),
        });
        let inner = self.world.create(instance_id, adapter)?;
        Ok(WatermarkedHandle {
            inner,
            world: self.world.clone(),
        })
    }
}

/// A timeline: the world, the consumer's timing, the handler's delay, runs at these seconds, a
/// close at `close_at` seconds, and how long to keep the clock going after the close.
pub struct Timeline {
    pub world: WorldSpec,
    pub timing: Timing,
    pub handler_delay: Duration,
    pub runs: Vec<u64>,
    pub close_at: u64,
    pub after_close: Duration,
}

impl Timeline {
    /// One partition, the Go defaults, no runs yet, a close at `close_at`.
    pub fn new(close_at: u64) -> Self {
        let timing = Timing::default();
        Timeline {
            world: WorldSpec {
                partitions: 1,
                session_timeout: timing.session_timeout,
                max_poll_interval: timing.max_poll_interval,
                ..WorldSpec::default()
            },
            timing,
            handler_delay: Duration::ZERO,
            runs: Vec::new(),
            close_at,
            after_close: s(200),
        }
    }
}

/// What a played timeline left: the log and how many threads the execution created.
pub struct Played {
    pub log: Vec<Event>,
    pub threads: usize,
}

impl Played {
    /// Prints the log (visible with `--nocapture`).
    pub fn print(&self, title: &str) {
        println!("---- {title} ({} threads)", self.threads);
        for e in &self.log {
            println!("{e}");
        }
    }

    /// The design events, with their log entries.
    pub fn design(&self) -> impl Iterator<Item = (&Event, &DesignEvent)> {
        self.log.iter().filter_map(|e| match &e.kind {
            EventKind::Design(d) => Some((e, d)),
            _ => None,
        })
    }

    /// The first log entry matching `f`.
    pub fn first(&self, f: impl Fn(&Event) -> bool) -> Option<&Event> {
        self.log.iter().find(|e| f(e))
    }

    /// Every log entry matching `f`.
    pub fn all(&self, f: impl Fn(&Event) -> bool) -> Vec<&Event> {
        self.log.iter().filter(|e| f(e)).collect()
    }
}

/// True for a design event equal to `d`.
pub fn is(d: DesignEvent) -> impl Fn(&Event) -> bool {
    move |e| e.kind == EventKind::Design(d.clone())
}

/// True for a `Created` event.
pub fn created(e: &Event) -> bool {
    matches!(e.kind, EventKind::Created { .. })
}

/// True for a `Crash` design event.
pub fn crash(e: &Event) -> bool {
    matches!(e.kind, EventKind::Design(DesignEvent::Crash { .. }))
}

/// Plays `t` against design `D` on a fresh `Virtual<Std>` runtime with the watermark-answering
/// world, then ends every thread still alive.
pub fn play<D: Design>(t: &Timeline) -> Played {
    play_on::<D, Std>(&Virtual::new(), t).expect("a Virtual<Std> execution is not aborted")
}

/// Plays `t` against design `D` on `rt` (any backend: the checkers call this from a model),
/// then ends every thread still alive. `None` if the execution was aborted (a deadlock, the
/// horizon, the checker's own stop).
pub fn play_on<D: Design, B: Backend>(rt: &Virtual<B>, t: &Timeline) -> Option<Played> {
    let world = World::new(rt, t.world.clone());
    let log = world.log();
    let env = Env {
        rt: rt.clone(),
        factory: Arc::new(Watermarked {
            world: world.clone(),
        }),
        handler: Arc::new(TestHandler {
            rt: rt.clone(),
            log: log.clone(),
            delay: t.handler_delay,
        }),
        probe: Arc::new(log.clone()),
        timing: t.timing.clone(),
    };
    let played = panic::catch_unwind(AssertUnwindSafe(|| {
        let instance = D::start(env);
        for &at in &t.runs {
            let now = rt.now().since_origin();
            if s(at) > now {
                rt.sleep(s(at) - now);
            }
            log.record(None, EventKind::Workload(format!("run at {at} s")));
            instance.run();
        }
        let now = rt.now().since_origin();
        if s(t.close_at) > now {
            rt.sleep(s(t.close_at) - now);
        }
        log.record(None, EventKind::Workload("close".into()));
        instance.close();
        rt.sleep(t.after_close);
        Played {
            log: log.snapshot(),
            threads: rt.threads_created(),
        }
    }));
    rt.end_all_threads();
    match played {
        Ok(p) => Some(p),
        Err(p) if p.is::<Aborted>() => None,
        Err(p) => panic::resume_unwind(p),
    }
}
