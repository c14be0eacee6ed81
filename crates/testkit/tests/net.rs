//! The `net` stage (9): the container gets a network namespace of its own, `lo` up, and a veth
//! link to the host with a point-to-point /30.
//!
//! Inside, the interfaces are exactly `lo` (up) and the container's end of the veth (up, with
//! the `.2` of its /30), and the only route is the /30's: one ping (count 1, 1 s timeout)
//! crosses to the host's end, and nothing else is pinged. The host's end is the host itself: a
//! host service listening on every address (0.0.0.0) is reached there, from `net` and from
//! `full --net veth`, rootful and rootless, and one on 127.0.0.1 is not. `ipc`, the stage
//! before, shares the host's network namespace. A subnet that clashes with the host is refused before anything is
//! created; two containers at once get their own names and addresses, and so do a hundred started
//! together, each reaching its host's end; a /30 a running container holds is refused to the
//! next, and free again the moment its container has ended, however soon the next one starts; a
//! container whose runtime is killed leaves no link behind. The leak check compares the host's
//! links and cgroups before and after (the kernel deletes a pair with its namespace, a moment
//! after the runtime has exited).
//! Nothing runs inside the container before the command (`echo $$` says 2), and each netlink
//! request the runtime sends is one teaching line within 80 columns, the `ip` command it stands
//! for.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::container_test;
use testkit::host_ns;
use testkit::ns;

