//! `nodefusion serve` as a separate process on a free port of 127.0.0.1, started as a user
//! would, its address read from the line it prints when ready; killed when dropped.

use std::process::{Child, Command, ExitStatus};

/// A running embedding server.
#[derive(Debug)]
pub struct EmbeddingServer {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
}

impl EmbeddingServer {
    /// Starts `nodefusion serve --bind 127.0.0.1:0` with the options `args` and the
    /// environment variables `env`, and waits until it is ready.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let (child, url) = super::spawn_listening(
            Command::new(env!("CARGO_BIN_EXE_nodefusion"))
                .args(["serve", "--bind", "127.0.0.1:0"])
                .args(args)
                .envs(env.iter().copied()),
        );
        Self { url, child }
    }

    /// Starts a server with the options `args`.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with(args, &[])
    }

    /// Sends SIGTERM, as a service manager stops it.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits until the process ends.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }

    /// The value of the metric `series` (a name, with its labels if it has some).
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no metric {series} in\n{text}"))
            .parse()
            .unwrap()
    }
}

impl Drop for EmbeddingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
