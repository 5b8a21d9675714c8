//! VMSA (vCPU save area) pages as the hypervisor hands them to
//! `SNP_LAUNCH_UPDATE` / `LAUNCH_UPDATE_VMSA`: the reset state of each vCPU.
//!
//! Offsets are those of the SEV-ES save area (AMD APM vol. 2, table B-4,
//! "VMSA layout, state save area for SEV-ES").

use std::fmt;
use std::str::FromStr;

use crate::gctx::PAGE_SIZE;
use crate::vcpu::VcpuSignature;

/// The hypervisor that launches the guest; they differ slightly in the
/// initial register state they set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum VmmType {
    /// QEMU/KVM.
    #[default]
    Qemu,
    /// AWS EC2.
    Ec2,
    /// Google Compute Engine.
    Gce,
}

impl VmmType {
    /// Every VMM type.
    pub const ALL: &'static [VmmType] = &[VmmType::Qemu, VmmType::Ec2, VmmType::Gce];

    /// The reference tool's spelling (`QEMU`, `ec2`, `gce`).
    pub const fn name(self) -> &'static str {
        match self {
            VmmType::Qemu => "QEMU",
            VmmType::Ec2 => "ec2",
            VmmType::Gce => "gce",
        }
    }
}

impl fmt::Display for VmmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown `--vmm-type` name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown VMM type '{0}' (known: QEMU, ec2, gce)")]
pub struct UnknownVmmType(pub String);

impl FromStr for VmmType {
    type Err = UnknownVmmType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VmmType::ALL
            .iter()
            .copied()
            .find(|t| t.name() == s)
            .ok_or_else(|| UnknownVmmType(s.to_owned()))
    }
}

/// The SEV_FEATURES word of the VMSA (SEV-SNP guest features: SNPActive,
/// vTOM, ReflectVC, RestrictedInjection, …). The reference tool's default is
/// 0x1 (SNPActive only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GuestFeatures(pub u64);

impl Default for GuestFeatures {
    fn default() -> Self {
        GuestFeatures(0x1)
    }
}

/// x86 reset vector: where the bootstrap processor starts.
pub const BSP_EIP: u32 = 0xffff_fff0;

/// One segment register image (`vmcb_seg`).
#[derive(Clone, Copy, Debug)]
struct Segment {
    selector: u16,
    attrib: u16,
    limit: u32,
    base: u64,
}

const fn seg(selector: u16, attrib: u16, limit: u32, base: u64) -> Segment {
    Segment {
        selector,
        attrib,
        limit,
        base,
    }
}

/// Field offsets within the save area.
mod off {
    pub const ES: usize = 0x000;
    pub const CS: usize = 0x010;
    pub const SS: usize = 0x020;
    pub const DS: usize = 0x030;
    pub const FS: usize = 0x040;
    pub const GS: usize = 0x050;
    pub const GDTR: usize = 0x060;
    pub const LDTR: usize = 0x070;
    pub const IDTR: usize = 0x080;
    pub const TR: usize = 0x090;
    pub const EFER: usize = 0x0d0;
    pub const CR4: usize = 0x148;
    pub const CR0: usize = 0x158;
    pub const DR7: usize = 0x160;
    pub const DR6: usize = 0x168;
    pub const RFLAGS: usize = 0x170;
    pub const RIP: usize = 0x178;
    pub const G_PAT: usize = 0x268;
    pub const RDX: usize = 0x310;
    pub const SEV_FEATURES: usize = 0x3b0;
    pub const XCR0: usize = 0x3e8;
    pub const MXCSR: usize = 0x408;
    pub const X87_FCW: usize = 0x410;
}

/// The register values that vary between VMSAs; everything else is zero.
#[derive(Clone, Copy, Debug)]
struct SaveArea {
    es: Segment,
    cs: Segment,
    ss: Segment,
    ds: Segment,
    fs: Segment,
    gs: Segment,
    gdtr: Segment,
    ldtr: Segment,
    idtr: Segment,
    tr: Segment,
    efer: u64,
    cr4: u64,
    cr0: u64,
    dr7: u64,
    dr6: u64,
    rflags: u64,
    rip: u64,
    g_pat: u64,
    rdx: u64,
    sev_features: u64,
    xcr0: u64,
    mxcsr: u32,
    x87_fcw: u16,
}

/// A 4 KiB VMSA page.
pub type VmsaPage = Box<[u8; PAGE_SIZE]>;

