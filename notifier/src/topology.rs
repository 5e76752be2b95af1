//! A consumer's queues: the main queue bound to the events exchange, one delay queue per retry (its
//! messages expire back into the main queue), and the dead-letter queue. Main and dead-letter queues are
//! quorum queues, except in tests (`expires_ms` set), where classic queues expire after use.

use infra::amqp::{AmqpError, AmqpSettings, declare_exchange, queue_arguments, text};
use lapin::Channel;
use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};

/// A consumer's queue names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queues {
    /// Where messages arrive.
    pub main: String,
    /// Delay queue `i` holds a message before retry `i + 1`.
    pub retries: Vec<String>,
    /// Where messages go after the last retry.
    pub dead: String,
}

/// The names for `consumer`, with one retry per delay.
pub fn names(settings: &AmqpSettings, consumer: &str, retries: usize) -> Queues {
    let main = format!("{}.{consumer}", settings.queue_prefix);
    Queues {
        retries: (1..=retries).map(|n| format!("{main}.retry.{n}")).collect(),
        dead: format!("{main}.dead"),
        main,
    }
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn kind(settings: &AmqpSettings) -> Vec<(&'static str, AMQPValue)> {
    if settings.expires_ms.is_some() {
        vec![]
    } else {
        vec![("x-queue-type", text("quorum"))]
    }
}

/// Declares the exchange and `consumer`'s queues, and binds the main queue to `bindings`.
///
/// # Errors
/// [`AmqpError`].
pub async fn declare(
    channel: &Channel,
    settings: &AmqpSettings,
    consumer: &str,
    bindings: &[&str],
    delays_ms: &[u32],
) -> Result<Queues, AmqpError> {
    declare_exchange(channel, settings).await?;
    let queues = names(settings, consumer, delays_ms.len());
    for name in [&queues.main, &queues.dead] {
        channel
            .queue_declare(
                ShortString::from(name.as_str()),
                durable(),
                queue_arguments(settings, &kind(settings)),
            )
            .await?;
    }
    for (retry, delay) in queues.retries.iter().zip(delays_ms) {
        let args = queue_arguments(
            settings,
            &[
                ("x-message-ttl", AMQPValue::LongUInt(*delay)),
                ("x-dead-letter-exchange", text("")),
                ("x-dead-letter-routing-key", text(&queues.main)),
            ],
        );
        channel
            .queue_declare(ShortString::from(retry.as_str()), durable(), args)
            .await?;
    }
    for key in bindings {
        channel
            .queue_bind(
                ShortString::from(queues.main.as_str()),
                ShortString::from(settings.exchange.as_str()),
                ShortString::from(*key),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(queues)
}
