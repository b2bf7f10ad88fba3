//! The demo's AI assets, generated from the demo trips so they are real and small: a volume of
//! documents and images about the data, a fare model with two versions fitted to the trips
//! (weights in safetensors), and an agent skill for analysing them.

use std::io::Write;
use std::path::{Path, PathBuf};

use arrow_array::{Array, Decimal128Array, Float64Array, Int32Array, StringArray};

use crate::trips;

/// Where each asset is, under the folder given to [`ensure_assets`].
#[derive(Debug, Clone)]
pub struct DemoAssets {
    pub docs: PathBuf,
    /// Version folders of the fare model, version 1 first.
    pub model_versions: [PathBuf; 2],
    pub skill: PathBuf,
}

/// The skill's name, which is also its folder's.
pub const SKILL_NAME: &str = "trip-analyst";

/// Writes the assets under `dir` unless they are there; returns where they are and whether they
/// were written. They are written to a temporary folder and moved into place, so an interrupted
/// run leaves nothing half-written.
pub fn ensure_assets(dir: &Path) -> std::io::Result<(DemoAssets, bool)> {
    let assets = DemoAssets {
        docs: dir.join("volumes").join("docs"),
        model_versions: [
            dir.join("models").join("trip-fare").join("1"),
            dir.join("models").join("trip-fare").join("2"),
        ],
        skill: dir.join("skills").join(SKILL_NAME),
    };
    if dir.join("volumes").exists() {
        return Ok((assets, false));
    }
    let staging = dir.with_extension("staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    write_all(&staging)?;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::rename(&staging, dir)?;
    Ok((assets, true))
}

fn write_all(dir: &Path) -> std::io::Result<()> {
    let trips = Trips::load();
    let docs = dir.join("volumes").join("docs");
    put(&docs.join("README.md"), readme().as_bytes())?;
    put(&docs.join("data-dictionary.md"), DATA_DICTIONARY.as_bytes())?;
    put(
        &docs.join("images").join("trips-by-vendor.svg"),
        trips.vendor_chart().as_bytes(),
    )?;
    put(
        &docs.join("images").join("fare-vs-distance.png"),
        &trips.fare_heatmap(),
    )?;
    let models = dir.join("models").join("trip-fare");
    let first_half = trips::DAYS / 2;
    let v1 = Fit::new(&trips, first_half, false);
    put(
        &models.join("1").join("model.safetensors"),
        &v1.safetensors(),
    )?;
    put(
        &models.join("1").join("config.json"),
        v1.config().as_bytes(),
    )?;
    let v2 = Fit::new(&trips, trips::DAYS, true);
    put(
        &models.join("2").join("model.safetensors"),
        &v2.safetensors(),
    )?;
    put(
        &models.join("2").join("config.json"),
        v2.config().as_bytes(),
    )?;
    let skill = dir.join("skills").join(SKILL_NAME);
    put(&skill.join("SKILL.md"), SKILL_MD.as_bytes())?;
    put(
        &skill.join("scripts").join("verify_download.py"),
        VERIFY_SCRIPT.as_bytes(),
    )?;
    put(
        &skill.join("references").join("tables.md"),
        DATA_DICTIONARY.as_bytes(),
    )?;
    Ok(())
}

fn put(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)
}

/// The columns the assets are made from, per day.
struct Trips {
    /// `(day, vendor, passengers, distance_km, fare)`
    rows: Vec<(usize, String, i32, f64, f64)>,
}

impl Trips {
    fn load() -> Self {
        let mut rows = Vec::with_capacity(trips::ROWS);
        for d in 0..trips::DAYS {
            let batch = trips::day(d);
            let column = |name: &str| batch.column(batch.schema().index_of(name).expect("column"));
            let vendor = column("vendor");
            let vendor = vendor.as_any().downcast_ref::<StringArray>().expect("utf8");
            let passengers = column("passengers");
            let passengers = passengers
                .as_any()
                .downcast_ref::<Int32Array>()
                .expect("i32");
            let distance = column("distance_km");
            let distance = distance
                .as_any()
                .downcast_ref::<Float64Array>()
                .expect("f64");
            let fare = column("fare");
            let fare = fare
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .expect("decimal");
            for i in 0..batch.num_rows() {
                rows.push((
                    d,
                    vendor.value(i).to_string(),
                    passengers.value(i),
                    distance.value(i),
                    fare.value(i) as f64 / 100.0,
                ));
            }
        }
        Self { rows }
    }

