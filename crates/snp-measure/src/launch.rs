//! Launch measurements for the four guest modes, computed the way the
//! firmware does during `LAUNCH_UPDATE_*` and exactly as the reference tool
//! `sev-snp-measure` predicts them.

use std::fmt;

use aws_lc_rs::digest::{self, SHA256};
use base64::Engine as _;

use crate::firmware::{Firmware, FirmwareError, MetadataSection, SectionKind};
use crate::gctx::{sha384, GuestContext, LaunchDigest, PageUpdateError, PAGE_SIZE};
use crate::hashes::{HashesPageError, KernelHashes, Sha256};
use crate::vcpu::VcpuSignature;
use crate::vmsa::{svsm_vmsa, GuestFeatures, OvmfVmsas, VmmType, VmsaPage};

/// Which firmware image a problem is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Image {
    /// The OVMF firmware.
    Ovmf,
    /// The Coconut-SVSM binary.
    Svsm,
}

impl fmt::Display for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Image::Ovmf => "OVMF",
            Image::Svsm => "SVSM",
        })
    }
}

/// Why a launch measurement could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    /// The image could not be parsed, or lacks an entry the mode needs.
    #[error("{image} image: {source}")]
    Firmware {
        /// Which image.
        image: Image,
        /// What is wrong with it.
        source: FirmwareError,
    },
    /// A region could not be added page by page.
    #[error("{image} image, {what}: {source}")]
    Pages {
        /// Which image the region comes from.
        image: Image,
        /// Which region.
        what: &'static str,
        /// Why.
        source: PageUpdateError,
    },
    /// An SNP measurement met a metadata section type it cannot interpret.
    #[error(
        "{image} image: SEV metadata section {index} (offset {offset:#x}) has unknown type {raw:#x}"
    )]
    UnknownSection {
        /// Which image.
        image: Image,
        /// Section index.
        index: usize,
        /// Offset of the section descriptor in the image.
        offset: usize,
        /// The type value.
        raw: u32,
    },
    /// The kernel-hashes section must be exactly one page.
    #[error("{image} image: SNP kernel hashes section {index} is {size:#x} bytes, not one page")]
    KernelHashesSectionSize {
        /// Which image.
        image: Image,
        /// Section index.
        index: usize,
        /// Its size.
        size: u32,
    },
    /// The SEV hashes table does not fit in its page.
    #[error("OVMF image: {0}")]
    HashesPage(#[from] HashesPageError),
    /// A kernel was given for SNP but the firmware has nowhere to check it.
    #[error("a kernel was given but the OVMF SEV metadata has no SNP kernel hashes section (not an AmdSev build?)")]
    NoKernelHashesSection,
    /// A kernel was given for SEV/SEV-ES but the firmware reserves no
    /// hashes table.
    #[error(
        "a kernel was given but the OVMF image reserves no SEV hashes table (not an AmdSev build?)"
    )]
    HashesTableUnsupported,
    /// QEMU loads the CPUID signature into RDX, so it must be known.
    #[error("the vCPU signature is needed for QEMU guests (give a vCPU type, signature or family/model/stepping)")]
    MissingVcpuSignature,
    /// More than one vCPU but no AP entry point in the firmware.
    #[error("{vcpus} vCPUs requested but the OVMF SEV-ES reset block gives no AP entry point")]
    NoApEntry {
        /// vCPUs requested.
        vcpus: u32,
    },
    /// The SVSM mode is only defined for QEMU.
    #[error("the SNP SVSM mode is only defined for QEMU, not {0}")]
    SvsmNeedsQemu(VmmType),
    /// The OVMF variable store does not fit below OVMF.
    #[error("an OVMF variable store of {vars_size} bytes does not fit below OVMF")]
    VarsTooLarge {
        /// Its size.
        vars_size: u64,
    },
}

/// The vCPU set-up of a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vcpus {
    /// Number of vCPUs (each gets a VMSA page).
    pub count: u32,
    /// CPUID signature; needed for QEMU, ignored by EC2 and GCE which set a
    /// fixed RDX.
    pub signature: Option<VcpuSignature>,
    /// The hypervisor.
    pub vmm: VmmType,
}

