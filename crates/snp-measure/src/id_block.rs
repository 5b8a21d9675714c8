//! The SEV-SNP ID block and ID authentication structure passed to
//! `SNP_LAUNCH_FINISH` (SNP firmware ABI, "ID_BLOCK" and
//! "ID_AUTH_INFO"), signed with an ECDSA P-384 ID key and, optionally,
//! an author key that certifies the ID key.
//!
//! The attestation report then carries `ID_KEY_DIGEST` and
//! `AUTHOR_KEY_DIGEST`: SHA-384 of the keys' 0x404-byte public key
//! structures, which [`SnpPublicKey::digest`] computes.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, UnparsedPublicKey, ECDSA_P384_SHA384_FIXED,
    ECDSA_P384_SHA384_FIXED_SIGNING,
};
use base64::Engine as _;

use crate::gctx::{sha384, LaunchDigest, DIGEST_SIZE};

/// Size of the ID block.
pub const ID_BLOCK_LEN: usize = 0x60;
/// Size of the ID authentication structure.
pub const ID_AUTH_LEN: usize = 0x1000;
/// Size of the SNP public key structure.
pub const PUBLIC_KEY_LEN: usize = 0x404;
/// Size of the SNP signature structure.
pub const SIGNATURE_LEN: usize = 0x200;
/// Width of one little-endian ECDSA component in SNP structures.
const COMPONENT_LEN: usize = 0x48;
/// Width of a P-384 coordinate or scalar.
const P384_LEN: usize = 48;

/// ID_KEY_ALGO / AUTHOR_KEY_ALGO: ECDSA P-384 with SHA-384.
const ALGO_ECDSA_P384_SHA384: u32 = 1;
/// CURVE value for P-384 in the public key structure.
const CURVE_P384: u32 = 2;

// ID_AUTH_INFO field offsets.
const AUTH_ID_KEY_ALGO: usize = 0x00;
const AUTH_AUTHOR_KEY_ALGO: usize = 0x04;
const AUTH_ID_BLOCK_SIG: usize = 0x40;
const AUTH_ID_KEY: usize = 0x240;
const AUTH_ID_KEY_SIG: usize = 0x680;
const AUTH_AUTHOR_KEY: usize = 0x880;

/// The guest policy word (SNP ABI "Guest Policy").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GuestPolicy(pub u64);

impl Default for GuestPolicy {
    /// SMT allowed and the must-be-one bit 17 set: the reference tool's
    /// default, 0x30000.
    fn default() -> Self {
        GuestPolicy(0x3_0000)
    }
}

/// The ID block: what the guest owner vouches for at launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdBlock {
    /// Expected launch digest; launch fails if it differs.
    pub launch_digest: LaunchDigest,
    /// Family ID, reported back in the attestation report.
    pub family_id: [u8; 16],
    /// Image ID, reported back in the attestation report.
    pub image_id: [u8; 16],
    /// Structure version; the ABI defines 1.
    pub version: u32,
    /// Guest SVN.
    pub guest_svn: u32,
    /// Policy the guest must be launched with.
    pub policy: GuestPolicy,
}

impl IdBlock {
    /// An ID block with the reference tool's defaults: zero IDs and SVN,
    /// version 1, policy 0x30000.
    pub fn new(launch_digest: LaunchDigest) -> Self {
        IdBlock {
            launch_digest,
            family_id: [0; 16],
            image_id: [0; 16],
            version: 1,
            guest_svn: 0,
            policy: GuestPolicy::default(),
        }
    }

    /// The 0x60-byte structure.
    pub fn to_bytes(&self) -> [u8; ID_BLOCK_LEN] {
        let mut out = [0u8; ID_BLOCK_LEN];
        put(&mut out, 0x00, self.launch_digest.as_bytes());
        put(&mut out, 0x30, &self.family_id);
        put(&mut out, 0x40, &self.image_id);
        put(&mut out, 0x50, &self.version.to_le_bytes());
        put(&mut out, 0x54, &self.guest_svn.to_le_bytes());
        put(&mut out, 0x58, &self.policy.0.to_le_bytes());
        out
    }
}

