//! A running `revokd` binary, the one `cargo test` built.

use super::*;

/// A running `revokd` binary (the one `cargo test` built), on a port the
/// kernel chose, with its embedded store in its own directory.
pub struct Revokd {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Revokd {
    /// Starts revokd configured by `env` only (`REVOKD_...` variables, as
    /// users would), plus JSON logs on `127.0.0.1:0` and an embedded store
    /// in a temporary directory, and waits for its "listening" line.
    ///
    /// # Panics
    /// revokd exits (bad configuration) or does not listen within
    /// [`READY_WITHIN`].
    pub fn start(env: &[(&str, &str)]) -> Self {
        let dir = temp_dir("revokd-gateway-");
        let mut command = Command::new(env!("CARGO_BIN_EXE_revokd"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("REVOKD_LISTEN", "127.0.0.1:0")
            .env("REVOKD_LOG__FORMAT", "json")
            .env("REVOKD_EMBEDDED__PATH", dir.path().join("data"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("cannot start the revokd binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = mpsc::channel();
        collect_lines(child.stdout.take().expect("stdout"), &lines, Some(port_tx));
        collect_lines(child.stderr.take().expect("stderr"), &lines, None);
        let mut revokd = Self {
            port: 0,
            dir,
            child: Some(child),
            lines,
        };
        match port_rx.recv_timeout(READY_WITHIN) {
            Ok(port) => revokd.port = port,
            Err(_) => panic!(
                "revokd did not log that it listens within {READY_WITHIN:?}\n{}",
                revokd.log()
            ),
        }
        revokd
    }

    /// `127.0.0.1:{port}`, for `{{REVOKD}}`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// Kills the process (`SIGKILL`): it stops answering at once, and every
    /// connection a proxy kept open to it is closed, as in a crash.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("kill: revokd is not running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Where the embedded store lives.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Every line revokd printed so far.
    pub fn log(&self) -> String {
        let lines = self.lines.lock().unwrap();
        format!("--- revokd log\n{}", lines.join("\n"))
    }
}

/// Reads `stream` line by line into `lines` on a thread; when `port` is
/// given, sends the port of the first "revokd listening" line to it.
fn collect_lines(
    stream: impl Read + Send + 'static,
    lines: &Arc<Mutex<Vec<String>>>,
    mut port: Option<mpsc::Sender<u16>>,
) {
    let lines = Arc::clone(lines);
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let (Some(tx), Some(p)) = (&port, listening_port(&line)) {
                let _ = tx.send(p);
                port = None;
            }
            lines.lock().unwrap().push(line);
        }
    });
}

/// The `port` of revokd's "revokd listening" JSON log line.
fn listening_port(line: &str) -> Option<u16> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let message = value["message"].as_str()?;
    if !message.starts_with("revokd listening") {
        return None;
    }
    u16::try_from(value["port"].as_u64()?).ok()
}

impl Drop for Revokd {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.log());
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
