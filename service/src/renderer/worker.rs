//! The render worker: a child process (`mcp-config render-worker`) that renders and checks
//! templates for the service, one job at a time, over its standard input and output.
//!
//! Fuel and the output cap bound most of what a template can do, but not all: minijinja's lazy
//! sequences (`([1] * 30000000)[-1]`, `x in seq * n`, slices and comparisons of them) do work
//! that no fuel pays for, and a thread cannot be stopped from outside in the middle of such an
//! operation. A process can: the service kills a worker whose job outlives its deadline, and
//! the kernel refuses a worker more memory than its limit (`RLIMIT_DATA`), so any operation
//! that builds a huge value ends the worker instead of the service's memory. What a template
//! can reach is thereby bounded in time and size by the operating system, not by a list of the
//! operations we know about.
//!
//! The protocol is one JSON line per job and one per reply. The worker keeps compiled templates
//! by the hash of their sources, so a prompt rendered again is not compiled again.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    io::{self, BufRead, Write},
    sync::Arc,
};

use serde::{Deserialize, Serialize};

use crate::render::{self, CompiledPrompt, Declared, Limits, RenderError};

/// Bytes of templates whose compiled form a worker keeps (the compiled form weighs a few times
/// more).
const COMPILED_CACHE_TEMPLATE_BYTES: u64 = 16 * 1024 * 1024;

/// What a worker is asked to do.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Job {
    pub task: Task,
    /// One template per message.
    pub templates: Vec<String>,
    /// The declared arguments: name, and whether it must be given.
    pub declared: Vec<(String, bool)>,
    pub limits: Limits,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Task {
    /// Render every message with these arguments.
    Render(HashMap<String, String>),
    /// Whether the prompt renders within its limits with sample arguments, as a save checks.
    CheckCost,
}

pub(super) type Reply = Result<Vec<String>, RenderError>;

/// How much lower than the service's the workers' scheduling priority is (`nice`, added to the
/// inherited one, at most 19): a render
/// that burns its whole deadline competes with other renders, never with the threads that
/// answer cached reads, health checks and the admin API.
const NICENESS: i32 = 10;

/// Serves jobs from standard input until it closes.
pub fn run(memory_limit_bytes: u64) -> io::Result<()> {
    rlimit::setrlimit(
        rlimit::Resource::DATA,
        memory_limit_bytes,
        memory_limit_bytes,
    )?;
    let inherited = rustix::process::getpriority_process(None)?;
    rustix::process::setpriority_process(None, (inherited + NICENESS).min(19))?;
    let compiled = CompiledCache::new();
    let stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    for line in stdin.lines() {
        let job: Job = serde_json::from_str(&line?).map_err(io::Error::other)?;
        let reply = compiled.run(&job);
        serde_json::to_writer(&mut stdout, &reply).map_err(io::Error::other)?;
        stdout.write_all(b"\n")?;
        stdout.flush()?;
    }
    Ok(())
}

/// The compiled templates of recently rendered prompts, keyed by a hash of their sources; a
/// hit is used only if its sources are the job's.
struct CompiledCache {
    entries: moka::sync::Cache<u64, Arc<Compiled>>,
    /// Keyed per process, so nobody can aim two prompts at one cache slot.
    hasher: RandomState,
}

struct Compiled {
    sources: Vec<String>,
    prompt: CompiledPrompt,
}

impl CompiledCache {
    fn new() -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(COMPILED_CACHE_TEMPLATE_BYTES)
                .weigher(|_, compiled: &Arc<Compiled>| {
                    let bytes: usize = compiled.sources.iter().map(String::len).sum();
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .build(),
            hasher: RandomState::new(),
        }
    }

    fn run(&self, job: &Job) -> Reply {
        let declared: Vec<Declared> = job
            .declared
            .iter()
            .map(|(name, required)| Declared {
                name,
                required: *required,
            })
            .collect();
        match &job.task {
            Task::CheckCost => render::check_cost(
                job.templates.iter().map(String::as_str),
                &declared,
                job.limits,
            )
            .map(|()| Vec::new()),
            Task::Render(arguments) => self
                .compiled(&job.templates)?
                .prompt
                .render(&declared, arguments, job.limits),
        }
    }

    fn compiled(&self, templates: &[String]) -> Result<Arc<Compiled>, RenderError> {
        let hash = self.hasher.hash_one(templates);
        if let Some(hit) = self.entries.get(&hash)
            && hit.sources == templates
        {
            return Ok(hit);
        }
        let compiled = Arc::new(Compiled {
            sources: templates.to_vec(),
            prompt: CompiledPrompt::compile(templates.iter().map(String::as_str))?,
        });
        self.entries.insert(hash, compiled.clone());
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(templates: &[&str]) -> Job {
        Job {
            task: Task::Render(HashMap::new()),
            templates: templates.iter().map(|t| (*t).to_owned()).collect(),
            declared: Vec::new(),
            limits: Limits::default(),
        }
    }

    #[test]
    fn prompts_with_different_templates_never_share_a_compiled_form() {
        let cache = CompiledCache::new();
        for text in ["one", "two", "one"] {
            assert_eq!(cache.run(&job(&[text])).unwrap(), vec![text.to_owned()]);
        }
        cache.entries.run_pending_tasks();
        assert_eq!(cache.entries.entry_count(), 2);
    }
}
