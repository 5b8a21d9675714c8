//! Specification test vectors: RFC 3394 §4 (AES key wrap), RFC 7518
//! Appendix C (ECDH-ES Concat KDF), RFC 7520 §5.4 (ECDH-ES+A128KW, A128GCM,
//! P-384). Texts taken from the RFCs.
#![allow(clippy::unwrap_used)]

use aws_lc_rs::agreement;
use aws_lc_rs::key_wrap::{AesKek, KeyWrap, AES_128, AES_256};
use mamori_jwe::{
    decrypt, decrypt_with, kdf::concat_kdf, DecryptOptions, FlattenedJwe, JweError, PrivateKey,
};
use mamori_token::b64;
use mamori_token::jwk::EcCurve;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn rfc3394_key_wrap() {
    // (KEK, key data, ciphertext): §4.1, §4.3, §4.6.
    let cases = [
        (
            "000102030405060708090A0B0C0D0E0F",
            "00112233445566778899AABBCCDDEEFF",
            "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5",
        ),
        (
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
            "00112233445566778899AABBCCDDEEFF",
            "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7",
        ),
        (
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
            "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
            "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
        ),
    ];
    for (kek, key, expected) in cases {
        let (kek, key, expected) = (unhex(kek), unhex(key), unhex(expected));
        let cipher = if kek.len() == 16 { &AES_128 } else { &AES_256 };
        let mut out = vec![0u8; key.len() + 8];
        let wrapped = AesKek::new(cipher, &kek)
            .unwrap()
            .wrap(&key, &mut out)
            .unwrap()
            .to_vec();
        assert_eq!(wrapped, expected);
        let mut back = vec![0u8; key.len()];
        let unwrapped = AesKek::new(cipher, &kek)
            .unwrap()
            .unwrap(&wrapped, &mut back)
            .unwrap()
            .to_vec();
        assert_eq!(unwrapped, key);
        let mut tampered = wrapped.clone();
        tampered[0] ^= 1;
        assert!(AesKek::new(cipher, &kek)
            .unwrap()
            .unwrap(&tampered, &mut back)
            .is_err());
    }
}

#[test]
fn rfc7518_appendix_c_concat_kdf() {
    // Bob's static key, Alice's ephemeral public key (RFC 7518 Appendix C).
    let bob_d = b64::decode("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw").unwrap();
    let alice_x = b64::decode("gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0").unwrap();
    let alice_y = b64::decode("SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps").unwrap();
    let mut alice = vec![4u8];
    alice.extend_from_slice(&alice_x);
    alice.extend_from_slice(&alice_y);
    let bob = agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, &bob_d).unwrap();
    let z = agreement::agree(
        &bob,
        agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &alice),
        (),
        |z| Ok(z.to_vec()),
    )
    .unwrap();
    assert_eq!(
        z,
        [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49,
            110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196
        ]
    );
    // Direct ECDH-ES with enc A128GCM: AlgorithmID "A128GCM", apu "Alice", apv "Bob", 128 bits.
    let mut key = [0u8; 16];
    concat_kdf(&z, "A128GCM", b"Alice", b"Bob", &mut key).unwrap();
    assert_eq!(
        key,
        [86, 170, 141, 234, 248, 35, 109, 32, 92, 34, 40, 205, 113, 167, 16, 26]
    );
    assert_eq!(b64::encode(&key), "VqqN6vgjbSBcIijNcacQGg");
    assert!(concat_kdf(&z, "A128GCM", b"", b"", &mut []).is_err());
}

const FRODO: &str = "You can trust us to stick with you through thick and thin\u{2013}to the bitter end. And you can trust us to keep any secret of yours\u{2013}closer than you keep it yourself. But you cannot trust us to let you face trouble alone, and go off without a word. We are your friends, Frodo.";

