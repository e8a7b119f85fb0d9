//! A running `caddy run`: no admin endpoint, no automatic HTTPS, storage in its own directory.

use super::*;

/// A running `caddy run` with no admin endpoint, no automatic HTTPS, and
/// its storage, configuration and home in its own directory.
pub struct Caddy {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Caddy {
    /// Starts Caddy on `caddyfile` (site blocks, no global options block:
    /// the test's own comes first); `{{LISTEN}}` in it becomes the site
    /// address `http://127.0.0.1:{port}` of a free port.
    pub fn start(caddyfile: &str) -> Self {
        Self::start_with(caddyfile, &[])
    }

    /// The same, with more files written first next to the Caddyfile,
    /// where Caddy resolves a relative `import`.
    ///
    /// # Panics
    /// `caddy` is not installed, rejects the configuration, or does not
    /// listen within [`READY_WITHIN`].
    pub fn start_with(caddyfile: &str, files: &[(&str, &str)]) -> Self {
        let dir = temp_dir("revokd-caddy-");
        write_files(dir.path(), files);
        let mut caddy = Self {
            port: 0,
            dir,
            child: None,
        };
        for _ in 0..PORT_ATTEMPTS {
            caddy.port = free_port();
            let sites = caddyfile.replace(LISTEN, &format!("http://127.0.0.1:{}", caddy.port));
            let global = caddy_global_options(caddy.dir.path());
            write_file(
                &caddy.dir.path().join("Caddyfile"),
                &format!("{global}\n{sites}"),
            );
            match caddy.spawn_and_wait() {
                Started::Ready => return caddy,
                Started::PortTaken => continue,
            }
        }
        panic!(
            "caddy found its port taken {PORT_ATTEMPTS} times in a row\n{}",
            caddy.log()
        );
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// What Caddy logged (to stderr).
    pub fn log(&self) -> String {
        format!(
            "--- caddy log\n{}",
            read_or_empty(&self.dir.path().join("caddy.log"))
        )
    }

    fn spawn_and_wait(&mut self) -> Started {
        let dir = self.dir.path();
        let log = File::create(dir.join("caddy.log")).expect("caddy log file");
        let spawned = Command::new("caddy")
            .arg("run")
            .arg("--config")
            .arg(dir.join("Caddyfile"))
            .args(["--adapter", "caddyfile"])
            .arg("--pidfile")
            .arg(dir.join("caddy.pid"))
            // Caddy keeps certificates, locks and an autosaved configuration
            // under these: never the real home.
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                panic!("`caddy` not found on PATH: apt-get install caddy")
            }
            Err(err) => panic!("cannot start caddy: {err}"),
        };
        let pid = child.id();
        let child = self.child.insert(child);
        let pid_file = dir.join("caddy.pid");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let ready = wait_until(child, || {
            read_or_empty(&pid_file).trim() == pid.to_string() && accepts(addr)
        });
        if ready.is_err() {
            self.child = None;
        }
        settle(ready, "caddy", &self.log(), "address already in use")
    }
}

/// The global options block the tests put before the sites: no admin
/// endpoint, plain HTTP, loopback only, storage in `dir`.
fn caddy_global_options(dir: &Path) -> String {
    format!(
        "{{
\tadmin off
\tauto_https off
\tdefault_bind 127.0.0.1
\tstorage file_system {}
}}
",
        dir.join("storage").display()
    )
}

impl Drop for Caddy {
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
