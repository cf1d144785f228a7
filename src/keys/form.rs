//! What kind of key a piece of text is, so that a key given in the wrong form is named for what
//! it is and the error says which form the option wants. glassbox users handle several: PKCS#8
//! and SPKI PEM (signing and trusting), the signed-note verifier keys of a log (Ed25519, type
//! 0x01) and of a witness (cosignature/v1, type 0x04), Go's note signer keys and age's
//! recipients and identities. Recognising never quotes the text (it may be a secret).

use base64::Engine as _;

/// The kinds of key text glassbox can tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyForm {
    PrivatePem,
    PublicPem,
    /// A PEM document of another kind (OpenSSH, RSA, a certificate…).
    OtherPem,
    /// `<name>+<8 hex>+<base64(0x01 || key)>`: what `glassbox log init` prints.
    LogVerifier,
    /// `<name>+<8 hex>+<base64(0x04 || key)>`: what `glassbox log witness-key` prints.
    WitnessVerifier,
    /// A verifier key of another signature type.
    OtherVerifier,
    /// `PRIVATE+KEY+<name>+<8 hex>+<base64>`: a Go note signer key, a secret.
    NoteSigner,
    AgeRecipient,
    AgeIdentity,
    SshPublic,
}

impl KeyForm {
    /// What the text is, in words.
    pub fn describe(self) -> &'static str {
        match self {
            KeyForm::PrivatePem => "a PEM private key (keep it to yourself)",
            KeyForm::PublicPem => "a PEM public key",
            KeyForm::OtherPem => "a PEM document that is no Ed25519 PKCS#8 or SPKI key",
            KeyForm::LogVerifier => "a log's verifier key (`name+hash+base64`, Ed25519)",
            KeyForm::WitnessVerifier => "a witness's verifier key (`name+hash+base64`, cosignature/v1)",
            KeyForm::OtherVerifier => "a signed-note verifier key of a signature type glassbox does not use",
            KeyForm::NoteSigner => "a note signer's private key (`PRIVATE+KEY+…`, keep it to yourself)",
            KeyForm::AgeRecipient => "an age recipient (age1…)",
            KeyForm::AgeIdentity => "an age identity (AGE-SECRET-KEY-1…, keep it to yourself)",
            KeyForm::SshPublic => "an SSH public key",
        }
    }
}

/// The form an option wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    LogVerifier,
    WitnessVerifier,
    PublicPem,
    PrivatePem,
}

impl Wanted {
    /// What the option wants, with where such a key comes from.
    pub fn describe(self) -> &'static str {
        match self {
            Wanted::LogVerifier => {
                "the log's verifier key (the `name+hash+base64` line `glassbox log init` printed, e.g. \
                 attestations/keys/log.vkey)"
            }
            Wanted::WitnessVerifier => {
                "a witness's verifier key (the `name+hash+base64` line `glassbox log witness-key --key WITNESS.pub` \
                 or `glassbox witness serve` printed)"
            }
            Wanted::PublicPem => "a PEM public key (the .pub file `glassbox key generate` wrote)",
            Wanted::PrivatePem => "a PEM private key (the .key file `glassbox key generate` wrote)",
        }
    }

    fn accepts(self, form: KeyForm) -> bool {
        matches!(
            (self, form),
            (Wanted::LogVerifier, KeyForm::LogVerifier)
                | (Wanted::WitnessVerifier, KeyForm::WitnessVerifier)
                | (Wanted::PublicPem, KeyForm::PublicPem)
                | (Wanted::PrivatePem, KeyForm::PrivatePem)
        )
    }
}

