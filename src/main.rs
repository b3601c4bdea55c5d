//! The `sluice` command: parses the command line and dispatches a subcommand.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Sluice moves data between SaaS applications, databases and object storage,
/// declared as Kubernetes resources.
#[derive(Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML, or write one file per kind.
    Crds {
        /// Write `sluice.dev_<plural>.yaml` files into this directory instead
        /// of printing them.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds { out_dir } => crds(out_dir),
    }
}

fn crds(out_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let crds = sluice::crd::all();
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
            for crd in &crds {
                let path = dir.join(sluice::crd::file_name(crd));
                std::fs::write(&path, sluice::crd::to_yaml(crd)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            for crd in &crds {
                writeln!(out, "---\n{}", sluice::crd::to_yaml(crd)?)?;
            }
        }
    }
    Ok(())
}
