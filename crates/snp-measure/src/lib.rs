//! Expected AMD SEV, SEV-ES and SEV-SNP launch measurements, computed from
//! the OVMF firmware, an optional kernel/initrd/command line, the vCPU
//! count and type and the hypervisor, byte for byte as the reference tool
//! `sev-snp-measure` computes them; and SEV-SNP ID blocks signed with an
//! ECDSA P-384 ID key (and optional author key), as `snp-create-id-block`
//! builds them.
//!
//! The library is pure: it takes bytes and returns digests. The [`cli`]
//! module adds the `measure snp` / `measure snp-id-block` command surface
//! (file reading and output) on top.
//!
//! ```no_run
//! use snp_measure::{launch_digest, Guest, Vcpus, VcpuType, VmmType, GuestFeatures};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ovmf = std::fs::read("/usr/share/ovmf/OVMF.fd")?;
//! let guest = Guest::Snp {
//!     kernel: None,
//!     vcpus: Vcpus { count: 4, signature: Some(VcpuType::EpycMilan.signature()), vmm: VmmType::Qemu },
//!     features: GuestFeatures::default(),
//!     ovmf_hash: None,
//! };
//! println!("{}", launch_digest(&ovmf, &guest)?.to_hex());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod firmware;
pub mod gctx;
pub mod guid;
pub mod hashes;
pub mod id_block;
pub mod launch;
pub mod vcpu;
pub mod vmsa;

pub use cli::{run, MeasureArgs, MeasureCommand, MeasureError};
pub use firmware::{Firmware, FirmwareError, SectionKind};
pub use gctx::{GuestContext, LaunchDigest, PageType};
pub use hashes::KernelHashes;
pub use id_block::{
    verify_id_auth, GuestPolicy, IdBlock, IdBlockError, KeyDigest, SignedIdBlock, SigningKey,
    SnpPublicKey,
};
pub use launch::{launch_digest, vmsa_pages, Guest, LaunchError, Measurement, Vcpus};
pub use vcpu::{VcpuSignature, VcpuType};
pub use vmsa::{GuestFeatures, VmmType};