/// Writes at a constant offset of a buffer sized for it.
fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// Why a key or ID block could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdBlockError {
    /// No PEM private key block found.
    #[error("no PEM private key found (expected \"PRIVATE KEY\" or \"EC PRIVATE KEY\")")]
    NoPemKey,
    /// An encrypted key was given.
    #[error("the PEM private key is encrypted; give an unencrypted key")]
    EncryptedKey,
    /// A PEM block whose body is not base64, or has no end line.
    #[error("malformed PEM block \"{label}\": {problem}")]
    MalformedPem {
        /// The block's label.
        label: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// The key is not an EC P-384 private key.
    #[error("not an EC P-384 private key ({0}); SEV-SNP ID and author keys must be P-384")]
    NotP384(String),
    /// Signing failed inside the crypto library.
    #[error("signing failed")]
    Signing,
    /// A structure to verify has the wrong size.
    #[error("{what} is {len} bytes, expected {expected}")]
    Length {
        /// Which structure.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The expected length.
        expected: usize,
    },
    /// A key algorithm or curve field holds an unsupported value.
    #[error("{field} is {value}, only ECDSA P-384 (algo 1, curve 2) is defined")]
    UnsupportedAlgorithm {
        /// Which field.
        field: &'static str,
        /// Its value.
        value: u32,
    },
    /// A signature does not verify.
    #[error("{0} does not verify")]
    BadSignature(&'static str),
}

/// A P-384 key pair used as ID key or author key.
pub struct SigningKey {
    pair: EcdsaKeyPair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &hex::encode(self.pair.public_key().as_ref()))
            .finish()
    }
}

impl SigningKey {
    /// Reads a PEM private key: PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`
    /// (an `EC PARAMETERS` block before it, as `openssl ecparam -genkey`
    /// writes, is skipped).
    pub fn from_pem(pem: &[u8]) -> Result<Self, IdBlockError> {
        let text = String::from_utf8_lossy(pem);
        let mut rest: &str = &text;
        while let Some(begin) = rest.find("-----BEGIN ") {
            let after = rest.get(begin + 11..).unwrap_or_default();
            let Some(label_end) = after.find("-----") else {
                break;
            };
            let label = after.get(..label_end).unwrap_or_default();
            let body_start = after.get(label_end + 5..).unwrap_or_default();
            let end_marker = format!("-----END {label}-----");
            let Some(body_end) = body_start.find(&end_marker) else {
                return Err(IdBlockError::MalformedPem {
                    label: label.to_owned(),
                    problem: "no END line",
                });
            };
            let body = body_start.get(..body_end).unwrap_or_default();
            rest = body_start
                .get(body_end + end_marker.len()..)
                .unwrap_or_default();
            match label {
                "PRIVATE KEY" | "EC PRIVATE KEY" => {
                    // RFC 1421 headers (Proc-Type/DEK-Info) mean encryption.
                    if body.contains("Proc-Type:") || body.contains("DEK-Info:") {
                        return Err(IdBlockError::EncryptedKey);
                    }
                    let der = decode_pem_body(body).ok_or_else(|| IdBlockError::MalformedPem {
                        label: label.to_owned(),
                        problem: "body is not base64",
                    })?;
                    return Self::from_der(&der);
                }
                "ENCRYPTED PRIVATE KEY" => return Err(IdBlockError::EncryptedKey),
                _ => continue,
            }
        }
        Err(IdBlockError::NoPemKey)
    }

    /// Reads a DER private key, PKCS#8 or SEC1 (RFC 5915).
    pub fn from_der(der: &[u8]) -> Result<Self, IdBlockError> {
        EcdsaKeyPair::from_private_key_der(&ECDSA_P384_SHA384_FIXED_SIGNING, der)
            .map(|pair| SigningKey { pair })
            .map_err(|e| IdBlockError::NotP384(e.to_string()))
    }

    /// The key's public half in SNP form.
    pub fn public_key(&self) -> SnpPublicKey {
        // aws-lc-rs gives P-384 public keys as uncompressed SEC1 points, so
        // this cannot fail; the fallback keeps it panic-free regardless.
        SnpPublicKey::from_sec1_point(self.pair.public_key().as_ref())
            .unwrap_or_else(|_| SnpPublicKey(Box::new([0u8; PUBLIC_KEY_LEN])))
    }

