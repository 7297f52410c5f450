//! A real `redis-server` for tests: started on a free loopback port with no
//! persistence, answering PING before `start` returns, killed on drop.
//!
//! Tests that need Redis use the Debian package `redis-server`; `.ci/run`
//! installs it when it is missing.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`, owned by the test.
pub struct RedisServer {
    child: Option<Child>,
    /// The loopback port it listens on.
    pub port: u16,
    dir: PathBuf,
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    // The OS picks a free port; the listener is closed just before the server binds it.
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

impl RedisServer {
    /// Starts a server and waits until it answers PING (at most 10 s).
    ///
    /// # Panics
    /// If `redis-server` is not installed or does not come up.
    pub fn start() -> RedisServer {
        let mut last = String::new();
        // Another process may take the port between our probe and the server's bind: try a few.
        for _ in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!("tg-wasm-redis-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start redis-server ({e}); install it: apt-get install -y redis-server")
                });
            let mut server = RedisServer { child: Some(child), port, dir };
            match server.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("redis-server did not answer PING: {last}");
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < limit {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(format!("redis-server exited: {status}"));
            }
            match self.query::<String>(&["PING"]) {
                Ok(pong) if pong == "PONG" => return Ok(()),
                Ok(other) => last = other,
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(last)
    }

    /// Sends one command and returns its reply.
    pub fn query<T: redis::FromRedisValue>(&self, args: &[&str]) -> redis::RedisResult<T> {
        let client = redis::Client::open(self.url())?;
        let mut con = client.get_connection_with_timeout(Duration::from_secs(1))?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut con)
    }

    /// How many keys the server holds.
    pub fn dbsize(&self) -> u64 {
        self.query(&["DBSIZE"]).expect("DBSIZE")
    }

    /// Kills the server and starts a new, empty one on the same port, as a
    /// crash and a supervisor's restart would; returns once it answers PING.
    ///
    /// # Panics
    /// If the new server does not come up (the port was taken meanwhile).
    pub fn restart_empty(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("restarting redis-server");
        self.child = Some(child);
        if let Err(e) = self.wait_ready(Duration::from_secs(10)) {
            panic!("redis-server did not come back on port {}: {e}", self.port);
        }
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
