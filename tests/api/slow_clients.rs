//! Slow clients (defect 4 of the black-box probing): headers and bodies
//! that trickle in are cut off, per address, while others are served.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::Server;
use crate::metrics::Scraper;

/// Opens a connection from `source` (any 127.x address is this machine).
fn connect_from(source: Ipv4Addr, to: SocketAddr) -> TcpStream {
    connect(source, to, None)
}

/// Connects with a receive buffer of a few KiB: what the client does not
/// read stays on the server's side.
fn connect_reading_little(to: SocketAddr) -> TcpStream {
    connect(Ipv4Addr::LOCALHOST, to, Some(4096))
}

/// A blocking connection whose reads give up after 15 s.
fn connect(source: Ipv4Addr, to: SocketAddr, receive_buffer: Option<u32>) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
        if let Some(size) = receive_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        socket.connect(to).await.unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

/// Sends a plain request on a fresh connection and returns the response.
fn plain_get(source: Ipv4Addr, srv: &Server, path: &str) -> String {
    let mut stream = connect_from(source, srv.addr());
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

/// Fills a class with more JSON than the kernel's socket buffers hold
/// between the server and a client that reads nothing, so that the server
/// itself has to keep the rest. Returns the query's path and the size of
/// its whole response (headers included).
fn a_query_larger_than_the_socket_buffers(srv: &Server) -> (String, usize) {
    let send_buffer_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|text| text.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20);
    let field = "x".repeat(60_000);
    let objects = (send_buffer_max + (4 << 20)) / field.len() + 1;
    for _ in 0..objects {
        let r = srv
            .post("/classes/Big")
            .json(serde_json::json!({ "blob": field }))
            .send();
        assert_eq!(r.status, 201, "{}", r.json);
    }
    let path = format!("/parse/classes/Big?limit={objects}");
    let whole = plain_get(Ipv4Addr::LOCALHOST, srv, &path);
    assert!(whole.starts_with("HTTP/1.1 200"), "{}", &whole[..200]);
    (path, whole.len())
}

/// Reads until the server closes the connection (or reads time out), pausing
/// after every `burst` bytes: the bytes read, and whether it was closed.
fn read_to_close(stream: &mut TcpStream, burst: usize, pause: Duration) -> (usize, bool) {
    let mut buffer = vec![0u8; 64 << 10];
    let (mut total, mut since_pause) = (0, 0);
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (total, true),
            Ok(n) => {
                total += n;
                since_pause += n;
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (total, true),
            Err(_) => return (total, false),
        }
        if since_pause >= burst {
            since_pause = 0;
            thread::sleep(pause);
        }
    }
}

/// A client that asks for a large response and stops reading held its
/// connection and the response's memory for ever (60 of them held 650 MB).
/// The server sees a client take bytes when the kernel's send buffer has
/// room again, about a third of it at a time.
#[test]
fn a_client_that_stops_reading_is_cut_off_and_one_that_reads_in_bursts_is_not() {
    let srv = Server::start_with(&["--send-timeout", "2"]);
    let (path, whole) = a_query_larger_than_the_socket_buffers(&srv);
    let request =
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nX-Parse-Application-Id: test-app\r\nConnection: close\r\n\r\n"
        );

    let mut stalled = connect_reading_little(srv.addr());
    stalled.write_all(request.as_bytes()).unwrap();
    let mut bursts = connect_reading_little(srv.addr());
    bursts.write_all(request.as_bytes()).unwrap();
    // Pauses for half a second after every 2 MiB: slow, never stopped.
    let bursts = thread::spawn(move || {
        read_to_close(&mut bursts, 2 << 20, Duration::from_millis(500))
    });

    thread::sleep(Duration::from_secs(4));
    let (read, closed) = read_to_close(&mut stalled, usize::MAX, Duration::ZERO);
    assert!(closed, "the stalled connection is still open");
    assert!(
        read < whole,
        "the stalled client got the whole response ({read} of {whole} bytes)"
    );

    let (read, _) = bursts.join().unwrap();
    assert_eq!(read, whole, "the client reading in bursts got all of it");
    let after = plain_get(Ipv4Addr::LOCALHOST, &srv, "/parse/health");
    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
}

