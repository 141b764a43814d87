//! The lab image: Debian's static busybox in an image built `FROM scratch`, through the build
//! API, from an in-memory tar. No registry is ever asked for anything.
//!
//! The tag is derived from the content (busybox bytes and Dockerfile), so building is
//! idempotent: when the daemon already has the tag, nothing is built.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::BuildImageOptions;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::{DockerError, labels};

/// Where Debian's `busybox-static` installs its binary.
pub const DEFAULT_BUSYBOX: &str = "/bin/busybox";
/// The repository part of the lab image's tag.
pub const LAB_REPOSITORY: &str = "halab-lab";

const DOCKERFILE: &str = "\
FROM scratch
COPY busybox /bin/busybox
RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]
";

/// The lab image's inputs, read and checked, with the tag they produce.
pub struct LabImage {
    busybox: Vec<u8>,
    pub tag: String,
}

impl LabImage {
    /// Reads and checks the busybox binary at `path` (default: [`DEFAULT_BUSYBOX`]).
    pub fn from_busybox(path: Option<&Path>) -> Result<LabImage, DockerError> {
        let path = path.map_or_else(|| PathBuf::from(DEFAULT_BUSYBOX), Path::to_path_buf);
        let busybox = std::fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => DockerError::BusyboxMissing { path: path.clone() },
            _ => DockerError::Io {
                path: path.clone(),
                source,
            },
        })?;
        if has_program_interpreter(&busybox) {
            return Err(DockerError::BusyboxNotStatic { path });
        }
        let digest = Sha256::new()
            .chain_update(DOCKERFILE)
            .chain_update(&busybox)
            .finalize();
        let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Ok(LabImage {
            busybox,
            tag: format!("{LAB_REPOSITORY}:{short}"),
        })
    }

    /// Makes sure the daemon has the image, building it if it does not. Returns the tag.
    pub async fn ensure(&self, docker: &Docker) -> Result<&str, DockerError> {
        if docker.inspect_image(&self.tag).await.is_ok() {
            tracing::debug!(tag = %self.tag, "lab image present");
            return Ok(&self.tag);
        }
        let started = std::time::Instant::now();
        let options = BuildImageOptions {
            t: Some(self.tag.clone()),
            rm: true,
            forcerm: true,
            labels: Some(HashMap::from([(
                labels::IMAGE.to_owned(),
                "lab".to_owned(),
            )])),
            ..Default::default()
        };
        let context = self.context_tar()?;
        let mut progress =
            docker.build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(step) = progress.next().await {
            let step = step.map_err(|e| DockerError::Build(e.to_string()))?;
            if let Some(detail) = step.error_detail {
                return Err(DockerError::Build(detail.message.unwrap_or_default()));
            }
        }
        tracing::info!(tag = %self.tag, elapsed = ?started.elapsed(), "built lab image");
        Ok(&self.tag)
    }

    /// The build context: the Dockerfile and the busybox binary, as a tar in memory.
    fn context_tar(&self) -> Result<Vec<u8>, DockerError> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |name: &str, mode: u32, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(mode);
            header.set_cksum();
            tar.append_data(&mut header, name, data)
        };
        let io = |source| DockerError::Io {
            path: PathBuf::from("<build context>"),
            source,
        };
        add("Dockerfile", 0o644, DOCKERFILE.as_bytes()).map_err(io)?;
        add("busybox", 0o755, &self.busybox).map_err(io)?;
        tar.into_inner().map_err(io)
    }
}

/// Whether an ELF binary asks for a dynamic loader (has a `PT_INTERP` program header), i.e.
/// cannot run alone in an empty image. Anything that is not 64-bit little-endian ELF is left to
/// the build to reject.
fn has_program_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    if elf.get(..5) != Some(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum).any(|i| u32_at(phoff + i * phentsize) == Some(PT_INTERP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_busybox_is_static_and_its_tag_is_stable() {
        let a = LabImage::from_busybox(None).expect("busybox-static is installed");
        let b = LabImage::from_busybox(None).unwrap();
        assert_eq!(a.tag, b.tag);
        assert!(a.tag.starts_with("halab-lab:"));
    }

    #[test]
    fn a_dynamic_binary_is_refused_by_name() {
        let err = LabImage::from_busybox(Some(Path::new("/bin/ls")))
            .err()
            .unwrap();
        assert!(matches!(err, DockerError::BusyboxNotStatic { .. }), "{err}");
        assert!(err.to_string().contains("busybox-static"));
    }

    #[test]
    fn a_missing_busybox_names_the_package() {
        let err = LabImage::from_busybox(Some(Path::new("/nonexistent/busybox")))
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("apt-get install busybox-static"),
            "{err}"
        );
    }
}
