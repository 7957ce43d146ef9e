//! The consumer's waiting calls for async applications (feature `tokio`): `run_once_async`,
//! `pause_async`, `suspend_async` and `close_async` send the same commands to the same owner as
//! their blocking twins, and await the reply instead of holding a thread ([`Chan::recv_async`]);
//! the bounds are tokio timers. No executor thread ever waits on Kafka, and none of them needs
//! `spawn_blocking`. [`Consumer::resume`] is already non-blocking and stays as it is.
//!
//! Only the waiting differs: the coordination code the checkers explore (the owner, the
//! handler thread, the commands) is the one these calls drive.

use super::owner::{Command, RunReply};
use super::shared::Mode;
use super::{Consumer, ConsumerError, Link, RunReport};
use crate::handler::Handler;
use crate::kafka::ConsumerFactory;
use crate::probe::Probe;
use crate::sync::{Chan, Instant, Runtime, StdRuntime};
use std::time::Duration;

impl<F: ConsumerFactory, H: Handler, P: Probe> Consumer<StdRuntime, F, H, P> {
    /// [`run_once`](Consumer::run_once), awaited: the run as a future that never blocks the
    /// executor (it resolves when the owner replies).
    ///
    /// ```no_run
    /// use pausebeat::consumer::Consumer;
    /// use pausebeat::handler::Handler;
    /// use pausebeat::kafka::ConsumerFactory;
    /// use pausebeat::sync::StdRuntime;
    ///
    /// async fn job<F: ConsumerFactory, H: Handler>(consumer: &Consumer<StdRuntime, F, H>) {
    ///     match consumer.run_once_async().await {
    ///         Ok(report) => println!("{} records", report.records),
    ///         Err(e) => eprintln!("run failed: {e}"),
    ///     }
    /// }
    /// ```
    pub async fn run_once_async(&self) -> Result<RunReport, ConsumerError> {
        let l = &self.link;
        if l.on_handler_thread() {
            return Err(ConsumerError::CalledFromHandler("run_once"));
        }
        l.implied_resume();
        let reply: Chan<StdRuntime, RunReply> = Chan::new(&l.rt, 1);
        let deadline = tokio::time::Instant::now() + l.cfg.command_timeout();
        l.send_async(
            "run_once",
            Command::Run {
                reply: reply.clone(),
                after: super::AfterRun::RequestedMode,
            },
            deadline,
        )
        .await?;
        // As long as catching up takes; the owner always replies (or its unwinding closes the
        // reply channel).
        match reply.recv_async().await {
            Some(RunReply { result }) => result,
            None => Err(ConsumerError::Closed),
        }
    }

    /// [`pause`](Consumer::pause), awaited (within the command timeout).
    pub async fn pause_async(&self) -> Result<(), ConsumerError> {
        let l = &self.link;
        l.shared.request(Mode::Paused);
        if l.on_handler_thread() {
            let _ = l.wake.try_send(());
            return Ok(());
        }
        l.call_async("pause", |reply| Command::Pause { reply })
            .await
    }

    /// [`suspend`](Consumer::suspend), awaited (within the command timeout).
    pub async fn suspend_async(&self) -> Result<(), ConsumerError> {
        let l = &self.link;
        l.shared.request(Mode::Suspended);
        l.call_async("suspend", |reply| Command::Suspend { reply })
            .await
            .and_then(|r| r)
    }

    /// [`close`](Consumer::close), awaited: the same bound, not counting the client's own
    /// closes of handles. The threads are joined once they have signalled their exit (a join
    /// that returns as the thread ends).
    pub async fn close_async(&self) -> Result<(), ConsumerError> {
        let l = &self.link;
        if l.on_handler_thread() {
            return Err(ConsumerError::CalledFromHandler("close"));
        }
        let Some(t) = self.threads.with(|t| t.take()) else {
            return Ok(());
        };
        l.commands.close();
        let timeout = ConsumerError::Timeout {
            what: "close",
            after: l.cfg.command_timeout(),
        };
        let start = l.rt.now();
        let before = l.client_call_clock(start);
        if !l
            .within_close_bound_async(&t.owner_exited, start, before)
            .await
        {
            return Err(timeout);
        }
        let owner = t.owner.join();
        if !l
            .within_close_bound_async(&t.worker_exited, start, before)
            .await
        {
            return Err(timeout);
        }
        let worker = t.worker.join();
        match (owner, worker) {
            (Ok(()), Ok(())) => Ok(()),
            _ => Err(ConsumerError::OwnerPanicked),
        }
    }
}

impl<P: Probe> Link<StdRuntime, P> {
    /// Queues a command, waiting for room until `deadline`.
    async fn send_async(
        &self,
        what: &'static str,
        c: Command<StdRuntime>,
        deadline: tokio::time::Instant,
    ) -> Result<(), ConsumerError> {
        match tokio::time::timeout_at(deadline, self.commands.send_async(c)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(ConsumerError::Closed),
            Err(_) => Err(ConsumerError::Timeout {
                what,
                after: self.cfg.command_timeout(),
            }),
        }
    }

    /// [`Link::call`], awaited.
    async fn call_async<T: Send>(
        &self,
        what: &'static str,
        make: impl FnOnce(Chan<StdRuntime, T>) -> Command<StdRuntime>,
    ) -> Result<T, ConsumerError> {
        let deadline = tokio::time::Instant::now() + self.cfg.command_timeout();
        let reply: Chan<StdRuntime, T> = Chan::new(&self.rt, 1);
        self.send_async(what, make(reply.clone()), deadline).await?;
        match tokio::time::timeout_at(deadline, reply.recv_async()).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(ConsumerError::Closed),
            Err(_) => Err(ConsumerError::Timeout {
                what,
                after: self.cfg.command_timeout(),
            }),
        }
    }

    /// [`Link::within_close_bound`], awaited.
    async fn within_close_bound_async(
        &self,
        done: &Chan<StdRuntime, ()>,
        start: Instant,
        before: (Duration, bool),
    ) -> bool {
        loop {
            let (left, in_call, _) = self.close_bound_left(start, before);
            if in_call {
                // No deadline inside a client call: its end rings `client_call_ended`.
                tokio::select! {
                    _ = done.recv_async() => return true,
                    _ = self.shared.client_call_ended.recv_async() => {}
                }
            } else {
                match tokio::time::timeout(left, done.recv_async()).await {
                    Ok(_) => return true,
                    Err(_) if left.is_zero() => return false,
                    Err(_) => {}
                }
            }
        }
    }
}
