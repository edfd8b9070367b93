//! Slow clients (defect 4 of the black-box probing): headers and bodies
//! that trickle in are cut off, per address, while others are served.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::Server;

/// Opens a connection from `source` (any 127.x address is this machine).
fn connect_from(source: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
        socket.connect(to).await.unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

/// Sends a plain request on a fresh connection and returns the response.
fn plain_get(source: Ipv4Addr, srv: &Server, path: &str) -> String {
    let mut stream = connect_from(source, srv.addr());
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nX-Parse-Application-Id: test-app\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// Whether the server has closed `stream` (reads end of file or a reset).
fn closed_within(mut stream: &TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn slow_header_clients_are_capped_per_address_and_cut_off_while_others_are_served() {
    let srv = Server::start_with(&["--header-timeout", "1", "--max-connections-per-ip", "20"]);
    let attacker = Ipv4Addr::new(127, 0, 0, 1);
    let started = Instant::now();
    let slow: Vec<TcpStream> = (0..60)
        .map(|_| {
            let mut stream = connect_from(attacker, srv.addr());
            let _ = stream.write_all(b"GET /parse/health HTTP/1.1\r\nHost: x\r\n");
            stream
        })
        .collect();
    // The server keeps serving someone else meanwhile.
    let bystander = plain_get(Ipv4Addr::new(127, 0, 0, 2), &srv, "/parse/health");
    assert!(bystander.starts_with("HTTP/1.1 200"), "{bystander}");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "served during the attack"
    );
    // Admission runs on the connections' own tasks, in no fixed order: any
    // 40 of them are turned away at once, 20 are kept.
    thread::sleep(Duration::from_millis(300));
    let (turned_away, kept): (Vec<&TcpStream>, Vec<&TcpStream>) = slow
        .iter()
        .partition(|s| closed_within(s, Duration::from_millis(10)));
    assert_eq!(
        turned_away.len(),
        40,
        "connections over the per-address cap are closed at once"
    );
    // The kept ones never finish their headers: cut off after the timeout.
    for stream in kept {
        assert!(
            closed_within(stream, Duration::from_secs(5)),
            "a slow client was not cut off"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(6));
    // Their places are free again.
    let after = plain_get(attacker, &srv, "/parse/health");
    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
}

#[test]
fn a_body_that_trickles_in_gets_a_parse_timeout() {
    let srv = Server::start_with(&["--body-timeout", "1"]);
    let mut stream = connect_from(Ipv4Addr::LOCALHOST, srv.addr());
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    write!(
        stream,
        "POST /parse/users HTTP/1.1\r\nHost: x\r\nX-Parse-Application-Id: test-app\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"user"
    )
    .unwrap();
    let mut response = vec![0u8; 4096];
    let n = stream.read(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response[..n]);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("\"code\":124"), "{response}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}
