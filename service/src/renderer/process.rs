//! The service's side of one render worker process: started on first use, asked one job at a
//! time, killed when a job outlives its deadline (dropping the handle kills the process).

use std::{os::unix::process::ExitStatusExt, path::PathBuf, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use super::worker::{Job, Reply};
use crate::render::RenderError;

/// How a worker is started.
#[derive(Debug, Clone)]
pub struct WorkerProgram {
    /// The `mcp-config` executable (`mcp-config render-worker` is the worker).
    pub path: PathBuf,
    /// The most memory a worker may allocate; a job that needs more ends the worker.
    pub memory_limit_bytes: u64,
}

pub(super) struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl WorkerProcess {
    pub async fn spawn(program: &WorkerProgram) -> Result<Self, RenderError> {
        let unavailable = |e: std::io::Error| {
            tracing::error!(error = %e, path = %program.path.display(), "render worker did not start");
            RenderError::Unavailable(format!("the render worker did not start: {e}"))
        };
        let mut child = Command::new(&program.path)
            .arg("render-worker")
            .arg(format!(
                "--memory-limit-bytes={}",
                program.memory_limit_bytes
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(unavailable)?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        Ok(Self {
            child,
            stdin,
            stdout,
        })
    }

    /// The worker's reply to `job`, or why the worker ended without one (it is then unusable).
    pub async fn call(&mut self, job: &Job, program: &WorkerProgram) -> Reply {
        let mut line = serde_json::to_vec(job).expect("a job serializes");
        line.push(b'\n');
        let mut reply = String::new();
        let sent = async {
            self.stdin.write_all(&line).await?;
            self.stdin.flush().await?;
            self.stdout.read_line(&mut reply).await
        }
        .await;
        match sent {
            Ok(n) if n > 0 => serde_json::from_str(&reply).unwrap_or_else(|e| {
                Err(RenderError::Unavailable(format!(
                    "the render worker answered nonsense: {e}"
                )))
            }),
            _ => Err(self.ended(program).await),
        }
    }

    /// Why the worker ended: out of memory (allocation failures abort), or otherwise.
    async fn ended(&mut self, program: &WorkerProgram) -> RenderError {
        let status = tokio::time::timeout(Duration::from_secs(1), self.child.wait()).await;
        match status {
            Ok(Ok(status)) if status.signal() == Some(SIGABRT) => {
                RenderError::MemoryExceeded(program.memory_limit_bytes / (1024 * 1024))
            }
            Ok(Ok(status)) => {
                tracing::error!(%status, "render worker ended");
                RenderError::Unavailable(format!("the render worker ended ({status})"))
            }
            _ => RenderError::Unavailable("the render worker stopped answering".into()),
        }
    }
}

/// The signal a Rust process ends with when an allocation fails.
const SIGABRT: i32 = 6;
