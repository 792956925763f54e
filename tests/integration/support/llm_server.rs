//! The OpenAI-compatible server (`nodefusion-llm-server`) as a separate process on
//! 127.0.0.1, and the `nodefusion` command run with an API key in its environment.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output};

/// The environment variable the tests keep API keys in.
pub const KEY_VARIABLE: &str = "NODEFUSION_TEST_LLM_KEY";

/// A running server; killed when dropped.
#[derive(Debug)]
pub struct LlmServer {
    /// Its API base URL, `http://127.0.0.1:PORT/v1`.
    pub url: String,
    child: Child,
}

impl LlmServer {
    /// Starts a server with the command-line options `args`, requiring `key` when given.
    pub fn start(args: &[&str], key: Option<&str>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nodefusion-llm-server"));
        command.args(args);
        if let Some(key) = key {
            command
                .env(KEY_VARIABLE, key)
                .args(["--api-key-env", KEY_VARIABLE]);
        }
        let (child, url) = super::spawn_listening(&mut command);
        Self { url, child }
    }

    /// What the server counted (`GET /stats`).
    pub fn stats(&self) -> serde_json::Value {
        let address = self
            .url
            .trim_start_matches("http://")
            .trim_end_matches("/v1");
        let mut stream = TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET /stats HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = response.split("\r\n\r\n").nth(1).unwrap();
        serde_json::from_str(body).unwrap()
    }

    /// Counter `name` of the stats.
    pub fn count(&self, name: &str) -> u64 {
        self.stats()[name].as_u64().unwrap()
    }
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `nodefusion args...` command in `dir` with `key` in [`KEY_VARIABLE`] and its result
/// cache in `dir/cache`.
pub fn command_with_key(dir: &Path, args: &[&str], key: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nodefusion"));
    command
        .args(args)
        .current_dir(dir)
        .env(KEY_VARIABLE, key)
        .env("NODEFUSION_CACHE", dir.join("cache"));
    command
}

/// Runs `nodefusion args...` as [`command_with_key`] makes it.
pub fn nodefusion_with_key(dir: &Path, args: &[&str], key: &str) -> Output {
    command_with_key(dir, args, key).output().unwrap()
}
