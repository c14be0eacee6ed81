//! `probe connect ADDRESS:PORT...`: whether a TCP connection from here reaches each address,
//! as a service on the host would be reached from inside a container.
//!
//! One object per address, in the order given: `{address, connected, local, error}`. `local` is
//! the address this end of the connection had (which of our addresses the kernel chose), null
//! when it did not connect; `error` is why not. Each try gives up after [`TIMEOUT`], so a
//! dropped packet costs at most that and a refusal returns at once.
//!
//! A connection that got through is closed in order: we say we are done and wait (at most
//! [`TIMEOUT`]) for the other end to close too. Left half-closed, our end would outlive us for a
//! minute (tcp_fin_timeout), and with it the container's network namespace and its cable.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use crate::json::Json;

/// How long one connection may take before it counts as not reached.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Tries each address in turn.
pub fn report(addresses: &[String]) -> Json {
    Json::from(addresses.iter().map(|a| one(a)).collect::<Vec<_>>())
}

fn one(address: &str) -> Json {
    let out = Json::obj().with("address", address);
    let target: SocketAddr = match address.parse() {
        Ok(target) => target,
        Err(_) => {
            return out
                .with("connected", false)
                .with("local", Json::Null)
                .with("error", "not an IP address and port");
        }
    };
    match TcpStream::connect_timeout(&target, TIMEOUT) {
        Ok(mut stream) => {
            let local = stream.local_addr().map(|a| a.ip().to_string());
            // Whatever the other end sends is read and dropped, until it closes.
            let _ = stream.shutdown(Shutdown::Write);
            let _ = stream.set_read_timeout(Some(TIMEOUT));
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
            out.with("connected", true)
                .with("local", local.map(Json::from).unwrap_or(Json::Null))
                .with("error", Json::Null)
        }
        Err(err) => out
            .with("connected", false)
            .with("local", Json::Null)
            .with("error", err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_listener_is_reached_and_a_closed_port_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().to_string();
        // The other end: takes the connection and closes it.
        let other = std::thread::spawn(move || drop(listener.accept()));
        let Json::Arr(found) = report(&[open.clone(), "nowhere".into()]) else {
            panic!("not an array");
        };
        let reached = Json::obj()
            .with("address", open)
            .with("connected", true)
            .with("local", "127.0.0.1")
            .with("error", Json::Null);
        assert_eq!(found[0], reached);
        other.join().unwrap();
        assert!(found[1].render(false).contains("\"connected\":false"));
    }
}