    /// Signs `message` (ECDSA P-384, SHA-384) and returns the SNP
    /// signature structure.
    pub fn sign(&self, message: &[u8]) -> Result<SnpSignature, IdBlockError> {
        let sig = self
            .pair
            .sign(&SystemRandom::new(), message)
            .map_err(|_| IdBlockError::Signing)?;
        let fixed = sig.as_ref();
        let r = fixed.get(..P384_LEN).ok_or(IdBlockError::Signing)?;
        let s = fixed
            .get(P384_LEN..2 * P384_LEN)
            .ok_or(IdBlockError::Signing)?;
        let mut out = [0u8; SIGNATURE_LEN];
        put(&mut out, 0, &be_to_le_component(r));
        put(&mut out, COMPONENT_LEN, &be_to_le_component(s));
        Ok(SnpSignature(Box::new(out)))
    }
}

/// A big-endian P-384 value as the SNP ABI stores it: little-endian,
/// zero-extended to 72 bytes.
fn be_to_le_component(be: &[u8]) -> [u8; COMPONENT_LEN] {
    let mut out = [0u8; COMPONENT_LEN];
    for (dst, src) in out.iter_mut().zip(be.iter().rev()) {
        *dst = *src;
    }
    out
}

/// The inverse: 48 big-endian bytes, or `None` if the high 24 bytes of the
/// SNP component are not zero (the value cannot be a P-384 scalar).
fn le_component_to_be(le: &[u8]) -> Option<[u8; P384_LEN]> {
    let (low, high) = le.split_at_checked(P384_LEN)?;
    if high.iter().any(|b| *b != 0) {
        return None;
    }
    let mut out = [0u8; P384_LEN];
    for (dst, src) in out.iter_mut().zip(low.iter().rev()) {
        *dst = *src;
    }
    Some(out)
}

/// The SNP public key structure (CURVE, QX, QY little-endian, reserved).
#[derive(Clone, PartialEq, Eq)]
pub struct SnpPublicKey(pub Box<[u8; PUBLIC_KEY_LEN]>);

impl fmt::Debug for SnpPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnpPublicKey({})", hex::encode(self.digest().0))
    }
}

/// SHA-384 of an SNP public key structure, as in the report's
/// `ID_KEY_DIGEST` / `AUTHOR_KEY_DIGEST`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest(pub [u8; DIGEST_SIZE]);

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDigest({})", hex::encode(self.0))
    }
}

impl fmt::Display for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl SnpPublicKey {
    /// The digest a report carries for this key.
    pub fn digest(&self) -> KeyDigest {
        KeyDigest(sha384(self.0.as_slice()))
    }

    /// Builds the structure from a P-384 public key as an uncompressed SEC1
    /// point (`0x04 || X || Y`, 97 bytes), e.g. to compute the
    /// `ID_KEY_DIGEST` a policy should expect from a public key alone.
    pub fn from_sec1_point(point: &[u8]) -> Result<Self, IdBlockError> {
        let coords = match point.split_first() {
            Some((0x04, coords)) if coords.len() == 2 * P384_LEN => coords,
            _ => {
                return Err(IdBlockError::Length {
                    what: "uncompressed P-384 point",
                    len: point.len(),
                    expected: 1 + 2 * P384_LEN,
                })
            }
        };
        let (x, y) = coords.split_at(P384_LEN);
        let mut out = [0u8; PUBLIC_KEY_LEN];
        put(&mut out, 0, &CURVE_P384.to_le_bytes());
        put(&mut out, 4, &be_to_le_component(x));
        put(&mut out, 4 + COMPONENT_LEN, &be_to_le_component(y));
        Ok(SnpPublicKey(Box::new(out)))
    }

    /// Reads the structure from bytes (e.g. out of an ID_AUTH).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdBlockError> {
        let arr: [u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| IdBlockError::Length {
            what: "public key structure",
            len: bytes.len(),
            expected: PUBLIC_KEY_LEN,
        })?;
        Ok(SnpPublicKey(Box::new(arr)))
    }

    /// Verifies an SNP signature over `message` with this key.
    pub fn verify(
        &self,
        message: &[u8],
        sig: &[u8],
        what: &'static str,
    ) -> Result<(), IdBlockError> {
        let key = self.0.as_slice();
        let curve = crate::firmware::read_u32(key, 0).unwrap_or(0);
        if curve != CURVE_P384 {
            return Err(IdBlockError::UnsupportedAlgorithm {
                field: "public key curve",
                value: curve,
            });
        }
        let bad = IdBlockError::BadSignature(what);
        let qx = key
            .get(4..4 + COMPONENT_LEN)
            .and_then(le_component_to_be)
            .ok_or(bad.clone())?;
        let qy = key
            .get(4 + COMPONENT_LEN..4 + 2 * COMPONENT_LEN)
            .and_then(le_component_to_be)
            .ok_or(bad.clone())?;
        let r = sig
            .get(..COMPONENT_LEN)
            .and_then(le_component_to_be)
            .ok_or(bad.clone())?;
        let s = sig
            .get(COMPONENT_LEN..2 * COMPONENT_LEN)
            .and_then(le_component_to_be)
            .ok_or(bad.clone())?;
        let mut point = Vec::with_capacity(1 + 2 * P384_LEN);
        point.push(0x04);
        point.extend_from_slice(&qx);
        point.extend_from_slice(&qy);
        let mut fixed = Vec::with_capacity(2 * P384_LEN);
        fixed.extend_from_slice(&r);
        fixed.extend_from_slice(&s);
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &point)
            .verify(message, &fixed)
            .map_err(|_| bad)
    }
}

