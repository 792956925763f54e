//! A Ballista cluster of nodefusion processes on 127.0.0.1: a scheduler and executors,
//! each a separate `nodefusion cluster` process with its own work directory, short
//! heartbeats and a short executor timeout. Every process is killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds of silence after which the scheduler takes an executor for dead.
pub const EXECUTOR_TIMEOUT_SECONDS: u64 = 3;

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    /// Its URL, `df://127.0.0.1:PORT`.
    pub url: String,
    scheduler_port: u16,
    dir: PathBuf,
    scheduler: Child,
    executors: Vec<Option<Child>>,
    /// The port each executor serves its results on.
    executor_ports: Vec<u16>,
    slots: usize,
    environment: Vec<(&'static str, String)>,
}

/// A port nothing listens on now, whose next port is free too (an executor takes both).
fn free_port_pair() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// Waits until something listens on `port`.
fn wait_for_port(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("a cluster process exited with {status} before listening on {port}");
        }
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Cluster {
    /// A scheduler and `executors` executors of `slots` slots each, logs in `dir`.
    pub fn start(dir: &Path, executors: usize, slots: usize) -> Self {
        Self::start_with(dir, executors, slots, Vec::new())
    }

    /// Like [`Self::start`], every process with the variables of `environment` set (an
    /// object store's, say).
    pub fn start_with(
        dir: &Path,
        executors: usize,
        slots: usize,
        environment: Vec<(&'static str, String)>,
    ) -> Self {
        let scheduler_port = free_port_pair();
        let log = std::fs::File::create(dir.join("scheduler.log")).unwrap();
        let mut scheduler = Command::new(env!("CARGO_BIN_EXE_nodefusion"))
            .args(["cluster", "scheduler", "--bind"])
            .arg(format!("127.0.0.1:{scheduler_port}"))
            .args(["--executor-timeout", &EXECUTOR_TIMEOUT_SECONDS.to_string()])
            .envs(environment.clone())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_for_port(scheduler_port, &mut scheduler);
        let mut cluster = Self {
            url: format!("df://127.0.0.1:{scheduler_port}"),
            scheduler_port,
            dir: dir.to_path_buf(),
            scheduler,
            executors: Vec::new(),
            executor_ports: Vec::new(),
            slots,
            environment,
        };
        for _ in 0..executors {
            cluster.add_executor();
        }
        cluster
    }

    /// Starts one more executor and waits until it listens.
    pub fn add_executor(&mut self) {
        let index = self.executors.len();
        let port = free_port_pair();
        let work_dir = self.dir.join(format!("executor-{index}"));
        let log = std::fs::File::create(self.dir.join(format!("executor-{index}.log"))).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_nodefusion"))
            .args(["cluster", "executor", "--scheduler"])
            .arg(format!("127.0.0.1:{}", self.scheduler_port))
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--work-dir")
            .arg(&work_dir)
            .args(["--heartbeat", "1", "--slots", &self.slots.to_string()])
            .envs(self.environment.clone())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_for_port(port + 1, &mut child);
        self.executors.push(Some(child));
        self.executor_ports.push(port);
    }

    /// The port executor `index` serves its results on.
    pub fn executor_port(&self, index: usize) -> u16 {
        self.executor_ports[index]
    }

    /// Kills executor `index` with SIGKILL.
    pub fn kill_executor(&mut self, index: usize) {
        if let Some(mut child) = self.executors[index].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// What executor `index` wrote to its standard error.
    pub fn executor_log(&self, index: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("executor-{index}.log"))).unwrap()
    }

    /// What the cluster's processes logged, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut logs = String::new();
        for entry in std::fs::read_dir(&self.dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|extension| extension == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                logs.push_str(&format!("--- {}\n", path.display()));
                for line in tail.into_iter().rev() {
                    logs.push_str(line);
                    logs.push('\n');
                }
            }
        }
        logs
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for index in 0..self.executors.len() {
            self.kill_executor(index);
        }
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}
