//! Prompt renders and save-time cost checks, in worker processes: each under a deadline that
//! really stops it, each worker under a memory limit, the workers shared fairly between orgs.
//!
//! A render is CPU work on data an org controls. Fuel bounds most of it, but some minijinja
//! operations do work no fuel pays for, and nothing can stop a thread in the middle of one.
//! So renders run in child processes ([`worker`]): a job that outlives its deadline has its
//! worker killed (its slot is free at once, the next job starts a new worker), and a job that
//! builds a huge value ends its worker at the memory limit instead of the service. The
//! workers are shared by [`fair::FairSlots`], so one org rendering hostile templates as fast as
//! it can holds at most all but one of them, and a freed worker goes to the org holding fewest.

mod fair;
mod process;
pub mod worker;

use std::{collections::HashMap, sync::Arc, time::Duration};

use mcp_config_proto::v1;
use tokio::time::Instant;

pub use self::process::WorkerProgram;
use self::{
    fair::FairSlots,
    process::WorkerProcess,
    worker::{Job, Task},
};
use crate::{
    content::PromptContent,
    render::{Limits, RenderError},
};

/// How long a render or check (waiting for a worker included) may take before the caller is
/// answered and the work stopped.
pub const RENDER_DEADLINE: Duration = Duration::from_secs(2);

/// How renders run.
#[derive(Debug, Clone)]
pub struct RendererSettings {
    pub program: WorkerProgram,
    /// Worker processes at most (renders at once).
    pub workers: usize,
    pub limits: Limits,
    pub deadline: Duration,
}

#[derive(Clone)]
pub struct Renderer {
    settings: Arc<RendererSettings>,
    workers: Arc<FairSlots<Option<WorkerProcess>>>,
}

/// How many renders one tenant may have waiting for a worker, per worker.
const WAITING_PER_WORKER: usize = 8;

impl Renderer {
    pub fn new(settings: RendererSettings) -> Self {
        let workers = settings.workers.max(1);
        Self {
            workers: FairSlots::new(
                std::iter::repeat_with(|| None).take(workers).collect(),
                workers * WAITING_PER_WORKER,
            ),
            settings: Arc::new(settings),
        }
    }

    /// Every message of `prompt` rendered with `arguments`; `tenant` (the org whose view it
    /// is, empty for the defaults) is whose share of the workers it uses.
    pub async fn render(
        &self,
        tenant: &str,
        prompt: Arc<v1::Prompt>,
        arguments: HashMap<String, String>,
    ) -> Result<Vec<v1::PromptMessage>, RenderError> {
        let mut messages = prompt.messages.clone();
        let templates = messages
            .iter_mut()
            .flat_map(v1::PromptMessage::templates_mut)
            .map(std::mem::take)
            .collect();
        let declared = prompt
            .arguments
            .iter()
            .map(|a| (a.name.clone(), a.required))
            .collect();
        let texts = self
            .render_texts(tenant, templates, declared, arguments)
            .await?;
        for (slot, text) in messages
            .iter_mut()
            .flat_map(v1::PromptMessage::templates_mut)
            .zip(texts)
        {
            *slot = text;
        }
        Ok(messages)
    }

    /// `templates` rendered with `arguments`, which must be the `declared` ones (name,
    /// required): a prompt's messages, or a resource template's text with its URI's variables.
    pub async fn render_texts(
        &self,
        tenant: &str,
        templates: Vec<String>,
        declared: Vec<(String, bool)>,
        arguments: HashMap<String, String>,
    ) -> Result<Vec<String>, RenderError> {
        let job = self.job(Task::Render(arguments), templates, declared);
        self.run(tenant, &job).await
    }

    /// Whether `prompt` renders within the budget with sample arguments, as every save checks
    /// ([`crate::render::check_cost`]), under the same deadline and memory limit as a render.
    pub async fn check_cost(
        &self,
        tenant: &str,
        prompt: &PromptContent,
    ) -> Result<(), RenderError> {
        let job = self.job(
            Task::CheckCost,
            prompt.templates().map(str::to_owned).collect(),
            prompt
                .arguments
                .iter()
                .map(|a| (a.name.clone(), a.required))
                .collect(),
        );
        self.run(tenant, &job).await.map(drop)
    }

    /// A job of `task` on templates and declared arguments (name, required), under this
    /// renderer's limits.
    fn job(&self, task: Task, templates: Vec<String>, declared: Vec<(String, bool)>) -> Job {
        Job {
            task,
            templates,
            declared,
            limits: self.settings.limits,
        }
    }

    /// How long one render may take.
    pub fn deadline(&self) -> Duration {
        self.settings.deadline
    }

    /// What the budget is, in the words an error gives it.
    pub fn budget(&self) -> String {
        format!(
            "fuel {}, output {} bytes, memory {} MiB, {:?}",
            self.settings.limits.fuel,
            self.settings.limits.max_output_bytes,
            self.settings.program.memory_limit_bytes / (1024 * 1024),
            self.settings.deadline
        )
    }

    async fn run(&self, tenant: &str, job: &Job) -> Result<Vec<String>, RenderError> {
        let deadline = Instant::now() + self.settings.deadline;
        let timed_out = |_| {
            metrics::counter!(crate::metrics::RENDERS_TIMED_OUT).increment(1);
            RenderError::TimedOut(self.settings.deadline)
        };
        let mut lease = tokio::time::timeout_at(deadline, self.workers.acquire(tenant))
            .await
            .map_err(timed_out)?
            .map_err(|full| RenderError::Busy(full.to_string()))?;
        let place = lease.place();
        let program = &self.settings.program;
        let outcome = tokio::time::timeout_at(deadline, async {
            let worker = match place {
                Some(worker) => worker,
                None => place.insert(WorkerProcess::spawn(program).await?),
            };
            worker.call(job, program).await
        })
        .await;
        let reply = outcome.map_err(timed_out).and_then(|reply| reply);
        if matches!(
            reply,
            Err(RenderError::TimedOut(_)
                | RenderError::MemoryExceeded(_)
                | RenderError::Unavailable(_))
        ) {
            // Mid-job or gone: never asked again. Dropping it kills the process, so the work
            // stops here and the slot is free for the next render, which starts a new worker.
            *place = None;
            metrics::counter!(crate::metrics::RENDER_WORKERS_STOPPED).increment(1);
        }
        reply
    }

    /// Renders in progress per tenant.
    pub fn in_progress(&self) -> HashMap<String, usize> {
        self.workers.held()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::content::PromptMessage;

    /// A save checks the stored form's templates and a render fills the served form's: the
    /// two must list the same templates in the same order.
    #[test]
    fn the_stored_and_the_served_form_list_the_same_templates_in_order() {
        for json in [
            json!({"role": "user", "text": "{{ a }}"}),
            json!({"role": "user", "resource": {"uri": "x:{{ a }}", "text": "{{ b }}"}}),
            json!({"role": "user", "resource": {"uri": "x:{{ a }}", "blob": "AP8="}}),
            json!({"role": "user", "resource_link": {"uri": "x:{{ a }}", "name": "n"}}),
            json!({"role": "user", "image": {"mime_type": "image/png", "data": "AP8="}}),
        ] {
            let stored: PromptMessage = serde_json::from_value(json).unwrap();
            let mut served = stored.to_proto();
            let filled: Vec<String> = served
                .templates_mut()
                .into_iter()
                .map(|t| t.clone())
                .collect();
            let checked: Vec<&str> = stored
                .content
                .templates()
                .into_iter()
                .map(|(_, t)| t)
                .collect();
            assert_eq!(filled, checked);
        }
    }
}
