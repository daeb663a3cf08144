//! A `redis-server` of the test's own on a free loopback port, without
//! persistence; stopped when dropped. A test that needs it fails (never
//! skips) when redis-server is not installed.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    child: Child,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        RedisServer::start_on(port)
    }

    /// On `port` (a restarted server comes back where it was).
    pub fn start_on(port: u16) -> RedisServer {
        RedisServer::start_with(port, &["--save", "", "--appendonly", "no"])
    }

    /// On `port`, every write in an append-only file in `dir` (synced at
    /// once): a server killed and started again there has its data.
    pub fn start_durable_on(port: u16, dir: &std::path::Path) -> RedisServer {
        std::fs::create_dir_all(dir).unwrap();
        let dir = dir.to_str().unwrap();
        RedisServer::start_with(
            port,
            &[
                "--save",
                "",
                "--dir",
                dir,
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
        )
    }

    fn start_with(port: u16, args: &[&str]) -> RedisServer {
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe. The server dies with the
        // thread that started it, so a test that ends any way (a panic, a
        // static never dropped) leaves none behind.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .expect("redis-server is needed (apt-get install redis-server)");
        let server = RedisServer { port, child };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "redis-server never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// A server that lives as long as the test process (for a static):
    /// started from a thread that never ends, as the server dies with the
    /// thread that started it.
    pub fn for_the_process() -> RedisServer {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            tx.send(RedisServer::start()).unwrap();
            loop {
                std::thread::park();
            }
        });
        rx.recv().unwrap()
    }

    /// The URL of database `db` (0–15): tests sharing a server use their own.
    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
