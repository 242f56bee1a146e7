//! `staytrack serve` on an ephemeral loopback port, for the tests that talk HTTP to it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub base: String,
    pub addr: String,
}

impl Server {
    pub fn start(ws: &Path, token: Option<&str>, extra: &[&str]) -> Server {
        Server::start_with(ws, token, &["serve"], extra)
    }

    pub fn start_with(ws: &Path, token: Option<&str>, how: &[&str], extra: &[&str]) -> Server {
        Server::start_env(ws, token, how, extra, &[])
    }

    /// `start_with`, with more environment variables (a bucket to capture to, say).
    pub fn start_env(
        ws: &Path,
        token: Option<&str>,
        how: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_staytrack"));
        cmd.envs(env.iter().copied());
        cmd.args(how)
            .args(["--addr", "127.0.0.1:0"])
            .args(extra)
            .env("STAYTRACK_HOME", ws)
            .env_remove("STAYTRACK_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(t) = token {
            cmd.env("STAYTRACK_TOKEN", t);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server exited before listening")
                .unwrap();
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base: format!("http://{addr}"),
            addr,
        }
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
