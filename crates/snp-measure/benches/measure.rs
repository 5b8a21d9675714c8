//! Throughput of the measurement library: the page-update primitive, a
//! whole SNP launch digest (OVMF pages + metadata + VMSAs) and SEV-ES.
//! Uses Debian's OVMF.fd when installed, else a 2 MiB image built here.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use snp_measure::gctx::{Gpa, GuestContext, PageType};
use snp_measure::guid;
use snp_measure::{launch_digest, Guest, GuestFeatures, VcpuType, Vcpus, VmmType};

/// A 2 MiB image with an SEV-ES reset block and the usual SNP sections.
fn synthetic_ovmf() -> Vec<u8> {
    let mut img: Vec<u8> = (0..2 * 1024 * 1024u32)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[3])
        .collect();
    let meta_at = 0x1000;
    let mut m = b"ASEV".to_vec();
    let sections: [(u32, u32, u32); 5] = [
        (0x80_0000, 0x9000, 1),
        (0x80_a000, 0x3000, 1),
        (0x80_d000, 0x1000, 2),
        (0x80_e000, 0x1000, 3),
        (0x80_f000, 0x1_1000, 1),
    ];
    m.extend_from_slice(&(16 + 12 * sections.len() as u32).to_le_bytes());
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (gpa, size, ty) in sections {
        for v in [gpa, size, ty] {
            m.extend_from_slice(&v.to_le_bytes());
        }
    }
    img[meta_at..meta_at + m.len()].copy_from_slice(&m);
    let mut table = Vec::new();
    for (g, d) in [
        (guid::SEV_ES_RESET_BLOCK, 0x80_b004u32),
        (guid::OVMF_SEV_METADATA, (img.len() - meta_at) as u32),
    ] {
        table.extend_from_slice(&d.to_le_bytes());
        table.extend_from_slice(&22u16.to_le_bytes());
        table.extend_from_slice(g.as_bytes());
    }
    table.extend_from_slice(&((table.len() + 18) as u16).to_le_bytes());
    table.extend_from_slice(guid::OVMF_TABLE_FOOTER.as_bytes());
    let end = img.len() - 32;
    img[end - table.len()..end].copy_from_slice(&table);
    img
}

fn benches(c: &mut Criterion) {
    let ovmf = std::fs::read("/usr/share/ovmf/OVMF.fd").unwrap_or_else(|_| synthetic_ovmf());

    c.bench_function("sha384_4KiB", |b| {
        let page = [0x5au8; 4096];
        b.iter(|| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, black_box(&page)))
    });

    c.bench_function("page_update", |b| {
        let mut g = GuestContext::new();
        b.iter(|| g.update(PageType::Zero, black_box(Gpa(0x80_0000)), &[0; 48]))
    });

    for count in [4u32, 64] {
        let guest = Guest::Snp {
            kernel: None,
            vcpus: Vcpus {
                count,
                signature: Some(VcpuType::EpycMilan.signature()),
                vmm: VmmType::Qemu,
            },
            features: GuestFeatures::default(),
            ovmf_hash: None,
        };
        c.bench_function(&format!("snp_2MiB_ovmf_{count}_vcpus"), |b| {
            b.iter(|| launch_digest(black_box(&ovmf), &guest))
        });
    }

    let seves = Guest::SevEs {
        kernel: None,
        vcpus: Vcpus {
            count: 4,
            signature: Some(VcpuType::EpycV4.signature()),
            vmm: VmmType::Qemu,
        },
    };
    c.bench_function("seves_2MiB_ovmf_4_vcpus", |b| {
        b.iter(|| launch_digest(black_box(&ovmf), &seves))
    });
}

criterion_group!(measure, benches);
criterion_main!(measure);