    fn vendor_chart(&self) -> String {
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for (_, vendor, ..) in &self.rows {
            *counts.entry(vendor.as_str()).or_default() += 1;
        }
        let max = counts.values().copied().max().unwrap_or(1) as f64;
        let mut bars = String::new();
        for (i, (vendor, count)) in counts.iter().enumerate() {
            let width = 300.0 * *count as f64 / max;
            let y = 20 + i * 40;
            bars.push_str(&format!(
                "  <rect x=\"60\" y=\"{y}\" width=\"{width:.1}\" height=\"28\" fill=\"#3b7dd8\"/>\n  <text x=\"10\" y=\"{}\" font-family=\"sans-serif\" font-size=\"14\">{vendor}</text>\n  <text x=\"{:.1}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"12\">{count}</text>\n",
                y + 19,
                66.0 + width,
                y + 19
            ));
        }
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"440\" height=\"{}\" role=\"img\" aria-label=\"Trips by vendor\">\n{bars}</svg>\n",
            40 + counts.len() * 40
        )
    }

    /// A 96×64 greyscale PNG: trips per (distance, fare) cell, darker for more.
    fn fare_heatmap(&self) -> Vec<u8> {
        const W: usize = 96;
        const H: usize = 64;
        let mut cells = vec![0u32; W * H];
        for (_, _, _, km, fare) in &self.rows {
            let x = ((km / 30.0) * W as f64).min(W as f64 - 1.0) as usize;
            let y = H - 1 - ((fare / 60.0) * H as f64).min(H as f64 - 1.0) as usize;
            cells[y * W + x] += 1;
        }
        let max = cells.iter().copied().max().unwrap_or(1).max(1) as f64;
        let mut raw = Vec::with_capacity(H * (W + 1));
        for row in cells.chunks(W) {
            raw.push(0); // filter: none
            raw.extend(
                row.iter()
                    .map(|&c| 255 - ((c as f64 / max).sqrt() * 255.0) as u8),
            );
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut header = Vec::new();
        header.extend((W as u32).to_be_bytes());
        header.extend((H as u32).to_be_bytes());
        header.extend([8, 0, 0, 0, 0]); // 8-bit greyscale
        chunk(&mut png, b"IHDR", &header);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&raw).expect("in memory");
        chunk(&mut png, b"IDAT", &z.finish().expect("in memory"));
        chunk(&mut png, b"IEND", &[]);
        png
    }
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend((data.len() as u32).to_be_bytes());
    png.extend(kind);
    png.extend(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    png.extend(crc.finalize().to_be_bytes());
}

/// A least-squares fit of the fare to the distance (and, in the second version, the passengers).
struct Fit {
    features: Vec<&'static str>,
    weights: Vec<f32>,
    bias: f32,
    days: usize,
    rows: usize,
    rmse: f64,
}

impl Fit {
    fn new(trips: &Trips, days: usize, with_passengers: bool) -> Self {
        let rows: Vec<(Vec<f64>, f64)> = trips
            .rows
            .iter()
            .filter(|(d, ..)| *d < days)
            .map(|(_, _, passengers, km, fare)| {
                let mut x = vec![*km];
                if with_passengers {
                    x.push(*passengers as f64);
                }
                (x, *fare)
            })
            .collect();
        let k = rows[0].0.len() + 1;
        // Normal equations (XᵀX) β = Xᵀy with a leading column of ones.
        let mut a = vec![vec![0.0; k + 1]; k];
        for (x, y) in &rows {
            let xs: Vec<f64> = std::iter::once(1.0).chain(x.iter().copied()).collect();
            for i in 0..k {
                for j in 0..k {
                    a[i][j] += xs[i] * xs[j];
                }
                a[i][k] += xs[i] * y;
            }
        }
        let beta = solve(a);
        let rmse = (rows
            .iter()
            .map(|(x, y)| {
                let p = beta[0] + x.iter().zip(&beta[1..]).map(|(a, b)| a * b).sum::<f64>();
                (p - y).powi(2)
            })
            .sum::<f64>()
            / rows.len() as f64)
            .sqrt();
        let mut features = vec!["distance_km"];
        if with_passengers {
            features.push("passengers");
        }
        Self {
            features,
            weights: beta[1..].iter().map(|w| *w as f32).collect(),
            bias: beta[0] as f32,
            days,
            rows: rows.len(),
            rmse,
        }
    }

    /// The weights in the safetensors layout: an 8-byte little-endian header length, a JSON
    /// header naming each tensor's type, shape and byte range, then the raw little-endian data.
    fn safetensors(&self) -> Vec<u8> {
        let n = self.weights.len();
        let header = serde_json::json!({
            "__metadata__": { "format": "pt" },
            "linear.weight": { "dtype": "F32", "shape": [1, n], "data_offsets": [0, 4 * n] },
            "linear.bias": { "dtype": "F32", "shape": [1], "data_offsets": [4 * n, 4 * n + 4] },
        })
        .to_string();
        let mut header = header.into_bytes();
        while !header.len().is_multiple_of(8) {
            header.push(b' ');
        }
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend(header);
        for w in &self.weights {
            out.extend(w.to_le_bytes());
        }
        out.extend(self.bias.to_le_bytes());
        out
    }

