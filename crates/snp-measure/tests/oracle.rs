//! Oracle tests: every measurement this crate computes is compared byte for
//! byte with the reference tool `sev-snp-measure` (PyPI) over a matrix of
//! firmware images, modes, vCPU counts and types, guest features, VMM types
//! and kernel/initrd/command lines; ID blocks are compared with
//! `snp-create-id-block`.
//!
//! Firmware: the OVMF builds of Debian's `ovmf` package carry the SEV
//! metadata but no SEV hashes table (no AmdSev build is packaged), so
//! measured direct kernel boot is checked on images built here: synthetic
//! AmdSev-like images and Debian's OVMF.fd patched to declare a hashes table
//! and an SNP kernel-hashes section. Coconut-SVSM binaries are synthetic too.
//!
//! When the reference tool or the firmware is missing the test says so and
//! passes, unless `MAMORI_REQUIRE_ORACLE=1` or `CI=true` is set, in which
//! case it fails. `.ci/setup.d/40-snp-measure.sh` installs both.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{json, Value};
use snp_measure::cli::{run, MeasureArgs};
use snp_measure::guid::{self, Guid};
use snp_measure::launch::snp_ovmf_hash;
use snp_measure::{
    launch_digest, verify_id_auth, vmsa_pages, Firmware, Guest, GuestFeatures, KernelHashes,
    LaunchDigest, VcpuSignature, VcpuType, Vcpus, VmmType,
};

const DEBIAN_OVMF: &[&str] = &[
    "/usr/share/ovmf/OVMF.fd",
    "/usr/share/OVMF/OVMF_CODE.fd",
    "/usr/share/OVMF/OVMF_CODE.secboot.fd",
    "/usr/share/OVMF/OVMF_CODE_4M.fd",
    "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
];

const ORACLE_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle/oracle.py");

