//! [`LargeBlockReads`]: a local file read for splicing in blocks of [`IO_BLOCK_BYTES`],
//! where the parquet crate's own reader of a `File` reads 8 KiB at a time (a copied column
//! chunk of a few megabytes took hundreds of system calls each way).

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};

use bytes::Bytes;
use datafusion::parquet::errors::Result;
use datafusion::parquet::file::reader::{ChunkReader, Length};

/// The size of the blocks a spliced column chunk is read and written in.
pub const IO_BLOCK_BYTES: usize = 1 << 20;

/// A file whose chunks are read in blocks of [`IO_BLOCK_BYTES`].
pub struct LargeBlockReads(pub File);

impl Length for LargeBlockReads {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl ChunkReader for LargeBlockReads {
    type T = BufReader<File>;

    fn get_read(&self, start: u64) -> Result<Self::T> {
        let mut file = self.0.try_clone()?;
        file.seek(SeekFrom::Start(start))?;
        Ok(BufReader::with_capacity(IO_BLOCK_BYTES, file))
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        self.0.get_bytes(start, length)
    }
}