/// A guest to measure, by mode.
#[derive(Clone, Debug)]
pub enum Guest<'a> {
    /// SEV: SHA-256 over OVMF (and the hashes table).
    Sev {
        /// Measured direct kernel boot.
        kernel: Option<KernelHashes>,
    },
    /// SEV-ES: SHA-256 over OVMF, the hashes table and the VMSAs.
    SevEs {
        /// Measured direct kernel boot.
        kernel: Option<KernelHashes>,
        /// The vCPUs.
        vcpus: Vcpus,
    },
    /// SEV-SNP with OVMF.
    Snp {
        /// Measured direct kernel boot.
        kernel: Option<KernelHashes>,
        /// The vCPUs.
        vcpus: Vcpus,
        /// SEV_FEATURES of every VMSA.
        features: GuestFeatures,
        /// Digest of the OVMF pages computed earlier; when given, the OVMF
        /// contents are not hashed (its metadata is still read).
        ovmf_hash: Option<LaunchDigest>,
    },
    /// SEV-SNP with Coconut-SVSM below OVMF and its variable store.
    SnpSvsm {
        /// The SVSM binary.
        svsm: &'a [u8],
        /// Size of the OVMF variable store between SVSM and OVMF.
        vars_size: u64,
        /// The vCPUs (QEMU only).
        vcpus: Vcpus,
    },
}

/// A launch measurement: SHA-256 for SEV and SEV-ES, the SHA-384 launch
/// digest for SEV-SNP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measurement {
    /// SEV / SEV-ES launch digest.
    Sha256(Sha256),
    /// SEV-SNP launch digest (MEASUREMENT).
    Sha384(LaunchDigest),
}

impl Measurement {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Measurement::Sha256(d) => d,
            Measurement::Sha384(d) => d.as_bytes(),
        }
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// Standard base64 with padding.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.as_bytes())
    }
}

fn fw_err(image: Image) -> impl Fn(FirmwareError) -> LaunchError {
    move |source| LaunchError::Firmware { image, source }
}

fn pages_err(image: Image, what: &'static str) -> impl Fn(PageUpdateError) -> LaunchError {
    move |source| LaunchError::Pages {
        image,
        what,
        source,
    }
}

/// Measures `guest` booted with the OVMF image `ovmf`.
pub fn launch_digest(ovmf: &[u8], guest: &Guest<'_>) -> Result<Measurement, LaunchError> {
    let fw = Firmware::parse(ovmf).map_err(fw_err(Image::Ovmf))?;
    launch_digest_of(&fw, guest)
}

/// Measures `guest` booted with an already parsed OVMF image. An image
/// parsed from its tail only is enough for SNP with a pre-computed OVMF
/// hash.
pub fn launch_digest_of(fw: &Firmware<'_>, guest: &Guest<'_>) -> Result<Measurement, LaunchError> {
    match guest {
        Guest::Sev { kernel } => sev_launch_digest(fw, kernel.as_ref()).map(Measurement::Sha256),
        Guest::SevEs { kernel, vcpus } => {
            seves_launch_digest(fw, kernel.as_ref(), vcpus).map(Measurement::Sha256)
        }
        Guest::Snp {
            kernel,
            vcpus,
            features,
            ovmf_hash,
        } => snp_launch_digest(fw, kernel.as_ref(), vcpus, *features, *ovmf_hash)
            .map(Measurement::Sha384),
        Guest::SnpSvsm {
            svsm,
            vars_size,
            vcpus,
        } => svsm_launch_digest(fw, svsm, *vars_size, vcpus).map(Measurement::Sha384),
    }
}

/// The VMSA pages `guest` is launched with, one per vCPU in order (empty
/// for SEV, which has none).
pub fn vmsa_pages(ovmf: &[u8], guest: &Guest<'_>) -> Result<Vec<VmsaPage>, LaunchError> {
    let fw = Firmware::parse(ovmf).map_err(fw_err(Image::Ovmf))?;
    vmsa_pages_of(&fw, guest)
}