    fn config(&self) -> String {
        let config = serde_json::json!({
            "model_type": "linear-regression",
            "features": self.features,
            "target": "fare",
            "trained_on": "demo.delta.trips",
            "training_days": self.days,
            "training_rows": self.rows,
            "rmse": (self.rmse * 1e4).round() / 1e4,
        });
        serde_json::to_string_pretty(&config).expect("json") + "\n"
    }
}

/// Gaussian elimination on an augmented matrix; the systems here are 2×2 and 3×3.
fn solve(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let k = a.len();
    for col in 0..k {
        let pivot = (col..k)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .expect("non-empty");
        a.swap(col, pivot);
        let pivot_row = a[col].clone();
        for (i, row) in a.iter_mut().enumerate() {
            if i != col {
                let factor = row[col] / pivot_row[col];
                for (value, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *value -= factor * p;
                }
            }
        }
    }
    (0..k).map(|i| a[i][k] / a[i][i]).collect()
}

fn readme() -> String {
    format!(
        "# The lakeshare demo trips\n\n{} synthetic taxi trips over {} days from {}, generated \
         deterministically by lakeshare (no real people or places). The same table is shared in \
         Delta, Iceberg and Hudi as `demo.delta.trips`, `demo.iceberg.trips` and \
         `demo.hudi.trips`.\n\nSee `data-dictionary.md` for the columns and `images/` for two \
         charts of the data.\n",
        trips::ROWS,
        trips::DAYS,
        trips::first_date()
    )
}

const DATA_DICTIONARY: &str = "# Columns of `trips`

| column | type | meaning |
|---|---|---|
| trip_id | long | unique id, 0 to 99,999 |
| pickup_at | timestamp (UTC) | when the trip started |
| pickup_date | date | the day of `pickup_at`; the Delta and Iceberg tables are partitioned by it |
| vendor | string | CMT, VTS or DDS |
| passengers | int | 0 to 6; the latest version has no trips with 0 |
| distance_km | double | 0.50 to 29.99 |
| fare | decimal(10,2) | 3.00 plus 1.75 per km; trips whose id is a multiple of 100 were later charged 1.00 more |
| tip | double | null for cash payments |
| payment | string | card, cash or app |
";

const SKILL_MD: &str = "---
name: trip-analyst
description: Answers questions about the lakeshare demo taxi trips (fares, distances, vendors, tips) by reading the shared trips table with the Delta Sharing connector. Use when asked about demo trips, fares or the trip-fare model.
license: MIT
compatibility: Python 3.10+ with the delta-sharing package and network access to the gateway
allowed-tools: Bash(python:*) Read
metadata:
  author: lakeshare
  domain: mobility
---

# Trip analyst

1. Load the table with `delta_sharing.load_as_pandas(\"<profile>#demo.delta.trips\")`.
2. The columns are described in `references/tables.md`.
3. Before using any file downloaded from the share (a model's weights, a document), check it with
   `python scripts/verify_download.py <file> <sha256>`, using the digest the gateway listed.

Fares follow 3.00 plus 1.75 per km; the `trip-fare` model (alias `champion`) predicts them.
";

const VERIFY_SCRIPT: &str =
    "\"\"\"Checks a downloaded file against the SHA-256 digest lakeshare listed for it.\"\"\"
import hashlib
import sys


def main() -> int:
    path, expected = sys.argv[1], sys.argv[2].lower()
    digest = hashlib.sha256()
    with open(path, \"rb\") as f:
        for block in iter(lambda: f.read(1 << 20), b\"\"):
            digest.update(block)
    if digest.hexdigest() != expected:
        print(f\"MISMATCH {path}: {digest.hexdigest()} != {expected}\")
        return 1
    print(f\"ok {path}\")
    return 0


if __name__ == \"__main__\":
    sys.exit(main())
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fits_recover_the_fare_formula() {
        let trips = Trips::load();
        let fit = Fit::new(&trips, trips::DAYS / 2, false);
        assert!((fit.weights[0] - 1.75).abs() < 0.01, "{:?}", fit.weights);
        assert!((fit.bias - 3.0).abs() < 0.1, "{}", fit.bias);
        let bytes = fit.safetensors();
        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(len % 8, 0);
        assert_eq!(bytes.len(), 8 + len + 8);
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
        assert_eq!(header["linear.weight"]["shape"], serde_json::json!([1, 1]));
        let v2 = Fit::new(&trips, trips::DAYS, true);
        assert_eq!(v2.weights.len(), 2);
    }
}
