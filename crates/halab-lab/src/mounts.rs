//! Mounts a lab leaves in the host's mount namespace, read from /proc/self/mountinfo.
//!
//! dockerd bind-mounts its data-root onto itself (to make it a shared mount), overlay2 mounts
//! each running container's `merged` dir under the data-root, and libnetwork bind-mounts
//! container network namespaces under `<exec-root>/netns/`. After a graceful stop the data-root
//! bind mount stays; after a crash all of them stay.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, umount2};

use crate::error::LabError;

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One line of mountinfo, reduced to what teardown needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub id: u64,
    pub mount_point: PathBuf,
    pub fs_type: String,
}

/// Parses mountinfo text (see proc(5)); lines that do not parse are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let id = fields.first()?.parse().ok()?;
            let mount_point = PathBuf::from(unescape(fields.get(4)?));
            // Optional fields end at a lone "-"; the filesystem type follows it.
            let separator = fields.iter().position(|field| *field == "-")?;
            let fs_type = fields.get(separator + 1)?.to_string();
            Some(Mount {
                id,
                mount_point,
                fs_type,
            })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo` octal escapes.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// All current mounts of our mount namespace.
pub fn current() -> Result<Vec<Mount>, LabError> {
    let text =
        std::fs::read_to_string(MOUNTINFO).map_err(|e| LabError::io("read", MOUNTINFO, e))?;
    Ok(parse_mountinfo(&text))
}

/// Mounts at `dir` or below it, deepest first (and, at equal depth, newest first, so stacked
/// mounts come off in reverse order).
pub fn under(mounts: &[Mount], dir: &Path) -> Vec<Mount> {
    let mut found: Vec<Mount> = mounts
        .iter()
        .filter(|mount| mount.mount_point.starts_with(dir))
        .cloned()
        .collect();
    found.sort_by(|a, b| {
        let depth = |m: &Mount| m.mount_point.components().count();
        depth(b).cmp(&depth(a)).then(b.id.cmp(&a.id))
    });
    found
}

/// Lazily unmounts everything at or below `dir`, repeating while mounts remain (stacked mounts
/// show up one layer at a time). Returns the mount points still there afterwards.
pub fn unmount_all_under(dir: &Path) -> Result<Vec<PathBuf>, LabError> {
    const ROUNDS: usize = 8;
    for _ in 0..ROUNDS {
        let left = under(&current()?, dir);
        if left.is_empty() {
            return Ok(Vec::new());
        }
        for mount in left {
            // MNT_DETACH: nothing of the lab runs any more, but a lingering open file must not
            // keep the mount (and so the lab dir) alive.
            match umount2(&mount.mount_point, MntFlags::MNT_DETACH) {
                Ok(()) => tracing::debug!(mount_point = %mount.mount_point.display(), "unmounted"),
                // Gone already (a parent went first) or not a mount point any more.
                Err(nix::Error::EINVAL | nix::Error::ENOENT) => {}
                Err(source) => {
                    return Err(LabError::Sys {
                        action: format!("unmount {}", mount.mount_point.display()),
                        source,
                    });
                }
            }
        }
    }
    Ok(under(&current()?, dir)
        .into_iter()
        .map(|mount| mount.mount_point)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
24 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
45 24 254:0 /tmp/s/labs/a/data /tmp/s/labs/a/data rw,relatime shared:4 - ext4 /dev/vda rw
61 45 0:52 / /tmp/s/labs/a/data/overlay2/abc/merged rw,relatime - overlay overlay rw,lowerdir=x
62 24 0:4 net:[4026532] /tmp/s/labs/a/exec/netns/a6dc rw shared:5 - nsfs nsfs rw
63 24 0:53 / /tmp/s/labs/ab/data rw - ext4 /dev/vda rw
64 24 0:54 / /tmp/with\\040space rw - tmpfs tmpfs rw
30 24 0:26 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
";

    #[test]
    fn parses_mount_points_and_types() {
        let mounts = parse_mountinfo(SAMPLE);
        assert_eq!(mounts.len(), 7);
        assert_eq!(mounts[2].fs_type, "overlay");
        assert_eq!(mounts[5].mount_point, Path::new("/tmp/with space"));
        assert_eq!(mounts[6].fs_type, "cgroup");
    }

    #[test]
    fn lists_a_labs_mounts_deepest_first_and_only_its_own() {
        let mounts = parse_mountinfo(SAMPLE);
        let points: Vec<PathBuf> = under(&mounts, Path::new("/tmp/s/labs/a"))
            .into_iter()
            .map(|m| m.mount_point)
            .collect();
        assert_eq!(
            points,
            [
                PathBuf::from("/tmp/s/labs/a/data/overlay2/abc/merged"),
                PathBuf::from("/tmp/s/labs/a/exec/netns/a6dc"),
                PathBuf::from("/tmp/s/labs/a/data"),
            ]
        );
    }

    #[test]
    fn unescapes_octal_sequences() {
        assert_eq!(unescape(r"a\040b\011c\134d"), "a b\tc\\d");
        assert_eq!(unescape(r"trailing\04"), r"trailing\04");
    }

    #[test]
    fn reads_the_real_mountinfo() {
        let mounts = current().expect("mountinfo");
        assert!(mounts.iter().any(|m| m.mount_point == Path::new("/")));
    }
}
