use base64::Engine;
use std::borrow::Cow;

/// How evidence bytes were encoded when they reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Raw,
    Hex,
    Base64,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Raw => "raw",
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }
}

/// Decodes evidence held as hex or base64 text (surrounding and embedded
/// ASCII whitespace allowed, either case, standard or URL-safe base64, with or
/// without padding). Anything that is not entirely such text is returned as
/// raw bytes unchanged: binary evidence never consists only of these
/// characters in practice, and a wrong guess fails the later strict parse.
pub fn decode_text(bytes: &[u8]) -> (Vec<u8>, Encoding) {
    // Evidence on the wire rarely has whitespace: decode it in place then
    // (this runs on every attestation request).
    let compact: Cow<'_, [u8]> = if bytes.iter().any(u8::is_ascii_whitespace) {
        Cow::Owned(
            bytes
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect(),
        )
    } else {
        Cow::Borrowed(bytes)
    };
    if compact.is_empty() {
        return (bytes.to_vec(), Encoding::Raw);
    }
    let stripped = compact.strip_prefix(b"0x").unwrap_or(&compact);
    if stripped.len().is_multiple_of(2) && stripped.iter().all(u8::is_ascii_hexdigit) {
        if let Ok(v) = hex::decode(stripped) {
            return (v, Encoding::Hex);
        }
    }
    // Padding only at the end: an `=` anywhere else is not base64.
    let unpadded = compact
        .iter()
        .rposition(|b| *b != b'=')
        .map_or(&[][..], |last| &compact[..=last]);
    let is_b64 = !unpadded.is_empty()
        && compact.len() - unpadded.len() <= 2
        && unpadded
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'));
    if is_b64 {
        let engines = [
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for e in engines {
            if let Ok(v) = e.decode(unpadded) {
                return (v, Encoding::Base64);
            }
        }
    }
    (bytes.to_vec(), Encoding::Raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_upper_and_lower_with_newlines() {
        assert_eq!(
            decode_text(b"DEAD beef\n"),
            (vec![0xde, 0xad, 0xbe, 0xef], Encoding::Hex)
        );
    }

    #[test]
    fn base64_standard_and_url() {
        assert_eq!(decode_text(b"3q2+7w==").0, vec![0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(decode_text(b"3q2-7w").0, vec![0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn whitespace_anywhere_in_base64() {
        assert_eq!(
            decode_text(b" 3q2+\n7w==\r\n").0,
            vec![0xde, 0xad, 0xbe, 0xef]
        );
    }

    #[test]
    fn padding_only_at_the_end() {
        for bad in [&b"3q=2+7w"[..], b"3q2+7w===", b"====", b"3q2+7w=A"] {
            assert_eq!(decode_text(bad), (bad.to_vec(), Encoding::Raw), "{bad:?}");
        }
    }

    #[test]
    fn binary_stays_raw() {
        let raw = [0u8, 1, 2, 0xff];
        assert_eq!(decode_text(&raw), (raw.to_vec(), Encoding::Raw));
    }
}
