//! Classification of rust-rdkafka's errors into the seam's [`ErrorClass`] and [`ErrorCode`].
//!
//! librdkafka's `rd_kafka_error_is_retriable()` only exists for `rd_kafka_error_t` objects, which
//! the consumer API does not return (polls, commits and offset fetches report a bare
//! `rd_kafka_resp_err_t`), and rust-rdkafka's `KafkaError` has no `is_retriable()`. So the class is
//! decided here, by code, following Kafka's `RetriableException` list and the Go consumer's
//! treatment (`IsRetriable()`, and PR #1494's "membership lost" set):
//!
//! | librdkafka error | code | [`ErrorCode`] | [`ErrorClass`] |
//! |---|---|---|---|
//! | any error flagged fatal (`MessageConsumptionFatal`, `_FATAL`) whose cause (`rd_kafka_fatal_error`) is `FENCED_INSTANCE_ID` / `_FENCED` | 82 / -144 | `Fenced` | `Fatal` |
//! | any other fatal error | -150, … | `Other` | `Fatal` |
//! | `FENCED_INSTANCE_ID`, `_FENCED` (not flagged fatal) | 82, -144 | `Fenced` | `Fatal` |
//! | `_TRANSPORT` | -195 | `BrokerTransport` | `Retriable` |
//! | `_ALL_BROKERS_DOWN` | -187 | `AllBrokersDown` | `Retriable` |
//! | `_MAX_POLL_EXCEEDED` | -147 | `MaxPollExceeded` | `NonRetriable` |
//! | `UNKNOWN_MEMBER_ID` | 25 | `UnknownMember` | `NonRetriable` |
//! | `_NO_OFFSET` | -168 | `NoOffset` | `NonRetriable` |
//! | `_TIMED_OUT`, `REQUEST_TIMED_OUT`, `_WAIT_COORD` (a commit deferred for `session.timeout.ms` without a coordinator) | -185, 7, -180 | `TimedOut` | `Retriable` |
//! | `_STATE` | -172 | `Closed` | `NonRetriable` |
//! | `ILLEGAL_GENERATION` | 22 | `IllegalGeneration` | `NonRetriable` |
//! | `REBALANCE_IN_PROGRESS` | 27 | `RebalanceInProgress` | `Retriable` |
//! | `_RESOLVE`, `_MSG_TIMED_OUT`, `LEADER_NOT_AVAILABLE`, `NOT_LEADER_FOR_PARTITION`, `NETWORK_EXCEPTION`, `COORDINATOR_LOAD_IN_PROGRESS`, `COORDINATOR_NOT_AVAILABLE`, `NOT_COORDINATOR`, `NOT_ENOUGH_REPLICAS`, `NOT_ENOUGH_REPLICAS_AFTER_APPEND`, `KAFKA_STORAGE_ERROR`, `UNKNOWN_TOPIC_OR_PART` | -193, -192, 5, 6, 13, 14, 15, 16, 19, 20, 56, 3 | `Other` | `Retriable` |
//! | anything else (e.g. `_UNKNOWN_PARTITION` -190) | | `Other` | `NonRetriable` |
//! | client creation / subscription failures (no code) | | `CreateFailed` | `NonRetriable` |
//! | pause / resume / seek failures reported only as text | | `Other` | `NonRetriable` |

use ::rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode as Code};

use crate::kafka::{ErrorClass, ErrorCode, KafkaError};

/// The seam's class and code for a librdkafka error code. `fatal` is true if librdkafka flagged
/// the error fatal; `cause` is then the cause librdkafka reports (`rd_kafka_fatal_error`).
///
/// ```
/// use pausebeat::rdkafka::classify_code;
/// use pausebeat::{ErrorClass, ErrorCode};
/// use rdkafka::error::RDKafkaErrorCode;
///
/// assert_eq!(
///     classify_code(RDKafkaErrorCode::AllBrokersDown, false, None),
///     (ErrorClass::Retriable, ErrorCode::AllBrokersDown)
/// );
/// assert_eq!(
///     classify_code(RDKafkaErrorCode::Fatal, true, Some(RDKafkaErrorCode::FencedInstanceId)),
///     (ErrorClass::Fatal, ErrorCode::Fenced)
/// );
/// ```
pub fn classify_code(code: Code, fatal: bool, cause: Option<Code>) -> (ErrorClass, ErrorCode) {
    let is_fenced = |c: Code| matches!(c, Code::FencedInstanceId | Code::Fenced);
    if fatal || code == Code::Fatal {
        let fenced = is_fenced(code) || cause.is_some_and(is_fenced);
        let what = if fenced {
            ErrorCode::Fenced
        } else {
            ErrorCode::Other
        };
        return (ErrorClass::Fatal, what);
    }
    use ErrorClass::{NonRetriable, Retriable};
    match code {
        Code::FencedInstanceId | Code::Fenced => (ErrorClass::Fatal, ErrorCode::Fenced),
        Code::BrokerTransportFailure => (Retriable, ErrorCode::BrokerTransport),
        Code::AllBrokersDown => (Retriable, ErrorCode::AllBrokersDown),
        Code::PollExceeded => (NonRetriable, ErrorCode::MaxPollExceeded),
        Code::UnknownMemberId => (NonRetriable, ErrorCode::UnknownMember),
        Code::NoOffset => (NonRetriable, ErrorCode::NoOffset),
        Code::OperationTimedOut | Code::RequestTimedOut | Code::WaitingForCoordinator => {
            (Retriable, ErrorCode::TimedOut)
        }
        Code::State => (NonRetriable, ErrorCode::Closed),
        Code::IllegalGeneration => (NonRetriable, ErrorCode::IllegalGeneration),
        Code::RebalanceInProgress => (Retriable, ErrorCode::RebalanceInProgress),
        Code::Resolve
        | Code::MessageTimedOut
        | Code::LeaderNotAvailable
        | Code::NotLeaderForPartition
        | Code::NetworkException
        | Code::CoordinatorLoadInProgress
        | Code::CoordinatorNotAvailable
        | Code::NotCoordinator
        | Code::NotEnoughReplicas
        | Code::NotEnoughReplicasAfterAppend
        | Code::KafkaStorageError
        | Code::UnknownTopicOrPartition => (Retriable, ErrorCode::Other),
        _ => (NonRetriable, ErrorCode::Other),
    }
}

