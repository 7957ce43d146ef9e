//! [`KafkaConfig`]: the typed, validated configuration of the rdkafka backend.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ::rdkafka::config::ClientConfig;
use ::rdkafka::error::KafkaError as RdError;
use ::rdkafka::types::RDKafkaConfRes;

/// Why a [`KafkaConfig`] was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required field is empty (or only whitespace).
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// A duration field is below one millisecond (librdkafka counts in whole milliseconds).
    #[error("`{0}` must be at least 1 ms")]
    TooShort(&'static str),
    /// `max_poll_interval` is below `session_timeout` (librdkafka refuses such a consumer).
    #[error(
        "max_poll_interval ({max_poll_interval:?}) must be at least session_timeout \
         ({session_timeout:?})"
    )]
    MaxPollBelowSession {
        /// The configured `max.poll.interval.ms`.
        max_poll_interval: Duration,
        /// The configured `session.timeout.ms`.
        session_timeout: Duration,
    },
    /// A key in `extra` that [`KafkaConfig`] sets itself: use the typed field instead, or accept
    /// the fixed value.
    #[error("`{key}` cannot be set through `extra`: {reason}")]
    Reserved {
        /// The key.
        key: String,
        /// What sets it.
        reason: &'static str,
    },
    /// librdkafka does not know this configuration key.
    #[error("unknown librdkafka configuration key `{key}`")]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// librdkafka refused the value of a key (unparsable number, out of range, bad enum value).
    #[error("invalid value `{value}` for `{key}`: {message}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// librdkafka's explanation.
        message: String,
    },
    /// librdkafka refused to create a client from the configuration as a whole (a check that spans
    /// several keys).
    #[error("librdkafka rejected the configuration: {0}")]
    Rejected(String),
}

/// Keys of `extra` that [`KafkaConfig`] owns, with the reason.
const RESERVED: &[(&str, &str)] = &[
    ("bootstrap.servers", "use KafkaConfig::bootstrap_servers"),
    ("metadata.broker.list", "use KafkaConfig::bootstrap_servers"),
    ("group.id", "use KafkaConfig::group_id"),
    (
        "group.instance.id",
        "use KafkaConfig::instance_id / ConsumerFactory::create",
    ),
    ("session.timeout.ms", "use KafkaConfig::session_timeout"),
    ("max.poll.interval.ms", "use KafkaConfig::max_poll_interval"),
    (
        "enable.auto.commit",
        "fixed to false: the seam commits explicitly",
    ),
    (
        "auto.offset.reset",
        "fixed to earliest, as in the Go consumer",
    ),
    (
        "isolation.level",
        "fixed to read_committed, as in the Go consumer",
    ),
    ("client.id", "set per handle by the factory"),
];

/// The settings every consumer gets, as in the Go consumer. `partition.assignment.strategy` is
/// only a default and may be overridden through `extra`.
const FIXED: &[(&str, &str)] = &[
    ("enable.auto.commit", "false"),
    ("auto.offset.reset", "earliest"),
    // librdkafka's mock cluster accepts read_committed fetches: it reads the isolation level and
    // ignores it, answering with LastStableOffset = high watermark (librdkafka 2.12.1,
    // rdkafka_mock_handlers.c). Every integration test runs with this setting.
    ("isolation.level", "read_committed"),
];

/// The configuration of [`RdKafkaFactory`](super::RdKafkaFactory): what a consumer of one topic
/// in one group needs, typed, plus `extra` librdkafka keys passed through verbatim.
///
/// Fixed for every consumer: `enable.auto.commit=false`, `auto.offset.reset=earliest`,
/// `isolation.level=read_committed`, and by default `partition.assignment.strategy=roundrobin`
/// (overridable through `extra`).
///
/// ```
/// use std::time::Duration;
/// use pausebeat::rdkafka::{ConfigError, KafkaConfig};
///
/// let config = KafkaConfig::new("localhost:9092", "billing", "events")
///     .with_session_timeout(Duration::from_secs(6))
///     .with_max_poll_interval(Duration::from_secs(7))
///     .with("fetch.wait.max.ms", "10");
/// assert_eq!(config.validate(), Ok(()));
///
/// let bad = config.clone().with("fetch.wait.max.ms", "ten");
/// assert!(matches!(bad.validate(), Err(ConfigError::InvalidValue { .. })));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// `group.id`.
    pub group_id: String,
    /// The one topic the consumer reads.
    pub topic: String,
    /// The base static membership id (`group.instance.id`) for whoever builds handles; the
    /// factory itself uses exactly the id passed to
    /// [`ConsumerFactory::create`](crate::ConsumerFactory::create) (`None`: dynamic membership),
    /// see [`RdKafkaFactory::instance_id`](super::RdKafkaFactory::instance_id).
    pub instance_id: Option<String>,
    /// `session.timeout.ms` (default 45 s, librdkafka's).
    pub session_timeout: Duration,
    /// `max.poll.interval.ms` (default 300 s); at least `session_timeout`.
    pub max_poll_interval: Duration,
    /// How long [`ConsumerHandle::close`](crate::ConsumerHandle::close) waits for librdkafka to
    /// destroy the consumer before giving up and leaking it (default 10 s).
    pub close_timeout: Duration,
    /// Timeout of the synchronous requests other than commit: `seek` and `committed` (default
    /// 10 s).
    pub op_timeout: Duration,
    /// Further librdkafka configuration, passed through (e.g. `fetch.wait.max.ms`).
    pub extra: BTreeMap<String, String>,
}

