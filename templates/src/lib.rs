//! Prompt templates as mcp-config renders them, shared by the service and the Rust client (which
//! renders locally while the service cannot be reached): Jinja2 syntax (minijinja), strict
//! undefined values, a declared optional argument that was not given is an empty string, and
//! one work and output budget per prompt. `client/render-vectors/` holds the cases every
//! client's renderer is checked against.

use std::{collections::HashMap, io};

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

/// Limits applied to every render of a prompt.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// minijinja fuel one render of a whole prompt may spend (instructions, plus the bytes it
    /// produces).
    pub fuel: u64,
    /// Bytes of output across all messages of a prompt.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 100_000,
            max_output_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RenderError {
    #[error("missing argument {0:?}")]
    MissingArgument(String),
    #[error("template error in message {message}: {detail}")]
    Template { message: usize, detail: String },
    #[error("rendered output exceeds {0} bytes")]
    OutputTooLarge(usize),
    #[error("template did too much work (fuel of {0} exhausted)")]
    TooMuchWork(u64),
    #[error("rendering did not finish within {0:?}")]
    TimedOut(std::time::Duration),
    #[error("rendering needed more than {0} MiB of memory")]
    MemoryExceeded(u64),
    /// The caller's org has as many renders queued as it may.
    #[error("too many renders at once: {0}")]
    Busy(String),
    /// No render worker could run the job; the detail is in the log.
    #[error("rendering is unavailable: {0}")]
    Unavailable(String),
}

/// An argument a prompt declares: its name and whether it must be given.
pub struct Declared<'a> {
    pub name: &'a str,
    pub required: bool,
}

/// A prompt's message templates, compiled once and rendered many times (the environment owns
/// them, so the compiled form can be cached and shared across threads).
pub struct CompiledPrompt {
    env: Environment<'static>,
    /// Per message, the variables its template uses that are not globals, sorted.
    variables: Vec<Vec<String>>,
}

impl CompiledPrompt {
    pub fn compile<'a>(templates: impl IntoIterator<Item = &'a str>) -> Result<Self, RenderError> {
        let mut env = environment();
        let mut variables = Vec::new();
        for (message, source) in templates.into_iter().enumerate() {
            env.add_template_owned(template_name(message), source.to_owned())
                .map_err(|e| template_error(message, &e))?;
            let template = env
                .get_template(&template_name(message))
                .map_err(|e| template_error(message, &e))?;
            let mut used: Vec<String> = template
                .undeclared_variables(false)
                .into_iter()
                .filter(|name| env.globals().all(|(global, _)| global != name))
                .collect();
            used.sort();
            variables.push(used);
        }
        Ok(Self { env, variables })
    }

    /// Every variable any message uses (globals aside), each once.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        let mut all: Vec<&str> = self
            .variables
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        all.sort_unstable();
        all.dedup();
        all.into_iter()
    }

    /// Renders each message with `arguments`, all of them on one budget.
    ///
    /// A declared optional argument that was not given renders as an empty string; a required
    /// one, or any variable a template uses that is neither declared nor given, is a
    /// [`RenderError::MissingArgument`] naming it.
    pub fn render(
        &self,
        declared: &[Declared<'_>],
        arguments: &HashMap<String, String>,
        limits: Limits,
    ) -> Result<Vec<String>, RenderError> {
        if let Some(missing) = declared
            .iter()
            .find(|d| d.required && !arguments.contains_key(d.name))
        {
            return Err(RenderError::MissingArgument(missing.name.to_owned()));
        }
        let is_declared = |name: &str| declared.iter().any(|d| d.name == name);
        if let Some(missing) = self
            .variables
            .iter()
            .flatten()
            .find(|name| !arguments.contains_key(*name) && !is_declared(name))
        {
            return Err(RenderError::MissingArgument(missing.clone()));
        }
        let context = Value::from_pairs(
            declared
                .iter()
                .map(|d| (d.name.to_owned(), String::new()))
                .filter(|(name, _)| !arguments.contains_key(name))
                .chain(arguments.iter().map(|(k, v)| (k.clone(), v.clone())))
                .map(|(k, v)| (k, Value::from(v))),
        );
        // The compiled templates are shared; only the fuel setting is this render's own.
        let mut env = self.env.clone();
        let mut fuel = limits.fuel;
        let mut budget = limits.max_output_bytes;
        let mut rendered = Vec::with_capacity(self.variables.len());
        for message in 0..self.variables.len() {
            env.set_fuel(Some(fuel));
            let template = env
                .get_template(&template_name(message))
                .map_err(|e| template_error(message, &e))?;
            let mut output = Bounded {
                bytes: Vec::new(),
                limit: budget,
            };
            let captured = template
                .render_captured_to(context.clone(), &mut output)
                .map_err(|e| match e.kind() {
                    ErrorKind::WriteFailure => RenderError::OutputTooLarge(limits.max_output_bytes),
                    ErrorKind::OutOfFuel => RenderError::TooMuchWork(limits.fuel),
                    _ => template_error(message, &e),
                })?;
            fuel = captured.state().fuel_levels().map_or(0, |(_, left)| left);
            budget -= output.bytes.len();
            rendered.push(String::from_utf8(output.bytes).expect("minijinja writes UTF-8"));
        }
        Ok(rendered)
    }
}

fn template_name(message: usize) -> String {
    message.to_string()
}

fn template_error(message: usize, e: &minijinja::Error) -> RenderError {
    RenderError::Template {
        message,
        detail: e
            .detail()
            .map(str::to_owned)
            .unwrap_or_else(|| e.kind().to_string()),
    }
}

/// The environment every template is compiled in.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// A writer that refuses to grow past `limit` bytes, so a huge render stops early instead of
/// exhausting memory.
struct Bounded {
    bytes: Vec<u8>,
    limit: usize,
}

impl io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            return Err(io::Error::other("output limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
