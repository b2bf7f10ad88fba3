/// A UUID-shaped id derived from a name (SHA-256, version nibble set to 8, "custom"), stable
/// across restarts and replicas: for things that need an id clients can keep but have none of
/// their own (shares, tables registered by name, Hudi tables).
pub fn stable_uuid(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut b: [u8; 16] = Sha256::digest(name.as_bytes())[..16]
        .try_into()
        .expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The ids of a data file its table's log names by `log_path`: MD5 hex, the id every adapter
/// gives (the reference server's default, and `fileidhash: parquet`), and SHA-256 (what
/// `fileidhash: delta` asks for).
pub fn path_ids(log_path: &str) -> (String, Sha256Id) {
    use md5::Md5;
    use sha2::{Digest, Sha256};
    (
        hex::encode(Md5::digest(log_path.as_bytes())),
        Sha256Id(Sha256::digest(log_path.as_bytes()).into()),
    )
}

/// A file's id under `fileidhash: delta`, the SHA-256 of its log path. Kept as its 32 bytes,
/// under half the memory of its hex in a `String` (every cached file entry holds one), and
/// written as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Id(pub [u8; 32]);

impl Sha256Id {
    /// The 64 lowercase hex digits the wire carries.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for Sha256Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

impl std::fmt::Debug for Sha256Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sha256Id({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_are_the_hex_digests_of_the_path() {
        let (md5, sha) = path_ids("p=1/a.parquet");
        assert_eq!(md5.len(), 32);
        assert_eq!(sha.hex().len(), 64);
        assert!(
            sha.hex()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(sha.to_string(), sha.hex());
        assert_eq!(path_ids("p=1/a.parquet").1, sha);
        assert_ne!(path_ids("p=1/b.parquet").1, sha);
    }

    #[test]
    fn stable_ids_look_like_uuids_and_do_not_change() {
        let id = stable_uuid("demo.delta.trips");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
        assert_eq!(id, stable_uuid("demo.delta.trips"));
        assert_ne!(id, stable_uuid("demo.delta.other"));
    }
}
