//! [`ConsumerConfig`]: the consumer's timing, validated once, so the owner loop never meets a
//! setting it cannot honour.

use std::time::Duration;

/// Why a [`ConsumerConfig`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A duration that must be positive is zero.
    #[error("`{0}` must be greater than zero")]
    Zero(&'static str),
    /// `batch_size` is zero.
    #[error("`batch_size` must be at least 1")]
    EmptyBatch,
    /// The static instance id is the empty string.
    #[error("the static `instance_id` must not be empty (use `None` for dynamic membership)")]
    EmptyInstanceId,
    /// The name (used for thread names) is empty.
    #[error("`name` must not be empty")]
    EmptyName,
    /// librdkafka refuses `session.timeout.ms` > `max.poll.interval.ms`.
    #[error("`session_timeout` ({session:?}) must not exceed `max_poll_interval` ({max_poll:?})")]
    SessionAboveMaxPoll {
        /// The session timeout given.
        session: Duration,
        /// The max.poll.interval given.
        max_poll: Duration,
    },
    /// The longest gap between two polls the owner can leave (heartbeat cadence plus one poll, or
    /// one transient-error backoff plus one poll) does not keep half of `max.poll.interval` as
    /// margin.
    #[error(
        "the longest gap between polls ({gap:?} = heartbeat/backoff + poll timeout) must be at most \
         half of `max_poll_interval` ({max_poll:?})"
    )]
    NoPollMargin {
        /// The longest gap the settings allow.
        gap: Duration,
        /// The max.poll.interval given.
        max_poll: Duration,
    },
    /// `command_timeout` cannot cover one poll plus one maintenance poll: suspend and pause would
    /// time out on a healthy consumer.
    #[error("`command_timeout` ({timeout:?}) must be at least twice the poll timeout ({poll:?})")]
    CommandTimeoutTooShort {
        /// The command timeout given.
        timeout: Duration,
        /// The poll timeout given.
        poll: Duration,
    },
    /// The restart backoff cap is below its start.
    #[error("`restart_backoff_max` ({max:?}) must be at least `restart_backoff` ({initial:?})")]
    BackoffCapBelowStart {
        /// The initial backoff.
        initial: Duration,
        /// The cap.
        max: Duration,
    },
}

/// The consumer's settings. Build one with [`ConsumerConfig::builder`]; a built config has been
/// validated, so [`Consumer::start`](super::Consumer::start) cannot fail on it.
///
/// ```
/// use pausebeat::consumer::ConsumerConfig;
/// use std::time::Duration;
///
/// let cfg = ConsumerConfig::builder()
///     .instance_id("a1-bulker-0")
///     .poll_timeout(Duration::from_secs(5))
///     .batch_size(1_000)
///     .build()
///     .unwrap();
/// // Maintenance polls while paused: max.poll/4, capped at 10 s.
/// assert_eq!(cfg.heartbeat_interval(), Duration::from_secs(10));
///
/// let bad = ConsumerConfig::builder()
///     .max_poll_interval(Duration::from_secs(20))
///     .session_timeout(Duration::from_secs(45))
///     .build();
/// assert!(bad.is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerConfig {
    name: String,
    instance_id: Option<String>,
    poll_timeout: Duration,
    maintenance_poll_timeout: Duration,
    batch_size: usize,
    heartbeat_interval: Duration,
    max_poll_interval: Duration,
    session_timeout: Duration,
    command_timeout: Duration,
    restart_backoff: Duration,
    restart_backoff_max: Duration,
    retry_backoff: Duration,
    max_consecutive_errors: u32,
    assign_timeout: Duration,
}

impl ConsumerConfig {
    /// A builder with the defaults of the Go consumer where they are sound (5 s poll, 45 s
    /// session, 300 s max.poll) and pausebeat's own elsewhere.
    pub fn builder() -> ConsumerConfigBuilder {
        ConsumerConfigBuilder::default()
    }

