//! A development SEV-SNP platform: an ARK → ASK (or ASVK) → VCEK (or VLEK)
//! chain and a signer of attestation reports in the firmware ABI format.

use crate::der;
use crate::x509::{self, ca_extensions, certificate, CertSpec, Ext, Signer};
use crate::SimError;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
use tee_snp::report::{REPORT_LEN, SIGNED_LEN};
use tee_snp::{Product, SigningKey};

/// Serial numbers of the simulated certificates (stable, for CRL tests).
pub const ARK_SERIAL: u64 = 1;
pub const ASK_SERIAL: u64 = 2;
pub const VCEK_SERIAL: u64 = 3;

/// Security patch levels the simulated platform runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimTcb {
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
    pub fmc: u8,
}

impl Default for SimTcb {
    fn default() -> Self {
        SimTcb {
            bootloader: 4,
            tee: 0,
            snp: 24,
            microcode: 219,
            fmc: 0,
        }
    }
}

impl SimTcb {
    /// The raw TCB_VERSION in the product's byte layout.
    pub fn raw(&self, product: Product) -> u64 {
        let b = if product.has_fmc() {
            [
                self.fmc,
                self.bootloader,
                self.tee,
                self.snp,
                0,
                0,
                0,
                self.microcode,
            ]
        } else {
            [
                self.bootloader,
                self.tee,
                0,
                0,
                0,
                0,
                self.snp,
                self.microcode,
            ]
        };
        u64::from_le_bytes(b)
    }
}

/// How the development chain is made.
#[derive(Clone, Debug)]
pub struct SimChainOptions {
    pub product: Product,
    pub signing_key: SigningKey,
    pub tcb: SimTcb,
    /// Validity of every certificate, unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl Default for SimChainOptions {
    fn default() -> Self {
        SimChainOptions {
            product: Product::Milan,
            signing_key: SigningKey::Vcek,
            tcb: SimTcb::default(),
            // 2020-01-01 .. 2049-12-31
            not_before: 1_577_836_800,
            not_after: 2_524_521_600,
        }
    }
}

/// What one report says.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    pub version: u32,
    pub measurement: [u8; 48],
    pub report_data: [u8; 64],
    pub host_data: [u8; 32],
    pub family_id: [u8; 16],
    pub image_id: [u8; 16],
    pub policy: u64,
    pub vmpl: u32,
    pub guest_svn: u32,
    pub mask_chip_id: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            version: 3,
            measurement: [0; 48],
            report_data: [0; 64],
            host_data: [0; 32],
            family_id: [0; 16],
            image_id: [0; 16],
            // SMT allowed, reserved bit 17, ABI 0.0: no debug, no migration agent.
            policy: 0x30000,
            vmpl: 0,
            guest_svn: 0,
            mask_chip_id: false,
        }
    }
}

/// Policy bit 19: the host may debug (read) the guest.
pub const POLICY_DEBUG: u64 = 1 << 19;

/// A development SNP platform with its keys.
pub struct SnpSimChain {
    options: SimChainOptions,
    ark: RsaKeyPair,
    ask: RsaKeyPair,
    vcek: EcdsaKeyPair,
    chip_id: [u8; 64],
    ark_der: Vec<u8>,
    ask_der: Vec<u8>,
    vcek_der: Vec<u8>,
}

fn names(o: &SimChainOptions) -> (String, String, &'static str) {
    let p = o.product.amd_name();
    match o.signing_key {
        SigningKey::Vlek => (format!("ARK-{p}"), format!("SEV-VLEK-{p}"), "SEV-VLEK"),
        _ => (format!("ARK-{p}"), format!("SEV-{p}"), "SEV-VCEK"),
    }
}

fn amd_int(v: u8) -> Vec<u8> {
    der::uint(&[v])
}