/// The host's network links.
fn host_links() -> BTreeSet<String> {
    std::fs::read_dir("/sys/class/net")
        .expect("read /sys/class/net")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Runs in the container: prints the probe's report, a line `@@@`, the routes, a line `@@@`,
/// then pings the host's end of the veth once. That address is the first of the container's
/// /30, found from its own address with busybox's ipcalc.
const PROBE_AND_PING: &str = r#"set -e
/usr/local/bin/probe
echo @@@
cat /proc/net/route
echo @@@
addr=$(ip -o -4 addr show scope global | sed -n 's|.* inet \([0-9.]*/30\) .*|\1|p')
eval "$(ipcalc -n "$addr")"
peer="${NETWORK%.*}.$((${NETWORK##*.} + 1))"
echo "peer $peer"
ping -c 1 -W 1 "$peer"
"#;

/// What a container run with `PROBE_AND_PING` saw and did.
struct Seen {
    report: Value,
    routes: Vec<String>,
    peer: String,
    ping: String,
    stderr: String,
}

fn probe_and_ping(stage: &str) -> Seen {
    let run = testkit::stage(stage, ["sh", "-c", PROBE_AND_PING]);
    run.expect_code(0);
    parse_seen(&run.stdout, &run.stderr)
}

fn parse_seen(stdout: &str, stderr: &str) -> Seen {
    let parts: Vec<&str> = stdout.split("@@@\n").collect();
    assert_eq!(parts.len(), 3, "unexpected output:\n{stdout}\n{stderr}");
    let report = serde_json::from_str(parts[0])
        .unwrap_or_else(|e| panic!("probe printed no JSON ({e}):\n{stdout}\n{stderr}"));
    let routes = parts[1].lines().skip(1).map(str::to_string).collect();
    let (peer_line, ping) = parts[2]
        .split_once('\n')
        .expect("a peer line and ping's output");
    Seen {
        report,
        routes,
        peer: peer_line.trim_start_matches("peer ").to_string(),
        ping: ping.to_string(),
        stderr: stderr.to_string(),
    }
}

/// The interfaces the probe saw, as (name, up, addresses).
fn interfaces(report: &Value) -> Vec<(String, bool, Vec<String>)> {
    report["interfaces"]
        .as_array()
        .unwrap_or_else(|| panic!("probe reported no interfaces: {report}"))
        .iter()
        .map(|i| {
            let addresses = i["addresses"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|a| a.as_str())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            (
                i["name"].as_str().unwrap_or_default().to_string(),
                i["up"] == true,
                addresses,
            )
        })
        .collect()
}

/// Checks what one container saw: lo and its veth end only, one route, one ping that crossed.
fn assert_connected(seen: &Seen) {
    let mut ifaces = interfaces(&seen.report);
    ifaces.sort_by_key(|(name, _, _)| name != "lo");
    let names: Vec<&str> = ifaces.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(ifaces.len(), 2, "expected lo and the veth end: {names:?}");
    let (lo, veth) = (&ifaces[0], &ifaces[1]);
    assert_eq!(lo.0, "lo", "{names:?}");
    assert!(lo.1, "lo must be up: {ifaces:?}");
    assert!(lo.2.iter().any(|a| a == "127.0.0.1/8"), "{ifaces:?}");
    assert!(
        veth.0.starts_with("dc") && veth.0.ends_with('c') && veth.0.len() <= 15,
        "the container's end is dc<pid>c: {names:?}"
    );
    assert!(veth.1, "the veth end must be up: {ifaces:?}");
    let ours = format!("{}/30", with_last_octet(&seen.peer, 1));
    assert!(
        veth.2.contains(&ours),
        "expected {ours} on {}: {ifaces:?}",
        veth.0
    );
    // One route, the /30's own: no default route, so nothing past the host's end is reachable.
    assert_eq!(seen.routes.len(), 1, "routes inside: {:?}", seen.routes);
    assert!(seen.routes[0].starts_with(&veth.0), "{:?}", seen.routes);
    // The ping crossed, once, to the host's end, whose address the parent gave it.
    assert!(
        seen.ping
            .contains("1 packets transmitted, 1 packets received"),
        "{}",
        seen.ping
    );
    let host_end = format!("{}h", veth.0.trim_end_matches('c'));
    let announced = format!("ip address add {}/30 dev {host_end}", seen.peer);
    assert!(
        seen.stderr.contains(&announced),
        "no `{announced}` in:\n{}",
        seen.stderr
    );
}

/// `a.b.c.d` with d moved by `delta`.
fn with_last_octet(addr: &str, delta: i32) -> String {
    let (head, last) = addr.rsplit_once('.').expect("an IPv4 address");
    let last: i32 = last.parse().expect("an octet");
    format!("{head}.{}", last + delta)
}

/// A stage running `sleep` in the background, waited for when dropped (also when the test
/// fails), so that it ends as it would and cleans up after itself.
struct Sleeping(Child);

impl Drop for Sleeping {
    fn drop(&mut self) {
        let _ = self.0.wait();
    }
}

/// Starts a stage's `run sleep <secs>` in the background.
fn start_sleeping(stage: &str, secs: &str) -> Sleeping {
    let child = Command::new(testkit::bin(stage))
        .args(["run", "sleep", secs])
        .env(testkit::ROOTFS_ENV, testkit::rootfs())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the stage");
    Sleeping(child)
}

/// Waits until the host has the link `name`.
fn wait_for_link(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host_links().contains(name) {
        assert!(
            Instant::now() < deadline,
            "{name} never appeared on the host"
        );
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn net_has_its_own_network_namespace_and_ipc_shares_the_hosts() {
    container_test(|| {
        let ipc = testkit::probe("ipc");
        assert_eq!(
            ns(&ipc, "net"),
            host_ns("net"),
            "ipc must share the host's network ns"
        );
        let net = testkit::probe("net");
        assert_ne!(
            ns(&net, "net"),
            host_ns("net"),
            "net must have its own network ns"
        );
    });
}

#[test]
fn inside_are_lo_and_the_veth_end_and_one_ping_reaches_the_host_end() {
    container_test(|| {
        let before = host_links();
        let seen = probe_and_ping("net");
        assert_connected(&seen);
        // The runtime deleted its end's address before it exited: the /30 is free at once.
        let host_ip = format!("{}/30", seen.peer);
        let addresses = Command::new("ip").args(["-o", "-4", "address"]).output();
        let addresses = String::from_utf8_lossy(&addresses.expect("ip address").stdout).to_string();
        assert!(
            !addresses.contains(&host_ip),
            "{host_ip} outlived its container:\n{addresses}"
        );
        // The pair goes with the container's network namespace, a moment later: the kernel
        // deletes it in the background.
        let deadline = Instant::now() + Duration::from_secs(3);
        while host_links() != before {
            assert!(Instant::now() < deadline, "the host's links changed");
            sleep(Duration::from_millis(20));
        }
    });
}

#[test]
fn the_command_is_pid_2_and_each_ip_command_is_one_short_line() {
    container_test(|| {
        let run = testkit::stage("net", ["sh", "-c", "echo $$"]);
        run.expect_code(0);
        // lo goes up by an ioctl, and the veth is made and set up by the parent over netlink,
        // the inside end through a socket made in the child's network namespace: no process is
        // started, and the command is the first process after the init.
        assert_eq!(run.stdout.trim(), "2", "{}", run.stderr);
        let lines: Vec<&str> = run.stderr.lines().collect();
        for line in &lines {
            assert!(line.chars().count() <= 80, "wider than 80 columns: {line}");
        }
        let ip: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("parent: ip ") || l.starts_with("parent: nsenter "))
            .collect();
        // Made, addressed and up, each end; the host end's address deleted when the container
        // has ended (the kernel deletes the pair with the namespace).
        assert_eq!(ip.len(), 6, "{}", run.stderr);
        assert!(ip[0].starts_with("parent: ip link add dc"), "{ip:?}");
        assert!(ip[3].starts_with("parent: nsenter -t "), "{ip:?}");
        assert!(ip[5].starts_with("parent: ip address delete 10."), "{ip:?}");
        assert!(
            lines.contains(&"child: ip link set lo up (an ioctl, no process)"),
            "{}",
            run.stderr
        );
        // The rest: the parent's pid, the cgroup's three, the host end's IPv6 turned off (one
        // sysctl), the child's four, the group removed.
        assert!(
            lines.len() <= 17,
            "{} teaching lines:\n{}",
            lines.len(),
            run.stderr
        );
        // Quiet: only the command's output.
        let run = testkit::stage("net", ["-q", "true"]);
        run.expect_code(0);
        assert_eq!(run.stderr, "", "quiet");
    });
}

#[test]
fn desde_cero_subnet_chooses_the_addresses() {
    container_test(|| {
        // 10.201.x.0/30, x from our pid: a /30 outside the default pool, unlikely to be in use.
        let subnet = format!("10.201.{}.0/30", std::process::id() % 256);
        let mut cmd = Command::new(testkit::bin("net"));
        cmd.args(["run", "sh", "-c", PROBE_AND_PING])
            .env("DESDE_CERO_SUBNET", &subnet);
        let run = testkit::run_cmd(&mut cmd);
        run.expect_code(0);
        let seen = parse_seen(&run.stdout, &run.stderr);
        assert_connected(&seen);
        assert_eq!(seen.peer, subnet.replace(".0/30", ".1"));
        // The same /30 again at once, twice: the kernel may not yet have deleted the first
        // pair, but its address is gone, so nothing overlaps.
        for _ in 0..2 {
            let mut cmd = Command::new(testkit::bin("net"));
            cmd.args(["run", "true"]).env("DESDE_CERO_SUBNET", &subnet);
            testkit::run_cmd(&mut cmd).expect_code(0);
        }
    });
}

#[test]
fn a_subnet_in_use_or_malformed_is_refused_before_anything_is_created() {
    container_test(|| {
        // 127.0.0.1/8 is lo's address on every host.
        for (subnet, says) in [
            ("127.0.0.0/30", "127.0.0.0/30 overlaps an address of lo"),
            (
                "10.200.0.1/24",
                "DESDE_CERO_SUBNET=10.200.0.1/24: not a subnet like",
            ),
            ("banana", "DESDE_CERO_SUBNET=banana: not a subnet like"),
            (
                "10.0.0.0/31",
                "DESDE_CERO_SUBNET=10.0.0.0/31: not a subnet like",
            ),
        ] {
            let mut cmd = Command::new(testkit::bin("net"));
            cmd.args(["run", "true"]).env("DESDE_CERO_SUBNET", subnet);
            let run = testkit::run_cmd(&mut cmd);
            run.expect_code(125);
            let errors: Vec<&str> = run
                .stderr
                .lines()
                .filter(|l| l.starts_with("net:"))
                .collect();
            assert_eq!(errors.len(), 1, "{}", run.stderr);
            assert!(errors[0].contains(says), "{subnet}: {}", run.stderr);
            assert!(!run.stderr.contains("ip link add"), "{}", run.stderr);
            assert!(
                !run.stderr.contains("mkdir"),
                "a cgroup was made: {}",
                run.stderr
            );
        }
    });
}

#[test]
fn two_containers_at_once_get_their_own_links() {
    container_test(|| {
        let mut first = start_sleeping("net", "3");
        let first_host_end = format!("dc{}h", first.0.id());
        wait_for_link(&first_host_end);
        let seen = probe_and_ping("net");
        assert_connected(&seen);
        assert!(
            !seen.stderr.contains(&first_host_end),
            "the second container used the first one's link:\n{}",
            seen.stderr
        );
        assert!(
            host_links().contains(&first_host_end),
            "the first container lost its link"
        );
        let status = first.0.wait().expect("wait for the first container");
        assert_eq!(status.code(), Some(0), "the first container failed");
    });
}

#[test]
fn a_killed_runtime_leaves_no_link_behind() {
    container_test(|| {
        let mut child = start_sleeping("net", "30");
        let host_end = format!("dc{}h", child.0.id());
        wait_for_link(&host_end);
        child.0.kill().expect("SIGKILL the runtime");
        child.0.wait().expect("reap the runtime");
        // The init dies of PR_SET_PDEATHSIG, its namespace with it, and the pair with that, a
        // moment later: the kernel does it in the background.
        let deadline = Instant::now() + Duration::from_secs(3);
        while host_links().contains(&host_end) {
            assert!(
                Instant::now() < deadline,
                "{host_end} outlived its container"
            );
            sleep(Duration::from_millis(20));
        }
        // A runtime killed with SIGKILL cannot remove the cgroup that the `cgroups` step made
        // (empty once the container is gone): that is the cgroups stage's known limit, not this
        // one's, so remove it here for the leak check to look at everything else.
        remove_cgroups_named(&format!("desde-cero-{}", child.0.id()));
    });
}

/// Removes the cgroup folders called `name` (a `desde-cero-…` one) in every hierarchy, waiting
/// for them to empty.
fn remove_cgroups_named(name: &str) {
    let found = hoststate::cgroups(&hoststate::mounts())
        .into_iter()
        .filter(|dir| dir.file_name().is_some_and(|n| n == name));
    for dir in found {
        let deadline = Instant::now() + Duration::from_secs(3);
        while std::fs::remove_dir(&dir).is_err() && Instant::now() < deadline {
            sleep(Duration::from_millis(20));
        }
    }
}

/// Runs in each of many containers at once: finds its /30 address, pings the host's end once,
/// prints `ok <address>` or `failed <address>`, then waits for its stdin to close, so that all
/// of them are alive, each holding its /30, at the same time.
const PING_AND_WAIT: &str = r#"addr=$(ip -o -4 addr show scope global | sed -n 's|.* inet \([0-9.]*\)/30 .*|\1|p')
peer="${addr%.*}.$((${addr##*.} - 1))"
if ping -c 1 -W 2 "$peer" >/dev/null; then echo "ok $addr"; else echo "failed $addr"; fi
read -r _ || true
"#;

/// Containers started together, let go (their stdin closed) and waited for when dropped, and
/// killed if they outlive `deadline`, also when the test fails.
struct Crowd {
    children: Vec<Child>,
    deadline: Instant,
}

impl Crowd {
    /// Lets them all go, and waits for each until the deadline; returns their exit codes and
    /// standard errors, killing any still running then (its code is then None).
    fn finish(&mut self) -> Vec<(Option<i32>, String)> {
        for child in &mut self.children {
            drop(child.stdin.take());
        }
        let mut out = Vec::new();
        for child in &mut self.children {
            let status = loop {
                match child.try_wait().expect("wait for a container") {
                    Some(status) => break status.code(),
                    None if Instant::now() > self.deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break None;
                    }
                    None => sleep(Duration::from_millis(20)),
                }
            };
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            out.push((status, stderr));
        }
        out
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        self.deadline = self.deadline.min(Instant::now());
        self.finish();
    }
}

#[test]
fn a_hundred_containers_started_together_get_distinct_subnets_and_all_reach_the_host() {
    container_test(|| {
        const N: usize = 100;
        let started = Instant::now();
        let mut crowd = Crowd {
            children: Vec::new(),
            deadline: started + Duration::from_secs(60),
        };
        for _ in 0..N {
            let child = Command::new(testkit::bin("net"))
                .args(["run", "-q", "sh", "-c", PING_AND_WAIT])
                .env(testkit::ROOTFS_ENV, testkit::rootfs())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start the net stage");
            crowd.children.push(child);
        }
        // Each one's line, as it comes: every container is then up, its /30 held.
        let (tx, rx) = mpsc::channel();
        for (i, child) in crowd.children.iter_mut().enumerate() {
            let stdout = child.stdout.take().expect("piped");
            let tx = tx.clone();
            thread::spawn(move || {
                let mut line = String::new();
                let _ = BufReader::new(stdout).read_line(&mut line);
                let _ = tx.send((i, line.trim().to_string()));
            });
        }
        let mut lines = vec![String::new(); N];
        for _ in 0..N {
            match rx.recv_timeout(crowd.deadline.saturating_duration_since(Instant::now())) {
                Ok((i, line)) => lines[i] = line,
                Err(_) => break,
            }
        }
        let all_up = started.elapsed();
        let ended = crowd.finish();
        let total = started.elapsed();
        eprintln!("{N} containers: all up after {all_up:?}, all ended after {total:?}");

        let mut problems = Vec::new();
        for (i, (line, (code, stderr))) in lines.iter().zip(&ended).enumerate() {
            if !line.starts_with("ok ") || *code != Some(0) {
                problems.push(format!("#{i}: {line:?}, exit {code:?}: {}", stderr.trim()));
            }
        }
        assert!(
            problems.is_empty(),
            "{} of {N} did not reach the host's end:\n{}",
            problems.len(),
            problems.join("\n")
        );
        let addresses: BTreeSet<&str> = lines.iter().map(|l| &l[3..]).collect();
        assert_eq!(
            addresses.len(),
            N,
            "{} distinct addresses for {N} containers alive at once",
            addresses.len()
        );
        assert!(total < Duration::from_secs(60), "{N} took {total:?}");
    });
}

#[test]
fn a_subnet_another_container_is_starting_with_is_refused_to_the_next() {
    container_test(|| {
        // 10.202.x.0/30, x from our pid: outside the default pool, unlikely to be in use.
        let net = format!("10.202.{}.0", std::process::id() % 256);
        let subnet = format!("{net}/30");
        // What a container holds from the moment it picks its /30 (before its veth pair has
        // the address) to its end: the lock on the /30's file, in a folder only root may enter.
        let folder = Path::new("/run/desde-cero/subnets");
        let run = |cmd: &mut Command| {
            testkit::run_cmd(cmd.args(["run", "true"]).env("DESDE_CERO_SUBNET", &subnet))
        };
        run(&mut Command::new(testkit::bin("net"))).expect_code(0);
        let meta = std::fs::metadata(folder).expect("the runtime made its folder");
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o700));
        let file = std::fs::File::open(folder.join(&net)).expect("the /30's file");
        // SAFETY: flock on a descriptor this test owns; released when `file` is closed.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(locked, 0, "the /30 is still held after its container ended");

        let refused = run(&mut Command::new(testkit::bin("net")));
        refused.expect_code(125);
        let wanted = format!("no free /30 in {subnet}: {subnet} is another container's");
        assert!(refused.stderr.contains(&wanted), "{}", refused.stderr);
        assert!(
            !refused.stderr.contains("ip link add"),
            "{}",
            refused.stderr
        );
        drop(file);
        run(&mut Command::new(testkit::bin("net"))).expect_code(0);
    });
}

