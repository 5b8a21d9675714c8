//! AR4SI trustworthiness claims, tiers and vectors (draft-ietf-rats-ar4si):
//! the same types the EAR tokens carry, so an appraisal's outcome goes into
//! a token unchanged. The tiers by value range:
//!
//! | tier            | values                      |
//! |-----------------|-----------------------------|
//! | none            | -1 ..= 1                    |
//! | affirming       | 2 ..= 31 and -32 ..= -2     |
//! | warning         | 32 ..= 95 and -96 ..= -33   |
//! | contraindicated | 96 ..= 127 and -128 ..= -97 |
//!
//! The appraisal status is the worst tier across the vector, with
//! none < affirming < warning < contraindicated.

pub use mamori_token::{TrustClaim, TrustTier, TrustVector};
