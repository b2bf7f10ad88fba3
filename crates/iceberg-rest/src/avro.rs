//! Avro object container files made deterministic.
//!
//! Writers put three things in a container that vary from run to run for the same records: the
//! sync marker separating blocks (random), the order of the header's metadata entries (a hash
//! map), and the order of the entries of a manifest's maps (column bounds, null counts: Iceberg
//! writes a map as an array of key/value records, and the `iceberg` crate fills it from a hash
//! map). Any of them would give two replicas different bytes for the same manifest, and break a
//! recipient's ranged reads that land on both. So [`sorted_maps`] re-encodes the records with
//! every map's entries in key order, the header entries are sorted by key, and the marker is
//! replaced by one the caller derives from the file's name. Every block ends with the
//! marker, so the file's last 16 bytes are it; a random 16-byte marker occurring by chance
//! inside the data is as likely as guessing it (2^-128 per position). The length never
//! changes, so manifest lengths recorded elsewhere stay true.

use apache_avro::types::Value;
use bytes::Bytes;

use crate::{Error, Result};

/// `container` with the entries of every map (an array of `key`/`value` records with integer
/// keys) in key order: the same records, the same blocks, so the same length.
pub(crate) fn sorted_maps(container: &[u8]) -> Result<Vec<u8>> {
    let avro = |e: apache_avro::Error| Error::Internal(format!("re-encoding a manifest: {e}"));
    let reader = apache_avro::Reader::new(container).map_err(avro)?;
    let schema = reader.writer_schema().clone();
    let metadata = reader.user_metadata().clone();
    let mut writer = apache_avro::Writer::new(&schema, Vec::new());
    for (key, value) in metadata {
        if !key.starts_with("avro.") {
            writer.add_user_metadata(key, value).map_err(avro)?;
        }
    }
    for value in reader {
        let mut value = value.map_err(avro)?;
        sort_maps(&mut value);
        writer.append(value).map_err(avro)?;
    }
    let out = writer.into_inner().map_err(avro)?;
    if out.len() != container.len() {
        return Err(Error::Internal(format!(
            "re-encoding a manifest changed its length from {} to {}",
            container.len(),
            out.len()
        )));
    }
    Ok(out)
}

fn sort_maps(value: &mut Value) {
    match value {
        Value::Record(fields) => fields.iter_mut().for_each(|(_, v)| sort_maps(v)),
        Value::Union(_, inner) => sort_maps(inner),
        Value::Array(items) => {
            items.iter_mut().for_each(sort_maps);
            if items.iter().all(|i| map_key(i).is_some()) {
                items.sort_by_key(map_key);
            }
        }
        _ => {}
    }
}

/// The key of a map entry record, if `value` is one.
fn map_key(value: &Value) -> Option<i32> {
    match value {
        Value::Record(fields) => match fields.as_slice() {
            [(k, Value::Int(key)), (v, _)] if k == "key" && v == "value" => Some(*key),
            _ => None,
        },
        _ => None,
    }
}

const MAGIC: &[u8; 4] = b"Obj\x01";
const MARKER_LEN: usize = 16;

/// `container` with its header entries sorted and its sync marker replaced by `marker`.
pub(crate) fn canonical(container: &[u8], marker: [u8; MARKER_LEN]) -> Result<Bytes> {
    let bad = || Error::Internal("the Avro writer produced an unreadable container".into());
    if container.len() < MAGIC.len() + MARKER_LEN || !container.starts_with(MAGIC) {
        return Err(bad());
    }
    let (mut entries, header_end) = header(container).ok_or_else(bad)?;
    entries.sort();
    let mut out = Vec::with_capacity(container.len());
    out.extend_from_slice(MAGIC);
    if !entries.is_empty() {
        put_long(&mut out, entries.len() as i64);
        for (k, v) in &entries {
            put_long(&mut out, k.len() as i64);
            out.extend_from_slice(k);
            put_long(&mut out, v.len() as i64);
            out.extend_from_slice(v);
        }
    }
    put_long(&mut out, 0);
    if out.len() != header_end {
        return Err(bad());
    }
    let old: [u8; MARKER_LEN] = container[container.len() - MARKER_LEN..]
        .try_into()
        .expect("16 bytes");
    let mut i = header_end;
    while i < container.len() {
        if container[i..].starts_with(&old) {
            out.extend_from_slice(&marker);
            i += MARKER_LEN;
        } else {
            out.push(container[i]);
            i += 1;
        }
    }
    Ok(Bytes::from(out))
}

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// The header's metadata entries and where the map ends (where the sync marker starts).
fn header(bytes: &[u8]) -> Option<(Entries, usize)> {
    let mut pos = MAGIC.len();
    let mut entries = Vec::new();
    loop {
        let mut count = long(bytes, &mut pos)?;
        if count == 0 {
            return Some((entries, pos));
        }
        if count < 0 {
            count = -count;
            long(bytes, &mut pos)?; // the block's size in bytes
        }
        for _ in 0..count {
            let k = bytes_field(bytes, &mut pos)?;
            let v = bytes_field(bytes, &mut pos)?;
            entries.push((k, v));
        }
    }
}

fn bytes_field(bytes: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
    let len = usize::try_from(long(bytes, pos)?).ok()?;
    let end = pos.checked_add(len)?;
    let out = bytes.get(*pos..end)?.to_vec();
    *pos = end;
    Some(out)
}

/// An Avro `long`: zig-zag varint.
fn long(bytes: &[u8], pos: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    None
}

fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(entries: &[(&str, &str)], marker: [u8; 16], blocks: &[&[u8]]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        put_long(&mut out, entries.len() as i64);
        for (k, v) in entries {
            put_long(&mut out, k.len() as i64);
            out.extend_from_slice(k.as_bytes());
            put_long(&mut out, v.len() as i64);
            out.extend_from_slice(v.as_bytes());
        }
        put_long(&mut out, 0);
        out.extend_from_slice(&marker);
        for b in blocks {
            out.extend_from_slice(b);
            out.extend_from_slice(&marker);
        }
        out
    }

    #[test]
    fn header_order_and_marker_no_longer_vary() {
        let a = container(&[("b", "2"), ("a", "1")], [7; 16], &[b"block one"]);
        let b = container(&[("a", "1"), ("b", "2")], [9; 16], &[b"block one"]);
        let (ca, cb) = (
            canonical(&a, [1; 16]).unwrap(),
            canonical(&b, [1; 16]).unwrap(),
        );
        assert_eq!(ca, cb);
        assert_eq!(ca.len(), a.len());
        assert_eq!(ca.windows(16).filter(|w| *w == [1u8; 16]).count(), 2);
    }

    #[test]
    fn longs_round_trip() {
        for v in [0i64, 1, -1, 63, -64, 64, 300, i64::MAX, i64::MIN] {
            let mut buf = Vec::new();
            put_long(&mut buf, v);
            let mut pos = 0;
            assert_eq!(long(&buf, &mut pos), Some(v));
            assert_eq!(pos, buf.len());
        }
    }

    #[test]
    fn what_is_not_a_container_is_an_error() {
        assert!(canonical(b"PAR1 not avro at all", [0; 16]).is_err());
    }
}
