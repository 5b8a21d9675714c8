//! OVMF (and Coconut-SVSM) image parsing: the GUIDed footer table under the
//! reset vector and the SEV metadata section list it points at.
//!
//! Layout facts (edk2 `OvmfPkg/ResetVector`, QEMU `target/i386/sev.c`):
//! the table ends 32 bytes before the end of the image with an entry whose
//! GUID is [`OVMF_TABLE_FOOTER`](crate::guid::OVMF_TABLE_FOOTER); every entry
//! is `data || u16 size || GUID`, read backwards, `size` counting the 18-byte
//! trailer. The footer entry's size covers the whole table.

use crate::gctx::{Gpa, PAGE_SIZE};
use crate::guid::{self, Guid};

/// Four GiB: the firmware is mapped so that it ends here.
pub const FOUR_GIB: u64 = 0x1_0000_0000;

/// Bytes between the end of the footer table and the end of the image.
const FOOTER_TABLE_END_FROM_IMAGE_END: usize = 32;
/// `u16 size` + GUID trailing every table entry.
const ENTRY_TRAILER: usize = 18;
/// `"ASEV"`, u32 size, u32 version, u32 item count.
const METADATA_HEADER_LEN: usize = 16;
/// u32 GPA, u32 size, u32 type.
const METADATA_ITEM_LEN: usize = 12;
/// Magic at the start of the SEV metadata.
const METADATA_SIGNATURE: [u8; 4] = *b"ASEV";

/// Why a firmware image was refused. Offsets are from the start of the
/// image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FirmwareError {
    /// Too short to hold the footer table trailer.
    #[error("image is {len} bytes, too small to hold the OVMF footer table")]
    TooSmall {
        /// Image length.
        len: usize,
    },
    /// The image does not fit below the address it must end at.
    #[error("image of {len} bytes does not fit below GPA {end}")]
    DoesNotFit {
        /// Image length.
        len: usize,
        /// Where it must end.
        end: Gpa,
    },
    /// Only the end of the image was given, and more of it is needed.
    #[error(
        "only the last {have} bytes of the {len}-byte image were read; the last {need} are needed"
    )]
    TailTooShort {
        /// Bytes given.
        have: usize,
        /// Image length.
        len: usize,
        /// Bytes from the end that are needed.
        need: usize,
    },
    /// More bytes were given as the image's end than the image has.
    #[error("{have} bytes given as the end of a {len}-byte image")]
    TailLongerThanImage {
        /// Bytes given.
        have: usize,
        /// Image length.
        len: usize,
    },
    /// The footer entry's size runs past the start of the image.
    #[error(
        "footer table at offset {offset:#x} claims {size} bytes, beyond the start of the image"
    )]
    FooterTableSize {
        /// Offset of the footer entry trailer.
        offset: usize,
        /// Its size field.
        size: u16,
    },
    /// A table entry's size is smaller than its trailer or larger than
    /// what is left of the table.
    #[error("footer table entry {guid} at offset {offset:#x} has invalid size {size}")]
    TableEntrySize {
        /// The entry's GUID.
        guid: Guid,
        /// Offset of the entry's trailer.
        offset: usize,
        /// Its size field.
        size: u16,
    },
    /// A needed table entry is absent.
    #[error("footer table has no {name} entry ({guid})")]
    MissingTableEntry {
        /// What the entry is for.
        name: &'static str,
        /// Its GUID.
        guid: Guid,
    },
    /// A table entry is too short for the field read from it.
    #[error("footer table {name} entry ({guid}) holds {len} bytes, needs at least {needed}")]
    TableEntryTooShort {
        /// What the entry is for.
        name: &'static str,
        /// Its GUID.
        guid: Guid,
        /// Its data length.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The SEV metadata offset points outside the image.
    #[error(
        "SEV metadata offset {offset_from_end:#x} from the end points outside the {len}-byte image"
    )]
    MetadataOutOfBounds {
        /// The offset from the end of the image, as stored.
        offset_from_end: u32,
        /// Image length.
        len: usize,
    },
    /// The SEV metadata header does not start with `ASEV`.
    #[error("SEV metadata at offset {offset:#x}: signature {found:02x?} is not \"ASEV\"")]
    MetadataSignature {
        /// Offset of the header.
        offset: usize,
        /// What was there.
        found: [u8; 4],
    },
    /// Only version 1 of the SEV metadata is defined.
    #[error("SEV metadata at offset {offset:#x}: unsupported version {version}")]
    MetadataVersion {
        /// Offset of the header.
        offset: usize,
        /// The version field.
        version: u32,
    },
    /// The header's size cannot hold its items, or runs past the image end.
    #[error(
        "SEV metadata at offset {offset:#x}: size {size} cannot hold {items} sections within the image"
    )]
    MetadataSize {
        /// Offset of the header.
        offset: usize,
        /// The size field.
        size: u32,
        /// The item-count field.
        items: u32,
    },
}

