//! The TUI in a real pseudo-terminal: a tmux server of the test's own, driving the binary.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of its own (`-L`), so the test never touches the user's sessions.
pub struct Tmux {
    socket: String,
    bin: String,
}

impl Tmux {
    pub fn new(name: &str) -> Tmux {
        let bin = std::env::var("STAYTRACK_TEST_TMUX").unwrap_or_else(|_| "tmux".into());
        let found = Command::new(&bin)
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "this test drives the TUI through tmux, which was not found ('{bin}'); \
             `make test` installs it (apt-get install tmux)"
        );
        Tmux {
            socket: format!("staytrack-test-{}-{name}", std::process::id()),
            bin,
        }
    }

    pub fn cmd(&self, args: &[&str]) -> String {
        let o = Command::new(&self.bin)
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Opens staytrack on `ws` in a `cols`×`rows` terminal, with extra `VAR=value`s. The shell
    /// prints the exit status once the TUI has given the terminal back.
    pub fn start(&self, ws: &Path, cols: u16, rows: u16, env: &[&str]) {
        let (cols, rows) = (cols.to_string(), rows.to_string());
        let home = format!("STAYTRACK_HOME={}", ws.display());
        let command = format!(
            "'{}'; echo \"staytrack exited with $?\"; sleep 600",
            env!("CARGO_BIN_EXE_staytrack")
        );
        let mut args = vec!["new-session", "-d", "-s", "e2e", "-x", &cols, "-y", &rows];
        for e in std::iter::once(&home.as_str()).chain(env) {
            args.extend(["-e", e]);
        }
        args.push(&command);
        self.cmd(&args);
    }

    pub fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "e2e"])
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend(keys);
        self.cmd(&args);
    }

    /// Waits until the screen shows `text`; fails with the screen after `secs`.
    pub fn wait_for(&self, text: &str, secs: u64) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < end,
                "'{text}' did not appear within {secs} s; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(&self.bin)
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}
