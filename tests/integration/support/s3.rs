//! A real S3-compatible server for the object storage tests: moto's server (`moto[server]`
//! from PyPI, which `scripts/test.sh` installs; `NODEFUSION_TEST_PYTHON` names the
//! interpreter that has it, else `python3`) as a separate process on 127.0.0.1, a bucket per
//! test, the `nodefusion` command run with the `AWS_*` variables a user would set, and the
//! objects read back with object_store's S3 client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, OnceLock};

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// A running server; it ends when the test process does (its standard input closes).
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    _child: Child,
    _lifeline: ChildStdin,
}

/// The access key the tests use (the server takes any unless started with `checked_keys`).
const KEY_ID: &str = "nodefusion-test";
const SECRET: &str = "nodefusion-test-secret";

impl S3Server {
    /// The server the tests share.
    pub fn shared() -> &'static S3Server {
        static SERVER: OnceLock<S3Server> = OnceLock::new();
        SERVER.get_or_init(|| Self::start(false))
    }

    /// A server of its own; with `checked_keys` it refuses every access key (moto's IAM
    /// checks on, and no user made), for the tests of refused credentials.
    pub fn start(checked_keys: bool) -> Self {
        let python = std::env::var("NODEFUSION_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        // The server runs until its standard input closes: when this process ends, however.
        let script = "import os, sys, threading\n\
                      from moto.server import main\n\
                      threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n\
                      main(['-H', '127.0.0.1', '-p', '0'])\n";
        let mut command = Command::new(&python);
        command
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if checked_keys {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        let mut child = command.spawn().unwrap_or_else(|error| {
            panic!("cannot start {python}: {error}; scripts/test.sh installs moto[server]")
        });
        let lifeline = child.stdin.take().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let endpoint = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                panic!(
                    "moto's server did not start (install moto[server], as scripts/test.sh \
                     does, or set NODEFUSION_TEST_PYTHON): {seen}"
                );
            }
            seen.push_str(&line);
            if let Some(address) = line.split("Running on ").nth(1) {
                break address.trim().to_string();
            }
        };
        // Keep reading what it logs, so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stderr.read_to_end(&mut sink);
        });
        Self {
            endpoint,
            _child: child,
            _lifeline: lifeline,
        }
    }

    /// A new, empty bucket named after `test`.
    pub fn bucket(&self, test: &str) -> Bucket {
        let name = format!(
            "{}-{}",
            test.replace('_', "-"),
            std::process::id() % 100_000
        );
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).unwrap();
        write!(
            stream,
            "PUT /{name} HTTP/1.1\r\nhost: {address}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "creating bucket {name}: {response}"
        );
        Bucket {
            name,
            endpoint: self.endpoint.clone(),
        }
    }
}

/// A bucket of the server.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Its name.
    pub name: String,
    /// The server's endpoint.
    pub endpoint: String,
}

impl Bucket {
    /// `s3://NAME/key`.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    /// The bucket through object_store's S3 client.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_bucket_name(&self.name)
                .with_region("us-east-1")
                .with_access_key_id(KEY_ID)
                .with_secret_access_key(SECRET)
                .build()
                .unwrap(),
        )
    }

    /// Every key in the bucket, sorted.
    pub async fn keys(&self) -> Vec<String> {
        let objects: Vec<_> = self.store().list(None).try_collect().await.unwrap();
        let mut keys: Vec<String> = objects
            .into_iter()
            .map(|o| o.location.to_string())
            .collect();
        keys.sort();
        keys
    }

    /// Puts the local file `file` at `key`.
    pub async fn upload(&self, file: &Path, key: &str) {
        let bytes = std::fs::read(file).unwrap();
        self.store()
            .put(&ObjectPath::from(key), PutPayload::from(bytes))
            .await
            .unwrap();
    }

    /// Copies the object `key` into `dir` and returns the local path.
    pub async fn download(&self, key: &str, dir: &Path) -> PathBuf {
        let bytes = self
            .store()
            .get(&ObjectPath::from(key))
            .await
            .unwrap_or_else(|error| panic!("{key}: {error}"))
            .bytes()
            .await
            .unwrap();
        let path = dir.join(key.replace('/', "__"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// The environment a user sets to reach this server.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
        ]
    }

    /// The `nodefusion` command with `args`, run in `dir` against this server.
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nodefusion"));
        command.args(args).current_dir(dir).envs(self.environment());
        command
    }

    /// Runs the `nodefusion` command with `args` in `dir` against this server.
    pub fn nodefusion(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(dir, args).output().unwrap()
    }
}