/// The form of `text` (surrounding white space ignored), if it is one glassbox knows.
pub fn recognise(text: &str) -> Option<KeyForm> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("-----BEGIN ") {
        let label = rest.split("-----").next().unwrap_or("");
        return Some(match label {
            "PRIVATE KEY" => KeyForm::PrivatePem,
            "PUBLIC KEY" => KeyForm::PublicPem,
            _ => KeyForm::OtherPem,
        });
    }
    if text.starts_with("PRIVATE+KEY+") {
        return Some(KeyForm::NoteSigner);
    }
    if text.starts_with("AGE-SECRET-KEY-1") {
        return Some(KeyForm::AgeIdentity);
    }
    if text.starts_with("age1") && !text.contains('+') {
        return Some(KeyForm::AgeRecipient);
    }
    if text.starts_with("ssh-") || text.starts_with("ecdsa-sha2-") {
        return Some(KeyForm::SshPublic);
    }
    let parts: Vec<&str> = text.split('+').collect();
    // The base64 key holds '+' too; the name and the 8-hex key hash never do.
    if parts.len() >= 3 && parts[1].len() == 8 && parts[1].bytes().all(|b| b.is_ascii_hexdigit()) {
        let key = parts[2..].join("+");
        let decoded = base64::engine::general_purpose::STANDARD.decode(key.as_bytes()).ok()?;
        return Some(match decoded.first() {
            Some(0x01) => KeyForm::LogVerifier,
            Some(0x04) => KeyForm::WitnessVerifier,
            _ => KeyForm::OtherVerifier,
        });
    }
    None
}

/// Why `text` is not what `flag` wants, naming both forms ("this is a PEM public key; --vkey
/// wants the log's verifier key (…)"); `None` when it is the wanted form or none glassbox
/// knows (the caller's own parser then says what is wrong).
pub fn mismatch(text: &str, wanted: Wanted, flag: &str) -> Option<String> {
    let form = recognise(text)?;
    if wanted.accepts(form) {
        return None;
    }
    Some(format!("this is {}; {flag} wants {}", form.describe(), wanted.describe()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    #[test]
    fn every_form_glassbox_writes_is_recognised() {
        let key = PrivateKey::from_seed(&[7; 32]);
        let public = key.public();
        let private_pem = {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
            signing.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).unwrap().to_string()
        };
        let raw = |alg: u8| {
            let mut bytes = vec![alg];
            bytes.extend_from_slice(public.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(bytes)
        };
        let cases = [
            (private_pem, KeyForm::PrivatePem),
            (public.to_pem(), KeyForm::PublicPem),
            ("-----BEGIN OPENSSH PRIVATE KEY-----\nx\n".to_string(), KeyForm::OtherPem),
            (format!("example.com/log+01234567+{}\n", raw(1)), KeyForm::LogVerifier),
            (format!("witness.example+89abcdef+{}", raw(4)), KeyForm::WitnessVerifier),
            (format!("w+89abcdef+{}", raw(2)), KeyForm::OtherVerifier),
            (format!("PRIVATE+KEY+w+89abcdef+{}", raw(1)), KeyForm::NoteSigner),
            ("age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq".to_string(), KeyForm::AgeRecipient),
            ("AGE-SECRET-KEY-1QQQ".to_string(), KeyForm::AgeIdentity),
            ("ssh-ed25519 AAAA user@host".to_string(), KeyForm::SshPublic),
        ];
        for (text, form) in cases {
            assert_eq!(recognise(&text), Some(form), "{text}");
        }
        assert_eq!(recognise("keys/log.vkey"), None);
        assert_eq!(recognise(""), None);
    }

    #[test]
    fn a_mismatch_names_both_forms_and_the_flag() {
        let pem = PrivateKey::from_seed(&[1; 32]).public().to_pem();
        let why = mismatch(&pem, Wanted::LogVerifier, "--vkey").unwrap();
        assert!(why.starts_with("this is a PEM public key; --vkey wants the log's verifier key"), "{why}");
        assert!(why.contains("glassbox log init"), "{why}");
        assert_eq!(mismatch(&pem, Wanted::PublicPem, "--trust"), None);
        assert_eq!(mismatch("not a key at all", Wanted::PublicPem, "--trust"), None);
    }
}