    /// Names the consumer's threads (`<name>-owner`, `<name>-handler`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The static `group.instance.id` (`None`: dynamic membership). Every consumer the owner
    /// opens uses it (the previous one is closed first: the newcomer takes its place).
    pub fn instance_id(&self) -> Option<&str> {
        self.instance_id.as_deref()
    }
    /// The timeout of a consuming poll; also the bound on how long a `resume()` waits to be
    /// applied while the owner is inside such a poll.
    pub fn poll_timeout(&self) -> Duration {
        self.poll_timeout
    }
    /// The timeout of a maintenance poll (while paused); the bound on how long a `resume()`
    /// waits to be applied while the owner is paused.
    pub fn maintenance_poll_timeout(&self) -> Duration {
        self.maintenance_poll_timeout
    }
    /// The most records handed to the handler at once.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// How often the owner polls while paused (or while the handler works on a batch).
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }
    /// `max.poll.interval.ms`.
    pub fn max_poll_interval(&self) -> Duration {
        self.max_poll_interval
    }
    /// `session.timeout.ms`: how long a closed static member can still hold its instance id.
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }
    /// How long `pause()`, `suspend()` and `close()` wait for the owner to confirm.
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }
    /// The first wait after a failed create during a restart (doubles up to the cap).
    pub fn restart_backoff(&self) -> Duration {
        self.restart_backoff
    }
    /// The cap of the restart backoff.
    pub fn restart_backoff_max(&self) -> Duration {
        self.restart_backoff_max
    }
    /// The wait after a transient error (broker down) or a failed batch before polling again.
    pub fn retry_backoff(&self) -> Duration {
        self.retry_backoff
    }
    /// Consecutive non-retriable errors after which the consumer is replaced.
    pub fn max_consecutive_errors(&self) -> u32 {
        self.max_consecutive_errors
    }
    /// How long a run waits for the group to assign partitions before it ends empty.
    pub fn assign_timeout(&self) -> Duration {
        self.assign_timeout
    }

    /// The longest gap between the starts of two polls of an open consumer that this
    /// configuration allows (outside a restart, which replaces the member anyway).
    pub fn longest_poll_gap(&self) -> Duration {
        self.heartbeat_interval.max(self.retry_backoff) + self.poll_timeout
    }
}

/// Builds a [`ConsumerConfig`]; see there.
#[derive(Clone, Debug)]
pub struct ConsumerConfigBuilder {
    name: String,
    instance_id: Option<String>,
    poll_timeout: Duration,
    maintenance_poll_timeout: Option<Duration>,
    batch_size: usize,
    heartbeat_interval: Option<Duration>,
    max_poll_interval: Duration,
    session_timeout: Duration,
    command_timeout: Option<Duration>,
    restart_backoff: Duration,
    restart_backoff_max: Duration,
    retry_backoff: Duration,
    max_consecutive_errors: u32,
    assign_timeout: Option<Duration>,
}

impl Default for ConsumerConfigBuilder {
    fn default() -> Self {
        ConsumerConfigBuilder {
            name: "pausebeat".to_string(),
            instance_id: None,
            poll_timeout: Duration::from_secs(5),
            maintenance_poll_timeout: None,
            batch_size: 10_000,
            heartbeat_interval: None,
            max_poll_interval: Duration::from_secs(300),
            session_timeout: Duration::from_secs(45),
            command_timeout: None,
            restart_backoff: Duration::from_secs(1),
            restart_backoff_max: Duration::from_secs(30),
            retry_backoff: Duration::from_secs(1),
            max_consecutive_errors: 3,
            assign_timeout: None,
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, v: $ty) -> Self {
            self.$name = v;
            self
        }
    };
}