fn endorsement_extensions(o: &SimChainOptions, chip_id: &[u8; 64]) -> Vec<Ext> {
    let base = "1.3.6.1.4.1.3704.1";
    let turin = o.product.has_fmc();
    let product_name = match o.product {
        Product::Milan => "Milan-B0",
        Product::Genoa => "Genoa-B1",
        Product::Turin => "Turin",
    };
    let mut e: Vec<Ext> = vec![
        (format!("{base}.1"), false, amd_int(u8::from(turin))),
        (format!("{base}.2"), false, der::ia5(product_name)),
        (format!("{base}.3.1"), false, amd_int(o.tcb.bootloader)),
        (format!("{base}.3.2"), false, amd_int(o.tcb.tee)),
        (format!("{base}.3.3"), false, amd_int(o.tcb.snp)),
        (format!("{base}.3.8"), false, amd_int(o.tcb.microcode)),
    ];
    if turin {
        e.push((format!("{base}.3.9"), false, amd_int(o.tcb.fmc)));
    }
    match o.signing_key {
        SigningKey::Vlek => e.push((
            format!("{base}.5"),
            false,
            der::ia5("CN=mamori-dev.invalid"),
        )),
        _ => {
            let len = if turin { 8 } else { 64 };
            e.push((format!("{base}.4"), false, chip_id[..len].to_vec()));
        }
    }
    e
}

fn rsa4096() -> Result<RsaKeyPair, SimError> {
    RsaKeyPair::generate(KeySize::Rsa4096).map_err(|_| SimError::Crypto("RSA-4096 key generation"))
}

