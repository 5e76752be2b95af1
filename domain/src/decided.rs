//! The one wiring of a pure decision into cqrs-es, shared by every aggregate: `handle` writes what the
//! aggregate's `decide(&self, command) -> Result<Vec<Event>, Error>` returns, in order, and `apply` is
//! its `evolve(&mut self, event)`. Deciding stays a plain function of the state, testable without
//! cqrs-es; the event sink applies each event as it is written.

/// Implements `cqrs_es::Aggregate` for `$aggregate` (stored as `$kind`) from its inherent `decide` and
/// `evolve`, with no services.
macro_rules! decided_aggregate {
    ($aggregate:ty, $kind:literal, $command:ty, $event:ty, $error:ty) => {
        impl cqrs_es::Aggregate for $aggregate {
            const TYPE: &'static str = $kind;
            type Command = $command;
            type Event = $event;
            type Error = $error;
            type Services = ();

            async fn handle(
                &mut self,
                command: $command,
                _services: &(),
                sink: &cqrs_es::event_sink::EventSink<Self>,
            ) -> Result<(), $error> {
                for event in self.decide(command)? {
                    sink.write(event, self).await;
                }
                Ok(())
            }

            fn apply(&mut self, event: $event) {
                self.evolve(event);
            }
        }
    };
}

pub(crate) use decided_aggregate;