/// Kinds of section the OVMF SEV metadata declares
/// (edk2 `OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// Memory the guest expects pre-validated (zero pages).
    SnpSecMem,
    /// The SNP secrets page.
    SnpSecrets,
    /// The CPUID page.
    Cpuid,
    /// SVSM calling-area pages.
    SvsmCaa,
    /// The page holding the SEV hashes table for measured kernel boot.
    SnpKernelHashes,
    /// A type this crate does not know. Kept rather than refused at parse
    /// time: only an SNP measurement has to interpret sections, and the
    /// reference tool likewise ignores them in SEV and SEV-ES modes.
    Unknown(u32),
}

impl SectionKind {
    fn from_raw(raw: u32) -> Self {
        match raw {
            1 => SectionKind::SnpSecMem,
            2 => SectionKind::SnpSecrets,
            3 => SectionKind::Cpuid,
            4 => SectionKind::SvsmCaa,
            0x10 => SectionKind::SnpKernelHashes,
            other => SectionKind::Unknown(other),
        }
    }
}

/// One section of the SEV metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataSection {
    /// Position in the list (for messages).
    pub index: usize,
    /// Offset of the item within the image (for messages).
    pub offset: usize,
    /// Guest-physical start.
    pub gpa: u32,
    /// Length in bytes.
    pub size: u32,
    /// What the section is.
    pub kind: SectionKind,
}

/// Where QEMU puts the SEV hashes table, per the footer table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashesTableLocation {
    /// Guest-physical address of the table (0 when the build has none).
    pub gpa: u32,
}

/// The bytes of an image that were given: all of it, or only its last
/// part (enough for the footer table and SEV metadata, which sit at the
/// end, when the contents are hashed elsewhere as they are read).
#[derive(Clone, Copy, Debug)]
struct ImageBytes<'a> {
    /// `image[base..len]`.
    tail: &'a [u8],
    base: usize,
    len: usize,
}

impl<'a> ImageBytes<'a> {
    /// Bytes `start..end` of the image: `None` if the range is not inside
    /// the image, an error if it is but lies before the part given.
    fn get(&self, start: usize, end: usize) -> Result<Option<&'a [u8]>, FirmwareError> {
        if start > end || end > self.len {
            return Ok(None);
        }
        if start < self.base {
            return Err(FirmwareError::TailTooShort {
                have: self.tail.len(),
                len: self.len,
                need: self.len - start,
            });
        }
        Ok(self.tail.get(start - self.base..end - self.base))
    }
}

/// A parsed firmware image mapped to end at a given address.
#[derive(Clone, Debug)]
pub struct Firmware<'a> {
    bytes: ImageBytes<'a>,
    gpa: Gpa,
    /// Entries in the order they were read (from the end of the table
    /// towards its start).
    table: Vec<(Guid, &'a [u8])>,
    sections: Vec<MetadataSection>,
}

impl<'a> Firmware<'a> {
    /// Parses an OVMF image mapped to end at 4 GiB.
    pub fn parse(data: &'a [u8]) -> Result<Self, FirmwareError> {
        Self::parse_ending_at(data, Gpa(FOUR_GIB))
    }

    /// Parses an image mapped to end at `end` (an SVSM binary sits below
    /// OVMF and its variable store).
    pub fn parse_ending_at(data: &'a [u8], end: Gpa) -> Result<Self, FirmwareError> {
        Self::parse_tail(data, u64::try_from(data.len()).unwrap_or(u64::MAX), end)
    }

