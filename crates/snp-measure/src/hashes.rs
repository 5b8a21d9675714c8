//! The SEV hashes table QEMU writes into guest memory for measured direct
//! kernel boot, so that OVMF can check the kernel, initrd and command line
//! it loads from the host against the launch measurement.
//!
//! Layout (QEMU `target/i386/sev.c`, `SevHashTable`): a GUID + u16 length
//! header, then three GUID + u16 length + SHA-256 entries in the order
//! command line, initrd, kernel; the whole padded with zeros to a multiple
//! of 16 bytes.

use aws_lc_rs::digest::{self, SHA256};

use crate::gctx::PAGE_SIZE;
use crate::guid::{self, Guid};

/// A SHA-256 digest.
pub type Sha256 = [u8; 32];

const ENTRY_LEN: usize = 16 + 2 + 32;
const TABLE_LEN: usize = 16 + 2 + 3 * ENTRY_LEN;
/// Size of the table as QEMU writes it, padded to 16 bytes.
pub const PADDED_TABLE_LEN: usize = (TABLE_LEN + 15) & !15;

/// The three digests of a direct kernel boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelHashes {
    /// SHA-256 of the kernel image file.
    pub kernel: Sha256,
    /// SHA-256 of the initrd file, or of nothing when there is none.
    pub initrd: Sha256,
    /// SHA-256 of the command line with its terminating NUL.
    pub cmdline: Sha256,
}

/// Why the hashes table could not be placed in its page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SEV hashes table at page offset {offset:#x} would run past the end of its page")]
pub struct HashesPageError {
    /// The table's offset within its page.
    pub offset: usize,
}

impl KernelHashes {
    /// Hashes the kernel, initrd and command line the way QEMU does: an
    /// absent initrd is hashed as empty, and the command line (empty when
    /// absent) is hashed with a trailing NUL.
    pub fn new(kernel: &[u8], initrd: Option<&[u8]>, cmdline: Option<&str>) -> Self {
        KernelHashes {
            kernel: sha256(kernel),
            initrd: sha256(initrd.unwrap_or_default()),
            cmdline: cmdline_digest(cmdline),
        }
    }

    /// Builds from file digests already computed (e.g. streamed from disk).
    pub fn from_digests(kernel: Sha256, initrd: Option<Sha256>, cmdline: Option<&str>) -> Self {
        KernelHashes {
            kernel,
            initrd: initrd.unwrap_or_else(|| sha256(&[])),
            cmdline: cmdline_digest(cmdline),
        }
    }

    /// The padded table as it appears in guest memory.
    pub fn table(&self) -> [u8; PADDED_TABLE_LEN] {
        let mut out = [0u8; PADDED_TABLE_LEN];
        let mut w = Writer::new(&mut out);
        w.put(guid::SEV_HASH_TABLE_HEADER.as_bytes());
        w.put(&(TABLE_LEN as u16).to_le_bytes());
        for (g, hash) in [
            (guid::SEV_CMDLINE_ENTRY, &self.cmdline),
            (guid::SEV_INITRD_ENTRY, &self.initrd),
            (guid::SEV_KERNEL_ENTRY, &self.kernel),
        ] {
            put_entry(&mut w, &g, hash);
        }
        out
    }

    /// The page holding the table at `offset` within it, zeros elsewhere
    /// (what an SNP guest's kernel-hashes section is measured as).
    pub fn page(&self, offset: usize) -> Result<Box<[u8; PAGE_SIZE]>, HashesPageError> {
        let mut page = Box::new([0u8; PAGE_SIZE]);
        let dst = offset
            .checked_add(PADDED_TABLE_LEN)
            .and_then(|end| page.get_mut(offset..end))
            .ok_or(HashesPageError { offset })?;
        dst.copy_from_slice(&self.table());
        Ok(page)
    }
}

fn put_entry(w: &mut Writer<'_>, g: &Guid, hash: &Sha256) {
    w.put(g.as_bytes());
    w.put(&(ENTRY_LEN as u16).to_le_bytes());
    w.put(hash);
}

fn cmdline_digest(cmdline: Option<&str>) -> Sha256 {
    let mut ctx = digest::Context::new(&SHA256);
    ctx.update(cmdline.unwrap_or_default().as_bytes());
    ctx.update(&[0]);
    to_sha256(ctx.finish().as_ref())
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Sha256 {
    to_sha256(digest::digest(&SHA256, data).as_ref())
}

fn to_sha256(d: &[u8]) -> Sha256 {
    let mut out = [0u8; 32];
    if let Some(src) = d.get(..32) {
        out.copy_from_slice(src);
    }
    out
}

/// Appends bytes to a fixed buffer; only used on buffers sized for exactly
/// what is written, so a write past the end is a bug caught by the tests.
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        debug_assert!(end <= self.buf.len(), "writer overflow");
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_layout() {
        assert_eq!(TABLE_LEN, 168);
        assert_eq!(PADDED_TABLE_LEN, 176);
        let h = KernelHashes::new(b"kernel", Some(b"initrd"), Some("console=ttyS0"));
        let t = h.table();
        assert_eq!(&t[..16], guid::SEV_HASH_TABLE_HEADER.as_bytes());
        assert_eq!(&t[16..18], &168u16.to_le_bytes());
        assert_eq!(&t[18..34], guid::SEV_CMDLINE_ENTRY.as_bytes());
        assert_eq!(&t[34..36], &50u16.to_le_bytes());
        assert_eq!(&t[36..68], &sha256(b"console=ttyS0\0"));
        assert_eq!(&t[68..84], guid::SEV_INITRD_ENTRY.as_bytes());
        assert_eq!(&t[86..118], &sha256(b"initrd"));
        assert_eq!(&t[118..134], guid::SEV_KERNEL_ENTRY.as_bytes());
        assert_eq!(&t[136..168], &sha256(b"kernel"));
        assert_eq!(&t[168..], &[0; 8]);
    }

    #[test]
    fn absent_initrd_and_cmdline() {
        let h = KernelHashes::new(b"k", None, None);
        assert_eq!(h.initrd, sha256(b""));
        assert_eq!(h.cmdline, sha256(b"\0"));
        assert_eq!(
            KernelHashes::from_digests(sha256(b"k"), None, Some("")),
            h,
            "an empty command line is the same as none"
        );
    }

    #[test]
    fn page_placement() {
        let h = KernelHashes::new(b"k", None, None);
        let p = h.page(0x400).expect("fits");
        assert_eq!(&p[0x400..0x400 + 176], &h.table());
        assert!(p[..0x400].iter().all(|b| *b == 0));
        assert!(p[0x400 + 176..].iter().all(|b| *b == 0));
        assert!(h.page(4096 - 176).is_ok());
        assert_eq!(
            h.page(4096 - 175).err(),
            Some(HashesPageError { offset: 4096 - 175 })
        );
        assert!(h.page(usize::MAX).is_err());
    }
}
