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
/// gives (the reference server's default, and `fileidhash: parquet`), and SHA-256 hex (what
/// `fileidhash: delta` asks for).
pub fn path_ids(log_path: &str) -> (String, String) {
    use md5::Md5;
    use sha2::{Digest, Sha256};
    (
        hex::encode(Md5::digest(log_path.as_bytes())),
        hex::encode(Sha256::digest(log_path.as_bytes())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ids_look_like_uuids_and_do_not_change() {
        let id = stable_uuid("demo.delta.trips");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
        assert_eq!(id, stable_uuid("demo.delta.trips"));
        assert_ne!(id, stable_uuid("demo.delta.other"));
    }
}
