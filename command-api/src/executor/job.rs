//! A queued decision with its reply channel, whatever its output type.

use std::collections::HashMap;

use tokio::sync::oneshot;

use super::CommandMeta;
use super::commit::Outcome;
use super::stream::{StreamKey, Streams};
use super::working::WorkingSet;
use crate::error::ApiError;
use crate::outcome::{IdempotencyClaim, StoredResponse};

pub(super) type Render<T> = Box<dyn Fn(&T) -> Result<StoredResponse, ApiError> + Send>;
pub(super) type Reply<T> = oneshot::Sender<Result<(T, Option<StoredResponse>), ApiError>>;

/// A queued decision, whatever its output type.
pub(super) trait Queued: Send {
    fn metadata(&self) -> HashMap<String, String>;
    /// Every lane whose gate the decision needs, in order.
    fn lanes(&self) -> &[StreamKey];
    fn claim(&self) -> Option<&IdempotencyClaim>;
    /// Decides (and renders the response, for a request holding a claim).
    fn decide(&mut self, ws: &mut WorkingSet) -> Result<(), ApiError>;
    fn response(&self) -> Option<&StoredResponse>;
    fn finish(self: Box<Self>, result: Result<(), ApiError>);
}

pub(super) struct Job<T, D> {
    pub(super) meta: CommandMeta,
    pub(super) lanes: Vec<StreamKey>,
    pub(super) decide: D,
    pub(super) render: Option<Render<T>>,
    pub(super) output: Option<T>,
    pub(super) response: Option<StoredResponse>,
    pub(super) reply: Reply<T>,
}

impl<T, D> Queued for Job<T, D>
where
    T: Send + 'static,
    D: FnMut(&mut WorkingSet) -> Result<T, ApiError> + Send + 'static,
{
    fn metadata(&self) -> HashMap<String, String> {
        self.meta.to_map()
    }

    fn lanes(&self) -> &[StreamKey] {
        &self.lanes
    }

    fn claim(&self) -> Option<&IdempotencyClaim> {
        self.meta.claim.as_ref()
    }

    fn decide(&mut self, ws: &mut WorkingSet) -> Result<(), ApiError> {
        self.output = None;
        self.response = None;
        // A decision that panics fails alone; the rest of its batch goes on.
        let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.decide)(ws)));
        let output = decided.unwrap_or_else(|_| {
            metrics::counter!("command_decision_panics_total").increment(1);
            Err(ApiError::Internal(anyhow::anyhow!("a decision panicked")))
        })?;
        if let Some(render) = &self.render {
            self.response = Some(render(&output)?);
        }
        self.output = Some(output);
        Ok(())
    }

    fn response(&self) -> Option<&StoredResponse> {
        self.response.as_ref()
    }

    fn finish(self: Box<Self>, result: Result<(), ApiError>) {
        let Job {
            output,
            response,
            reply,
            ..
        } = *self;
        let answer = result.and_then(|()| {
            output
                .map(|o| (o, response))
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a decision had no output")))
        });
        // The caller may have gone away; the decision stands either way.
        let _ = reply.send(answer);
    }
}

/// Decides every decision of the batch in turn on `loaded`, each on the state the previous ones left; a
/// decision that fails is rolled back alone. `Err` is a failpoint's simulated crash.
pub(super) fn decide_all(
    jobs: &mut [Box<dyn Queued>],
    failed: &[Option<ApiError>],
    loaded: &Streams,
) -> Result<(WorkingSet, Vec<Result<(), ApiError>>), ApiError> {
    let mut ws = WorkingSet::new(loaded.clone());
    let mut decided = Vec::with_capacity(jobs.len());
    let several = jobs.len() > 1;
    for (i, job) in jobs.iter_mut().enumerate() {
        if failed[i].is_some() {
            decided.push(Ok(()));
            continue;
        }
        ws.begin(i, job.metadata());
        let result = job.decide(&mut ws);
        if result.is_err() {
            ws.rollback();
        }
        decided.push(result);
        if several && i == 0 {
            fail_point_mid_batch()?;
        }
    }
    Ok((ws, decided))
}

fn fail_point_mid_batch() -> Result<(), ApiError> {
    crate::crash_point!("executor.mid_batch");
    Ok(())
}

pub(super) fn fail_point_before_commit() -> Result<(), ApiError> {
    crate::crash_point!("executor.before_commit");
    Ok(())
}

pub(super) fn fail_point_after_commit() -> Result<(), ApiError> {
    crate::crash_point!("executor.after_commit");
    Ok(())
}

pub(super) fn outcomes(
    jobs: &[Box<dyn Queued>],
    failed: &[Option<ApiError>],
    decided: &[Result<(), ApiError>],
) -> Vec<Outcome> {
    let mut out = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        if failed[i].is_some() || decided[i].is_err() {
            continue;
        }
        if let (Some(claim), Some(response)) = (job.claim(), job.response()) {
            out.push(Outcome {
                job: i,
                principal: claim.principal.clone(),
                key: claim.key.clone(),
                claim: claim.token,
                status: response.status as i16,
                headers: response.headers_json(),
                body: response.body.to_vec(),
            });
        }
    }
    out
}

pub(super) fn finish(
    jobs: Vec<Box<dyn Queued>>,
    failed: Vec<Option<ApiError>>,
    decided: Vec<Result<(), ApiError>>,
) {
    for ((job, failure), result) in jobs.into_iter().zip(failed).zip(decided) {
        job.finish(match failure {
            Some(e) => Err(e),
            None => result,
        });
    }
}

pub(super) fn finish_all(jobs: Vec<Box<dyn Queued>>, failed: Vec<Option<ApiError>>, e: &ApiError) {
    for (job, failure) in jobs.into_iter().zip(failed) {
        job.finish(Err(failure.unwrap_or_else(|| e.replicate())));
    }
}