    /// Parses an image of `image_len` bytes from its last `tail.len()`
    /// bytes. Fails with [`FirmwareError::TailTooShort`] (saying how many
    /// bytes from the end are needed) when the table or metadata lie
    /// earlier; [`contents`](Self::contents) is then unavailable unless the
    /// tail is the whole image.
    pub fn parse_tail(tail: &'a [u8], image_len: u64, end: Gpa) -> Result<Self, FirmwareError> {
        let len = usize::try_from(image_len).map_err(|_| FirmwareError::DoesNotFit {
            len: usize::MAX,
            end,
        })?;
        let base = len
            .checked_sub(tail.len())
            .ok_or(FirmwareError::TailLongerThanImage {
                have: tail.len(),
                len,
            })?;
        let gpa = end
            .0
            .checked_sub(image_len)
            .map(Gpa)
            .ok_or(FirmwareError::DoesNotFit { len, end })?;
        let bytes = ImageBytes { tail, base, len };
        let table = parse_footer_table(bytes)?;
        let mut fw = Firmware {
            bytes,
            gpa,
            table,
            sections: Vec::new(),
        };
        fw.sections = fw.parse_metadata()?;
        Ok(fw)
    }

    /// The whole image, if it was given whole.
    pub fn contents(&self) -> Result<&'a [u8], FirmwareError> {
        if self.bytes.base == 0 {
            Ok(self.bytes.tail)
        } else {
            Err(FirmwareError::TailTooShort {
                have: self.bytes.tail.len(),
                len: self.bytes.len,
                need: self.bytes.len,
            })
        }
    }

    /// Length of the image in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len
    }

    /// Whether the image is empty (never true of a parsed image: it holds
    /// at least the footer).
    pub fn is_empty(&self) -> bool {
        self.bytes.len == 0
    }

    /// Guest-physical address of the first byte.
    pub fn gpa(&self) -> Gpa {
        self.gpa
    }

    /// Whether the image length is a whole number of pages (needed to add
    /// it with `SNP_LAUNCH_UPDATE`).
    pub fn is_page_multiple(&self) -> bool {
        self.bytes.len % PAGE_SIZE == 0
    }

    /// The data of a footer-table entry. When a GUID appears twice, the one
    /// nearer the start of the image wins, as in the reference tool.
    pub fn table_entry(&self, guid: &Guid) -> Option<&'a [u8]> {
        self.table
            .iter()
            .rev()
            .find(|(g, _)| g == guid)
            .map(|(_, data)| *data)
    }

    /// GUIDs present in the footer table.
    pub fn table_guids(&self) -> impl Iterator<Item = &Guid> {
        self.table.iter().map(|(g, _)| g)
    }

    /// The SEV metadata sections, in image order (empty when the image has
    /// no SEV metadata).
    pub fn metadata_sections(&self) -> &[MetadataSection] {
        &self.sections
    }

    /// Whether any metadata section is of `kind`.
    pub fn has_section(&self, kind: SectionKind) -> bool {
        self.sections.iter().any(|s| s.kind == kind)
    }

    /// Entry point of application processors under SEV-ES/SNP (the SEV-ES
    /// reset block's first u32).
    pub fn sev_es_reset_eip(&self) -> Result<u32, FirmwareError> {
        self.table_u32(&guid::SEV_ES_RESET_BLOCK, "SEV-ES reset block")
    }

    /// Where the SEV hashes table goes.
    pub fn sev_hashes_table(&self) -> Result<HashesTableLocation, FirmwareError> {
        self.table_u32(&guid::SEV_HASH_TABLE_RV, "SEV hashes table")
            .map(|gpa| HashesTableLocation { gpa })
    }

    /// Whether the build reserves room for the SEV hashes table (needed for
    /// measured direct kernel boot under SEV and SEV-ES).
    pub fn supports_sev_hashes_table(&self) -> bool {
        matches!(self.sev_hashes_table(), Ok(HashesTableLocation { gpa }) if gpa != 0)
    }

    /// Entry point of a Coconut-SVSM binary: the SVSM info entry's offset
    /// added to where the binary is mapped.
    pub fn svsm_entry(&self) -> Result<Gpa, FirmwareError> {
        let offset = self.table_u32(&guid::SVSM_INFO, "SVSM info")?;
        // Cannot overflow: the image ends at or below 4 GiB + 4 GiB.
        Ok(Gpa(self.gpa.0.saturating_add(u64::from(offset))))
    }

    fn table_u32(&self, guid: &Guid, name: &'static str) -> Result<u32, FirmwareError> {
        let entry = self
            .table_entry(guid)
            .ok_or(FirmwareError::MissingTableEntry { name, guid: *guid })?;
        read_u32(entry, 0).ok_or(FirmwareError::TableEntryTooShort {
            name,
            guid: *guid,
            len: entry.len(),
            needed: 4,
        })
    }

    fn parse_metadata(&self) -> Result<Vec<MetadataSection>, FirmwareError> {
        // An image without the metadata entry simply declares no sections
        // (non-SEV builds); whether that is acceptable is the caller's call.
        let offset_from_end = match self.table_entry(&guid::OVMF_SEV_METADATA) {
            None => return Ok(Vec::new()),
            Some(_) => self.table_u32(&guid::OVMF_SEV_METADATA, "SEV metadata")?,
        };
        let len = self.bytes.len;
        let out_of_bounds = FirmwareError::MetadataOutOfBounds {
            offset_from_end,
            len,
        };
        let start = usize::try_from(offset_from_end)
            .ok()
            .and_then(|o| len.checked_sub(o))
            .filter(|s| s.saturating_add(METADATA_HEADER_LEN) <= len)
            .ok_or(out_of_bounds.clone())?;
        let header = self
            .bytes
            .get(start, start + METADATA_HEADER_LEN)?
            .ok_or(out_of_bounds)?;
        let mut signature = [0u8; 4];
        signature.copy_from_slice(header.get(0..4).unwrap_or(&[0; 4]));
        if signature != METADATA_SIGNATURE {
            return Err(FirmwareError::MetadataSignature {
                offset: start,
                found: signature,
            });
        }
        let size = read_u32(header, 4).unwrap_or(0);
        let version = read_u32(header, 8).unwrap_or(0);
        let items = read_u32(header, 12).unwrap_or(0);
        if version != 1 {
            return Err(FirmwareError::MetadataVersion {
                offset: start,
                version,
            });
        }
        let size_error = FirmwareError::MetadataSize {
            offset: start,
            size,
            items,
        };
        let needed = usize::try_from(items)
            .ok()
            .and_then(|n| n.checked_mul(METADATA_ITEM_LEN))
            .and_then(|n| n.checked_add(METADATA_HEADER_LEN))
            .ok_or(size_error.clone())?;
        let declared = usize::try_from(size).map_err(|_| size_error.clone())?;
        if needed > declared || start.saturating_add(declared) > len {
            return Err(size_error);
        }
        let list = self
            .bytes
            .get(start + METADATA_HEADER_LEN, start + needed)?
            .ok_or(size_error)?;
        Ok(list
            .chunks_exact(METADATA_ITEM_LEN)
            .enumerate()
            .map(|(index, item)| MetadataSection {
                index,
                offset: start + METADATA_HEADER_LEN + index * METADATA_ITEM_LEN,
                gpa: read_u32(item, 0).unwrap_or(0),
                size: read_u32(item, 4).unwrap_or(0),
                kind: SectionKind::from_raw(read_u32(item, 8).unwrap_or(0)),
            })
            .collect())
    }
}

