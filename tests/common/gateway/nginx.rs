//! A running `nginx` with its own prefix directory.

use super::*;

/// A running `nginx` (master and one worker) with its own prefix
/// directory; see the module docs.
pub struct Nginx {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Nginx {
    /// Starts nginx with `site` in its `http { }` block; `{{LISTEN}}` in it
    /// becomes `127.0.0.1:{port}` of a free port.
    pub fn start(site: &str) -> Self {
        Self::start_with(site, &[])
    }

    /// The same, with more files (such as included snippets) written first,
    /// at paths relative to the configuration directory, where nginx
    /// resolves a relative `include`.
    ///
    /// # Panics
    /// `nginx` is not installed, rejects the configuration, or does not
    /// listen within [`READY_WITHIN`].
    pub fn start_with(site: &str, files: &[(&str, &str)]) -> Self {
        let dir = temp_dir("revokd-nginx-");
        write_files(dir.path(), files);
        std::fs::create_dir(dir.path().join("temp")).expect("nginx temp directory");
        let mut nginx = Self {
            port: 0,
            dir,
            child: None,
        };
        for _ in 0..PORT_ATTEMPTS {
            nginx.port = free_port();
            let site = site.replace(LISTEN, &format!("127.0.0.1:{}", nginx.port));
            write_file(&nginx.dir.path().join("site.conf"), &site);
            write_file(
                &nginx.dir.path().join("nginx.conf"),
                &nginx_main_conf(nginx.dir.path()),
            );
            match nginx.spawn_and_wait() {
                Started::Ready => return nginx,
                Started::PortTaken => continue,
            }
        }
        panic!(
            "nginx found its port taken {PORT_ATTEMPTS} times in a row\n{}",
            nginx.log()
        );
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The error log (with nginx's own start-up messages) and access log.
    pub fn log(&self) -> String {
        let dir = self.dir.path();
        let mut log = String::new();
        for name in ["stderr.log", "error.log", "access.log"] {
            let _ = writeln!(log, "--- nginx {name}\n{}", read_or_empty(&dir.join(name)));
        }
        log
    }

    fn spawn_and_wait(&mut self) -> Started {
        let dir = self.dir.path();
        let stderr = File::create(dir.join("stderr.log")).expect("nginx stderr file");
        // `-e`: nginx opens its compiled-in error log before reading the
        // configuration; keep even that in our directory.
        let spawned = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(err) if err.kind() == ErrorKind::NotFound => panic!(
                "`nginx` not found on PATH: apt-get install nginx-light (it has auth_request)"
            ),
            Err(err) => panic!("cannot start nginx: {err}"),
        };
        let pid = child.id();
        let child = self.child.insert(child);
        let pid_file = dir.join("nginx.pid");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        // Ours once it wrote its pid file (after binding) and accepts.
        let ready = wait_until(child, || {
            read_or_empty(&pid_file).trim() == pid.to_string() && accepts(addr)
        });
        if ready.is_err() {
            self.child = None;
        }
        settle(ready, "nginx", &self.log(), "Address already in use")
    }
}

/// The main configuration: everything nginx writes goes to `dir`.
fn nginx_main_conf(dir: &Path) -> String {
    let dir = dir.display();
    // Run as root, nginx hands requests to workers running as `nobody`,
    // who could not enter our 0700 temporary directory; as another user,
    // the `user` directive is ignored with a warning, so say it only as root.
    let user = if effective_uid_is_root() {
        "user root;"
    } else {
        ""
    };
    format!(
        "{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/temp/client_body;
    proxy_temp_path {dir}/temp/proxy;
    fastcgi_temp_path {dir}/temp/fastcgi;
    uwsgi_temp_path {dir}/temp/uwsgi;
    scgi_temp_path {dir}/temp/scgi;
    include site.conf;
}}
"
    )
}

/// Whether this process runs with effective uid 0, from `/proc/self/status`
/// (`Uid: real effective saved fs`).
fn effective_uid_is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.log());
        }
        if let Some(child) = self.child.take() {
            // SIGKILL would leave the worker running (and listening):
            // SIGTERM is nginx's fast shutdown, which stops the workers.
            stop(child, "-TERM");
        }
    }
}