/// Maps a rust-rdkafka error to the seam's error. `fatal_cause` is the handle's
/// `rd_kafka_fatal_error()` code, consulted for errors flagged fatal.
pub fn classify(err: &RdError, fatal_cause: Option<Code>) -> KafkaError {
    let message = err.to_string();
    let (class, code) = match err {
        RdError::MessageConsumptionFatal(code) => classify_code(*code, true, fatal_cause),
        RdError::ClientCreation(_) | RdError::Subscription(_) | RdError::ClientConfig(..) => {
            (ErrorClass::NonRetriable, ErrorCode::CreateFailed)
        }
        other => match other.rdkafka_error_code() {
            Some(code) => classify_code(code, false, fatal_cause),
            None => (ErrorClass::NonRetriable, ErrorCode::Other),
        },
    };
    KafkaError::new(class, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        use ErrorClass::*;
        let cases = [
            (
                Code::BrokerTransportFailure,
                Retriable,
                ErrorCode::BrokerTransport,
            ),
            (Code::AllBrokersDown, Retriable, ErrorCode::AllBrokersDown),
            (Code::PollExceeded, NonRetriable, ErrorCode::MaxPollExceeded),
            (
                Code::UnknownMemberId,
                NonRetriable,
                ErrorCode::UnknownMember,
            ),
            (Code::NoOffset, NonRetriable, ErrorCode::NoOffset),
            (Code::FencedInstanceId, Fatal, ErrorCode::Fenced),
            (Code::OperationTimedOut, Retriable, ErrorCode::TimedOut),
            (Code::WaitingForCoordinator, Retriable, ErrorCode::TimedOut),
            (Code::State, NonRetriable, ErrorCode::Closed),
            (
                Code::RebalanceInProgress,
                Retriable,
                ErrorCode::RebalanceInProgress,
            ),
            (
                Code::IllegalGeneration,
                NonRetriable,
                ErrorCode::IllegalGeneration,
            ),
        ];
        for (code, class, what) in cases {
            assert_eq!(classify_code(code, false, None), (class, what), "{code:?}");
        }
        assert_eq!(
            classify_code(Code::Fatal, false, Some(Code::FencedInstanceId)),
            (Fatal, ErrorCode::Fenced)
        );
        assert_eq!(
            classify_code(Code::Fatal, false, None),
            (Fatal, ErrorCode::Other)
        );
        // A fatal flag wins over a code that is otherwise retriable.
        assert_eq!(
            classify_code(Code::BrokerTransportFailure, true, None),
            (Fatal, ErrorCode::Other)
        );
    }

    #[test]
    fn rust_rdkafka_variants() {
        let e = classify(&RdError::MessageConsumption(Code::PollExceeded), None);
        assert!(e.membership_lost());
        assert_eq!(e.code, ErrorCode::MaxPollExceeded);
        let e = classify(
            &RdError::MessageConsumptionFatal(Code::Fatal),
            Some(Code::FencedInstanceId),
        );
        assert!(e.is_fatal());
        assert_eq!(e.code, ErrorCode::Fenced);
        let e = classify(&RdError::ConsumerCommit(Code::UnknownMemberId), None);
        assert_eq!(e.code, ErrorCode::UnknownMember);
        let e = classify(&RdError::ClientCreation("x".into()), None);
        assert_eq!(e.code, ErrorCode::CreateFailed);
        let e = classify(&RdError::PauseResume("x".into()), None);
        assert_eq!(
            (e.class, e.code),
            (ErrorClass::NonRetriable, ErrorCode::Other)
        );
    }
}
