//! Prompt renders off the async workers: each under a deadline, a bounded number at once, with
//! the compiled templates of recently rendered prompts kept.
//!
//! A render is CPU work. Fuel bounds it, but bounded work on an async worker still delays every
//! other request that worker carries (health checks, other orgs' reads), so renders run on the
//! blocking pool. A semaphore keeps them from taking every blocking thread, and the deadline
//! answers the caller even when the slots are busy. A slot is held until its render really
//! ends, so renders that outlive their deadline still count against the bound.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::Arc,
    time::Duration,
};

use mcp_config_proto::v1;
use tokio::sync::Semaphore;

use crate::render::{self, CompiledPrompt, Limits, RenderError};

/// How long a render (waiting for a slot included) may take before the caller is answered.
const RENDER_DEADLINE: Duration = Duration::from_secs(2);
/// Bytes of templates whose compiled form is kept (the compiled form weighs a few times more).
const COMPILED_CACHE_TEMPLATE_BYTES: u64 = 16 * 1024 * 1024;

/// A prompt's compiled templates, with the sources they were compiled from: the cache is keyed
/// by a hash of the sources, and a hit is used only if its sources are the prompt's.
struct Compiled {
    sources: Vec<String>,
    prompt: CompiledPrompt,
}

#[derive(Clone)]
pub struct Renderer {
    limits: Limits,
    slots: Arc<Semaphore>,
    compiled: moka::sync::Cache<u64, Arc<Compiled>>,
    /// Keyed per process, so nobody can aim two prompts at one cache slot.
    hasher: RandomState,
}

impl Renderer {
    pub fn new(limits: Limits) -> Self {
        let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            limits,
            slots: Arc::new(Semaphore::new(parallelism)),
            compiled: moka::sync::Cache::builder()
                .max_capacity(COMPILED_CACHE_TEMPLATE_BYTES)
                .weigher(|_, compiled: &Arc<Compiled>| {
                    let bytes: usize = compiled.sources.iter().map(String::len).sum();
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .build(),
            hasher: RandomState::new(),
        }
    }

    /// Every message of `prompt` rendered with `arguments`.
    pub async fn render(
        &self,
        prompt: Arc<v1::Prompt>,
        arguments: HashMap<String, String>,
    ) -> Result<Vec<v1::PromptMessage>, RenderError> {
        let deadline = tokio::time::Instant::now() + RENDER_DEADLINE;
        let timed_out = |_| {
            metrics::counter!(crate::metrics::RENDERS_TIMED_OUT).increment(1);
            RenderError::TimedOut(RENDER_DEADLINE)
        };
        let slot = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned())
            .await
            .map_err(timed_out)?
            .expect("the render semaphore is never closed");
        let this = self.clone();
        let work = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let compiled = this.compiled(&prompt)?;
            render::render_prompt(&prompt, &compiled.prompt, &arguments, this.limits)
        });
        tokio::time::timeout_at(deadline, work)
            .await
            .map_err(timed_out)?
            .expect("a render does not panic")
    }

    fn compiled(&self, prompt: &v1::Prompt) -> Result<Arc<Compiled>, RenderError> {
        let hash = self
            .hasher
            .hash_one(prompt.messages.iter().map(|m| &m.text).collect::<Vec<_>>());
        let same_sources = |compiled: &Compiled| {
            compiled
                .sources
                .iter()
                .eq(prompt.messages.iter().map(|m| &m.text))
        };
        if let Some(hit) = self.compiled.get(&hash)
            && same_sources(&hit)
        {
            return Ok(hit);
        }
        let compiled = Arc::new(Compiled {
            sources: prompt.messages.iter().map(|m| m.text.clone()).collect(),
            prompt: CompiledPrompt::compile(prompt.messages.iter().map(|m| m.text.as_str()))?,
        });
        self.compiled.insert(hash, compiled.clone());
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(texts: &[&str]) -> Arc<v1::Prompt> {
        Arc::new(v1::Prompt {
            name: "p".into(),
            messages: texts
                .iter()
                .map(|t| v1::PromptMessage {
                    role: "user".into(),
                    text: (*t).into(),
                })
                .collect(),
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn prompts_with_different_templates_never_share_a_compiled_form() {
        let renderer = Renderer::new(Limits::default());
        for text in ["one", "two", "one"] {
            let rendered = renderer
                .render(prompt(&[text]), HashMap::new())
                .await
                .unwrap();
            assert_eq!(rendered[0].text, text);
        }
        renderer.compiled.run_pending_tasks();
        assert_eq!(renderer.compiled.entry_count(), 2);
    }
}