/// The SNP signature structure (R, S little-endian, reserved).
#[derive(Clone, PartialEq, Eq)]
pub struct SnpSignature(pub Box<[u8; SIGNATURE_LEN]>);

impl fmt::Debug for SnpSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SnpSignature({})",
            hex::encode(&self.0[..2 * COMPONENT_LEN])
        )
    }
}

/// An ID block with its ID authentication structure and the key digests
/// the attestation report will show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedIdBlock {
    /// The ID block bytes.
    pub id_block: [u8; ID_BLOCK_LEN],
    /// The ID_AUTH bytes.
    pub id_auth: Box<[u8; ID_AUTH_LEN]>,
    /// SHA-384 of the ID public key structure (`ID_KEY_DIGEST`).
    pub id_key_digest: KeyDigest,
    /// SHA-384 of the author public key structure (`AUTHOR_KEY_DIGEST`),
    /// when an author key signed the ID key.
    pub author_key_digest: Option<KeyDigest>,
}

impl SignedIdBlock {
    /// Signs `block` with `id_key`, and the ID key with `author_key` when
    /// given (otherwise AUTHOR_KEY_ALGO, the author key and its signature
    /// stay zero, and the guest must be launched with AUTHOR_KEY_EN = 0).
    pub fn sign(
        block: &IdBlock,
        id_key: &SigningKey,
        author_key: Option<&SigningKey>,
    ) -> Result<Self, IdBlockError> {
        let id_block = block.to_bytes();
        let id_pub = id_key.public_key();
        let block_sig = id_key.sign(&id_block)?;
        let mut auth = Box::new([0u8; ID_AUTH_LEN]);
        put(
            auth.as_mut_slice(),
            AUTH_ID_KEY_ALGO,
            &ALGO_ECDSA_P384_SHA384.to_le_bytes(),
        );
        put(
            auth.as_mut_slice(),
            AUTH_ID_BLOCK_SIG,
            block_sig.0.as_slice(),
        );
        put(auth.as_mut_slice(), AUTH_ID_KEY, id_pub.0.as_slice());
        let author_key_digest = match author_key {
            Some(author) => {
                let author_pub = author.public_key();
                let id_key_sig = author.sign(id_pub.0.as_slice())?;
                put(
                    auth.as_mut_slice(),
                    AUTH_AUTHOR_KEY_ALGO,
                    &ALGO_ECDSA_P384_SHA384.to_le_bytes(),
                );
                put(
                    auth.as_mut_slice(),
                    AUTH_ID_KEY_SIG,
                    id_key_sig.0.as_slice(),
                );
                put(
                    auth.as_mut_slice(),
                    AUTH_AUTHOR_KEY,
                    author_pub.0.as_slice(),
                );
                Some(author_pub.digest())
            }
            None => None,
        };
        Ok(SignedIdBlock {
            id_block,
            id_auth: auth,
            id_key_digest: id_pub.digest(),
            author_key_digest,
        })
    }

    /// Text in the reference tool's format: the QEMU `id-block=…,id-auth=…`
    /// properties, then the base64 key digests.
    pub fn to_reference_text(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut s = format!(
            "id-block={},id-auth={}\nid_key_hash: {}",
            b64.encode(self.id_block),
            b64.encode(self.id_auth.as_slice()),
            b64.encode(self.id_key_digest.0)
        );
        if let Some(author) = &self.author_key_digest {
            s.push_str(&format!("\nauthor_key: {}", b64.encode(author.0)));
        }
        s
    }
}

