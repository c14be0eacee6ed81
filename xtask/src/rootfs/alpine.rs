//! The `alpine` source: Alpine Linux's official "minirootfs" tarball, at a pinned version,
//! downloaded with the `curl` command (no HTTP stack compiled into the xtask)
//! and checked against a pinned SHA-256 before a single byte of it is unpacked.
//!
//! Both can be overridden, e.g. for a mirror or for the tests (which use `file://` URLs):
//! `DESDE_CERO_ALPINE_URL` and `DESDE_CERO_ALPINE_SHA256` (the checksum is then required).

use std::fs::File;
use std::io::Read;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::interrupted;

/// Overrides the download's URL (needs [`SHA_ENV`] too).
pub const URL_ENV: &str = "DESDE_CERO_ALPINE_URL";
/// The SHA-256 the file at [`URL_ENV`] must have.
pub const SHA_ENV: &str = "DESDE_CERO_ALPINE_SHA256";

/// The pinned Alpine release.
pub const VERSION: &str = "3.20.3";

/// Published SHA-256 of `alpine-minirootfs-3.20.3-<arch>.tar.gz`, per architecture.
const PINNED: &[(&str, &str)] = &[
    (
        "x86_64",
        "d4e6fd67dcf75e40c451560ac7265166c2b72a0f38ddc9aae756a7de3d1efa0c",
    ),
    (
        "aarch64",
        "041fa34a81788242df9e78fa69b97ab45b8ec47ddbf88864755610414a7bf3de",
    ),
];

/// Where to download from and what the file must hash to.
#[derive(Debug, Clone)]
pub struct Pin {
    pub url: String,
    pub sha256: String,
}

/// The download for this machine: the environment's override, else the pinned release.
pub fn pin() -> Result<Pin> {
    let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    if let Some(url) = env(URL_ENV) {
        let Some(sha256) = env(SHA_ENV) else {
            bail!("{URL_ENV} is set but {SHA_ENV} is not: give the SHA-256 the download must have");
        };
        return Ok(Pin {
            url,
            sha256: sha256.to_ascii_lowercase(),
        });
    }
    let arch = std::env::consts::ARCH;
    let Some((_, sha256)) = PINNED.iter().find(|(a, _)| *a == arch) else {
        bail!(
            "no pinned Alpine minirootfs for {arch}: set {URL_ENV} and {SHA_ENV}, \
             or use `--from busybox` or `--from tar FILE`"
        );
    };
    let branch = VERSION.rsplit_once('.').map_or(VERSION, |(b, _)| b);
    Ok(Pin {
        url: format!(
            "https://dl-cdn.alpinelinux.org/alpine/v{branch}/releases/{arch}/\
             alpine-minirootfs-{VERSION}-{arch}.tar.gz"
        ),
        sha256: sha256.to_string(),
    })
}

/// A download that failed for want of a network: the caller adds the offline way out when
/// there is one (`--from busybox`).
#[derive(Debug)]
pub struct Network(pub String);

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Network {}

fn network(msg: String) -> anyhow::Error {
    Network(msg).into()
}

/// Downloads `pin.url` to `to` (a fresh temporary file) and checks its SHA-256. On any failure
/// the caller removes `to`; nothing has been unpacked. A failure is one line naming the cause
/// (no DNS, no connection, an HTTP error, ...).
pub fn download(pin: &Pin, to: &Path) -> Result<()> {
    resolve(&pin.url)?;
    eprintln!("rootfs: downloading {} (about 3 MB)", pin.url);
    // Silent but for errors, which are read here: a progress bar's fragments and curl's retry
    // warnings would bury the one line that matters.
    let out = Command::new("curl")
        .args(["--fail", "--location", "--silent", "--show-error"])
        .args(["--retry", "2", "--connect-timeout", "20", "--output"])
        .arg(to)
        .arg(&pin.url)
        .stderr(Stdio::piped())
        .output();
    let out = match out {
        Ok(out) => out,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(network(
                "the `curl` command is not installed (it downloads the Alpine tarball)".into(),
            ))
        }
        Err(err) => return Err(err).context("cannot start curl"),
    };
    if interrupted() {
        bail!("interrupted");
    }
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let said = said
            .lines()
            .rev()
            .find(|l| l.starts_with("curl:"))
            .unwrap_or("")
            .trim();
        let cause = match out.status.code() {
            Some(6) => "the host name cannot be resolved (no network or no DNS)",
            Some(7) => "cannot connect (no network, or a firewall)",
            Some(28) => "the connection timed out",
            Some(22) => "the server answered with an error",
            Some(35 | 51 | 58 | 60 | 77) => "the TLS connection failed (certificates?)",
            _ => "curl failed",
        };
        return Err(network(format!(
            "cannot download {}: {cause} ({said})",
            pin.url
        )));
    }
    let got = sha256(to)?;
    if got != pin.sha256 {
        bail!(
            "SHA-256 mismatch for {}: expected {}, got {got}; the file is corrupt or was tampered \
             with, so nothing was unpacked",
            pin.url,
            pin.sha256
        );
    }
    eprintln!("rootfs: SHA-256 verified ({got})");
    Ok(())
}

/// Before a download over the network, checks that its host name resolves, within 10 s: an
/// offline machine then fails at once with the real cause, not after curl's retries with a
/// "timeout". Skipped for `file://` URLs and when a proxy is set (the proxy resolves names).
fn resolve(url: &str) -> Result<()> {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Ok(());
    };
    let proxied = [
        "https_proxy",
        "HTTPS_PROXY",
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|p| !p.is_empty()));
    if proxied {
        return Ok(());
    }
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
        _ => host.to_string(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let lookup = format!("{name}:443");
    // getaddrinfo cannot be given a time limit: it runs in a thread that is left behind if it
    // hangs (the process ends soon after anyway).
    std::thread::spawn(move || {
        let _ = tx.send(lookup.to_socket_addrs().map(|mut a| a.next().is_some()));
    });
    let why = match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(true)) => return Ok(()),
        Ok(Ok(false)) => "it has no address".to_string(),
        Ok(Err(err)) => format!("no network or no DNS: {err}"),
        Err(_) => "no answer from DNS within 10 s".to_string(),
    };
    Err(network(format!("cannot resolve {name} ({why})")))
}

/// The SHA-256 of a file, as lowercase hex.
pub fn sha256(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_string() {
        let path = std::env::temp_dir().join(format!("desde-cero-sha-{}", std::process::id()));
        std::fs::write(&path, b"abc").unwrap();
        let got = sha256(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            got.unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn pinned_url_names_the_version() {
        if PINNED.iter().any(|(a, _)| *a == std::env::consts::ARCH)
            && std::env::var_os(URL_ENV).is_none()
        {
            let pin = pin().unwrap();
            assert!(pin.url.contains("/v3.20/releases/"), "{}", pin.url);
            assert!(
                pin.url.ends_with("alpine-minirootfs-3.20.3-x86_64.tar.gz")
                    || pin.url.ends_with("alpine-minirootfs-3.20.3-aarch64.tar.gz")
            );
            assert_eq!(pin.sha256.len(), 64);
        }
    }
}
