//! Just enough DER walking to compare raw encodings where x509-parser only
//! exposes parsed values (it accepts a wrong tag on the outer
//! signatureAlgorithm OID, which the signature does not cover; comparing the
//! raw bytes with the signed copy in the TBS closes that malleability).

/// One TLV: (tag, the whole encoding, the contents, what follows).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

pub fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = rest.get(..n)?;
        // DER: minimal length encoding.
        if bytes[0] == 0 {
            return None;
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 {
            return None;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let whole = input.get(..end)?;
    Some((tag, whole, whole.get(header..)?, input.get(end..)?))
}

/// The raw (outer AlgorithmIdentifier, TBS signature AlgorithmIdentifier)
/// of a Certificate or CertificateList. The TBS layout differs only in
/// where the signature field sits: after [0] version (certificates) and the
/// serial, or after an optional INTEGER version (CRLs).
pub fn algorithm_identifiers(der: &[u8], is_crl: bool) -> Option<(&[u8], &[u8])> {
    let (tag, _, outer, _) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tbs_tag, _, tbs, rest) = tlv(outer)?;
    let (alg_tag, outer_alg, _, _) = tlv(rest)?;
    if tbs_tag != 0x30 || alg_tag != 0x30 {
        return None;
    }
    let mut fields = tbs;
    if is_crl {
        // Optional version INTEGER first.
        let (t, _, _, r) = tlv(fields)?;
        if t == 0x02 {
            fields = r;
        }
    } else {
        let (t, _, _, r) = tlv(fields)?;
        if t == 0xA0 {
            fields = r;
        }
        // serialNumber
        let (t, _, _, r) = tlv(fields)?;
        if t != 0x02 {
            return None;
        }
        fields = r;
    }
    let (t, inner_alg, _, _) = tlv(fields)?;
    if t != 0x30 {
        return None;
    }
    Some((outer_alg, inner_alg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(tlv(&[0x04, 0x01, 0xaa]).map(|t| t.2), Some(&[0xaa][..]));
        assert!(
            tlv(&[0x04, 0x81, 0x05, 0, 0, 0, 0, 0]).is_none(),
            "non-minimal length"
        );
        assert!(tlv(&[0x04, 0x02, 0xaa]).is_none(), "truncated");
        assert!(tlv(&[0x04, 0x80]).is_none(), "indefinite length");
    }
}
