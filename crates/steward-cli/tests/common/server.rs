//! A `steward serve` child process on port 0 and a plain HTTP/1.1 client for it (one connection per request,
//! `Connection: close`), shared by the serving and deployment tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::steward;

pub fn fixture(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(path)
        .to_str()
        .unwrap()
        .to_string()
}

pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    pub fn start(home: &Path, extra: &[&str]) -> Server {
        Server::start_on(home, None, extra)
    }

    /// A server on another metadata store (PostgreSQL, say).
    pub fn start_on(home: &Path, store: Option<&str>, extra: &[&str]) -> Server {
        let mut child = steward(home, store)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{line}"))
            .to_string();
        Server { child, addr }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        http(&self.addr, method, path, headers, body)
    }

    pub fn json(&self, method: &str, path: &str, body: &serde_json::Value) -> Response {
        self.request(
            method,
            path,
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request on its own connection (`Connection: close`), the response read to the end.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// Registers the fixture file `path` (under fixtures/) as a new version of `model`.
pub fn register(home: &Path, model: &str, path: &str) {
    super::ok(home, None, &["versions", "register", model, &fixture(path)]);
}

/// Every tenth row of iris: its four measurements.
pub fn iris_rows() -> Vec<Vec<f64>> {
    std::fs::read_to_string(fixture("data/iris.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .step_by(10)
        .map(|l| l.split(',').take(4).map(|v| v.parse().unwrap()).collect())
        .collect()
}

/// Clients that POST `body` to `path` on `addr` until `stop` is set, one connection per request; each returns
/// (answered, failed, the `x-steward-model-version`s that answered).
pub fn load_until(
    addr: &str,
    path: &str,
    body: &str,
    clients: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<(usize, usize, std::collections::BTreeSet<String>)>> {
    (0..clients)
        .map(|_| {
            let (addr, path, body, stop) = (
                addr.to_string(),
                path.to_string(),
                body.to_string(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let (mut served, mut failed, mut versions) =
                    (0usize, 0usize, std::collections::BTreeSet::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let answer = http(
                        &addr,
                        "POST",
                        &path,
                        &[("content-type", "application/json")],
                        body.as_bytes(),
                    );
                    if answer.status == 200 {
                        served += 1;
                        if let Some(v) = answer.header("x-steward-model-version") {
                            versions.insert(v.to_string());
                        }
                    } else {
                        failed += 1;
                    }
                }
                (served, failed, versions)
            })
        })
        .collect()
}