fn rfc7520_5_4() -> (PrivateKey, FlattenedJwe) {
    // Figure 108: the recipient's P-384 key (peregrin.took@tuckborough.example).
    let d =
        b64::decode("iTx2pk7wW-GqJkHcEkFQb2EFyYcO7RugmaW3mRrQVAOUiPommT0IdnYK2xDlZh-j").unwrap();
    let key = PrivateKey::from_ec_scalar(EcCurve::P384, &d).unwrap();
    assert_eq!(
        key.public_jwk().x.as_deref(),
        Some("YU4rRUzdmVqmRtWOs2OpDE_T5fsNIodcG8G5FWPrTPMyxpzsSOGaQLpe2FpxBmu2")
    );
    assert_eq!(
        key.public_jwk().y.as_deref(),
        Some("A8-yxCHxkfBz3hKZfI1jUYMjUhsEveZ9THuwFjH2sCNdtksRJU7D5-SkgaFL1ETP")
    );
    // Figures 113-117 (flattened JSON serialisation, §5.4.5).
    let jwe = FlattenedJwe {
        protected: concat!(
            "eyJhbGciOiJFQ0RILUVTK0ExMjhLVyIsImtpZCI6InBlcmVncmluLnRvb2tAdH",
            "Vja2Jvcm91Z2guZXhhbXBsZSIsImVwayI6eyJrdHkiOiJFQyIsImNydiI6IlAt",
            "Mzg0IiwieCI6InVCbzRrSFB3Nmtiang1bDB4b3dyZF9vWXpCbWF6LUdLRlp1NH",
            "hBRkZrYllpV2d1dEVLNml1RURzUTZ3TmROZzMiLCJ5Ijoic3AzcDVTR2haVkMy",
            "ZmFYdW1JLWU5SlUyTW84S3BvWXJGRHI1eVBOVnRXNFBnRXdaT3lRVEEtSmRhWT",
            "h0YjdFMCJ9LCJlbmMiOiJBMTI4R0NNIn0"
        )
        .into(),
        encrypted_key: "0DJjBXri_kBcC46IkU5_Jk9BqaQeHdv2".into(),
        iv: "mH-G2zVqgztUtnW_".into(),
        ciphertext: concat!(
            "tkZuOO9h95OgHJmkkrfLBisku8rGf6nzVxhRM3sVOhXgz5NJ76oID7lpnAi_cP",
            "WJRCjSpAaUZ5dOR3Spy7QuEkmKx8-3RCMhSYMzsXaEwDdXta9Mn5B7cCBoJKB0",
            "IgEnj_qfo1hIi-uEkUpOZ8aLTZGHfpl05jMwbKkTe2yK3mjF6SBAsgicQDVCkc",
            "Y9BLluzx1RmC3ORXaM0JaHPB93YcdSDGgpgBWMVrNU1ErkjcMqMoT_wtCex3w0",
            "3XdLkjXIuEr2hWgeP-nkUZTPU9EoGSPj6fAS-bSz87RCPrxZdj_iVyC6QWcqAu",
            "07WNhjzJEPc4jVntRJ6K53NgPQ5p99l3Z408OUqj4ioYezbS6vTPlQ"
        )
        .into(),
        tag: "WuGzxmcreYjpHGJoa17EBg".into(),
    };
    (key, jwe)
}

#[test]
fn rfc7520_section_5_4_decrypts() {
    let (key, jwe) = rfc7520_5_4();
    let options = DecryptOptions {
        allow_128_bit: true,
    };
    let plaintext = decrypt_with(&jwe, &key, &options).unwrap();
    assert_eq!(String::from_utf8(plaintext).unwrap(), FRODO);
    // Mamori's own default accepts only the 256-bit algorithms.
    assert_eq!(
        decrypt(&jwe.to_json(), &key),
        Err(JweError::UnsupportedAlgorithm("ECDH-ES+A128KW".into()))
    );
    // And the example's tag is authenticated.
    let mut bad = jwe.clone();
    bad.tag = "WuGzxmcreYjpHGJoa17EBw".into();
    assert_eq!(
        decrypt_with(&bad, &key, &options),
        Err(JweError::DecryptionFailed)
    );
}