/// Reads the GUIDed table that ends 32 bytes before the end of the image.
/// An image without the footer GUID has an empty table (not an error: the
/// caller decides which entries it needs).
fn parse_footer_table(img: ImageBytes<'_>) -> Result<Vec<(Guid, &[u8])>, FirmwareError> {
    let len = img.len;
    let footer_trailer = len
        .checked_sub(FOOTER_TABLE_END_FROM_IMAGE_END + ENTRY_TRAILER)
        .ok_or(FirmwareError::TooSmall { len })?;
    let (footer_size, footer_guid) =
        read_trailer(img, footer_trailer)?.ok_or(FirmwareError::TooSmall { len })?;
    if footer_guid != guid::OVMF_TABLE_FOOTER {
        return Ok(Vec::new());
    }
    // A footer smaller than its own trailer declares no entries.
    let Some(table_len) = usize::from(footer_size).checked_sub(ENTRY_TRAILER) else {
        return Ok(Vec::new());
    };
    let table_start =
        footer_trailer
            .checked_sub(table_len)
            .ok_or(FirmwareError::FooterTableSize {
                offset: footer_trailer,
                size: footer_size,
            })?;
    let mut entries = Vec::new();
    // `end` is the offset just past the entry being read.
    let mut end = footer_trailer;
    // Fewer than 18 bytes left cannot be an entry; the reference ignores
    // such a remainder and so do we.
    while end - table_start >= ENTRY_TRAILER {
        let trailer = end - ENTRY_TRAILER;
        let Some((size, guid)) = read_trailer(img, trailer)? else {
            break;
        };
        let size_usize = usize::from(size);
        let entry_start = end
            .checked_sub(size_usize)
            .filter(|s| size_usize >= ENTRY_TRAILER && *s >= table_start)
            .ok_or(FirmwareError::TableEntrySize {
                guid,
                offset: trailer,
                size,
            })?;
        let entry_data = img.get(entry_start, trailer)?.unwrap_or_default();
        entries.push((guid, entry_data));
        end = entry_start;
    }
    Ok(entries)
}

