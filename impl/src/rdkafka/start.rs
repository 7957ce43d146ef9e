//! The vetted consumer on rdkafka in one call, with its timing from one place: the group
//! timeouts and the static instance id are the [`KafkaConfig`]'s, and a [`ConsumerConfig`] that
//! says otherwise is refused with a typed error before anything starts.

use super::{ConfigError, KafkaConfig, RdKafkaFactory};
use crate::consumer::{Consumer, ConsumerConfig, ConsumerConfigBuilder};
use crate::handler::Handler;
use crate::probe::NoProbe;
use crate::sync::StdRuntime;
use std::sync::Arc;
use std::time::Duration;

/// The vetted consumer in production: on the std runtime, on rdkafka, with no probe.
pub type RdKafkaConsumer<H> = Consumer<StdRuntime, RdKafkaFactory, H, NoProbe>;

/// Why [`start`] refused to start a consumer.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The librdkafka configuration was refused.
    #[error("kafka configuration: {0}")]
    Kafka(#[from] ConfigError),
    /// The consumer and the Kafka configuration disagree on a group timeout: the consumer's
    /// maintenance cadence would be computed against the wrong one.
    #[error(
        "{what} is {consumer:?} in the ConsumerConfig but {kafka:?} in the KafkaConfig; build the \
         ConsumerConfig with KafkaConfig::consumer_config()"
    )]
    TimeoutMismatch {
        /// `session.timeout` or `max.poll.interval`.
        what: &'static str,
        /// The consumer configuration's.
        consumer: Duration,
        /// The Kafka configuration's.
        kafka: Duration,
    },
    /// The two configurations name different static instance ids.
    #[error("the ConsumerConfig's instance id {consumer:?} is not the KafkaConfig's {kafka:?}")]
    InstanceIdMismatch {
        /// The consumer configuration's.
        consumer: Option<String>,
        /// The Kafka configuration's.
        kafka: Option<String>,
    },
}

impl KafkaConfig {
    /// A consumer configuration builder that takes its group timeouts and static instance id
    /// from this configuration: the one place they are set.
    ///
    /// ```
    /// use pausebeat::rdkafka::KafkaConfig;
    /// use std::time::Duration;
    /// let kafka = KafkaConfig::new("localhost:9092", "group", "topic")
    ///     .with_instance_id("app-0")
    ///     .with_max_poll_interval(Duration::from_secs(120));
    /// let cfg = kafka.consumer_config().batch_size(500).build().unwrap();
    /// assert_eq!(cfg.max_poll_interval(), Duration::from_secs(120));
    /// assert_eq!(cfg.instance_id(), Some("app-0"));
    /// ```
    pub fn consumer_config(&self) -> ConsumerConfigBuilder {
        ConsumerConfig::builder()
            .session_timeout(self.session_timeout)
            .max_poll_interval(self.max_poll_interval)
            .instance_id_opt(self.instance_id.clone())
    }

    /// Checks that `cfg` agrees with this configuration on the group timeouts and the static
    /// instance id.
    pub fn agrees_with(&self, cfg: &ConsumerConfig) -> Result<(), StartError> {
        for (what, consumer, kafka) in [
            (
                "session.timeout",
                cfg.session_timeout(),
                self.session_timeout,
            ),
            (
                "max.poll.interval",
                cfg.max_poll_interval(),
                self.max_poll_interval,
            ),
        ] {
            if consumer != kafka {
                return Err(StartError::TimeoutMismatch {
                    what,
                    consumer,
                    kafka,
                });
            }
        }
        if cfg.instance_id() != self.instance_id.as_deref() {
            return Err(StartError::InstanceIdMismatch {
                consumer: cfg.instance_id().map(str::to_string),
                kafka: self.instance_id.clone(),
            });
        }
        Ok(())
    }
}

/// Starts the vetted consumer on rdkafka: checks that `cfg` agrees with `kafka` (build it with
/// [`KafkaConfig::consumer_config`]), creates the factory (librdkafka checks the configuration)
/// and starts the owner and handler threads. No Kafka consumer exists until the first run.
///
/// ```
/// use pausebeat::rdkafka::{start, KafkaConfig, StartError};
/// use pausebeat::{Handler, HandlerError, Record};
/// use std::time::Duration;
///
/// struct Sink;
/// impl Handler for Sink {
///     fn handle(&self, _batch: &[Record]) -> Result<(), HandlerError> {
///         Ok(())
///     }
/// }
/// let kafka = KafkaConfig::new("localhost:9092", "group", "topic").with_instance_id("app-0");
/// // Two places, two values: refused before anything starts.
/// let wrong = pausebeat::ConsumerConfig::builder().instance_id("app-0")
///     .max_poll_interval(Duration::from_secs(600)).build().unwrap();
/// assert!(matches!(start(kafka.clone(), wrong, Sink), Err(StartError::TimeoutMismatch { .. })));
/// // One place: the consumer's timing is the Kafka configuration's.
/// let consumer = start(kafka.clone(), kafka.consumer_config().build().unwrap(), Sink).unwrap();
/// consumer.close().unwrap();
/// ```
pub fn start<H: Handler>(
    kafka: KafkaConfig,
    cfg: ConsumerConfig,
    handler: H,
) -> Result<RdKafkaConsumer<H>, StartError> {
    kafka.agrees_with(&cfg)?;
    let factory = RdKafkaFactory::new(kafka)?;
    Ok(Consumer::start(
        &StdRuntime::new(),
        cfg,
        Arc::new(factory),
        handler,
        NoProbe,
    ))
}
