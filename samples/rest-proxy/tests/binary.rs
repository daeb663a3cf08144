//! The program itself: one command, offline, on PORT; an access log line per
//! request without secrets; SIGTERM ends it cleanly.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn serves_offline_on_port_and_stops_on_sigterm() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_inworld-rest-proxy"))
        .env("PORT", port.to_string())
        .env_remove("INWORLD_KEY")
        .env_remove("INWORLD_HOST")
        .env("RUST_LOG", "warn,access=info")
        .env("PROXY_TOKEN", "very-secret-token")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let answer = loop {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the proxy never answered"
        );
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream
                .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut text = String::new();
            stream.read_to_string(&mut text).unwrap();
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("OK"),
        "{answer}"
    );
    // A protected route, with the token and a session id in the path.
    let session = "demo:11111111-2222-3333-4444-555555555555";
    let answer = request(
        port,
        &format!("GET /session/{session}/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer very-secret-token\r\nConnection: close\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "SIGTERM did not stop it"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(
        log.contains("method=GET route=/status status=200 ms="),
        "{log}"
    );
    assert!(
        log.contains("method=GET route=/session/{id}/status status=404 ms="),
        "{log}"
    );
    assert!(!log.contains("very-secret-token"), "{log}");
    assert!(!log.contains(session), "{log}");
}

fn request(port: u16, text: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(text.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn refuses_a_public_address_without_a_token() {
    let output = Command::new(env!("CARGO_BIN_EXE_inworld-rest-proxy"))
        .env("HOST", "0.0.0.0")
        .env("PORT", "0")
        .env_remove("PROXY_TOKEN")
        .env_remove("INWORLD_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("PROXY_TOKEN"), "{said}");
}

#[test]
fn answers_under_a_low_descriptor_limit_with_many_silent_connections() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // 256 descriptors: the default connection limit leaves room for the rest.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\"")
        .arg(env!("CARGO_BIN_EXE_inworld-rest-proxy"))
        .env("PORT", port.to_string())
        .env("HEADER_TIMEOUT", "500")
        .env_remove("INWORLD_KEY")
        .env_remove("PROXY_TOKEN")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the proxy never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // More silent connections than it has descriptors, held open.
    let held: Vec<_> = (0..400)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    // It still answers (a try may be closed while the limit is full).
    let start = Instant::now();
    let answer = loop {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the proxy stopped answering"
        );
        let answered = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            use std::io::{Read, Write};
            s.set_read_timeout(Some(Duration::from_secs(120)))?;
            s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        });
        match answered {
            Ok(text) if text.starts_with("HTTP/1.1 200") => break text,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert!(answer.ends_with("OK"), "{answer}");
    drop(held);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}