/// Just enough HTTP/2 (prior knowledge, on plain HTTP) to send requests
/// and see the frames that come back.
mod h2 {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    pub const DATA: u8 = 0;
    pub const HEADERS: u8 = 1;
    pub const GOAWAY: u8 = 7;
    pub const END_STREAM: u8 = 1;
    const SETTINGS: u8 = 4;
    const END_HEADERS: u8 = 4;
    const INITIAL_WINDOW_SIZE: u16 = 4;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut frame = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        frame.extend([kind, flags]);
        frame.extend(stream.to_be_bytes());
        frame.extend(payload);
        frame
    }

    /// The connection preface and the client's settings.
    pub fn open(stream: &mut TcpStream, initial_window: Option<u32>) {
        let mut settings = Vec::new();
        if let Some(window) = initial_window {
            settings.extend(INITIAL_WINDOW_SIZE.to_be_bytes());
            settings.extend(window.to_be_bytes());
        }
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        out.extend(frame(SETTINGS, 0, 0, &settings));
        stream.write_all(&out).unwrap();
    }

    /// An HPACK string of fewer than 127 bytes, not Huffman-coded.
    fn string(text: &str) -> Vec<u8> {
        assert!(text.len() < 127);
        let mut out = vec![text.len() as u8];
        out.extend(text.as_bytes());
        out
    }

    /// One request on stream `id` (odd, increasing), every field a literal.
    pub fn request(
        stream: &mut TcpStream,
        id: u32,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) {
        let mut block = Vec::new();
        let pseudo = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "x")];
        for (name, value) in pseudo.iter().chain(headers) {
            block.push(0); // literal, not indexed, new name
            block.extend(string(name));
            block.extend(string(value));
        }
        let end = if body.is_some() { 0 } else { END_STREAM };
        let mut out = frame(HEADERS, END_HEADERS | end, id, &block);
        if let Some(body) = body {
            out.extend(frame(DATA, END_STREAM, id, body));
        }
        stream.write_all(&out).unwrap();
    }

    /// The next frame: its kind, flags, stream and payload; `None` once the
    /// server closed the connection.
    pub fn next(stream: &mut TcpStream) -> Option<(u8, u8, u32, Vec<u8>)> {
        let mut head = [0u8; 9];
        stream.read_exact(&mut head).ok()?;
        let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; length];
        stream.read_exact(&mut payload).ok()?;
        Some((head[3], head[4], id, payload))
    }

    /// Whether a HEADERS payload says 200, which servers send as the
    /// one-byte static index 0x88.
    pub fn status_200(headers: &[u8]) -> bool {
        headers.first() == Some(&0x88)
    }

    /// Reads frames until stream `id` ends; whether its status was 200.
    pub fn response_ok(stream: &mut TcpStream, id: u32) -> bool {
        let mut ok = false;
        while let Some((kind, flags, on, payload)) = next(stream) {
            if on != id {
                continue;
            }
            if kind == HEADERS {
                ok = status_200(&payload);
            }
            if (kind == HEADERS || kind == DATA) && flags & END_STREAM != 0 {
                return ok;
            }
        }
        panic!("the connection closed before stream {id} ended");
    }
}

/// An HTTP/2 connection that had made a request stayed open for ever once
/// idle (HTTP/1's keep-alive closes after `--header-timeout`): a client, or
/// a peer that vanished, held one of `--max-connections` until restart.
#[test]
fn an_idle_http2_connection_is_closed_after_the_header_timeout() {
    let srv = Server::start_with(&["--header-timeout", "1", "--metrics-addr", "127.0.0.1:0"]);
    let mut stream = connect_from(Ipv4Addr::LOCALHOST, srv.addr());
    h2::open(&mut stream, None);
    h2::request(&mut stream, 1, "GET", "/parse/health", &[], None);
    assert!(h2::response_ok(&mut stream, 1));
    let idle = Instant::now();
    let mut goaway = None;
    while let Some((kind, ..)) = h2::next(&mut stream) {
        if kind == h2::GOAWAY && goaway.is_none() {
            goaway = Some(idle.elapsed());
        }
    }
    let closed = idle.elapsed();
    let goaway = goaway.expect("the server said GOAWAY before it closed");
    assert!(
        goaway >= Duration::from_millis(900) && goaway < Duration::from_secs(4),
        "GOAWAY after {goaway:?}"
    );
    // This client never answers the server's PING: cut off one more timeout later.
    assert!(closed < Duration::from_secs(6), "closed after {closed:?}");
    let cut = Scraper(srv.metrics_addr()).value("cloudcode_connections_cut_total{reason=\"idle\"}");
    assert!(cut >= 1.0, "counted: {cut}");
}

/// Idle means nothing being handled: a request that takes longer than the
/// idle timeout is answered, on HTTP/2 as on HTTP/1.
#[test]
fn a_request_longer_than_the_idle_timeout_is_answered_on_http2() {
    let srv = Server::start_with_hooks(
        &["guest-sleep"],
        &["--header-timeout", "1", "--hook-after-save-timeout", "10"],
    );
    let (id, token) = srv.signup("slow-save");
    let mut stream = connect_from(Ipv4Addr::LOCALHOST, srv.addr());
    h2::open(&mut stream, None);
    let started = Instant::now();
    h2::request(
        &mut stream,
        1,
        "PUT",
        &format!("/parse/users/{id}"),
        &[
            ("x-parse-application-id", "test-app"),
            ("x-parse-session-token", &token),
            ("content-type", "application/json"),
        ],
        Some(br#"{"sleepMs": 2500}"#),
    );
    assert!(h2::response_ok(&mut stream, 1), "the slow save was answered");
    assert!(started.elapsed() >= Duration::from_millis(2500));
}

/// HTTP/2 lets a client open no flow-control window: the server may then
/// send headers but no byte of the body, and the response waited for ever
/// (200 streams a connection).
#[test]
fn an_http2_client_that_opens_no_window_is_cut_off() {
    let srv = Server::start_with(&["--send-timeout", "1", "--metrics-addr", "127.0.0.1:0"]);
    let (path, _) = a_query_larger_than_the_socket_buffers(&srv);
    let mut stream = connect_from(Ipv4Addr::LOCALHOST, srv.addr());
    h2::open(&mut stream, Some(0));
    let started = Instant::now();
    for id in [1, 3, 5] {
        h2::request(&mut stream, id, "GET", &path, &[("x-parse-application-id", "test-app")], None);
    }
    let mut answered = 0;
    while let Some((kind, flags, _, payload)) = h2::next(&mut stream) {
        match kind {
            h2::HEADERS => {
                assert!(h2::status_200(&payload), "status 200");
                answered += 1;
            }
            h2::DATA => assert!(payload.is_empty(), "no window, no data"),
            _ => continue,
        }
        assert_eq!(flags & h2::END_STREAM, 0, "no stream ended");
    }
    assert_eq!(answered, 3);
    let closed = started.elapsed();
    assert!(closed < Duration::from_secs(5), "closed after {closed:?}");
    let cut = Scraper(srv.metrics_addr()).value("cloudcode_connections_cut_total{reason=\"send_timeout\"}");
    assert_eq!(cut, 1.0);
    let after = plain_get(Ipv4Addr::LOCALHOST, &srv, "/parse/health");
    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
}
