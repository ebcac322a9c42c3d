//! `history IMAGE`: the image's history entries, newest first, with the size of the layer each
//! one made (what build steps and `commit -m` recorded as `created_by` and `comment`).

use std::process::ExitCode;

use clap::Args;
use duckc_image::time;
use duckc_store::Store;
use serde_json::{Value, json};

use crate::cmd::format::{Template, docker_header};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Do not cut CREATED BY.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only print image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print each entry through a Go-style template (`{{.CreatedBy}}`, `{{json .}}`).
    #[arg(long)]
    pub format: Option<String>,
    /// The image: `name[:tag]`, or an image id.
    pub image: String,
}

pub fn history(store: &Store, args: &HistoryArgs) -> miette::Result<ExitCode> {
    let image = super::resolve(store, &args.image)?;
    let template = args.format.as_deref().map(Template::parse).transpose()?;
    let entries = image.config.history().clone().unwrap_or_default();
    // Entries that made a layer take the layers bottom first.
    let mut layers = image.layers.iter();
    let now = time::now();
    let mut rows: Vec<Value> = Vec::new();
    for h in &entries {
        let size = if h.empty_layer().unwrap_or(false) {
            0
        } else {
            layers.next().map_or(0, |l| match store.layer(&l.diff_id) {
                Ok(Some(rec)) => rec.diff_size.unwrap_or(l.size),
                _ => l.size,
            })
        };
        let created = h.created().as_deref().and_then(time::parse_rfc3339);
        rows.push(json!({
            "ID": "<missing>",
            "CreatedSince": created.map_or("N/A".to_owned(), |t| format!("{} ago", time::human_duration(now - t))),
            "CreatedAt": h.created().clone().unwrap_or_default(),
            "CreatedBy": h.created_by().clone().unwrap_or_default(),
            "Size": time::human_size(size),
            "Comment": h.comment().clone().unwrap_or_default(),
        }));
    }
    rows.reverse();
    let id = if args.no_trunc {
        image.config_digest.to_string()
    } else {
        image.short_id()
    };
    if let Some(first) = rows.first_mut() {
        first["ID"] = json!(id);
    }
    if args.quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or_default());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(t) = template {
        t.print(&rows, &docker_header("history"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let cut = |s: &str| {
        if args.no_trunc || s.chars().count() <= 45 {
            s.to_owned()
        } else {
            format!("{}…", s.chars().take(44).collect::<String>())
        }
    };
    let mut table = vec![[
        "IMAGE".to_owned(),
        "CREATED".into(),
        "CREATED BY".into(),
        "SIZE".into(),
        "COMMENT".into(),
    ]];
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
        table.push([
            s("ID"),
            s("CreatedSince"),
            cut(&s("CreatedBy")),
            s("Size"),
            s("Comment"),
        ]);
    }
    super::print_table(&table);
    Ok(ExitCode::SUCCESS)
}
