//! The messages between a node's instance and its worker process (`nodefusion/worker.py`):
//! each a JSON header and a body of bytes, both length-prefixed (a u32 and a u64,
//! little-endian). Batches travel as Arrow IPC streams of one record batch. A worker
//! serves instance after instance (`init` ... `end`) until its input closes.
//!
//! | from | header `kind` | body |
//! | --- | --- | --- |
//! | instance | `init` (`node`, `path`: `sys.path`, `options`) | the pickled `nodefusion.Node` |
//! | worker | `ready`, or `error` (`message`) | none |
//! | instance | `batch` | the arguments, columns `0`, `1`, ... |
//! | worker | `result` (`failures`: `[row, message]` pairs), or `failed` (`message`) | the values, column `values` |
//! | instance | `end` (the instance ended: its runner closed) | none |
//! | worker | `ended` | none |

use std::io::Cursor;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::common::{Result, exec_datafusion_err};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Sends one message.
pub async fn send(
    writer: &mut (impl AsyncWrite + Unpin),
    header: &Value,
    body: &[u8],
) -> std::io::Result<()> {
    let header = header.to_string();
    let header_length = u32::try_from(header.len()).map_err(std::io::Error::other)?;
    writer.write_all(&header_length.to_le_bytes()).await?;
    writer.write_all(header.as_bytes()).await?;
    writer.write_all(&(body.len() as u64).to_le_bytes()).await?;
    writer.write_all(body).await?;
    writer.flush().await
}

/// Receives one message.
pub async fn receive(reader: &mut (impl AsyncRead + Unpin)) -> std::io::Result<(Value, Vec<u8>)> {
    let header_length = reader.read_u32_le().await?;
    let mut header = vec![0; header_length as usize];
    reader.read_exact(&mut header).await?;
    let body_length = reader.read_u64_le().await?;
    let body_length = usize::try_from(body_length).map_err(std::io::Error::other)?;
    let mut body = vec![0; body_length];
    reader.read_exact(&mut body).await?;
    let header = serde_json::from_slice(&header).map_err(std::io::Error::other)?;
    Ok((header, body))
}

/// `arguments` as the body of a `batch` message.
pub fn arguments_body(arguments: &[ArrayRef]) -> Result<Vec<u8>> {
    let fields: Vec<Field> = arguments
        .iter()
        .enumerate()
        .map(|(index, array)| Field::new(index.to_string(), array.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), arguments.to_vec())?;
    let mut body = Vec::new();
    let mut writer = StreamWriter::try_new(&mut body, &schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(body)
}

/// The values of a `result` message's body.
pub fn values_of(body: Vec<u8>) -> Result<ArrayRef> {
    let mut reader = StreamReader::try_new(Cursor::new(body), None)?;
    let batch = reader
        .next()
        .ok_or_else(|| exec_datafusion_err!("the worker's result holds no batch"))??;
    if batch.num_columns() != 1 {
        return Err(exec_datafusion_err!(
            "the worker's result has {} columns, not one",
            batch.num_columns()
        ));
    }
    Ok(Arc::clone(batch.column(0)))
}
