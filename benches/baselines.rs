//! The programs benchmarks measure the gateway against, started by the benchmark itself on this
//! machine: nginx serving the same bytes, wrk driving both, and the formats' own Python readers
//! (`deltalake`, `pyiceberg`) timing their own work.
//!
//! Each is found where `scripts/setup` puts it (`.tools`, `.venv` at the repository root, or
//! `LAKESHARE_TOOLS` / `LAKESHARE_VENV`), or through `LAKESHARE_NGINX`, `LAKESHARE_WRK` and
//! `LAKESHARE_PYTHON`. A missing one stops the benchmark with what to run: a ratio without its
//! baseline is not a measurement.

#![allow(dead_code)] // each benchmark uses its own part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ lies in the repository")
        .to_path_buf()
}

fn found(what: &str, env: &str, candidates: Vec<PathBuf>) -> PathBuf {
    std::env::var_os(env)
        .map(PathBuf::from)
        .into_iter()
        .chain(candidates)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{what} not found: run scripts/setup, or set {env} to the program")
        })
}

fn on_path(name: &str) -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
        .unwrap_or_default()
}

fn tools() -> PathBuf {
    std::env::var_os("LAKESHARE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join(".tools"))
}

pub fn nginx_binary() -> PathBuf {
    let mut candidates = on_path("nginx");
    candidates.push("/usr/sbin/nginx".into());
    candidates.push(tools().join("nginx/usr/sbin/nginx"));
    found("nginx", "LAKESHARE_NGINX", candidates)
}

pub fn python() -> PathBuf {
    let venv = std::env::var_os("LAKESHARE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join(".venv"));
    found(
        "the Python environment with deltalake and pyiceberg",
        "LAKESHARE_PYTHON",
        vec![venv.join("bin/python")],
    )
}

/// nginx serving the files of `root` on a loopback port, with two workers (the gateway's
/// runtime has two), sendfile and no access log: the fastest way this machine sends bytes
/// over HTTP.
pub struct Nginx {
    pub port: u16,
    process: Child,
    _work: tempfile::TempDir,
}

impl Nginx {
    pub fn serve(root: &Path) -> Self {
        let work = tempfile::tempdir().expect("a work folder");
        let port = free_port();
        let temp: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .iter()
            .map(|kind| format!("{kind}_temp_path {};\n", work.path().join(kind).display()))
            .collect();
        // Workers of a master started as root switch to `nobody`, who cannot read a root's
        // files: they stay root here (nginx ignores the line otherwise).
        let conf = format!(
            "user root;\nworker_processes 2;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n  {temp}\
             default_type application/octet-stream;\n\
             server {{ listen 127.0.0.1:{port}; root {root}; }}\n}}\n",
            work = work.path().display(),
            root = root.display(),
        );
        std::fs::write(work.path().join("nginx.conf"), conf).expect("written");
        let process = Command::new(nginx_binary())
            .arg("-p")
            .arg(work.path())
            .arg("-e")
            .arg(work.path().join("error.log"))
            .arg("-c")
            .arg(work.path().join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let nginx = Self {
            port,
            process,
            _work: work,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        nginx
    }

    pub fn url(&self, file: &str) -> String {
        format!("http://127.0.0.1:{}/{file}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a port")
        .local_addr()
        .expect("bound")
        .port()
}

/// A request wrk makes over and over.
pub struct Load<'a> {
    pub url: &'a str,
    /// `Some(body)` for a POST with a JSON body.
    pub post: Option<&'a str>,
    pub token: Option<&'a str>,
}

/// What a wrk run measured.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    pub requests: u64,
    pub per_second: f64,
}

/// Runs wrk (2 threads, `connections`, `seconds`) on `load`; every answer must be a 2xx.
pub fn wrk(load: &Load<'_>, connections: usize, seconds: u64) -> Throughput {
    let script = tempfile::NamedTempFile::new().expect("a script file");
    let mut lua = String::new();
    if let Some(body) = load.post {
        lua.push_str(&format!(
            "wrk.method = \"POST\"\nwrk.body = [[{body}]]\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        ));
    }
    if let Some(token) = load.token {
        lua.push_str(&format!(
            "wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n"
        ));
    }
    std::fs::write(script.path(), lua).expect("written");
    let mut candidates = on_path("wrk");
    candidates.push("/usr/bin/wrk".into());
    let output = Command::new(found("wrk", "LAKESHARE_WRK", candidates))
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .arg("-s")
        .arg(script.path())
        .arg(load.url)
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "wrk saw failed requests on {}:\n{text}",
        load.url
    );
    let field = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("wrk's output has no {name}:\n{text}"))
    };
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("wrk's output has no request count:\n{text}"));
    Throughput {
        requests,
        per_second: field("Requests/sec:"),
    }
}

/// Runs `script` with the Python environment's interpreter; it prints one number of seconds
/// (the work it timed itself, without starting Python or importing), which is returned.
pub fn python_seconds(script: &str, args: &[&str]) -> Duration {
    let output = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the Python baseline failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let seconds: f64 = text
        .trim()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("the Python baseline printed no time: {text}"));
    Duration::from_secs_f64(seconds)
}

/// This process's resident memory, bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmRSS in /proc/self/status")
}
