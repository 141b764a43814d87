//! What the host must provide before a lab can be made: root, and the programs a lab runs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::LabError;

/// Searched after `PATH`: a root shell started without a login environment may lack the sbin dirs,
/// where Debian puts dockerd and ip.
pub const FALLBACK_DIRS: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// A program a lab needs and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Requirement {
    pub binary: &'static str,
    pub package: &'static str,
}

/// Everything a lab runs: the programs halab starts itself, and those dockerd starts by name
/// from `PATH` (containerd, then containerd's shim and runc per container).
pub const REQUIREMENTS: [Requirement; 6] = [
    Requirement {
        binary: "dockerd",
        package: "docker.io",
    },
    Requirement {
        binary: "nsenter",
        package: "util-linux",
    },
    Requirement {
        binary: "ip",
        package: "iproute2",
    },
    Requirement {
        binary: "containerd",
        package: "containerd",
    },
    Requirement {
        binary: "containerd-shim-runc-v2",
        package: "containerd",
    },
    Requirement {
        binary: "runc",
        package: "runc",
    },
];

/// Fails with [`LabError::NotRoot`] unless the effective user is root.
pub fn require_root() -> Result<(), LabError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot)
    }
}

/// Absolute paths of the programs halab starts itself.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub dockerd: PathBuf,
    pub nsenter: PathBuf,
    pub ip: PathBuf,
}

impl Binaries {
    /// Finds every [`REQUIREMENTS`] entry, failing on the first missing one with its package.
    pub fn locate() -> Result<Binaries, LabError> {
        let mut found = Vec::with_capacity(REQUIREMENTS.len());
        for requirement in REQUIREMENTS {
            let path = find_binary(requirement.binary).ok_or(LabError::MissingBinary {
                binary: requirement.binary,
                package: requirement.package,
                fallback_dirs: FALLBACK_DIRS.join(", "),
            })?;
            found.push((requirement.binary, path));
        }
        let take = |binary: &str| {
            found
                .iter()
                .find(|(name, _)| *name == binary)
                .map(|(_, path)| path.clone())
                .expect("every requirement was found above")
        };
        Ok(Binaries {
            dockerd: take("dockerd"),
            nsenter: take("nsenter"),
            ip: take("ip"),
        })
    }
}

/// `PATH` for the lab's dockerd: ours plus the fallback dirs, so that dockerd finds containerd,
/// the shim and runc wherever [`find_binary`] found them.
pub fn child_path() -> OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    for dir in FALLBACK_DIRS {
        if !dirs.iter().any(|known| known == Path::new(dir)) {
            dirs.push(PathBuf::from(dir));
        }
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| FALLBACK_DIRS.join(":").into())
}

/// The first executable file called `binary` in `PATH`, then in [`FALLBACK_DIRS`].
pub fn find_binary(binary: &str) -> Option<PathBuf> {
    std::env::split_paths(&child_path())
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_binary_every_system_has() {
        let sh = find_binary("sh").expect("sh");
        assert!(sh.is_absolute());
    }

    #[test]
    fn a_missing_binary_is_not_found() {
        assert_eq!(find_binary("halab-no-such-binary"), None);
    }

    #[test]
    fn missing_binary_error_names_the_package() {
        let err = LabError::MissingBinary {
            binary: "nsenter",
            package: "util-linux",
            fallback_dirs: FALLBACK_DIRS.join(", "),
        };
        let text = err.to_string();
        assert!(text.contains("`nsenter`"), "{text}");
        assert!(text.contains("apt-get install util-linux"), "{text}");
    }

    #[test]
    fn child_path_keeps_ours_and_adds_sbin() {
        let path = child_path();
        let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        assert!(dirs.contains(&PathBuf::from("/usr/sbin")));
    }
}