impl SnpSimChain {
    /// Generates a fresh chain (two RSA-4096 keys: about a second).
    pub fn generate(options: SimChainOptions) -> Result<Self, SimError> {
        let rng = SystemRandom::new();
        let mut chip_id = [0u8; 64];
        rng.fill(&mut chip_id)
            .map_err(|_| SimError::Crypto("random chip id"))?;
        let ark = rsa4096()?;
        let ask = rsa4096()?;
        let vcek = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING)
            .map_err(|_| SimError::Crypto("P-384 key generation"))?;
        Self::assemble(options, ark, ask, vcek, chip_id)
    }

    fn assemble(
        options: SimChainOptions,
        ark: RsaKeyPair,
        ask: RsaKeyPair,
        vcek: EcdsaKeyPair,
        chip_id: [u8; 64],
    ) -> Result<Self, SimError> {
        let (ark_cn, ask_cn, leaf_cn) = names(&options);
        let ark_der = certificate(
            &CertSpec {
                serial: ARK_SERIAL,
                issuer_cn: &ark_cn,
                subject_cn: &ark_cn,
                not_before: options.not_before,
                not_after: options.not_after,
                spki: x509::rsa_spki(&ark)?,
                extensions: ca_extensions(),
            },
            &Signer::Rsa(&ark),
        )?;
        let ask_der = certificate(
            &CertSpec {
                serial: ASK_SERIAL,
                issuer_cn: &ark_cn,
                subject_cn: &ask_cn,
                not_before: options.not_before,
                not_after: options.not_after,
                spki: x509::rsa_spki(&ask)?,
                extensions: ca_extensions(),
            },
            &Signer::Rsa(&ark),
        )?;
        let vcek_der = certificate(
            &CertSpec {
                serial: VCEK_SERIAL,
                issuer_cn: &ask_cn,
                subject_cn: leaf_cn,
                not_before: options.not_before,
                not_after: options.not_after,
                spki: x509::ec_spki(&vcek)?,
                extensions: endorsement_extensions(&options, &chip_id),
            },
            &Signer::Rsa(&ask),
        )?;
        Ok(SnpSimChain {
            options,
            ark,
            ask,
            vcek,
            chip_id,
            ark_der,
            ask_der,
            vcek_der,
        })
    }

    pub fn options(&self) -> &SimChainOptions {
        &self.options
    }
    pub fn chip_id(&self) -> &[u8; 64] {
        &self.chip_id
    }
    /// The development root (DER): trust it explicitly, never by default.
    pub fn ark_der(&self) -> &[u8] {
        &self.ark_der
    }
    pub fn ask_der(&self) -> &[u8] {
        &self.ask_der
    }
    pub fn vcek_der(&self) -> &[u8] {
        &self.vcek_der
    }
    pub fn ark_pem(&self) -> String {
        x509::pem("CERTIFICATE", &self.ark_der)
    }
    pub fn ask_pem(&self) -> String {
        x509::pem("CERTIFICATE", &self.ask_der)
    }
    pub fn vcek_pem(&self) -> String {
        x509::pem("CERTIFICATE", &self.vcek_der)
    }

    /// A CRL signed by the ARK (revoking ASKs) or, with `by_ask`, by the
    /// ASK (revoking VCEKs), listing `serials`.
    pub fn crl(
        &self,
        by_ask: bool,
        serials: &[u64],
        this_update: i64,
        next_update: i64,
    ) -> Result<Vec<u8>, SimError> {
        self.crl_with(by_ask, serials, this_update, Some(next_update))
    }

    /// [`SnpSimChain::crl`], with `nextUpdate` optional (RFC 5280 makes it
    /// mandatory for issuers; verifiers must cope with CRLs that lack it).
    pub fn crl_with(
        &self,
        by_ask: bool,
        serials: &[u64],
        this_update: i64,
        next_update: Option<i64>,
    ) -> Result<Vec<u8>, SimError> {
        let (ark_cn, ask_cn, _) = names(&self.options);
        let (cn, key) = if by_ask {
            (ask_cn, &self.ask)
        } else {
            (ark_cn, &self.ark)
        };
        x509::crl(&cn, this_update, next_update, serials, &Signer::Rsa(key))
    }

    /// A signed attestation report in the firmware ABI layout.
    pub fn report(&self, r: &ReportOptions) -> Result<Vec<u8>, SimError> {
        let p = self.options.product;
        let mut b = vec![0u8; REPORT_LEN];
        let put = |b: &mut Vec<u8>, off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        let tcb = self.options.tcb.raw(p).to_le_bytes();
        put(&mut b, 0x00, &r.version.to_le_bytes());
        put(&mut b, 0x04, &r.guest_svn.to_le_bytes());
        put(&mut b, 0x08, &r.policy.to_le_bytes());
        put(&mut b, 0x10, &r.family_id);
        put(&mut b, 0x20, &r.image_id);
        put(&mut b, 0x30, &r.vmpl.to_le_bytes());
        put(&mut b, 0x34, &1u32.to_le_bytes());
        put(&mut b, 0x38, &tcb);
        // SMT enabled, ECC enabled, alias check complete.
        put(&mut b, 0x40, &0x25u64.to_le_bytes());
        let signing = match self.options.signing_key {
            SigningKey::Vlek => 1u32,
            _ => 0,
        };
        let key_info = (signing << 2) | if r.mask_chip_id { 2 } else { 0 };
        put(&mut b, 0x48, &key_info.to_le_bytes());
        put(&mut b, 0x50, &r.report_data);
        put(&mut b, 0x90, &r.measurement);
        put(&mut b, 0xC0, &r.host_data);
        let mut report_id = [0u8; 32];
        SystemRandom::new()
            .fill(&mut report_id)
            .map_err(|_| SimError::Crypto("random report id"))?;
        put(&mut b, 0x140, &report_id);
        put(&mut b, 0x160, &[0xff; 32]);
        put(&mut b, 0x180, &tcb);
        if r.version >= 3 {
            let (fam, model) = match p {
                Product::Milan => (0x19, 0x01),
                Product::Genoa => (0x19, 0x11),
                Product::Turin => (0x1a, 0x02),
            };
            put(&mut b, 0x188, &[fam, model, 0x01]);
        }
        if !r.mask_chip_id && self.options.signing_key != SigningKey::Vlek {
            put(&mut b, 0x1A0, &self.chip_id);
        }
        put(&mut b, 0x1E0, &tcb);
        put(&mut b, 0x1E8, &[29, 55, 1]);
        put(&mut b, 0x1EC, &[29, 55, 1]);
        put(&mut b, 0x1F0, &tcb);
        let sig = self
            .vcek
            .sign(&SystemRandom::new(), &b[..SIGNED_LEN])
            .map_err(|_| SimError::Crypto("P-384 signing"))?;
        let sig = sig.as_ref();
        let (r_be, s_be) = sig.split_at(48);
        // The ABI stores R and S little-endian in 72-byte fields.
        for (i, v) in r_be.iter().rev().enumerate() {
            b[0x2A0 + i] = *v;
        }
        for (i, v) in s_be.iter().rev().enumerate() {
            b[0x2E8 + i] = *v;
        }
        Ok(b)
    }

    /// The chain's private keys and state as named byte blobs (PKCS#8 keys,
    /// DER certificates), so that a development platform can be reused.
    pub fn export(&self) -> Result<Vec<(&'static str, Vec<u8>)>, SimError> {
        let rsa = |k: &RsaKeyPair| {
            k.as_der()
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| SimError::Crypto("RSA key export"))
        };
        let vcek = self
            .vcek
            .to_pkcs8v1()
            .map_err(|_| SimError::Crypto("P-384 key export"))?;
        let product = self.options.product.as_str().as_bytes().to_vec();
        let signer = self.options.signing_key.as_str().as_bytes().to_vec();
        Ok(vec![
            ("ark.key", rsa(&self.ark)?),
            ("ask.key", rsa(&self.ask)?),
            ("vcek.key", vcek.as_ref().to_vec()),
            ("chip_id", self.chip_id.to_vec()),
            ("product", product),
            ("signing_key", signer),
            (
                "tcb",
                self.options
                    .tcb
                    .raw(self.options.product)
                    .to_le_bytes()
                    .to_vec(),
            ),
            ("ark.crt", self.ark_der.clone()),
            ("ask.crt", self.ask_der.clone()),
            ("vcek.crt", self.vcek_der.clone()),
        ])
    }

    /// Rebuilds a chain from [`SnpSimChain::export`]'s blobs. The stored
    /// certificates are kept (re-issuing would change the PSS signatures);
    /// each must still carry the public key of the stored private key.
    pub fn import(get: &dyn Fn(&str) -> Option<Vec<u8>>) -> Result<Self, SimError> {
        let need = |n: &str| get(n).ok_or_else(|| SimError::Stored(format!("{n} missing")));
        let ark = RsaKeyPair::from_pkcs8(&need("ark.key")?)
            .map_err(|e| SimError::Stored(format!("ark.key: {e}")))?;
        let ask = RsaKeyPair::from_pkcs8(&need("ask.key")?)
            .map_err(|e| SimError::Stored(format!("ask.key: {e}")))?;
        let vcek = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &need("vcek.key")?)
            .map_err(|e| SimError::Stored(format!("vcek.key: {e}")))?;
        let chip_id: [u8; 64] = need("chip_id")?
            .try_into()
            .map_err(|_| SimError::Stored("chip_id is not 64 bytes".into()))?;
        let product = String::from_utf8(need("product")?).unwrap_or_default();
        let product = Product::from_product_name(&{
            let mut c = product.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .ok_or_else(|| SimError::Stored(format!("unknown product {product:?}")))?;
        let signing_key = match need("signing_key")?.as_slice() {
            b"vlek" => SigningKey::Vlek,
            _ => SigningKey::Vcek,
        };
        let tcb: [u8; 8] = need("tcb")?
            .try_into()
            .map_err(|_| SimError::Stored("tcb is not 8 bytes".into()))?;
        let tcb = tee_snp::TcbVersion(u64::from_le_bytes(tcb)).components(product);
        let options = SimChainOptions {
            product,
            signing_key,
            tcb: SimTcb {
                bootloader: tcb.bootloader,
                tee: tcb.tee,
                snp: tcb.snp,
                microcode: tcb.microcode,
                fmc: tcb.fmc.unwrap_or(0),
            },
            ..SimChainOptions::default()
        };
        let ark_der = need("ark.crt")?;
        let ask_der = need("ask.crt")?;
        let vcek_der = need("vcek.crt")?;
        for (name, der, spki) in [
            ("ark.crt", &ark_der, x509::rsa_spki(&ark)?),
            ("ask.crt", &ask_der, x509::rsa_spki(&ask)?),
            ("vcek.crt", &vcek_der, x509::ec_spki(&vcek)?),
        ] {
            if !der.windows(spki.len()).any(|w| w == spki.as_slice()) {
                return Err(SimError::Stored(format!(
                    "{name} does not hold the stored key"
                )));
            }
        }
        Ok(SnpSimChain {
            options,
            ark,
            ask,
            vcek,
            chip_id,
            ark_der,
            ask_der,
            vcek_der,
        })
    }
}
