//! The `trips` rows.
//!
//! Columns: `trip_id` long, `pickup_at` timestamp, `pickup_date` date (the partition column),
//! `vendor` string, `passengers` int, `distance_km` double, `fare` decimal(10,2), `tip` double
//! (null for cash trips), `payment` string. Day `d` (0–9) is 2024-03-0{d+1} and holds trip ids
//! `d * 10_000 .. (d + 1) * 10_000`.

use std::sync::Arc;

use arrow_array::{
    Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;

pub const DAYS: usize = 10;
pub const ROWS_PER_DAY: usize = 10_000;
pub const ROWS: usize = DAYS * ROWS_PER_DAY;
pub const PARTITION_COLUMN: &str = "pickup_date";

const VENDORS: [&str; 3] = ["CMT", "VTS", "DDS"];
const PAYMENTS: [&str; 3] = ["card", "cash", "app"];

/// The Arrow schema of the rows.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("trip_id", DataType::Int64, false),
        Field::new(
            "pickup_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(PARTITION_COLUMN, DataType::Date32, false),
        Field::new("vendor", DataType::Utf8, false),
        Field::new("passengers", DataType::Int32, false),
        Field::new("distance_km", DataType::Float64, false),
        Field::new("fare", DataType::Decimal128(10, 2), false),
        Field::new("tip", DataType::Float64, true),
        Field::new("payment", DataType::Utf8, false),
    ]))
}

/// The first day, 2024-03-01.
pub fn first_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, 1).expect("valid date")
}

/// A small deterministic generator (SplitMix64), so the data needs no `rand` and never changes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The rows of day `d` (0-based), one batch.
pub fn day(d: usize) -> RecordBatch {
    assert!(d < DAYS, "the demo has {DAYS} days");
    let date = first_date() + chrono::Days::new(d as u64);
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let date_days = (date - epoch).num_days() as i32;
    let midnight_us = date_days as i64 * 86_400_000_000;

    let mut rng = Rng(0x1A4E_5AAE ^ d as u64);
    let n = ROWS_PER_DAY;
    let mut trip_id = Vec::with_capacity(n);
    let mut pickup_at = Vec::with_capacity(n);
    let mut vendor = Vec::with_capacity(n);
    let mut passengers = Vec::with_capacity(n);
    let mut distance = Vec::with_capacity(n);
    let mut fare = Vec::with_capacity(n);
    let mut tip = Vec::with_capacity(n);
    let mut payment = Vec::with_capacity(n);
    for i in 0..n {
        trip_id.push((d * ROWS_PER_DAY + i) as i64);
        pickup_at.push(midnight_us + rng.below(86_400) as i64 * 1_000_000);
        vendor.push(VENDORS[rng.below(3) as usize]);
        passengers.push(rng.below(7) as i32);
        let km_hundredths = 50 + rng.below(2_950) as i64; // 0.50 – 29.99 km
        distance.push(km_hundredths as f64 / 100.0);
        // Fare in cents: 3.00 flag fall plus 1.75 per km, rounded to the cent.
        let fare_cents = 300 + (km_hundredths * 175 + 50) / 100;
        fare.push(fare_cents as i128);
        let pay = PAYMENTS[rng.below(3) as usize];
        payment.push(pay);
        tip.push(
            (pay != "cash")
                .then(|| (fare_cents as f64 * rng.below(25) as f64 / 100.0).round() / 100.0),
        );
    }
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(trip_id)),
            Arc::new(TimestampMicrosecondArray::from(pickup_at).with_timezone("UTC")),
            Arc::new(Date32Array::from(vec![date_days; n])),
            Arc::new(StringArray::from(vendor)),
            Arc::new(Int32Array::from(passengers)),
            Arc::new(Float64Array::from(distance)),
            Arc::new(
                Decimal128Array::from(fare)
                    .with_precision_and_scale(10, 2)
                    .expect("valid decimal"),
            ),
            Arc::new(Float64Array::from(tip)),
            Arc::new(StringArray::from(payment)),
        ],
    )
    .expect("columns match the schema")
}

/// How many generated rows have `passengers = 0` (the rows the demo's last version deletes).
pub fn rows_without_passengers() -> usize {
    (0..DAYS)
        .map(|d| {
            let batch = day(d);
            let col = batch
                .column_by_name("passengers")
                .and_then(|c| c.as_any().downcast_ref::<Int32Array>())
                .expect("passengers is an int column");
            col.iter().filter(|v| *v == Some(0)).count()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_deterministic_and_disjoint() {
        assert_eq!(day(3), day(3));
        let a = day(0);
        let b = day(1);
        let ids = |batch: &RecordBatch| {
            batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        };
        assert_eq!(ids(&a).first(), Some(&0));
        assert_eq!(ids(&b).first(), Some(&(ROWS_PER_DAY as i64)));
    }

    #[test]
    fn about_one_in_seven_trips_has_no_passengers_and_cash_has_no_tip() {
        let zero = rows_without_passengers();
        assert!((ROWS / 9..ROWS / 5).contains(&zero), "{zero}");
        let batch = day(0);
        let tips = batch.column_by_name("tip").unwrap();
        assert!(tips.null_count() > 0 && tips.null_count() < ROWS_PER_DAY);
    }
}