/// What [`verify_id_auth`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedIdAuth {
    /// Digest of the ID key that signed the block.
    pub id_key_digest: KeyDigest,
    /// Digest of the author key that signed the ID key, if one is present.
    pub author_key_digest: Option<KeyDigest>,
}

/// Checks an ID block against its ID_AUTH as the firmware does at
/// `SNP_LAUNCH_FINISH`: the block signature under the ID key and, when
/// AUTHOR_KEY_ALGO is set, the ID key's signature under the author key.
pub fn verify_id_auth(id_block: &[u8], id_auth: &[u8]) -> Result<VerifiedIdAuth, IdBlockError> {
    let len_err = |what, len, expected| IdBlockError::Length {
        what,
        len,
        expected,
    };
    if id_block.len() != ID_BLOCK_LEN {
        return Err(len_err("ID block", id_block.len(), ID_BLOCK_LEN));
    }
    if id_auth.len() != ID_AUTH_LEN {
        return Err(len_err("ID auth", id_auth.len(), ID_AUTH_LEN));
    }
    let field = |at: usize, len: usize| id_auth.get(at..at + len).unwrap_or_default();
    let id_algo = crate::firmware::read_u32(id_auth, AUTH_ID_KEY_ALGO).unwrap_or(0);
    if id_algo != ALGO_ECDSA_P384_SHA384 {
        return Err(IdBlockError::UnsupportedAlgorithm {
            field: "ID_KEY_ALGO",
            value: id_algo,
        });
    }
    let id_key = SnpPublicKey::from_bytes(field(AUTH_ID_KEY, PUBLIC_KEY_LEN))?;
    id_key.verify(
        id_block,
        field(AUTH_ID_BLOCK_SIG, SIGNATURE_LEN),
        "ID block signature",
    )?;
    let author_algo = crate::firmware::read_u32(id_auth, AUTH_AUTHOR_KEY_ALGO).unwrap_or(0);
    let author_key_digest = match author_algo {
        0 => None,
        ALGO_ECDSA_P384_SHA384 => {
            let author = SnpPublicKey::from_bytes(field(AUTH_AUTHOR_KEY, PUBLIC_KEY_LEN))?;
            author.verify(
                id_key.0.as_slice(),
                field(AUTH_ID_KEY_SIG, SIGNATURE_LEN),
                "ID key signature",
            )?;
            Some(author.digest())
        }
        other => {
            return Err(IdBlockError::UnsupportedAlgorithm {
                field: "AUTHOR_KEY_ALGO",
                value: other,
            })
        }
    };
    Ok(VerifiedIdAuth {
        id_key_digest: id_key.digest(),
        author_key_digest,
    })
}

