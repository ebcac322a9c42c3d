//! Reproducible OCI layers: writing a directory as a tar (hashed and compressed in one pass)
//! and extracting a layer safely into a directory.

pub mod compress;
pub mod digest;
pub mod extract;
pub mod ids;
pub mod overlay;
pub mod tree;
pub mod write;

pub use compress::Compression;
pub use digest::{Digest, DigestParseError, HashingReader, HashingWriter};
pub use extract::{
    DroppedOwner, Expected, ExtractError, ExtractOptions, ExtractStats, Limits, WhiteoutMode,
    extract_into, extract_into_observed, remove_tree, unpack_layer,
};
pub use write::{
    DEFAULT_SOURCE_DATE_EPOCH, LayerInfo, SourceKind, WriteError, WriteOptions, clamp_mtimes,
    source_date_epoch, write_layer, write_tar,
};

#[cfg(test)]
mod archive_gen;
#[cfg(test)]
mod tests;
