//! [`columns`](crate::columns) tables as Arrow record batches, and as Parquet files (zstd), the
//! typed form of the result files: what the Python binding hands to pyarrow and what `--tasks
//! parquet` writes. Types: int64, uint64 (the exact episode seed), float64, boolean, utf8, and
//! names as dictionaries of utf8 (categoricals in pandas, `Categorical` in polars).

use std::io::Write;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, UInt64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array};
use arrow_array::{RecordBatch, StringArray, UInt64Array};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use crate::columns::{Column, Table, Values};

/// The Arrow type a column is written as.
fn data_type(values: &Values) -> DataType {
    match values {
        Values::Int(_) => DataType::Int64,
        Values::Seed(_) => DataType::UInt64,
        Values::Float(_) => DataType::Float64,
        Values::Bool(_) => DataType::Boolean,
        Values::Text(_) => DataType::Utf8,
        Values::Category { .. } => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
    }
}

fn array(values: &Values) -> Result<ArrayRef, ArrowError> {
    Ok(match values {
        Values::Int(v) => Arc::new(Int64Array::from(v.clone())),
        Values::Seed(v) => Arc::new(UInt64Array::from(v.clone())),
        Values::Float(v) => Arc::new(Float64Array::from(v.clone())),
        Values::Bool(v) => Arc::new(BooleanArray::from(v.clone())),
        Values::Text(v) => Arc::new(StringArray::from(v.clone())),
        Values::Category { levels, codes } => {
            let keys: Int32Array = codes.iter().map(|c| c.and_then(|c| i32::try_from(c).ok())).collect();
            Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(StringArray::from(levels.clone())))?)
        }
    })
}

/// The table as one record batch (every column nullable).
pub fn record_batch(table: &Table) -> Result<RecordBatch, ArrowError> {
    let fields: Vec<Field> =
        table.columns.iter().map(|c| Field::new(c.name.clone(), data_type(&c.values), true)).collect();
    let arrays = table.columns.iter().map(|c| array(&c.values)).collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
}

/// Write the table as Parquet, zstd-compressed.
pub fn write_parquet(w: impl Write + Send, table: &Table) -> Result<(), ParquetError> {
    let batch = record_batch(table)?;
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    let mut writer = ArrowWriter::try_new(w, batch.schema(), Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(())
}

/// Read a Parquet file [`write_parquet`] wrote back into a table (the plots read `tasks.parquet`
/// this way).
pub fn read_parquet(file: std::fs::File) -> Result<Table, ParquetError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let mut table = Table::default();
    for batch in reader {
        let batch = batch?;
        for (i, field) in batch.schema().fields().iter().enumerate() {
            let values = values(batch.column(i)).ok_or_else(|| {
                ParquetError::General(format!("column {}: unexpected type {}", field.name(), field.data_type()))
            })?;
            match table.columns.get_mut(i) {
                Some(c) => append(&mut c.values, values),
                None => table.columns.push(Column { name: field.name().clone(), values }),
            }
        }
    }
    Ok(table)
}

fn values(a: &ArrayRef) -> Option<Values> {
    let opt = |i: usize| !a.is_null(i);
    Some(match a.data_type() {
        DataType::Int64 => {
            let v = a.as_primitive::<Int64Type>();
            Values::Int((0..a.len()).map(|i| opt(i).then(|| v.value(i))).collect())
        }
        DataType::UInt64 => Values::Seed(a.as_primitive::<UInt64Type>().values().to_vec()),
        DataType::Float64 => {
            let v = a.as_primitive::<Float64Type>();
            Values::Float((0..a.len()).map(|i| opt(i).then(|| v.value(i))).collect())
        }
        DataType::Boolean => {
            let v = a.as_boolean();
            Values::Bool((0..a.len()).map(|i| opt(i).then(|| v.value(i))).collect())
        }
        DataType::Utf8 => {
            let v = a.as_string::<i32>();
            Values::Text((0..a.len()).map(|i| opt(i).then(|| v.value(i).to_string())).collect())
        }
        DataType::Dictionary(..) => {
            let d = a.as_dictionary_opt::<Int32Type>()?;
            let levels = d.values().as_string_opt::<i32>()?;
            let levels: Vec<String> = (0..levels.len()).map(|i| levels.value(i).to_string()).collect();
            let codes = (0..a.len()).map(|i| opt(i).then(|| d.keys().value(i) as u32)).collect();
            Values::Category { levels, codes }
        }
        _ => return None,
    })
}

/// Append a later batch's values to a column (categories by name, their codes renumbered).
fn append(to: &mut Values, more: Values) {
    match (to, more) {
        (Values::Int(a), Values::Int(b)) => a.extend(b),
        (Values::Seed(a), Values::Seed(b)) => a.extend(b),
        (Values::Float(a), Values::Float(b)) => a.extend(b),
        (Values::Bool(a), Values::Bool(b)) => a.extend(b),
        (Values::Text(a), Values::Text(b)) => a.extend(b),
        (Values::Category { levels, codes }, Values::Category { levels: more_levels, codes: more_codes }) => {
            let map: Vec<u32> = more_levels
                .iter()
                .map(|l| {
                    levels.iter().position(|x| x == l).unwrap_or_else(|| {
                        levels.push(l.clone());
                        levels.len() - 1
                    }) as u32
                })
                .collect();
            codes.extend(more_codes.into_iter().map(|c| c.map(|c| map[c as usize])));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_round_trips_through_parquet_with_its_types() {
        let table = Table {
            columns: vec![
                Column { name: "seed".into(), values: Values::Seed(vec![u64::MAX, 7]) },
                Column { name: "n".into(), values: Values::Int(vec![Some(-3), None]) },
                Column { name: "x".into(), values: Values::Float(vec![None, Some(0.25)]) },
                Column { name: "ok".into(), values: Values::Bool(vec![Some(true), None]) },
                Column { name: "t".into(), values: Values::Text(vec![Some("a,b".into()), None]) },
                Column {
                    name: "who".into(),
                    values: Values::Category { levels: vec!["p".into(), "q".into()], codes: vec![Some(1), None] },
                },
            ],
        };
        let file = tempfile::tempfile().unwrap();
        write_parquet(file.try_clone().unwrap(), &table).unwrap();
        let back = read_parquet(file).unwrap();
        // Parquet keeps the dictionary levels in use: compare values, not levels.
        assert_eq!(back.rows(), table.rows());
        for (a, b) in back.columns.iter().zip(&table.columns) {
            assert_eq!(a.name, b.name);
            assert_eq!(std::mem::discriminant(&a.values), std::mem::discriminant(&b.values), "{}", a.name);
            let texts = |v: &Values| (0..v.len()).map(|i| v.text(i)).collect::<Vec<_>>();
            assert_eq!(texts(&a.values), texts(&b.values), "{}", a.name);
        }
    }
}