fn decode_pem_body(body: &str) -> Option<Vec<u8>> {
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fixed P-384 key in SEC1 PEM (generated for these tests only).
    pub(crate) const SEC1_PEM: &str = "-----BEGIN EC PARAMETERS-----
BgUrgQQAIg==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDDdf9OKer99pK99jQQ3bsHd8vTWGX7DHmO2kwaozjcsWZhzw/52eQuC
BI8JSSCji/GgBwYFK4EEACKhZANiAASt37/RQ42oeCkZgbkqRAe4RqhFHsBrh801
GmKXYXrzXBYMu1v8k47DkYa+F+wpzIzZWVBhJTdc45PyRlsr2oVIOt7iPfbEF+Ai
eg11SqAGZVS+NNGEClKuVaWY6nrYmYo=
-----END EC PRIVATE KEY-----
";

    fn key() -> SigningKey {
        SigningKey::from_pem(SEC1_PEM.as_bytes()).expect("valid SEC1 key")
    }

    fn other_key() -> SigningKey {
        let rng = SystemRandom::new();
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).expect("keygen");
        SigningKey::from_der(doc.as_ref()).expect("PKCS#8")
    }

    #[test]
    fn id_block_layout() {
        let mut b = IdBlock::new(LaunchDigest([0xaa; 48]));
        b.family_id = [1; 16];
        b.image_id = [2; 16];
        b.guest_svn = 7;
        let bytes = b.to_bytes();
        assert_eq!(&bytes[..48], &[0xaa; 48]);
        assert_eq!(&bytes[48..64], &[1; 16]);
        assert_eq!(&bytes[64..80], &[2; 16]);
        assert_eq!(&bytes[80..84], &1u32.to_le_bytes());
        assert_eq!(&bytes[84..88], &7u32.to_le_bytes());
        assert_eq!(&bytes[88..96], &0x30000u64.to_le_bytes());
    }

    #[test]
    fn sign_and_verify_with_and_without_author() {
        let block = IdBlock::new(LaunchDigest([3; 48]));
        let id = key();
        let author = other_key();
        let signed = SignedIdBlock::sign(&block, &id, Some(&author)).expect("signs");
        let v = verify_id_auth(&signed.id_block, signed.id_auth.as_slice()).expect("verifies");
        assert_eq!(v.id_key_digest, id.public_key().digest());
        assert_eq!(v.author_key_digest, Some(author.public_key().digest()));
        assert_eq!(signed.id_key_digest, v.id_key_digest);

        let alone = SignedIdBlock::sign(&block, &id, None).expect("signs");
        let v = verify_id_auth(&alone.id_block, alone.id_auth.as_slice()).expect("verifies");
        assert_eq!(v.author_key_digest, None);
        assert!(
            alone.id_auth[AUTH_AUTHOR_KEY..AUTH_AUTHOR_KEY + PUBLIC_KEY_LEN]
                .iter()
                .all(|b| *b == 0)
        );
        assert_eq!(alone.to_reference_text().lines().count(), 2);
        assert_eq!(signed.to_reference_text().lines().count(), 3);
    }

    #[test]
    fn tampering_is_detected() {
        let block = IdBlock::new(LaunchDigest([3; 48]));
        let signed = SignedIdBlock::sign(&block, &key(), Some(&other_key())).expect("signs");
        let mut b = signed.id_block;
        b[0] ^= 1;
        assert_eq!(
            verify_id_auth(&b, signed.id_auth.as_slice()),
            Err(IdBlockError::BadSignature("ID block signature"))
        );
        let mut a = signed.id_auth.clone();
        a[AUTH_ID_KEY_SIG + 5] ^= 1;
        assert_eq!(
            verify_id_auth(&signed.id_block, a.as_slice()),
            Err(IdBlockError::BadSignature("ID key signature"))
        );
        assert!(verify_id_auth(&signed.id_block, &a[..100]).is_err());
    }

    #[test]
    fn public_key_structure() {
        let k = key();
        let p = k.public_key();
        assert_eq!(&p.0[..4], &2u32.to_le_bytes());
        // Coordinates occupy 48 of their 72 bytes.
        assert!(p.0[4 + 48..4 + 72].iter().all(|b| *b == 0));
        assert!(p.0[4 + 144..].iter().all(|b| *b == 0));
        let point = k.pair.public_key().as_ref().to_vec();
        let mut x = point[1..49].to_vec();
        x.reverse();
        assert_eq!(&p.0[4..52], x.as_slice());
    }

    #[test]
    fn public_key_from_point() {
        let k = key();
        let point = k.pair.public_key().as_ref().to_vec();
        assert_eq!(
            SnpPublicKey::from_sec1_point(&point).expect("valid point"),
            k.public_key()
        );
        assert!(SnpPublicKey::from_sec1_point(&point[1..]).is_err());
        assert!(SnpPublicKey::from_sec1_point(&[]).is_err());
    }

    #[test]
    fn pem_variants() {
        let pkcs8 = {
            let rng = SystemRandom::new();
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
                .expect("keygen");
            let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
            let lines: Vec<_> = b64
                .as_bytes()
                .chunks(64)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                lines.join("\n")
            )
        };
        assert!(SigningKey::from_pem(pkcs8.as_bytes()).is_ok());
        assert_eq!(
            SigningKey::from_pem(b"hello").err(),
            Some(IdBlockError::NoPemKey)
        );
        assert_eq!(
            SigningKey::from_pem(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n").err(),
            Some(IdBlockError::EncryptedKey)
        );
        assert!(matches!(
            SigningKey::from_pem(b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n"),
            Err(IdBlockError::MalformedPem { .. })
        ));
        assert!(matches!(
            SigningKey::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n"),
            Err(IdBlockError::MalformedPem { .. })
        ));
        // A P-256 key is refused.
        let p256 = EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &SystemRandom::new(),
        )
        .expect("keygen");
        assert!(matches!(
            SigningKey::from_der(p256.as_ref()),
            Err(IdBlockError::NotP384(_))
        ));
    }
}