/// Whether the value of this librdkafka key is a secret (not shown by `Debug`).
fn is_secret(key: &str) -> bool {
    [
        "password",
        "secret",
        "sasl.oauthbearer.config",
        "ssl.key.pem",
    ]
    .iter()
    .any(|s| key.contains(s))
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extra: BTreeMap<&str, &str> = self
            .extra
            .iter()
            .map(|(k, v)| {
                let v = if is_secret(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("KafkaConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("group_id", &self.group_id)
            .field("topic", &self.topic)
            .field("instance_id", &self.instance_id)
            .field("session_timeout", &self.session_timeout)
            .field("max_poll_interval", &self.max_poll_interval)
            .field("close_timeout", &self.close_timeout)
            .field("op_timeout", &self.op_timeout)
            .field("extra", &extra)
            .finish()
    }
}

impl KafkaConfig {
    /// A configuration with the defaults above.
    pub fn new(
        bootstrap_servers: impl Into<String>,
        group_id: impl Into<String>,
        topic: impl Into<String>,
    ) -> Self {
        KafkaConfig {
            bootstrap_servers: bootstrap_servers.into(),
            group_id: group_id.into(),
            topic: topic.into(),
            instance_id: None,
            session_timeout: Duration::from_secs(45),
            max_poll_interval: Duration::from_secs(300),
            close_timeout: Duration::from_secs(10),
            op_timeout: Duration::from_secs(10),
            extra: BTreeMap::new(),
        }
    }

    /// Sets `session_timeout`.
    pub fn with_session_timeout(mut self, d: Duration) -> Self {
        self.session_timeout = d;
        self
    }

    /// Sets `max_poll_interval`.
    pub fn with_max_poll_interval(mut self, d: Duration) -> Self {
        self.max_poll_interval = d;
        self
    }

    /// Sets `close_timeout`.
    pub fn with_close_timeout(mut self, d: Duration) -> Self {
        self.close_timeout = d;
        self
    }

    /// Sets `op_timeout`.
    pub fn with_op_timeout(mut self, d: Duration) -> Self {
        self.op_timeout = d;
        self
    }

    /// Sets `instance_id`.
    pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// Adds a librdkafka key to `extra`.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// Checks everything that can be checked without creating a client: required fields, the
    /// timeouts, reserved keys, and every key and value against librdkafka's configuration
    /// parser (in key order, so that the error reported is deterministic).
    ///
    /// [`RdKafkaFactory::new`](super::RdKafkaFactory::new) also creates one throw-away client to
    /// catch librdkafka's cross-key checks ([`ConfigError::Rejected`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.client_config().map(|_| ())
    }

    /// The librdkafka configuration of a handle, without `client.id` and `group.instance.id`.
    pub(crate) fn client_config(&self) -> Result<ClientConfig, ConfigError> {
        for (field, value) in [
            ("bootstrap_servers", &self.bootstrap_servers),
            ("group_id", &self.group_id),
            ("topic", &self.topic),
        ] {
            if value.trim().is_empty() {
                return Err(ConfigError::Empty(field));
            }
        }
        if matches!(&self.instance_id, Some(id) if id.trim().is_empty()) {
            return Err(ConfigError::Empty("instance_id"));
        }
        for (field, d) in [
            ("session_timeout", self.session_timeout),
            ("max_poll_interval", self.max_poll_interval),
            ("close_timeout", self.close_timeout),
            ("op_timeout", self.op_timeout),
        ] {
            if d < Duration::from_millis(1) {
                return Err(ConfigError::TooShort(field));
            }
        }
        if self.max_poll_interval < self.session_timeout {
            return Err(ConfigError::MaxPollBelowSession {
                max_poll_interval: self.max_poll_interval,
                session_timeout: self.session_timeout,
            });
        }
        for key in self.extra.keys() {
            if let Some((_, reason)) = RESERVED.iter().find(|(k, _)| k == key) {
                return Err(ConfigError::Reserved {
                    key: key.clone(),
                    reason,
                });
            }
        }

        let mut cfg = ClientConfig::new();
        cfg.set("partition.assignment.strategy", "roundrobin");
        for (k, v) in &self.extra {
            // One key at a time: ClientConfig applies its keys in hash order, which would make
            // the reported error depend on it when several are wrong.
            check_one(k, v)?;
            cfg.set(k, v);
        }
        for (k, v) in FIXED {
            cfg.set(*k, *v);
        }
        cfg.set("bootstrap.servers", &self.bootstrap_servers)
            .set("group.id", &self.group_id)
            .set(
                "session.timeout.ms",
                self.session_timeout.as_millis().to_string(),
            )
            .set(
                "max.poll.interval.ms",
                self.max_poll_interval.as_millis().to_string(),
            );
        for key in [
            "bootstrap.servers",
            "group.id",
            "session.timeout.ms",
            "max.poll.interval.ms",
        ] {
            if let Some(v) = cfg.get(key) {
                check_one(key, v)?;
            }
        }
        Ok(cfg)
    }
}

/// Runs one key through librdkafka's configuration parser.
fn check_one(key: &str, value: &str) -> Result<(), ConfigError> {
    let mut one = ClientConfig::new();
    one.set(key, value);
    one.create_native_config()
        .map(|_| ())
        .map_err(|e| config_error(e, key, value))
}

/// Maps an error of `ClientConfig::create_native_config` or of client creation.
pub(crate) fn config_error(e: RdError, key: &str, value: &str) -> ConfigError {
    match e {
        RdError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, _, k, _) => {
            ConfigError::UnknownKey { key: k }
        }
        RdError::ClientConfig(_, message, k, v) => ConfigError::InvalidValue {
            key: k,
            value: v,
            message,
        },
        RdError::Nul(_) => ConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            message: "contains a NUL byte".to_string(),
        },
        other => ConfigError::Rejected(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> KafkaConfig {
        KafkaConfig::new("127.0.0.1:9092", "g", "t")
            .with_session_timeout(Duration::from_secs(6))
            .with_max_poll_interval(Duration::from_secs(7))
    }

    #[test]
    fn a_good_config_validates_and_has_the_fixed_settings() {
        let cfg = base().client_config().unwrap();
        assert_eq!(cfg.get("enable.auto.commit"), Some("false"));
        assert_eq!(cfg.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(cfg.get("isolation.level"), Some("read_committed"));
        assert_eq!(cfg.get("partition.assignment.strategy"), Some("roundrobin"));
        assert_eq!(cfg.get("session.timeout.ms"), Some("6000"));
        assert_eq!(cfg.get("max.poll.interval.ms"), Some("7000"));
    }

    #[test]
    fn debug_hides_secrets() {
        let c = base()
            .with("sasl.password", "hunter2")
            .with("fetch.wait.max.ms", "10");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>") && shown.contains("fetch.wait.max.ms"));
    }

    #[test]
    fn the_assignment_strategy_can_be_overridden() {
        let cfg = base()
            .with("partition.assignment.strategy", "cooperative-sticky")
            .client_config()
            .unwrap();
        assert_eq!(
            cfg.get("partition.assignment.strategy"),
            Some("cooperative-sticky")
        );
    }

    #[test]
    fn empty_fields_are_rejected() {
        let mut c = base();
        c.group_id = " ".into();
        assert_eq!(c.validate(), Err(ConfigError::Empty("group_id")));
        let mut c = base();
        c.topic.clear();
        assert_eq!(c.validate(), Err(ConfigError::Empty("topic")));
        let mut c = base();
        c.bootstrap_servers.clear();
        assert_eq!(c.validate(), Err(ConfigError::Empty("bootstrap_servers")));
        assert_eq!(
            base().with_instance_id("").validate(),
            Err(ConfigError::Empty("instance_id"))
        );
    }

    #[test]
    fn max_poll_below_session_is_rejected() {
        let c = base().with_max_poll_interval(Duration::from_secs(5));
        assert!(matches!(
            c.validate(),
            Err(ConfigError::MaxPollBelowSession { .. })
        ));
        let c = base().with_close_timeout(Duration::ZERO);
        assert_eq!(c.validate(), Err(ConfigError::TooShort("close_timeout")));
    }

    #[test]
    fn reserved_unknown_and_invalid_keys_are_rejected() {
        assert!(matches!(
            base().with("enable.auto.commit", "true").validate(),
            Err(ConfigError::Reserved { key, .. }) if key == "enable.auto.commit"
        ));
        assert_eq!(
            base().with("no.such.key", "1").validate(),
            Err(ConfigError::UnknownKey {
                key: "no.such.key".into()
            })
        );
        assert!(matches!(
            base().with("fetch.wait.max.ms", "soon").validate(),
            Err(ConfigError::InvalidValue { key, value, .. })
                if key == "fetch.wait.max.ms" && value == "soon"
        ));
        assert!(matches!(
            base().with("fetch.wait.max.ms", "-5").validate(),
            Err(ConfigError::InvalidValue { .. })
        ));
        // Out of librdkafka's range for session.timeout.ms (max 3600000).
        let c = base()
            .with_session_timeout(Duration::from_secs(4000))
            .with_max_poll_interval(Duration::from_secs(4000));
        assert!(matches!(
            c.validate(),
            Err(ConfigError::InvalidValue { key, .. }) if key == "session.timeout.ms"
        ));
        // Deterministic: the first bad key in key order is reported.
        assert_eq!(
            base()
                .with("zz.unknown", "1")
                .with("aa.unknown", "1")
                .validate(),
            Err(ConfigError::UnknownKey {
                key: "aa.unknown".into()
            })
        );
        assert!(matches!(
            base().with("fetch.wait.max.ms", "1\0").validate(),
            Err(ConfigError::InvalidValue { .. })
        ));
    }
}