impl ConsumerConfigBuilder {
    /// Names the consumer's threads (default `pausebeat`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
    /// Uses static membership with this `group.instance.id`.
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }
    /// Static membership with this id, or dynamic membership with `None`.
    pub fn instance_id_opt(mut self, id: Option<String>) -> Self {
        self.instance_id = id;
        self
    }
    setter!(
        /// The timeout of a consuming poll (default 5 s).
        poll_timeout: Duration
    );
    /// The timeout of a maintenance poll (default: the poll timeout, at most 500 ms).
    pub fn maintenance_poll_timeout(mut self, d: Duration) -> Self {
        self.maintenance_poll_timeout = Some(d);
        self
    }
    setter!(
        /// The most records per batch (default 10 000).
        batch_size: usize
    );
    /// The cadence of maintenance polls while paused (default `min(max_poll_interval / 4, 10 s)`).
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = Some(d);
        self
    }
    setter!(
        /// `max.poll.interval.ms` (default 300 s).
        max_poll_interval: Duration
    );
    setter!(
        /// `session.timeout.ms` (default 45 s).
        session_timeout: Duration
    );
    /// How long `pause()`, `suspend()` and `close()` wait for the owner (default
    /// `max(30 s, 4 × poll timeout)`).
    pub fn command_timeout(mut self, d: Duration) -> Self {
        self.command_timeout = Some(d);
        self
    }
    setter!(
        /// The first restart backoff (default 1 s).
        restart_backoff: Duration
    );
    setter!(
        /// The restart backoff cap (default 30 s).
        restart_backoff_max: Duration
    );
    setter!(
        /// The wait after a transient error or a failed batch (default 1 s).
        retry_backoff: Duration
    );
    setter!(
        /// Consecutive non-retriable errors before a restart (default 3; 0 counts as 1).
        max_consecutive_errors: u32
    );
    /// How long a run waits for an assignment (default: the session timeout).
    pub fn assign_timeout(mut self, d: Duration) -> Self {
        self.assign_timeout = Some(d);
        self
    }

    /// Fills in the derived defaults, without validating.
    fn resolve(self) -> ConsumerConfig {
        let heartbeat = self
            .heartbeat_interval
            .unwrap_or_else(|| (self.max_poll_interval / 4).min(Duration::from_secs(10)));
        let maintenance = self
            .maintenance_poll_timeout
            .unwrap_or_else(|| self.poll_timeout.min(Duration::from_millis(500)));
        ConsumerConfig {
            name: self.name,
            instance_id: self.instance_id,
            poll_timeout: self.poll_timeout,
            maintenance_poll_timeout: maintenance.min(self.poll_timeout),
            batch_size: self.batch_size,
            heartbeat_interval: heartbeat,
            max_poll_interval: self.max_poll_interval,
            session_timeout: self.session_timeout,
            command_timeout: self
                .command_timeout
                .unwrap_or_else(|| Duration::from_secs(30).max(self.poll_timeout * 4)),
            restart_backoff: self.restart_backoff,
            restart_backoff_max: self.restart_backoff_max,
            retry_backoff: self.retry_backoff,
            max_consecutive_errors: self.max_consecutive_errors.max(1),
            assign_timeout: self.assign_timeout.unwrap_or(self.session_timeout),
        }
    }

    /// Validates and builds.
    pub fn build(self) -> Result<ConsumerConfig, ConfigError> {
        let cfg = self.resolve();
        let nonzero = |d: Duration, what: &'static str| {
            if d.is_zero() {
                Err(ConfigError::Zero(what))
            } else {
                Ok(())
            }
        };
        if cfg.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        if cfg.instance_id.as_deref() == Some("") {
            return Err(ConfigError::EmptyInstanceId);
        }
        if cfg.batch_size == 0 {
            return Err(ConfigError::EmptyBatch);
        }
        nonzero(cfg.poll_timeout, "poll_timeout")?;
        nonzero(cfg.maintenance_poll_timeout, "maintenance_poll_timeout")?;
        nonzero(cfg.heartbeat_interval, "heartbeat_interval")?;
        nonzero(cfg.max_poll_interval, "max_poll_interval")?;
        nonzero(cfg.session_timeout, "session_timeout")?;
        nonzero(cfg.restart_backoff, "restart_backoff")?;
        nonzero(cfg.retry_backoff, "retry_backoff")?;
        nonzero(cfg.assign_timeout, "assign_timeout")?;
        if cfg.session_timeout > cfg.max_poll_interval {
            return Err(ConfigError::SessionAboveMaxPoll {
                session: cfg.session_timeout,
                max_poll: cfg.max_poll_interval,
            });
        }
        if cfg.restart_backoff_max < cfg.restart_backoff {
            return Err(ConfigError::BackoffCapBelowStart {
                initial: cfg.restart_backoff,
                max: cfg.restart_backoff_max,
            });
        }
        let gap = cfg.longest_poll_gap();
        if gap > cfg.max_poll_interval / 2 {
            return Err(ConfigError::NoPollMargin {
                gap,
                max_poll: cfg.max_poll_interval,
            });
        }
        if cfg.command_timeout < cfg.poll_timeout * 2 {
            return Err(ConfigError::CommandTimeoutTooShort {
                timeout: cfg.command_timeout,
                poll: cfg.poll_timeout,
            });
        }
        Ok(cfg)
    }
}

impl Default for ConsumerConfig {
    /// The builder's defaults (which pass validation; a unit test keeps it so).
    fn default() -> Self {
        ConsumerConfigBuilder::default().resolve()
    }
}