impl SaveArea {
    fn to_page(self) -> VmsaPage {
        let mut page = Box::new([0u8; PAGE_SIZE]);
        let p = page.as_mut_slice();
        for (at, s) in [
            (off::ES, self.es),
            (off::CS, self.cs),
            (off::SS, self.ss),
            (off::DS, self.ds),
            (off::FS, self.fs),
            (off::GS, self.gs),
            (off::GDTR, self.gdtr),
            (off::LDTR, self.ldtr),
            (off::IDTR, self.idtr),
            (off::TR, self.tr),
        ] {
            put(p, at, &s.selector.to_le_bytes());
            put(p, at + 2, &s.attrib.to_le_bytes());
            put(p, at + 4, &s.limit.to_le_bytes());
            put(p, at + 8, &s.base.to_le_bytes());
        }
        for (at, v) in [
            (off::EFER, self.efer),
            (off::CR4, self.cr4),
            (off::CR0, self.cr0),
            (off::DR7, self.dr7),
            (off::DR6, self.dr6),
            (off::RFLAGS, self.rflags),
            (off::RIP, self.rip),
            (off::G_PAT, self.g_pat),
            (off::RDX, self.rdx),
            (off::SEV_FEATURES, self.sev_features),
            (off::XCR0, self.xcr0),
        ] {
            put(p, at, &v.to_le_bytes());
        }
        put(p, off::MXCSR, &self.mxcsr.to_le_bytes());
        put(p, off::X87_FCW, &self.x87_fcw.to_le_bytes());
        page
    }
}

