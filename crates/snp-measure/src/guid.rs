//! EFI GUIDs as they are stored in firmware and in the SEV hashes table.

use std::fmt;

/// A GUID in its on-disk (EFI, "mixed-endian") byte order: the first three
/// fields little-endian, the last eight bytes as written.
///
/// Firmware tables compare GUIDs as raw bytes, so that is what we keep; the
/// textual form is only for messages.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Guid([u8; 16]);

impl Guid {
    /// Builds a GUID from the fields of its textual form
    /// `d1-d2-d3-d4[0..2]-d4[2..8]`.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Guid([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }

    /// Wraps 16 bytes already in on-disk order.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Guid(bytes)
    }

    /// The 16 bytes in on-disk order.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15]
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

/// Marks the end of the GUIDed table that OVMF places just below the reset
/// vector (edk2 `OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm`).
pub const OVMF_TABLE_FOOTER: Guid = Guid::from_fields(
    0x96b5_82de,
    0x1fb2,
    0x45f7,
    [0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d],
);

/// Table entry giving the guest-physical address (and size) of the area where
/// QEMU writes the SEV hashes table for measured direct kernel boot.
pub const SEV_HASH_TABLE_RV: Guid = Guid::from_fields(
    0x7255_371f,
    0x3a3b,
    0x4b04,
    [0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54],
);

/// Table entry giving the SEV-ES application-processor reset address.
pub const SEV_ES_RESET_BLOCK: Guid = Guid::from_fields(
    0x00f7_71de,
    0x1a7e,
    0x4fcb,
    [0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e],
);

/// Table entry giving the offset (from the end of the image) of the OVMF SEV
/// metadata (`ASEV` header and section list).
pub const OVMF_SEV_METADATA: Guid = Guid::from_fields(
    0xdc88_6566,
    0x984a,
    0x4798,
    [0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc],
);

/// Table entry in a Coconut-SVSM binary giving the entry point offset.
pub const SVSM_INFO: Guid = Guid::from_fields(
    0xa789_a612,
    0x0597,
    0x4c4b,
    [0xa4, 0x9f, 0xcb, 0xb1, 0xfe, 0x9d, 0x1d, 0xdd],
);

/// Header of the SEV hashes table that QEMU builds for direct kernel boot.
pub const SEV_HASH_TABLE_HEADER: Guid = Guid::from_fields(
    0x9438_d606,
    0x4f22,
    0x4cc9,
    [0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21],
);

/// SEV hashes table entry: SHA-256 of the kernel image.
pub const SEV_KERNEL_ENTRY: Guid = Guid::from_fields(
    0x4de7_9437,
    0xabd2,
    0x427f,
    [0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b],
);

/// SEV hashes table entry: SHA-256 of the initrd (of nothing when absent).
pub const SEV_INITRD_ENTRY: Guid = Guid::from_fields(
    0x44ba_f731,
    0x3a2f,
    0x4bd7,
    [0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d],
);

/// SEV hashes table entry: SHA-256 of the NUL-terminated command line.
pub const SEV_CMDLINE_ENTRY: Guid = Guid::from_fields(
    0x97d0_2dd8,
    0xbd20,
    0x4c94,
    [0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab, 0x2a],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textual_form_round_trips_through_fields() {
        assert_eq!(
            OVMF_TABLE_FOOTER.to_string(),
            "96b582de-1fb2-45f7-baea-a366c55a082d"
        );
        assert_eq!(
            SEV_ES_RESET_BLOCK.to_string(),
            "00f771de-1a7e-4fcb-890e-68c77e2fb44e"
        );
        assert_eq!(
            SEV_CMDLINE_ENTRY.to_string(),
            "97d02dd8-bd20-4c94-aa78-e7714d36ab2a"
        );
    }

    #[test]
    fn on_disk_order_is_mixed_endian() {
        // The footer GUID as it appears in the last bytes of an OVMF image.
        assert_eq!(
            OVMF_TABLE_FOOTER.as_bytes(),
            &[
                0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45, 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a,
                0x08, 0x2d
            ]
        );
    }
}