/// Reads an entry trailer (`u16 size`, GUID) at image offset `offset`.
fn read_trailer(img: ImageBytes<'_>, offset: usize) -> Result<Option<(u16, Guid)>, FirmwareError> {
    let Some(bytes) = img.get(offset, offset.saturating_add(ENTRY_TRAILER))? else {
        return Ok(None);
    };
    let parsed = bytes.split_at_checked(2).and_then(|(size, guid)| {
        let size = u16::from_le_bytes(size.try_into().ok()?);
        let guid = Guid::from_bytes(guid.try_into().ok()?);
        Some((size, guid))
    });
    Ok(parsed)
}

pub(crate) fn read_u32(data: &[u8], offset: usize) -> Option<u32> {
    let bytes = data.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds an image of `pages` pages with the given table entries (in
    /// image order) and optional metadata sections `(gpa, size, type)`.
    pub(crate) fn build_image(
        pages: usize,
        entries: &[(Guid, Vec<u8>)],
        sections: Option<&[(u32, u32, u32)]>,
    ) -> Vec<u8> {
        let mut img: Vec<u8> = (0..pages * PAGE_SIZE)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
            .collect();
        let mut entries = entries.to_vec();
        if let Some(sections) = sections {
            // Metadata placed at a fixed spot in the first page.
            let meta_off = 0x100usize;
            let mut m = Vec::new();
            m.extend_from_slice(b"ASEV");
            m.extend_from_slice(&((16 + 12 * sections.len()) as u32).to_le_bytes());
            m.extend_from_slice(&1u32.to_le_bytes());
            m.extend_from_slice(&(sections.len() as u32).to_le_bytes());
            for (gpa, size, ty) in sections {
                m.extend_from_slice(&gpa.to_le_bytes());
                m.extend_from_slice(&size.to_le_bytes());
                m.extend_from_slice(&ty.to_le_bytes());
            }
            img[meta_off..meta_off + m.len()].copy_from_slice(&m);
            let from_end = (img.len() - meta_off) as u32;
            entries.push((guid::OVMF_SEV_METADATA, from_end.to_le_bytes().to_vec()));
        }
        let mut table = Vec::new();
        for (g, d) in &entries {
            table.extend_from_slice(d);
            table.extend_from_slice(&((d.len() + 18) as u16).to_le_bytes());
            table.extend_from_slice(g.as_bytes());
        }
        table.extend_from_slice(&((table.len() + 18) as u16).to_le_bytes());
        table.extend_from_slice(guid::OVMF_TABLE_FOOTER.as_bytes());
        let end = img.len() - 32;
        img[end - table.len()..end].copy_from_slice(&table);
        img
    }

    #[test]
    fn reads_entries_and_sections() {
        let img = build_image(
            4,
            &[
                (guid::SEV_ES_RESET_BLOCK, vec![4, 0xb0, 0x80, 0]),
                (guid::SEV_HASH_TABLE_RV, vec![0, 0xc0, 0x80, 0, 0, 4, 0, 0]),
            ],
            Some(&[
                (0x80_0000, 0x9000, 1),
                (0x80_d000, 0x1000, 2),
                (0x80_e000, 0x1000, 0x77),
            ]),
        );
        let fw = Firmware::parse(&img).expect("valid image");
        assert_eq!(fw.gpa(), Gpa(FOUR_GIB - 4 * 4096));
        assert_eq!(fw.sev_es_reset_eip(), Ok(0x0080_b004));
        assert_eq!(
            fw.sev_hashes_table(),
            Ok(HashesTableLocation { gpa: 0x80_c000 })
        );
        assert!(fw.supports_sev_hashes_table());
        let kinds: Vec<_> = fw.metadata_sections().iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                SectionKind::SnpSecMem,
                SectionKind::SnpSecrets,
                SectionKind::Unknown(0x77)
            ]
        );
        assert_eq!(fw.metadata_sections()[1].gpa, 0x80_d000);
    }

    #[test]
    fn image_without_footer_has_no_entries() {
        let img = vec![0u8; 8192];
        let fw = Firmware::parse(&img).expect("no table is not an error");
        assert_eq!(fw.table_guids().count(), 0);
        assert_eq!(
            fw.sev_es_reset_eip(),
            Err(FirmwareError::MissingTableEntry {
                name: "SEV-ES reset block",
                guid: guid::SEV_ES_RESET_BLOCK
            })
        );
    }

    #[test]
    fn tiny_and_oversized_images_are_refused() {
        assert_eq!(
            Firmware::parse(&[0u8; 49]).err(),
            Some(FirmwareError::TooSmall { len: 49 })
        );
        let img = vec![0u8; 8192];
        assert!(matches!(
            Firmware::parse_ending_at(&img, Gpa(4096)),
            Err(FirmwareError::DoesNotFit { .. })
        ));
    }

    #[test]
    fn bad_metadata_is_named() {
        let mut img = build_image(2, &[], Some(&[(0x1000, 0x1000, 1)]));
        img[0x100] = b'X';
        assert!(matches!(
            Firmware::parse(&img),
            Err(FirmwareError::MetadataSignature { offset: 0x100, .. })
        ));
        let mut img = build_image(2, &[], Some(&[(0x1000, 0x1000, 1)]));
        img[0x108] = 2;
        assert!(matches!(
            Firmware::parse(&img),
            Err(FirmwareError::MetadataVersion { version: 2, .. })
        ));
        let mut img = build_image(2, &[], Some(&[(0x1000, 0x1000, 1)]));
        img[0x10c] = 200; // 200 items in a 28-byte header
        assert!(matches!(
            Firmware::parse(&img),
            Err(FirmwareError::MetadataSize { items: 200, .. })
        ));
    }

    #[test]
    fn entry_size_past_table_start_is_refused() {
        let mut img = build_image(1, &[(guid::SEV_ES_RESET_BLOCK, vec![1, 2, 3, 4])], None);
        // The reset block's size field sits 18 bytes before the footer trailer.
        let footer_trailer = img.len() - 32 - 18;
        let size_at = footer_trailer - 18;
        img[size_at..size_at + 2].copy_from_slice(&500u16.to_le_bytes());
        assert!(matches!(
            Firmware::parse(&img),
            Err(FirmwareError::TableEntrySize { size: 500, .. })
        ));
    }

    proptest! {
        /// Arbitrary bytes, and real-looking images with random bytes
        /// overwritten in the table, never panic.
        #[test]
        fn parse_never_panics(data in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = Firmware::parse(&data);
        }

        #[test]
        fn corrupted_tables_never_panic(
            pos in prop::collection::vec((prop_oneof![0usize..200, 3800usize..3840], any::<u8>()), 1..8),
        ) {
            let mut img = build_image(
                1,
                &[(guid::SEV_ES_RESET_BLOCK, vec![4, 0xb0, 0x80, 0])],
                Some(&[(0x80_0000, 0x1000, 1)]),
            );
            let n = img.len();
            for (p, b) in pos {
                img[n - 1 - p] = b;
            }
            if let Ok(fw) = Firmware::parse(&img) {
                let _ = fw.sev_es_reset_eip();
                let _ = fw.sev_hashes_table();
                let _ = fw.svsm_entry();
            }
        }
    }
}