/// [`vmsa_pages`] for an already parsed OVMF image.
pub fn vmsa_pages_of(fw: &Firmware<'_>, guest: &Guest<'_>) -> Result<Vec<VmsaPage>, LaunchError> {
    let per_vcpu = |first: &[u8; PAGE_SIZE], rest: Option<&[u8; PAGE_SIZE]>, count: u32| {
        (0..count)
            .map(|i| {
                let page = if i == 0 { Some(first) } else { rest };
                page.map(|p| Box::new(*p))
                    .ok_or(LaunchError::NoApEntry { vcpus: count })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    match guest {
        Guest::Sev { .. } => Ok(Vec::new()),
        Guest::SevEs { vcpus, .. } => {
            let v = ovmf_vmsas(fw, vcpus, GuestFeatures(0))?;
            per_vcpu(v.bsp(), v.ap(), vcpus.count)
        }
        Guest::Snp {
            vcpus, features, ..
        } => {
            let v = ovmf_vmsas(fw, vcpus, *features)?;
            per_vcpu(v.bsp(), v.ap(), vcpus.count)
        }
        Guest::SnpSvsm {
            svsm,
            vars_size,
            vcpus,
        } => {
            let page = svsm_page(fw, svsm, *vars_size, vcpus)?.1;
            per_vcpu(&page, Some(&page), vcpus.count)
        }
    }
}

/// SEV: SHA-256 of the OVMF image followed by the padded hashes table.
pub fn sev_launch_digest(
    ovmf: &Firmware<'_>,
    kernel: Option<&KernelHashes>,
) -> Result<Sha256, LaunchError> {
    Ok(sev_hash(ovmf, kernel)?.finish_sha256())
}

/// SEV-ES: as SEV, then every vCPU's VMSA page. SEV_FEATURES is zero.
pub fn seves_launch_digest(
    ovmf: &Firmware<'_>,
    kernel: Option<&KernelHashes>,
    vcpus: &Vcpus,
) -> Result<Sha256, LaunchError> {
    let mut ctx = sev_hash(ovmf, kernel)?;
    let v = ovmf_vmsas(ovmf, vcpus, GuestFeatures(0))?;
    for i in 0..vcpus.count {
        let page = if i == 0 { Some(v.bsp()) } else { v.ap() };
        let page = page.ok_or(LaunchError::NoApEntry { vcpus: vcpus.count })?;
        ctx.0.update(page);
    }
    Ok(ctx.finish_sha256())
}

struct Sha256Ctx(digest::Context);

impl Sha256Ctx {
    fn finish_sha256(self) -> Sha256 {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

fn sev_hash(ovmf: &Firmware<'_>, kernel: Option<&KernelHashes>) -> Result<Sha256Ctx, LaunchError> {
    let mut ctx = digest::Context::new(&SHA256);
    ctx.update(ovmf.contents().map_err(fw_err(Image::Ovmf))?);
    if let Some(k) = kernel {
        if !ovmf.supports_sev_hashes_table() {
            return Err(LaunchError::HashesTableUnsupported);
        }
        ctx.update(&k.table());
    }
    Ok(Sha256Ctx(ctx))
}

fn ovmf_vmsas(
    ovmf: &Firmware<'_>,
    vcpus: &Vcpus,
    features: GuestFeatures,
) -> Result<OvmfVmsas, LaunchError> {
    if vcpus.vmm == VmmType::Qemu && vcpus.signature.is_none() {
        return Err(LaunchError::MissingVcpuSignature);
    }
    let ap_eip = ovmf.sev_es_reset_eip().map_err(fw_err(Image::Ovmf))?;
    Ok(OvmfVmsas::new(ap_eip, features, vcpus.signature, vcpus.vmm))
}

/// The digest of the OVMF pages alone (`snp:ovmf-hash`), to pass later as
/// a pre-computed OVMF hash.
pub fn snp_ovmf_hash(ovmf: &Firmware<'_>) -> Result<LaunchDigest, LaunchError> {
    let mut g = GuestContext::new();
    add_firmware_pages(&mut g, ovmf, Image::Ovmf)?;
    Ok(g.digest())
}

/// SEV-SNP with OVMF: the OVMF pages (or a pre-computed digest of them),
/// the metadata sections, then one VMSA page per vCPU.
pub fn snp_launch_digest(
    ovmf: &Firmware<'_>,
    kernel: Option<&KernelHashes>,
    vcpus: &Vcpus,
    features: GuestFeatures,
    ovmf_hash: Option<LaunchDigest>,
) -> Result<LaunchDigest, LaunchError> {
    let mut g = match ovmf_hash {
        Some(seed) => GuestContext::with_seed(seed),
        None => {
            let mut g = GuestContext::new();
            add_firmware_pages(&mut g, ovmf, Image::Ovmf)?;
            g
        }
    };
    update_metadata_pages(&mut g, ovmf, Image::Ovmf, kernel, vcpus.vmm)?;
    let v = ovmf_vmsas(ovmf, vcpus, features)?;
    let bsp = sha384(v.bsp());
    let ap = v.ap().map(|p| sha384(p));
    for i in 0..vcpus.count {
        let page = if i == 0 { Some(&bsp) } else { ap.as_ref() };
        let page = page.ok_or(LaunchError::NoApEntry { vcpus: vcpus.count })?;
        g.update_vmsa_page_digest(page);
    }
    Ok(g.digest())
}

/// The parsed SVSM image and the VMSA page all its vCPUs start with.
fn svsm_page<'a>(
    ovmf: &Firmware<'_>,
    svsm: &'a [u8],
    vars_size: u64,
    vcpus: &Vcpus,
) -> Result<(Firmware<'a>, VmsaPage), LaunchError> {
    if vcpus.vmm != VmmType::Qemu {
        return Err(LaunchError::SvsmNeedsQemu(vcpus.vmm));
    }
    let sig = vcpus.signature.ok_or(LaunchError::MissingVcpuSignature)?;
    // QEMU maps OVMF to end at 4 GiB, its variable store right below, and
    // the SVSM right below that.
    let svsm_end = ovmf
        .gpa()
        .0
        .checked_sub(vars_size)
        .ok_or(LaunchError::VarsTooLarge { vars_size })?;
    let svsm_fw =
        Firmware::parse_ending_at(svsm, crate::gctx::Gpa(svsm_end)).map_err(fw_err(Image::Svsm))?;
    let entry = svsm_fw.svsm_entry().map_err(fw_err(Image::Svsm))?;
    Ok((svsm_fw, svsm_vmsa(entry.0, sig)))
}

/// SEV-SNP with Coconut-SVSM: OVMF pages, SVSM pages, the SVSM's metadata
/// sections, then one identical VMSA per vCPU.
pub fn svsm_launch_digest(
    ovmf: &Firmware<'_>,
    svsm: &[u8],
    vars_size: u64,
    vcpus: &Vcpus,
) -> Result<LaunchDigest, LaunchError> {
    let (svsm_fw, page) = svsm_page(ovmf, svsm, vars_size, vcpus)?;
    let mut g = GuestContext::new();
    add_firmware_pages(&mut g, ovmf, Image::Ovmf)?;
    add_firmware_pages(&mut g, &svsm_fw, Image::Svsm)?;
    update_metadata_pages(&mut g, &svsm_fw, Image::Svsm, None, VmmType::Qemu)?;
    let digest = sha384(page.as_slice());
    for _ in 0..vcpus.count {
        g.update_vmsa_page_digest(&digest);
    }
    Ok(g.digest())
}

/// Adds a whole image as normal pages at its GPA.
fn add_firmware_pages(
    g: &mut GuestContext,
    fw: &Firmware<'_>,
    image: Image,
) -> Result<(), LaunchError> {
    let what = match image {
        Image::Ovmf => "firmware pages",
        Image::Svsm => "SVSM pages",
    };
    // Checked before the contents are asked for, so that an image given by
    // its tail only gets the same answer as a whole one.
    if !fw.is_page_multiple() {
        return Err(LaunchError::Pages {
            image,
            what,
            source: PageUpdateError::NotPageMultiple {
                gpa: fw.gpa(),
                len: u64::try_from(fw.len()).unwrap_or(u64::MAX),
            },
        });
    }
    let contents = fw.contents().map_err(fw_err(image))?;
    g.update_normal_pages(fw.gpa(), contents)
        .map_err(pages_err(image, what))
}

/// Adds the pages the SEV metadata declares, as QEMU/EC2/GCE do.
fn update_metadata_pages(
    g: &mut GuestContext,
    fw: &Firmware<'_>,
    image: Image,
    kernel: Option<&KernelHashes>,
    vmm: VmmType,
) -> Result<(), LaunchError> {
    // Checked first so that the error does not depend on section order.
    if kernel.is_some() && !fw.has_section(SectionKind::SnpKernelHashes) {
        return Err(LaunchError::NoKernelHashesSection);
    }
    for s in fw.metadata_sections() {
        update_section(g, fw, image, s, kernel, vmm)?;
    }
    // EC2 adds the CPUID page(s) after every other section.
    if vmm == VmmType::Ec2 {
        for s in fw.metadata_sections() {
            if s.kind == SectionKind::Cpuid {
                g.update_cpuid_page(section_gpa(s));
            }
        }
    }
    Ok(())
}

fn section_gpa(s: &MetadataSection) -> crate::gctx::Gpa {
    crate::gctx::Gpa(u64::from(s.gpa))
}

fn update_section(
    g: &mut GuestContext,
    fw: &Firmware<'_>,
    image: Image,
    s: &MetadataSection,
    kernel: Option<&KernelHashes>,
    vmm: VmmType,
) -> Result<(), LaunchError> {
    let gpa = section_gpa(s);
    let size = u64::from(s.size);
    match s.kind {
        // GCE leaves pre-validated memory unmeasured rather than zeroed.
        SectionKind::SnpSecMem if vmm == VmmType::Gce => g
            .update_unmeasured_pages(gpa, size)
            .map_err(pages_err(image, "SNP_SEC_MEM section")),
        SectionKind::SnpSecMem => g
            .update_zero_pages(gpa, size)
            .map_err(pages_err(image, "SNP_SEC_MEM section")),
        SectionKind::SnpSecrets => {
            g.update_secrets_page(gpa);
            Ok(())
        }
        SectionKind::Cpuid => {
            if vmm != VmmType::Ec2 {
                g.update_cpuid_page(gpa);
            }
            Ok(())
        }
        SectionKind::SnpKernelHashes => match kernel {
            Some(k) => {
                if u64::from(s.size) != PAGE_SIZE as u64 {
                    return Err(LaunchError::KernelHashesSectionSize {
                        image,
                        index: s.index,
                        size: s.size,
                    });
                }
                let table = fw.sev_hashes_table().map_err(fw_err(image))?;
                // The table sits at the same offset within the section's
                // page as its own GPA within a page.
                // Masked to 12 bits, so the conversion cannot fail.
                let offset = usize::try_from(table.gpa & 0xfff).unwrap_or(PAGE_SIZE);
                let page = k.page(offset)?;
                g.update_normal_pages(gpa, page.as_slice())
                    .map_err(pages_err(image, "SNP kernel hashes section"))
            }
            None => g
                .update_zero_pages(gpa, size)
                .map_err(pages_err(image, "SNP kernel hashes section")),
        },
        SectionKind::SvsmCaa => g
            .update_zero_pages(gpa, size)
            .map_err(pages_err(image, "SVSM CAA section")),
        SectionKind::Unknown(raw) => Err(LaunchError::UnknownSection {
            image,
            index: s.index,
            offset: s.offset,
            raw,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firmware::tests::build_image;
    use crate::guid;
    use crate::vcpu::VcpuType;

    fn qemu(count: u32) -> Vcpus {
        Vcpus {
            count,
            signature: Some(VcpuType::EpycMilan.signature()),
            vmm: VmmType::Qemu,
        }
    }

    fn amdsev_like() -> Vec<u8> {
        build_image(
            8,
            &[
                (guid::SEV_ES_RESET_BLOCK, vec![4, 0xb0, 0x80, 0]),
                (
                    guid::SEV_HASH_TABLE_RV,
                    vec![0x10, 0xc0, 0x80, 0, 0, 4, 0, 0],
                ),
            ],
            Some(&[
                (0x80_0000, 0x9000, 1),
                (0x80_c000, 0x1000, 0x10),
                (0x80_d000, 0x1000, 2),
                (0x80_e000, 0x1000, 3),
            ]),
        )
    }

    #[test]
    fn snp_kernel_needs_the_section() {
        let img = build_image(
            2,
            &[(guid::SEV_ES_RESET_BLOCK, vec![4, 0xb0, 0x80, 0])],
            Some(&[(0x80_0000, 0x1000, 1)]),
        );
        let guest = Guest::Snp {
            kernel: Some(KernelHashes::new(b"k", None, None)),
            vcpus: qemu(1),
            features: GuestFeatures::default(),
            ovmf_hash: None,
        };
        assert_eq!(
            launch_digest(&img, &guest),
            Err(LaunchError::NoKernelHashesSection)
        );
    }

    #[test]
    fn snp_with_kernel_differs_from_without() {
        let img = amdsev_like();
        let mk = |kernel| Guest::Snp {
            kernel,
            vcpus: qemu(2),
            features: GuestFeatures::default(),
            ovmf_hash: None,
        };
        let a = launch_digest(&img, &mk(None)).expect("measures");
        let b =
            launch_digest(&img, &mk(Some(KernelHashes::new(b"k", None, None)))).expect("measures");
        assert_ne!(a, b);
    }

    #[test]
    fn ovmf_hash_seed_equals_hashing_the_pages() {
        let img = amdsev_like();
        let fw = Firmware::parse(&img).expect("parses");
        let seed = snp_ovmf_hash(&fw).expect("whole pages");
        let with = snp_launch_digest(&fw, None, &qemu(3), GuestFeatures(1), Some(seed));
        let without = snp_launch_digest(&fw, None, &qemu(3), GuestFeatures(1), None);
        assert_eq!(with, without);
    }

    #[test]
    fn missing_signature_and_ap_entry() {
        let img = amdsev_like();
        let guest = Guest::SevEs {
            kernel: None,
            vcpus: Vcpus {
                count: 2,
                signature: None,
                vmm: VmmType::Qemu,
            },
        };
        assert_eq!(
            launch_digest(&img, &guest),
            Err(LaunchError::MissingVcpuSignature)
        );
        let no_ap = build_image(2, &[(guid::SEV_ES_RESET_BLOCK, vec![0; 4])], None);
        let guest = Guest::SevEs {
            kernel: None,
            vcpus: qemu(2),
        };
        assert_eq!(
            launch_digest(&no_ap, &guest),
            Err(LaunchError::NoApEntry { vcpus: 2 })
        );
        let guest = Guest::SevEs {
            kernel: None,
            vcpus: qemu(1),
        };
        assert!(launch_digest(&no_ap, &guest).is_ok());
    }

    #[test]
    fn unknown_section_type_only_matters_for_snp() {
        let img = build_image(
            2,
            &[(guid::SEV_ES_RESET_BLOCK, vec![4, 0xb0, 0x80, 0])],
            Some(&[(0x80_0000, 0x1000, 9)]),
        );
        assert!(launch_digest(&img, &Guest::Sev { kernel: None }).is_ok());
        let snp = Guest::Snp {
            kernel: None,
            vcpus: qemu(1),
            features: GuestFeatures::default(),
            ovmf_hash: None,
        };
        assert!(matches!(
            launch_digest(&img, &snp),
            Err(LaunchError::UnknownSection {
                raw: 9,
                index: 0,
                ..
            })
        ));
    }

    #[test]
    fn sev_hashes_need_a_table_gpa() {
        let img = build_image(2, &[(guid::SEV_HASH_TABLE_RV, vec![0; 8])], None);
        let guest = Guest::Sev {
            kernel: Some(KernelHashes::new(b"k", None, None)),
        };
        assert_eq!(
            launch_digest(&img, &guest),
            Err(LaunchError::HashesTableUnsupported)
        );
    }

    #[test]
    fn vmsa_pages_per_mode() {
        let img = amdsev_like();
        let snp = Guest::Snp {
            kernel: None,
            vcpus: qemu(3),
            features: GuestFeatures::default(),
            ovmf_hash: None,
        };
        let pages = vmsa_pages(&img, &snp).expect("pages");
        assert_eq!(pages.len(), 3);
        assert_ne!(pages[0], pages[1]);
        assert_eq!(pages[1], pages[2]);
        assert!(vmsa_pages(&img, &Guest::Sev { kernel: None })
            .expect("none")
            .is_empty());
    }
}
