//! Attestation results for Mamori: EAR claims (draft-ietf-rats-ear, Veraison
//! JSON profile) signed as ES256 JWTs, public JWKs and JWK Sets, and RFC 8785
//! JSON canonicalisation for report-data key binding.
//!
//! Pure: no I/O and no clock; verification takes `now` (Unix seconds).
//!
//! ```
//! use mamori_token::{EarClaims, Submod, TokenSigner, TokenVerifier, TrustVector, VerifierId, EAR_PROFILE};
//! let (signer, _pkcs8) = TokenSigner::generate().unwrap();
//! let mut tv = TrustVector::default();
//! tv.hardware = Some(2);
//! let claims = EarClaims {
//!     profile: EAR_PROFILE.into(), iat: 1_700_000_000, exp: 1_700_000_300, nbf: None, iss: None,
//!     jti: "t1".into(),
//!     verifier_id: VerifierId { developer: "https://mamori.invalid".into(), build: "mamori 0.1".into() },
//!     nonce: None,
//!     submods: [("cpu0".to_string(), Submod::from_vector(tv))].into(),
//! };
//! let token = signer.sign(&claims).unwrap();
//! let mut verifier = TokenVerifier::new();
//! verifier.add_jwk(signer.public_jwk()).unwrap();
//! assert_eq!(verifier.verify(&token, 1_700_000_100).unwrap(), claims);
//! ```
#![forbid(unsafe_code)]

pub mod b64;
pub mod claims;
pub mod jcs;
pub mod jwk;
pub mod jwt;
pub mod runtime_data;

pub use claims::{
    ar4si, EarClaims, RawJson, Submod, TrustClaim, TrustTier, TrustVector, VerifierId, EAR_PROFILE,
};
pub use jwk::{jwks, EcCurve, Jwk, JwkError, PublicKeyMaterial, RsaComponents};
pub use jwt::{TokenError, TokenPart, TokenSigner, TokenVerifier, ALG_ES256};
