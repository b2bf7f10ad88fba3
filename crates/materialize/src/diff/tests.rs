use std::sync::Arc;

use datafusion::arrow::array::{Array as _, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use super::*;

fn batch(schema: &SchemaRef, rows: &[(Option<i64>, &str)]) -> RecordBatch {
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

fn rows(batches: &[RecordBatch]) -> Vec<(Option<i64>, String)> {
    let mut all = Vec::new();
    for b in batches {
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let names = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..b.num_rows() {
            let id = ids.is_valid(i).then(|| ids.value(i));
            all.push((id, names.value(i).to_string()));
        }
    }
    all.sort();
    all
}

#[test]
fn a_multiset_difference_with_nulls_equal() {
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, false),
    ]));
    let before = [
        batch(&schema, &[(Some(1), "a"), (Some(1), "a"), (None, "n")]),
        batch(&schema, &[(Some(2), "b")]),
    ];
    let after = [batch(
        &schema,
        &[(Some(1), "a"), (None, "n"), (Some(3), "c"), (Some(3), "c")],
    )];
    let (deleted, inserted) = diff(&schema, &before, &after).unwrap();
    assert_eq!(
        rows(&deleted),
        [(Some(1), "a".to_string()), (Some(2), "b".to_string())]
    );
    assert_eq!(
        rows(&inserted),
        [(Some(3), "c".to_string()), (Some(3), "c".to_string())]
    );
    let (none, nothing) = diff(&schema, &after, &after).unwrap();
    assert!(none.is_empty() && nothing.is_empty());
    let (gone, _) = diff(&schema, &before, &[]).unwrap();
    assert_eq!(rows(&gone).len(), 4);
}
