//! Encryption at rest. One 32-byte master key (from configuration, or generated once into the
//! data directory) derives a separate key per purpose, so that e.g. the key that signs image
//! links cannot decrypt access-key secrets. Ciphertexts are AES-256-GCM with a random nonce
//! and are bound to what they belong to (associated data such as `access_key:ID`), so a
//! ciphertext copied onto another row does not decrypt.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::StoreError;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
/// What [`Keyring::seal`] adds to a plaintext: the format version, the nonce and the GCM tag.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + 16;

type HmacSha256 = Hmac<Sha256>;

/// What a derived key is for.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    /// Access-key secrets.
    Secrets,
    /// Stored face images.
    Images,
    /// Face templates of the authority registry.
    Templates,
    /// Keyed hashes of personal data (ID numbers, names) for look-ups without the clear value.
    PersonalDataHash,
    /// Signatures of expiring image links.
    Links,
    /// What a verification session carries until it ends (claimed identity, reference
    /// template, callback token).
    Sessions,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Secrets => b"shiren/v1/secrets",
            Purpose::Images => b"shiren/v1/images",
            Purpose::Templates => b"shiren/v1/templates",
            Purpose::PersonalDataHash => b"shiren/v1/pii-hash",
            Purpose::Links => b"shiren/v1/links",
            Purpose::Sessions => b"shiren/v1/sessions",
        }
    }
}

/// The master key and the keys derived from it.
#[derive(Clone)]
pub struct Keyring {
    master: [u8; 32],
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

impl Keyring {
    pub fn from_bytes(master: [u8; 32]) -> Self {
        Self { master }
    }

    /// A master key given as base64 (44 characters for 32 bytes).
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|e| StoreError::Config(format!("master key is not valid base64: {e}")))?;
        let master: [u8; 32] = bytes.try_into().map_err(|_| {
            StoreError::Config("master key must be exactly 32 bytes (base64 of 32 random bytes)".into())
        })?;
        Ok(Self { master })
    }

    /// Reads the key file, or creates it with a fresh random key (owner-only permissions) when
    /// it does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut master = [0u8; 32];
                getrandom::fill(&mut master).map_err(|e| StoreError::Config(format!("no randomness: {e}")))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
                }
                write_private(path, BASE64.encode(master).as_bytes())?;
                tracing::warn!(
                    path = %path.display(),
                    "generated a new master key; back it up: without it stored secrets and images cannot be read"
                );
                Ok(Self { master })
            }
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    fn derive(&self, purpose: Purpose) -> [u8; 32] {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.master).expect("HMAC accepts any key length");
        mac.update(purpose.label());
        mac.finalize().into_bytes().into()
    }

    /// Encrypts `plain`, bound to `context`.
    pub fn seal(&self, purpose: Purpose, context: &str, plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let cipher = Aes256Gcm::new_from_slice(&self.derive(purpose)).map_err(|_| StoreError::Crypto)?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| StoreError::Crypto)?;
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad: context.as_bytes() })
            .map_err(|_| StoreError::Crypto)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what `seal` produced for the same purpose and context.
    pub fn open(&self, purpose: Purpose, context: &str, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(StoreError::Crypto);
        }
        let cipher = Aes256Gcm::new_from_slice(&self.derive(purpose)).map_err(|_| StoreError::Crypto)?;
        cipher
            .decrypt(
                Nonce::from_slice(&sealed[1..1 + NONCE_LEN]),
                Payload { msg: &sealed[1 + NONCE_LEN..], aad: context.as_bytes() },
            )
            .map_err(|_| StoreError::Crypto)
    }

    /// Keyed hash (hex HMAC-SHA256) for look-ups of personal data without keeping it.
    pub fn keyed_hash(&self, purpose: Purpose, value: &str) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.derive(purpose)).expect("HMAC accepts any key length");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of a keyed hash.
    pub fn verify_keyed_hash(&self, purpose: Purpose, value: &str, expected_hex: &str) -> bool {
        let Ok(expected) = hex::decode(expected_hex) else {
            return false;
        };
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.derive(purpose)).expect("HMAC accepts any key length");
        mac.update(value.as_bytes());
        mac.verify_slice(&expected).is_ok()
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| StoreError::io(path, e))?;
    file.write_all(bytes).and_then(|_| file.sync_all()).map_err(|e| StoreError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_in_its_context_and_purpose() {
        let keys = Keyring::from_bytes([7; 32]);
        let sealed = keys.seal(Purpose::Secrets, "access_key:A", b"secret").unwrap();
        assert_eq!(keys.open(Purpose::Secrets, "access_key:A", &sealed).unwrap(), b"secret");
        assert!(keys.open(Purpose::Secrets, "access_key:B", &sealed).is_err());
        assert!(keys.open(Purpose::Images, "access_key:A", &sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(keys.open(Purpose::Secrets, "access_key:A", &tampered).is_err());
        assert!(Keyring::from_bytes([8; 32]).open(Purpose::Secrets, "access_key:A", &sealed).is_err());
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let a = Keyring::load_or_create(&path).unwrap();
        let b = Keyring::load_or_create(&path).unwrap();
        let sealed = a.seal(Purpose::Images, "x", b"face").unwrap();
        assert_eq!(b.open(Purpose::Images, "x", &sealed).unwrap(), b"face");
        assert!(Keyring::from_base64("too short").is_err());
        assert_ne!(a.keyed_hash(Purpose::PersonalDataHash, "1"), a.keyed_hash(Purpose::Links, "1"));
    }
}