fn python() -> String {
    std::env::var("MAMORI_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn oracle_required() -> bool {
    std::env::var("MAMORI_REQUIRE_ORACLE").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether the reference tool and Debian's OVMF are installed; if not,
/// skips (prints why) or fails when the oracle is required.
fn oracle_available(test: &str) -> bool {
    let import = Command::new(python())
        .args(["-c", "import sevsnpmeasure.guest, sevsnpmeasure.id_block"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let mut missing = Vec::new();
    if !import.is_ok_and(|s| s.success()) {
        missing.push("the Python package sev-snp-measure".to_owned());
    }
    if !Path::new(DEBIAN_OVMF[0]).exists() {
        missing.push(format!("Debian's ovmf package ({})", DEBIAN_OVMF[0]));
    }
    if missing.is_empty() {
        return true;
    }
    let what = format!(
        "oracle not available: missing {} (install with .ci/setup.d/40-snp-measure.sh)",
        missing.join(" and ")
    );
    if oracle_required() {
        panic!("{test}: {what}; it is required here (MAMORI_REQUIRE_ORACLE=1 or CI=true)");
    }
    // Straight to the process's stderr: the test harness captures the
    // print macros, and a skip must be visible in a normal run.
    let _ = writeln!(std::io::stderr(), "{test}: SKIPPED: {what}");
    false
}

/// Runs the batch driver over `cases`.
fn run_oracle(cases: &[Value]) -> Vec<Result<String, String>> {
    let mut child = Command::new(python())
        .arg(ORACLE_PY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    let input = serde_json::to_vec(cases).expect("serialise cases");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write cases");
    let out = child.wait_with_output().expect("oracle runs");
    assert!(
        out.status.success(),
        "oracle driver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("oracle JSON");
    assert_eq!(results.len(), cases.len());
    results
        .into_iter()
        .map(|r| match (r.get("ok"), r.get("err")) {
            (Some(Value::String(s)), _) => Ok(s.clone()),
            (_, Some(Value::String(e))) => Err(e.clone()),
            _ => Err(format!("unexpected oracle result {r}")),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Test firmware built here.

/// Deterministic byte stream (xorshift64*), so images and the matrix are
/// the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 32) as u8).collect()
    }
}

struct Section(u32, u32, u32);

/// An image of `pages` pages whose footer table holds `entries` and, when
/// given, SEV metadata with `sections`, placed `meta_at` bytes in.
fn build_image(
    rng: &mut Rng,
    pages: usize,
    entries: &[(Guid, Vec<u8>)],
    sections: Option<&[Section]>,
    meta_at: usize,
) -> Vec<u8> {
    let mut img = rng.bytes(pages * 4096);
    let mut entries = entries.to_vec();
    if let Some(sections) = sections {
        let mut m = Vec::new();
        m.extend_from_slice(b"ASEV");
        m.extend_from_slice(&((16 + 12 * sections.len()) as u32).to_le_bytes());
        m.extend_from_slice(&1u32.to_le_bytes());
        m.extend_from_slice(&(sections.len() as u32).to_le_bytes());
        for Section(gpa, size, ty) in sections {
            m.extend_from_slice(&gpa.to_le_bytes());
            m.extend_from_slice(&size.to_le_bytes());
            m.extend_from_slice(&ty.to_le_bytes());
        }
        img[meta_at..meta_at + m.len()].copy_from_slice(&m);
        entries.push((
            guid::OVMF_SEV_METADATA,
            ((img.len() - meta_at) as u32).to_le_bytes().to_vec(),
        ));
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

fn le32(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn hashes_rv(gpa: u32) -> Vec<u8> {
    let mut v = le32(gpa);
    v.extend_from_slice(&0x400u32.to_le_bytes());
    v
}

/// An AmdSev-like OVMF: the metadata layout of edk2's AmdSev build with the
/// kernel-hashes page at 0x80c000 and the table at `table_offset` in it.
fn amdsev_image(rng: &mut Rng, pages: usize, table_offset: u32, with_cpuid: bool) -> Vec<u8> {
    let mut sections = vec![
        Section(0x80_0000, 0x9000, 1),
        Section(0x80_9000, 0x3000, 1),
        Section(0x80_c000, 0x1000, 0x10),
        Section(0x80_d000, 0x1000, 2),
    ];
    if with_cpuid {
        sections.push(Section(0x80_e000, 0x1000, 3));
    }
    sections.push(Section(0x80_f000, 0x1_1000, 1));
    build_image(
        rng,
        pages,
        &[
            (guid::SEV_ES_RESET_BLOCK, le32(0x80_b004)),
            (guid::SEV_HASH_TABLE_RV, hashes_rv(0x80_c000 + table_offset)),
        ],
        Some(&sections),
        0x200,
    )
}

/// Debian's OVMF.fd with a hashes table declared in its footer table and
/// an SNP kernel-hashes section added to its SEV metadata.
fn patched_debian(ovmf: &[u8]) -> Option<Vec<u8>> {
    let mut img = ovmf.to_vec();
    let fw = Firmware::parse(ovmf).ok()?;
    let rv = fw.table_entry(&guid::SEV_HASH_TABLE_RV)?;
    // Offset of the entry data: find it by address inside `img`.
    let rv_off = rv.as_ptr() as usize - ovmf.as_ptr() as usize;
    img[rv_off..rv_off + 8].copy_from_slice(&hashes_rv(0x80_c200));
    let meta_from_end = u32::from_le_bytes(
        fw.table_entry(&guid::OVMF_SEV_METADATA)?
            .get(..4)?
            .try_into()
            .ok()?,
    ) as usize;
    let start = img.len() - meta_from_end;
    let count = u32::from_le_bytes(img[start + 12..start + 16].try_into().ok()?) as usize;
    // Shrink the section covering 0x80a000..0x80d000 to make room.
    for i in 0..count {
        let at = start + 16 + 12 * i;
        if img[at..at + 4] == 0x80_a000u32.to_le_bytes() {
            img[at + 4..at + 8].copy_from_slice(&0x2000u32.to_le_bytes());
        }
    }
    let new_at = start + 16 + 12 * count;
    img[new_at..new_at + 4].copy_from_slice(&0x80_c000u32.to_le_bytes());
    img[new_at + 4..new_at + 8].copy_from_slice(&0x1000u32.to_le_bytes());
    img[new_at + 8..new_at + 12].copy_from_slice(&0x10u32.to_le_bytes());
    let size = (16 + 12 * (count + 1)) as u32;
    img[start + 4..start + 8].copy_from_slice(&size.to_le_bytes());
    img[start + 12..start + 16].copy_from_slice(&((count + 1) as u32).to_le_bytes());
    Some(img)
}

/// A Coconut-SVSM-like binary: SVSM info entry and metadata with CAA pages.
fn svsm_image(rng: &mut Rng, pages: usize, entry_offset: u32, caa_pages: u32) -> Vec<u8> {
    build_image(
        rng,
        pages,
        &[(guid::SVSM_INFO, le32(entry_offset))],
        Some(&[
            Section(0x80_0000, 0x4000, 1),
            Section(0x80_4000, 0x1000, 2),
            Section(0x80_5000, 0x1000, 3),
            Section(0x80_6000, caa_pages * 0x1000, 4),
        ]),
        0x80,
    )
}

struct Fixture {
    dir: PathBuf,
    files: HashMap<PathBuf, Vec<u8>>,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Fixture {
            dir,
            files: HashMap::new(),
        }
    }

    fn write(&mut self, name: &str, data: Vec<u8>) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, &data).expect("write fixture");
        self.files.insert(path.clone(), data);
        path
    }

    fn read(&mut self, path: &Path) -> Vec<u8> {
        self.files
            .entry(path.to_owned())
            .or_insert_with(|| std::fs::read(path).expect("read firmware"))
            .clone()
    }
}

// ---------------------------------------------------------------------------
// Cases.

#[derive(Clone, Debug)]
struct Case {
    mode: &'static str,
    ovmf: PathBuf,
    vcpus: u32,
    sig: Option<u32>,
    vmm: VmmType,
    features: u64,
    kernel: Option<PathBuf>,
    initrd: Option<PathBuf>,
    append: Option<String>,
    ovmf_hash: Option<String>,
    svsm: Option<PathBuf>,
    vars_size: u64,
}

impl Case {
    fn new(mode: &'static str, ovmf: &Path) -> Self {
        Case {
            mode,
            ovmf: ovmf.to_owned(),
            vcpus: 1,
            sig: Some(VcpuType::EpycV4.signature().0),
            vmm: VmmType::Qemu,
            features: 1,
            kernel: None,
            initrd: None,
            append: None,
            ovmf_hash: None,
            svsm: None,
            vars_size: 0,
        }
    }

    fn json(&self) -> Value {
        let p = |o: &Option<PathBuf>| o.as_ref().map(|p| p.display().to_string());
        json!({
            "mode": self.mode,
            "ovmf": self.ovmf.display().to_string(),
            "vcpus": self.vcpus,
            // The reference CLI passes 0 in sev mode.
            "vcpu_sig": if self.mode == "sev" { Some(0) } else { self.sig },
            "vmm": self.vmm.name(),
            "guest_features": self.features,
            "kernel": p(&self.kernel),
            "initrd": p(&self.initrd),
            "append": self.append,
            "ovmf_hash": self.ovmf_hash,
            "svsm": p(&self.svsm),
            "vars_size": self.vars_size,
        })
    }

    fn ours(&self, fx: &mut Fixture) -> Result<String, String> {
        let ovmf = fx.read(&self.ovmf);
        if self.mode == "snp:ovmf-hash" {
            let fw = Firmware::parse(&ovmf).map_err(|e| e.to_string())?;
            return snp_ovmf_hash(&fw)
                .map(|d| d.to_hex())
                .map_err(|e| e.to_string());
        }
        let kernel = self.kernel.as_ref().map(|k| {
            let k = fx.read(k);
            let i = self.initrd.as_ref().map(|i| fx.read(i));
            KernelHashes::new(&k, i.as_deref(), self.append.as_deref())
        });
        let vcpus = Vcpus {
            count: self.vcpus,
            signature: self.sig.map(VcpuSignature),
            vmm: self.vmm,
        };
        let svsm = self.svsm.as_ref().map(|s| fx.read(s)).unwrap_or_default();
        let guest = match self.mode {
            "sev" => Guest::Sev { kernel },
            "seves" => Guest::SevEs { kernel, vcpus },
            "snp" => Guest::Snp {
                kernel,
                vcpus,
                features: GuestFeatures(self.features),
                ovmf_hash: self
                    .ovmf_hash
                    .as_deref()
                    .map(|h| LaunchDigest::from_hex(h).expect("hex hash")),
            },
            "snp:svsm" => Guest::SnpSvsm {
                svsm: &svsm,
                vars_size: self.vars_size,
                vcpus,
            },
            other => panic!("mode {other}"),
        };
        launch_digest(&ovmf, &guest)
            .map(|m| m.to_hex())
            .map_err(|e| e.to_string())
    }
}

/// Checks every case; returns how many matched with a value and how many
/// were refused by both tools.
fn compare(fx: &mut Fixture, cases: &[Case], must_succeed: bool) -> (usize, usize) {
    let json: Vec<Value> = cases.iter().map(Case::json).collect();
    let theirs = run_oracle(&json);
    let mut matched = 0;
    let mut both_refused = 0;
    let mut failures = Vec::new();
    for (case, theirs) in cases.iter().zip(theirs) {
        let ours = case.ours(fx);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) if a == b => matched += 1,
            (Err(_), Err(_)) if !must_succeed => both_refused += 1,
            _ => failures.push(format!(
                "{}\n    ours:   {ours:?}\n    theirs: {theirs:?}",
                case.json()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from the reference tool:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
    (matched, both_refused)
}

fn debian_firmware() -> Vec<PathBuf> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for p in DEBIAN_OVMF {
        let path = Path::new(p);
        if let Ok(real) = path.canonicalize() {
            if !seen.contains(&real) {
                seen.push(real);
                out.push(path.to_owned());
            }
        }
    }
    out
}

#[test]
fn measurements_match_the_reference_tool() {
    if !oracle_available("measurements_match_the_reference_tool") {
        return;
    }
    let mut fx = Fixture::new("oracle-measure");
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let debian = debian_firmware();
    let ovmf_fd = PathBuf::from(DEBIAN_OVMF[0]);

    // Built firmware with a SEV hashes table.
    let amdsev = [
        fx.write("amdsev-0.fd", amdsev_image(&mut rng, 256, 0, true)),
        fx.write("amdsev-400.fd", amdsev_image(&mut rng, 300, 0x400, true)),
        // The table ends exactly at the end of its page.
        fx.write("amdsev-edge.fd", amdsev_image(&mut rng, 128, 0xf50, false)),
    ];
    let patched = patched_debian(&fx.read(&ovmf_fd)).expect("patch OVMF.fd");
    let patched = fx.write("debian-patched.fd", patched);
    let kernel_fw: Vec<PathBuf> = amdsev.iter().cloned().chain([patched.clone()]).collect();
    let svsm = [
        fx.write("svsm-a.bin", svsm_image(&mut rng, 64, 0x1000, 1)),
        fx.write("svsm-b.bin", svsm_image(&mut rng, 200, 0x2_0040, 4)),
    ];
    let kernel = fx.write("vmlinuz", rng.bytes(1_234_567));
    let initrd = fx.write("initrd.img", rng.bytes(456_789));
    let empty_initrd = fx.write("empty.img", Vec::new());

    let mut cases = Vec::new();

    // 1. Every vCPU count 1..=64 in SNP and SEV-ES on the real firmware.
    for n in 1..=64 {
        let mut c = Case::new("snp", &ovmf_fd);
        c.vcpus = n;
        cases.push(c.clone());
        if n % 3 == 1 {
            c.mode = "seves";
            cases.push(c);
        }
    }
    // 2. Every Debian build in every mode with every VMM.
    for fw in &debian {
        cases.push(Case::new("sev", fw));
        cases.push(Case::new("snp:ovmf-hash", fw));
        for vmm in VmmType::ALL {
            for (mode, vcpus) in [("seves", 2), ("snp", 1), ("snp", 4), ("snp", 17)] {
                let mut c = Case::new(mode, fw);
                c.vmm = *vmm;
                c.vcpus = vcpus;
                if *vmm != VmmType::Qemu && vcpus == 4 {
                    c.sig = None; // EC2 and GCE do not need a signature
                }
                cases.push(c);
            }
        }
    }
    // 3. Every vCPU type.
    for t in VcpuType::ALL {
        for mode in ["snp", "seves"] {
            let mut c = Case::new(mode, &ovmf_fd);
            c.sig = Some(t.signature().0);
            c.vcpus = 2 + rng.below(7) as u32;
            cases.push(c);
        }
    }
    // 4. Raw signatures and family/model/stepping values.
    for _ in 0..12 {
        let mut c = Case::new("snp", &debian[rng.below(debian.len() as u64) as usize]);
        c.sig = Some(
            VcpuSignature::from_family_model_stepping(
                rng.below(40) as u32,
                rng.below(256) as u32,
                rng.below(16) as u32,
            )
            .0,
        );
        c.vcpus = 1 + rng.below(64) as u32;
        cases.push(c);
    }
    // 5. Guest features.
    for features in [
        0u64,
        0x1,
        0x5,
        0x21,
        0x3f,
        0x7f,
        0x1ff,
        0x4000_0001,
        u64::MAX,
    ] {
        for vmm in VmmType::ALL {
            let mut c = Case::new("snp", &ovmf_fd);
            c.features = features;
            c.vmm = *vmm;
            c.vcpus = 3;
            cases.push(c);
        }
    }
    // 6. Measured direct kernel boot on firmware with a hashes table.
    let appends = [
        None,
        Some(String::new()),
        Some("console=ttyS0 root=/dev/vda1".to_owned()),
        Some("quiet splash — ünïcode=✓".to_owned()),
    ];
    for fw in &kernel_fw {
        for mode in ["sev", "seves", "snp"] {
            for (i, append) in appends.iter().enumerate() {
                for initrd_choice in [None, Some(&initrd), Some(&empty_initrd)] {
                    if i % 2 == 1 && initrd_choice.is_some() {
                        continue;
                    }
                    for vmm in VmmType::ALL {
                        if mode == "sev" && *vmm != VmmType::Qemu {
                            continue;
                        }
                        let mut c = Case::new(mode, fw);
                        c.kernel = Some(kernel.clone());
                        c.initrd = initrd_choice.cloned();
                        c.append = append.clone();
                        c.vmm = *vmm;
                        c.vcpus = 1 + rng.below(8) as u32;
                        cases.push(c);
                    }
                }
            }
        }
        // Without a kernel the section is measured as zero pages.
        cases.push(Case::new("snp", fw));
        cases.push(Case::new("snp:ovmf-hash", fw));
    }
    // 7. A pre-computed OVMF hash, as the reference computes it.
    for fw in [&ovmf_fd, &amdsev[1]] {
        let seed = Case::new("snp:ovmf-hash", fw)
            .ours(&mut fx)
            .expect("ovmf hash");
        for vcpus in [1, 8] {
            let mut c = Case::new("snp", fw);
            c.ovmf_hash = Some(seed.clone());
            c.vcpus = vcpus;
            cases.push(c.clone());
            c.kernel = Some(kernel.clone());
            if fw != &ovmf_fd {
                cases.push(c);
            }
        }
    }
    // 8. Coconut-SVSM below OVMF and its variable store.
    for s in &svsm {
        for (fw, vars) in [
            (&ovmf_fd, 540_672u64),
            (&debian[1], 131_072),
            (&amdsev[0], 0x2000),
        ] {
            for vcpus in [1, 2, 16, 64] {
                let mut c = Case::new("snp:svsm", fw);
                c.svsm = Some(s.clone());
                c.vars_size = vars;
                c.vcpus = vcpus;
                c.sig = Some(VcpuType::ALL[rng.below(16) as usize].signature().0);
                cases.push(c);
            }
        }
    }

    let (matched, _) = compare(&mut fx, &cases, true);
    let _ = writeln!(
        std::io::stderr(),
        "oracle: {matched} of {} measurements identical to sev-snp-measure",
        cases.len()
    );
    assert_eq!(matched, cases.len());
}

#[test]
fn both_tools_refuse_the_same_inputs() {
    if !oracle_available("both_tools_refuse_the_same_inputs") {
        return;
    }
    let mut fx = Fixture::new("oracle-refuse");
    let mut rng = Rng(77);
    let kernel = fx.write("vmlinuz", rng.bytes(1000));
    let ovmf_fd = PathBuf::from(DEBIAN_OVMF[0]);
    let mut cases = Vec::new();
    // Debian's builds reserve no hashes table and no kernel-hashes section.
    for fw in debian_firmware() {
        for mode in ["sev", "seves", "snp"] {
            let mut c = Case::new(mode, &fw);
            c.kernel = Some(kernel.clone());
            cases.push(c);
        }
    }
    // No footer table at all (a VARS file, random bytes): no reset block.
    let no_table = fx.write("random.fd", rng.bytes(64 * 4096));
    for mode in ["seves", "snp"] {
        cases.push(Case::new(mode, Path::new("/usr/share/OVMF/OVMF_VARS.fd")));
        cases.push(Case::new(mode, &no_table));
    }
    // Not a whole number of pages.
    let mut odd = fx.read(&ovmf_fd);
    odd.drain(..100);
    let odd = fx.write("odd.fd", odd);
    cases.push(Case::new("snp", &odd));
    cases.push(Case::new("snp:ovmf-hash", &odd));
    // Bad metadata signature and version.
    for (at, byte) in [(0usize, b'X'), (8, 2)] {
        let mut img = fx.read(&ovmf_fd);
        let start = img.len() - 0x52c;
        assert_eq!(
            &img[start..start + 4],
            b"ASEV",
            "OVMF.fd layout assumed by this test"
        );
        img[start + at] = byte;
        let p = fx.write(&format!("badmeta-{at}.fd"), img);
        cases.push(Case::new("snp", &p));
        cases.push(Case::new("sev", &p));
    }
    // Unknown metadata section type in SNP mode.
    let unknown = fx.write(
        "unknown-section.fd",
        build_image(
            &mut rng,
            16,
            &[(guid::SEV_ES_RESET_BLOCK, le32(0x80_b004))],
            Some(&[Section(0x80_0000, 0x1000, 7)]),
            0x40,
        ),
    );
    cases.push(Case::new("snp", &unknown));
    // A hashes table that would cross the end of its page.
    let over = fx.write("amdsev-over.fd", amdsev_image(&mut rng, 64, 0xf60, true));
    let mut c = Case::new("snp", &over);
    c.kernel = Some(kernel.clone());
    cases.push(c);
    // A VARS store too large for the SVSM to fit below it.
    let svsm = fx.write("svsm.bin", svsm_image(&mut rng, 16, 0x1000, 1));
    let mut c = Case::new("snp:svsm", &ovmf_fd);
    c.svsm = Some(svsm);
    c.vars_size = 0x1_0000_0000;
    cases.push(c);

    let (matched, refused) = compare(&mut fx, &cases, false);
    let _ = writeln!(std::io::stderr(), "oracle: {refused} inputs refused by both tools, {matched} accepted by both with the same result"
    );
    assert_eq!(matched, 0, "every case here is expected to be refused");
}

/// The VMSA pages themselves (what `--dump-vmsa` writes), not only their
/// digests, for every mode and VMM.
#[test]
fn vmsa_pages_match_the_reference_tool() {
    if !oracle_available("vmsa_pages_match_the_reference_tool") {
        return;
    }
    let mut fx = Fixture::new("oracle-vmsa");
    let mut rng = Rng(4242);
    let svsm = fx.write("svsm.bin", svsm_image(&mut rng, 16, 0x3_4560, 1));
    let mut cases = Vec::new();
    for fw in debian_firmware() {
        for vmm in VmmType::ALL {
            for mode in ["seves", "snp"] {
                let mut c = Case::new(mode, &fw);
                c.vmm = *vmm;
                c.vcpus = 3;
                c.features = 0x2f;
                c.sig = Some(VcpuType::ALL[rng.below(16) as usize].signature().0);
                cases.push(c);
            }
        }
        let mut c = Case::new("snp:svsm", &fw);
        c.svsm = Some(svsm.clone());
        c.vars_size = 0x2_0000;
        c.vcpus = 2;
        cases.push(c);
    }
    let json: Vec<Value> = cases
        .iter()
        .map(|c| {
            let mut j = c.json();
            j["op"] = json!("vmsa");
            j
        })
        .collect();
    let theirs = run_oracle(&json);
    for (case, theirs) in cases.iter().zip(&theirs) {
        let ovmf = fx.read(&case.ovmf);
        let svsm_bytes = case.svsm.as_ref().map(|s| fx.read(s)).unwrap_or_default();
        let vcpus = Vcpus {
            count: case.vcpus,
            signature: case.sig.map(VcpuSignature),
            vmm: case.vmm,
        };
        let guest = match case.mode {
            "seves" => Guest::SevEs {
                kernel: None,
                vcpus,
            },
            "snp" => Guest::Snp {
                kernel: None,
                vcpus,
                features: GuestFeatures(case.features),
                ovmf_hash: None,
            },
            _ => Guest::SnpSvsm {
                svsm: &svsm_bytes,
                vars_size: case.vars_size,
                vcpus,
            },
        };
        let ours = vmsa_pages(&ovmf, &guest)
            .map(|pages| {
                pages
                    .iter()
                    .map(|p| hex::encode(p.as_slice()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .map_err(|e| e.to_string());
        assert_eq!(&ours, theirs, "VMSA pages differ for {}", case.json());
    }
    let _ = writeln!(
        std::io::stderr(),
        "oracle: VMSA pages identical to the reference tool's in {} configurations",
        cases.len()
    );
}

// ---------------------------------------------------------------------------
// The command line, end to end, against the reference command line.

fn reference_cli(module: &str, prog: &str, args: &[String]) -> (bool, String) {
    let script = format!(
        "import sys; from sevsnpmeasure.{module} import main; sys.argv[0] = '{prog}'; sys.exit(main())"
    );
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run reference CLI");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn our_cli(sub: &str, args: &[String]) -> Result<String, String> {
    let mut argv = vec!["measure".to_owned(), sub.to_owned()];
    argv.extend_from_slice(args);
    let parsed = <MeasureArgs as clap::Parser>::try_parse_from(argv).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    run(&parsed, &mut out).map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).expect("utf-8 output"))
}

#[test]
fn command_line_output_matches_the_reference_cli() {
    if !oracle_available("command_line_output_matches_the_reference_cli") {
        return;
    }
    let mut fx = Fixture::new("oracle-cli");
    let mut rng = Rng(99);
    let fw = fx.write("amdsev.fd", amdsev_image(&mut rng, 96, 0x100, true));
    let kernel = fx.write("vmlinuz", rng.bytes(70_000));
    let initrd = fx.write("initrd", rng.bytes(30_000));
    let svsm = fx.write("svsm.bin", svsm_image(&mut rng, 32, 0x1000, 2));
    let vars = fx.write("vars.fd", vec![0; 131_072]);
    let s = |v: &str| v.to_owned();
    let p = |v: &Path| v.display().to_string();
    let ovmf = s(DEBIAN_OVMF[0]);
    let invocations: Vec<Vec<String>> = vec![
        vec![
            s("--mode"),
            s("snp"),
            s("--vcpus"),
            s("4"),
            s("--vcpu-type"),
            s("EPYC-v4"),
            s("--ovmf"),
            ovmf.clone(),
        ],
        vec![
            s("--mode"),
            s("snp"),
            s("--vcpus"),
            s("2"),
            s("--vcpu-sig"),
            s("0xa00f11"),
            s("--ovmf"),
            ovmf.clone(),
            s("--output-format"),
            s("base64"),
        ],
        vec![
            s("-v"),
            s("--mode"),
            s("seves"),
            s("--vcpus"),
            s("3"),
            s("--vcpu-family"),
            s("25"),
            s("--vcpu-model"),
            s("17"),
            s("--vcpu-stepping"),
            s("0"),
            s("--ovmf"),
            ovmf.clone(),
        ],
        vec![s("-v"), s("--mode"), s("sev"), s("--ovmf"), ovmf.clone()],
        vec![s("--mode"), s("snp:ovmf-hash"), s("--ovmf"), ovmf.clone()],
        vec![
            s("--mode"),
            s("snp"),
            s("--vcpus"),
            s("8"),
            s("--vmm-type"),
            s("ec2"),
            s("--ovmf"),
            ovmf.clone(),
            s("--guest-features"),
            s("0x21"),
        ],
        vec![
            s("--mode"),
            s("snp"),
            s("--vcpus"),
            s("8"),
            s("--vmm-type"),
            s("gce"),
            s("--vcpu-type"),
            s("EPYC-Milan"),
            s("--ovmf"),
            ovmf.clone(),
        ],
        vec![
            s("-v"),
            s("--mode"),
            s("snp"),
            s("--vcpus"),
            s("2"),
            s("--vcpu-type"),
            s("EPYC-Genoa"),
            s("--ovmf"),
            p(&fw),
            s("--kernel"),
            p(&kernel),
            s("--initrd"),
            p(&initrd),
            s("--append"),
            s("console=ttyS0 quiet"),
        ],
        vec![
            s("--mode"),
            s("seves"),
            s("--vcpus"),
            s("2"),
            s("--vcpu-type"),
            s("EPYC-Rome"),
            s("--ovmf"),
            p(&fw),
            s("--kernel"),
            p(&kernel),
            s("--output-format"),
            s("base64"),
        ],
        vec![
            s("-v"),
            s("--mode"),
            s("snp:svsm"),
            s("--vcpus"),
            s("4"),
            s("--vcpu-type"),
            s("EPYC-Milan"),
            s("--ovmf"),
            ovmf.clone(),
            s("--svsm"),
            p(&svsm),
            s("--vars-file"),
            p(&vars),
        ],
        vec![
            s("--mode"),
            s("snp:svsm"),
            s("--vcpus"),
            s("1"),
            s("--vcpu-type"),
            s("EPYC-Turin"),
            s("--ovmf"),
            ovmf.clone(),
            s("--svsm"),
            p(&svsm),
            s("--vars-size"),
            s("540672"),
        ],
    ];
    let mut matched = 0;
    for args in &invocations {
        let (ok, theirs) = reference_cli("cli", "sev-snp-measure", args);
        assert!(ok, "reference CLI failed on {args:?}");
        let ours = our_cli("snp", args).unwrap_or_else(|e| panic!("ours failed on {args:?}: {e}"));
        assert_eq!(ours, theirs, "output differs for {args:?}");
        matched += 1;
    }
    // The pre-computed OVMF hash round trip, through both command lines.
    let hash = our_cli("snp", &invocations[4]).expect("ovmf hash");
    let mut with_hash = invocations[0].clone();
    with_hash.extend([s("--snp-ovmf-hash"), s(hash.trim())]);
    let (ok, theirs) = reference_cli("cli", "sev-snp-measure", &with_hash);
    assert!(ok);
    assert_eq!(our_cli("snp", &with_hash).expect("ours"), theirs);
    assert_eq!(
        theirs,
        reference_cli("cli", "sev-snp-measure", &invocations[0]).1
    );
    matched += 1;
    let _ = writeln!(
        std::io::stderr(),
        "oracle: {matched} command lines print exactly what sev-snp-measure prints"
    );
}

/// Writes a fresh P-384 key as PEM with `openssl`-free means: PKCS#8 from
/// aws-lc-rs, or the fixed SEC1 key below.
fn write_keys(fx: &mut Fixture) -> (PathBuf, PathBuf) {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &SystemRandom::new())
        .expect("keygen");
    let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    let pkcs8 = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.join("\n")
    );
    let sec1 = "-----BEGIN EC PARAMETERS-----
BgUrgQQAIg==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDDdf9OKer99pK99jQQ3bsHd8vTWGX7DHmO2kwaozjcsWZhzw/52eQuC
BI8JSSCji/GgBwYFK4EEACKhZANiAASt37/RQ42oeCkZgbkqRAe4RqhFHsBrh801
GmKXYXrzXBYMu1v8k47DkYa+F+wpzIzZWVBhJTdc45PyRlsr2oVIOt7iPfbEF+Ai
eg11SqAGZVS+NNGEClKuVaWY6nrYmYo=
-----END EC PRIVATE KEY-----
";
    (
        fx.write("id-key.pem", pkcs8.into_bytes()),
        fx.write("author-key.pem", sec1.as_bytes().to_vec()),
    )
}

struct IdBlockOutput {
    id_block: Vec<u8>,
    id_auth: Vec<u8>,
    id_key_hash: Vec<u8>,
    author_key: Option<Vec<u8>>,
}

fn parse_id_output(text: &str) -> IdBlockOutput {
    let b64 = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .expect("base64")
    };
    let mut lines = text.lines();
    let first = lines.next().expect("first line");
    let (block, auth) = first
        .strip_prefix("id-block=")
        .and_then(|r| r.split_once(",id-auth="))
        .expect("id-block=…,id-auth=…");
    let id_key_hash = b64(lines
        .next()
        .and_then(|l| l.strip_prefix("id_key_hash: "))
        .expect("id_key_hash line"));
    let author_key = lines
        .next()
        .map(|l| b64(l.strip_prefix("author_key: ").expect("author_key line")));
    IdBlockOutput {
        id_block: b64(block),
        id_auth: b64(auth),
        id_key_hash,
        author_key,
    }
}

#[test]
fn id_blocks_match_snp_create_id_block() {
    if !oracle_available("id_blocks_match_snp_create_id_block") {
        return;
    }
    let mut fx = Fixture::new("oracle-id-block");
    let (id_key, author_key) = write_keys(&mut fx);
    let measurement = LaunchDigest([0x3c; 48]).to_base64();
    let args = vec![
        "--measurement".to_owned(),
        measurement.clone(),
        "--idkey".to_owned(),
        id_key.display().to_string(),
        "--authorkey".to_owned(),
        author_key.display().to_string(),
    ];
    let (ok, theirs) = reference_cli("id_block", "snp-create-id-block", &args);
    assert!(ok, "snp-create-id-block failed");
    let theirs = parse_id_output(&theirs);
    let ours_text = our_cli("snp-id-block", &args).expect("ours");
    let ours = parse_id_output(&ours_text);

    // Deterministic parts are identical: the ID block, key digests, the
    // algorithm fields and the public keys inside ID_AUTH.
    assert_eq!(ours.id_block, theirs.id_block, "ID block");
    assert_eq!(ours.id_key_hash, theirs.id_key_hash, "ID key digest");
    assert_eq!(ours.author_key, theirs.author_key, "author key digest");
    assert_eq!(ours.id_auth.len(), 0x1000);
    assert_eq!(theirs.id_auth.len(), 0x1000);
    for (name, range) in [
        ("algorithms and reserved", 0x000..0x040),
        ("ID key", 0x240..0x680),
        ("author key and reserved", 0x880..0x1000),
    ] {
        assert_eq!(
            ours.id_auth[range.clone()],
            theirs.id_auth[range],
            "ID auth {name}"
        );
    }
    // Signatures are randomised, so they are checked rather than compared:
    // theirs with our verifier, ours with theirs (Python `cryptography`).
    let v = verify_id_auth(&theirs.id_block, &theirs.id_auth).expect("reference signatures verify");
    assert_eq!(v.id_key_digest.0.as_slice(), theirs.id_key_hash.as_slice());
    verify_id_auth(&ours.id_block, &ours.id_auth).expect("our signatures verify");
    let b64 = base64::engine::general_purpose::STANDARD;
    let checks = vec![json!({
        "op": "verify_id_auth",
        "id_block": b64.encode(&ours.id_block),
        "id_auth": b64.encode(&ours.id_auth),
    })];
    assert_eq!(run_oracle(&checks), vec![Ok("verified".to_owned())]);

    // Hex input and non-default fields are ours alone; they must still
    // verify and carry the fields.
    let hex_args = vec![
        "--measurement".to_owned(),
        LaunchDigest([0x3c; 48]).to_hex(),
        "--idkey".to_owned(),
        author_key.display().to_string(),
        "--family-id".to_owned(),
        "00112233445566778899aabbccddeeff".to_owned(),
        "--guest-svn".to_owned(),
        "3".to_owned(),
        "--policy".to_owned(),
        "0x30001".to_owned(),
    ];
    let ours = parse_id_output(&our_cli("snp-id-block", &hex_args).expect("ours"));
    assert!(ours.author_key.is_none());
    assert_eq!(ours.id_block[..48], [0x3c; 48]);
    assert_eq!(ours.id_block[0x30], 0x00);
    assert_eq!(ours.id_block[0x3f], 0xff);
    assert_eq!(ours.id_block[0x54], 3);
    assert_eq!(ours.id_block[0x58..0x60], 0x30001u64.to_le_bytes());
    let checks = vec![json!({
        "op": "verify_id_auth",
        "id_block": b64.encode(&ours.id_block),
        "id_auth": b64.encode(&ours.id_auth),
    })];
    assert_eq!(run_oracle(&checks), vec![Ok("verified".to_owned())]);
    let _ = writeln!(std::io::stderr(), "oracle: ID block, ID auth keys and digests identical to snp-create-id-block; signatures cross-verified");
}