/// Runs in the container with two ports: connects, through the probe, to the host's end of the
/// veth (the first address of its /30, found as `PROBE_AND_PING` finds it) on each, and to
/// 127.0.0.1 on the second.
const CONNECT: &str = r#"set -e
addr=$(ip -o -4 addr show scope global | sed -n 's|.* inet \([0-9.]*/30\) .*|\1|p')
eval "$(ipcalc -n "$addr")"
peer="${NETWORK%.*}.$((${NETWORK##*.} + 1))"
exec /usr/local/bin/probe connect "$peer:$1" "$peer:$2" "127.0.0.1:$2"
"#;

/// Serves `listener` (nonblocking) until `done` is set, or for 60 s at most: takes each
/// connection, reads until the other end has closed, and closes too, so that no connection is
/// left half-closed to keep the container's network namespace, and its cable, alive. Returns
/// the address each came from.
fn serve(listener: &std::net::TcpListener, done: &AtomicBool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut peers = Vec::new();
    loop {
        let finished = done.load(Ordering::SeqCst);
        match listener.accept() {
            Ok((mut stream, peer)) => {
                peers.push(peer.ip().to_string());
                stream.set_nonblocking(false).expect("blocking");
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("a read timeout");
                let _ = std::io::copy(&mut stream, &mut std::io::sink());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if finished || Instant::now() > deadline {
                    return peers;
                }
                sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// The cable reaches more than the host's end: a host service listening on every address
/// (0.0.0.0) answers the container at the host's end's address, as docker's bridge gateway
/// does, with nothing but the /30's route. A service on 127.0.0.1 stays out of reach: inside,
/// 127.0.0.1 is the container's own `lo`, and the host's end takes no packet for the host's.
#[test]
fn a_host_service_on_every_address_is_reached_through_the_host_end() {
    container_test(|| {
        use std::net::TcpListener;
        let everywhere = TcpListener::bind("0.0.0.0:0").expect("listen on 0.0.0.0");
        let loopback = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
        for listener in [&everywhere, &loopback] {
            listener.set_nonblocking(true).expect("nonblocking");
        }
        let ports = [&everywhere, &loopback].map(|l| l.local_addr().unwrap().port().to_string());
        for (stage, options) in [
            ("net", &[][..]),
            ("full", &["--net", "veth"][..]),
            ("full", &["--rootless", "--net", "veth"][..]),
        ] {
            let mut cmd = Command::new(testkit::bin(stage));
            cmd.arg("run")
                .args(options)
                .args(["sh", "-c", CONNECT, "sh"]);
            cmd.args(&ports);
            let done = AtomicBool::new(false);
            let (run, reached, reached_lo) = thread::scope(|s| {
                let reached = s.spawn(|| serve(&everywhere, &done));
                let reached_lo = s.spawn(|| serve(&loopback, &done));
                let run = testkit::run_cmd_within(&mut cmd, Duration::from_secs(30));
                done.store(true, Ordering::SeqCst);
                (run, reached.join().unwrap(), reached_lo.join().unwrap())
            });
            run.expect_code(0);
            let tried: Value = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("{stage}: no JSON ({e}):\n{}", run.stdout));
            let said = |i: usize, key: &str| tried[i][key].clone();
            let inside = said(0, "local");
            eprintln!("{stage} {options:?}: {tried}");
            assert_eq!(said(0, "connected"), true, "{stage} {options:?}: {tried}");
            assert!(inside.as_str().is_some(), "{stage} {options:?}: {tried}");
            for i in [1, 2] {
                assert_eq!(said(i, "connected"), false, "{stage} {options:?}: {tried}");
            }
            // It arrived, from the container's own end of the cable; the loopback service
            // saw nothing.
            assert_eq!(reached, [inside.as_str().unwrap()], "{stage} {options:?}");
            assert_eq!(reached_lo, Vec::<String>::new(), "{stage} {options:?}");
        }
    });
}
