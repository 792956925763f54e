//! The comparison runner's own cluster (`nodefusion_runner cluster NODEFUSION EXECUTORS
//! SLOTS`): a scheduler and executors as separate `nodefusion cluster` processes on
//! 127.0.0.1 (1 s heartbeats, executors taken for dead after 5 s of silence), which the
//! runner kills and replaces for the recovery case.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds of silence after which the scheduler takes an executor for dead.
pub const EXECUTOR_TIMEOUT_SECONDS: u64 = 5;

/// A running cluster; its processes are killed when it is dropped.
pub struct LocalCluster {
    /// Its URL, `df://127.0.0.1:PORT`.
    pub url: String,
    binary: PathBuf,
    dir: PathBuf,
    scheduler_port: u16,
    slots: usize,
    wanted: usize,
    scheduler: Child,
    executors: Vec<Child>,
    started: usize,
}

/// A free port whose next port is free too (an executor takes both).
fn free_port_pair() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap_or(0);
        if port > 0 && port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// Waits until something listens on `port`, or `child` exits.
fn wait_for_port(port: u16, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("a cluster process exited with {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

impl LocalCluster {
    /// A scheduler and `executors` executors of `slots` slots, started from `binary`, their
    /// logs and work directories in `dir`.
    pub fn start(
        binary: &Path,
        dir: &Path,
        executors: usize,
        slots: usize,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|error| error.to_string())?;
        let scheduler_port = free_port_pair();
        let log = std::fs::File::create(dir.join("scheduler.log")).map_err(|e| e.to_string())?;
        let mut scheduler = Command::new(binary)
            .args([
                "cluster",
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{scheduler_port}"),
            ])
            .args(["--executor-timeout", &EXECUTOR_TIMEOUT_SECONDS.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|error| error.to_string())?;
        wait_for_port(scheduler_port, &mut scheduler)?;
        let mut cluster = Self {
            url: format!("df://127.0.0.1:{scheduler_port}"),
            binary: binary.to_path_buf(),
            dir: dir.to_path_buf(),
            scheduler_port,
            slots,
            wanted: executors,
            scheduler,
            executors: Vec::new(),
            started: 0,
        };
        cluster.restore()?;
        Ok(cluster)
    }

    /// Starts executors until as many run as it started with, and gives the new ones time
    /// to register.
    pub fn restore(&mut self) -> Result<(), String> {
        if self.executors.len() >= self.wanted {
            return Ok(());
        }
        while self.executors.len() < self.wanted {
            let port = free_port_pair();
            let name = format!("executor-{}", self.started);
            self.started += 1;
            let log = std::fs::File::create(self.dir.join(format!("{name}.log")))
                .map_err(|error| error.to_string())?;
            let mut child = Command::new(&self.binary)
                .args(["cluster", "executor"])
                .args(["--scheduler", &format!("127.0.0.1:{}", self.scheduler_port)])
                .args(["--bind", &format!("127.0.0.1:{port}")])
                .arg("--work-dir")
                .arg(self.dir.join(&name))
                .args(["--heartbeat", "1", "--slots", &self.slots.to_string()])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|error| error.to_string())?;
            wait_for_port(port + 1, &mut child)?;
            self.executors.push(child);
        }
        // Registration follows the first heartbeat.
        std::thread::sleep(Duration::from_secs(2));
        Ok(())
    }

    /// Kills the oldest executor with SIGKILL.
    pub fn kill_one(&mut self) {
        if !self.executors.is_empty() {
            let mut child = self.executors.remove(0);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// How many executors run.
    pub fn executors(&self) -> usize {
        self.executors.len()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