/// Writes a field at a constant offset of a page (offsets are constants
/// well inside the page).
fn put(page: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = page.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// PAT MSR reset value (AMD APM vol. 2, section A.3).
const DEFAULT_G_PAT: u64 = 0x0007_0406_0007_0406;

/// Reset state of a vCPU starting at `eip` under QEMU, EC2 or GCE.
fn ovmf_save_area(
    eip: u32,
    features: GuestFeatures,
    sig: Option<VcpuSignature>,
    vmm: VmmType,
) -> SaveArea {
    // Where the VMMs differ: segment attributes, RDX and FPU reset state.
    let (cs_flags, ss_flags, tr_flags, rdx, mxcsr, fcw, g_pat) = match vmm {
        VmmType::Qemu => (
            0x9b,
            0x93,
            0x8b,
            u64::from(sig.map_or(0, |s| s.0)),
            0x1f80,
            0x37f,
            DEFAULT_G_PAT,
        ),
        // EC2 marks CS not-accessed for the BSP only, and reports a fixed
        // RDX of 0x600 whatever the CPU.
        VmmType::Ec2 => (
            if eip == BSP_EIP { 0x9a } else { 0x9b },
            0x92,
            0x83,
            0x600,
            0,
            0,
            DEFAULT_G_PAT,
        ),
        // GCE's hypervisor overwrites the PAT reset value.
        VmmType::Gce => (0x9b, 0x93, 0x8b, 0x600, 0, 0, 0x0007_0106),
    };
    let data = seg(0, 0x93, 0xffff, 0);
    SaveArea {
        es: data,
        // Real-mode CS: the high 16 bits of the entry point are the segment
        // base, the low 16 bits go to RIP.
        cs: seg(0xf000, cs_flags, 0xffff, u64::from(eip & 0xffff_0000)),
        ss: seg(0, ss_flags, 0xffff, 0),
        ds: data,
        fs: data,
        gs: data,
        gdtr: seg(0, 0, 0xffff, 0),
        ldtr: seg(0, 0x82, 0xffff, 0),
        idtr: seg(0, 0, 0xffff, 0),
        tr: seg(0, tr_flags, 0xffff, 0),
        efer: 0x1000, // KVM sets EFER.SVME
        cr4: 0x40,    // KVM sets CR4.MCE
        cr0: 0x10,
        dr7: 0x400,
        dr6: 0xffff_0ff0,
        rflags: 0x2,
        rip: u64::from(eip & 0xffff),
        g_pat,
        rdx,
        sev_features: features.0,
        xcr0: 0x1,
        mxcsr,
        x87_fcw: fcw,
    }
}

/// The VMSA pages of an OVMF guest: the BSP's starts at the reset vector,
/// every AP's at the firmware's SEV-ES reset address.
#[derive(Clone, Debug)]
pub struct OvmfVmsas {
    bsp: VmsaPage,
    ap: Option<VmsaPage>,
}

impl OvmfVmsas {
    /// Builds the BSP page and, when the firmware gives an AP entry point
    /// (non-zero), the AP page. `sig` is only used (and needed) for QEMU.
    pub fn new(
        ap_eip: u32,
        features: GuestFeatures,
        sig: Option<VcpuSignature>,
        vmm: VmmType,
    ) -> Self {
        OvmfVmsas {
            bsp: ovmf_save_area(BSP_EIP, features, sig, vmm).to_page(),
            ap: (ap_eip != 0).then(|| ovmf_save_area(ap_eip, features, sig, vmm).to_page()),
        }
    }

    /// The bootstrap processor's page.
    pub fn bsp(&self) -> &[u8; PAGE_SIZE] {
        &self.bsp
    }

    /// The application processors' page, if the firmware has an AP entry.
    pub fn ap(&self) -> Option<&[u8; PAGE_SIZE]> {
        self.ap.as_deref()
    }
}

/// The VMSA page every vCPU of a Coconut-SVSM guest starts with: 32-bit
/// protected mode at the SVSM entry point, SEV_FEATURES = SNPActive.
///
/// It matches the reference tool exactly, including one quirk: the tool
/// sets MXCSR to its reset value but leaves the x87 control word at 0.
pub fn svsm_vmsa(entry: u64, sig: VcpuSignature) -> VmsaPage {
    let flat_data = seg(16, 0xc93, 0xffff_ffff, 0);
    SaveArea {
        es: flat_data,
        cs: seg(8, 0xc9b, 0xffff_ffff, 0),
        ss: flat_data,
        ds: flat_data,
        fs: flat_data,
        gs: seg(0, 0x093, 0xffff, 0),
        gdtr: seg(0, 0, 0xffff, 0),
        ldtr: seg(0, 0x82, 0xffff, 0),
        idtr: seg(0, 0, 0xffff, 0),
        tr: seg(0, 0x8b, 0xffff, 0),
        efer: 0x1000,
        cr4: 0x40,
        cr0: 0x11, // protected mode
        dr7: 0x400,
        dr6: 0xffff_0ff0,
        rflags: 0x2,
        rip: entry,
        g_pat: DEFAULT_G_PAT,
        rdx: u64::from(sig.0),
        sev_features: 0x1,
        xcr0: 0x1,
        mxcsr: 0x1f80,
        x87_fcw: 0,
    }
    .to_page()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u64_at(p: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(p[at..at + 8].try_into().expect("8 bytes"))
    }

    #[test]
    fn qemu_bsp_reset_state() {
        let v = OvmfVmsas::new(
            0x80_b004,
            GuestFeatures(0x21),
            Some(VcpuSignature(0xa00f11)),
            VmmType::Qemu,
        );
        let p = v.bsp();
        assert_eq!(u64_at(p, off::RIP), 0xfff0);
        assert_eq!(u64_at(p, off::CS + 8), 0xffff_0000, "CS base");
        assert_eq!(&p[off::CS..off::CS + 4], &[0x00, 0xf0, 0x9b, 0x00]);
        assert_eq!(u64_at(p, off::RDX), 0xa00f11);
        assert_eq!(u64_at(p, off::SEV_FEATURES), 0x21);
        assert_eq!(u64_at(p, off::G_PAT), DEFAULT_G_PAT);
        let ap = v.ap().expect("AP entry given");
        assert_eq!(u64_at(ap, off::RIP), 0xb004);
        assert_eq!(u64_at(ap, off::CS + 8), 0x80_0000);
    }

    #[test]
    fn no_ap_page_without_an_ap_entry() {
        let v = OvmfVmsas::new(0, GuestFeatures::default(), None, VmmType::Gce);
        assert!(v.ap().is_none());
        assert_eq!(u64_at(v.bsp(), off::RDX), 0x600);
        assert_eq!(u64_at(v.bsp(), off::G_PAT), 0x0007_0106);
    }

    #[test]
    fn ec2_cs_flags_depend_on_entry_point() {
        let v = OvmfVmsas::new(0x80_b004, GuestFeatures(1), None, VmmType::Ec2);
        assert_eq!(v.bsp()[off::CS + 2], 0x9a);
        assert_eq!(v.ap().expect("AP")[off::CS + 2], 0x9b);
    }

    #[test]
    fn svsm_page() {
        let p = svsm_vmsa(0xffc0_1000, VcpuSignature(7));
        assert_eq!(u64_at(p.as_slice(), off::RIP), 0xffc0_1000);
        assert_eq!(u64_at(p.as_slice(), off::CR0), 0x11);
        assert_eq!(&p[off::MXCSR..off::MXCSR + 4], &0x1f80u32.to_le_bytes());
        assert_eq!(&p[off::X87_FCW..off::X87_FCW + 2], &[0, 0]);
    }

    #[test]
    fn vmm_names() {
        for v in VmmType::ALL {
            assert_eq!(v.name().parse::<VmmType>(), Ok(*v));
        }
        assert!("qemu".parse::<VmmType>().is_err());
    }
}
