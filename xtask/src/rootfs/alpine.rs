//! The `alpine` source: Alpine Linux's official "minirootfs" tarball, at a pinned version,
//! downloaded with the `curl` command (its progress bar, no HTTP stack compiled into the xtask)
//! and checked against a pinned SHA-256 before a single byte of it is unpacked.
//!
//! Both can be overridden, e.g. for a mirror or for the tests (which use `file://` URLs):
//! `DESDE_CERO_ALPINE_URL` and `DESDE_CERO_ALPINE_SHA256` (the checksum is then required).

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::Command;

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

/// Downloads `pin.url` to `to` (a fresh temporary file) and checks its SHA-256. On any failure
/// the caller removes `to`; nothing has been unpacked.
pub fn download(pin: &Pin, to: &Path) -> Result<()> {
    eprintln!("rootfs: downloading {}", pin.url);
    let status = Command::new("curl")
        .args(["--fail", "--location", "--progress-bar"])
        .args(["--retry", "2", "--connect-timeout", "20", "--output"])
        .arg(to)
        .arg(&pin.url)
        .status();
    let status = match status {
        Ok(status) => status,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            bail!("the `curl` command is not installed (it downloads the Alpine tarball)")
        }
        Err(err) => return Err(err).context("cannot start curl"),
    };
    if interrupted() {
        bail!("interrupted");
    }
    if !status.success() {
        bail!("cannot download {} (curl: {status})", pin.url);
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
