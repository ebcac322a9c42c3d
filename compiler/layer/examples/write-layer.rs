//! Write a directory as a reproducible layer into a file (or `/dev/null`) and print what it
//! measured: used by `bench/layer-throughput.sh`.
//!
//! Usage: `write-layer DIR OUT [none|gzip|zstd]`

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use duckc_layer::{Compression, SourceKind, WriteOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: write-layer DIR OUT [none|gzip|zstd]");
        std::process::exit(2);
    }
    let compression = args
        .get(3)
        .map_or(Some(Compression::None), |c| Compression::from_name(c));
    let Some(compression) = compression else {
        eprintln!("unknown compression `{}`: use none, gzip or zstd", args[3]);
        std::process::exit(2);
    };
    let out = match File::create(&args[2]) {
        Ok(f) => BufWriter::with_capacity(1 << 20, f),
        Err(e) => {
            eprintln!("cannot create `{}`: {e}", args[2]);
            std::process::exit(1);
        }
    };
    let opts = WriteOptions {
        epoch: 0,
        compression,
        source: SourceKind::Plain,
    };
    let start = Instant::now();
    match duckc_layer::write_layer(Path::new(&args[1]), &opts, out) {
        Ok((_, info)) => {
            let secs = start.elapsed().as_secs_f64();
            println!(
                "diff_id={} tar_bytes={} blob_bytes={} seconds={secs:.3} mb_per_s={:.1}",
                info.diff_id,
                info.diff_size,
                info.size,
                info.diff_size as f64 / secs / 1e6
            );
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
