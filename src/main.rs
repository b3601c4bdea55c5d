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
    /// Run a Flow from a manifest file, with no cluster: ConnectorProfile,
    /// Flow and optionally FlowRun and Secret documents, as applied to a cluster.
    /// Exits 0 when the run succeeded, 1 when it failed, and 130 or 143 when
    /// SIGINT (Ctrl-C) or SIGTERM cancelled it (nothing is published then).
    Local {
        /// The manifest file.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// The Flow to run, when the file holds several.
        #[arg(long)]
        flow: Option<String>,
        /// The run id (output paths, manifests); rerunning an id replaces its output.
        #[arg(long)]
        run_id: Option<String>,
    },
    /// Execute a FlowRun read from the Kubernetes API and report on its
    /// status: the entry point of a run's Job. Exits 0 when the run
    /// succeeded, 3 when it failed in a way a retry cannot mend, 143 (130)
    /// when SIGTERM (SIGINT) interrupted it, and 1 after other failures.
    Run {
        /// The FlowRun's namespace.
        #[arg(long, env = "SLUICE_NAMESPACE")]
        namespace: String,
        /// The FlowRun's name.
        #[arg(long = "name", env = "SLUICE_FLOW_RUN")]
        name: String,
    },
    /// Check that a ConnectorProfile read from the Kubernetes API reaches its
    /// application with its credentials: the entry point of a profile's
    /// validation Job. Writes the result as one JSON line to the termination
    /// message file ($SLUICE_TERMINATION_LOG, default /dev/termination-log
    /// when it exists) and to standard output, and exits 0 whether the
    /// check passed or not.
    Check {
        /// The profile's namespace.
        #[arg(long, env = "SLUICE_NAMESPACE")]
        namespace: String,
        /// The profile's name.
        #[arg(long)]
        profile: String,
    },
    /// Run the operator: reconcile ConnectorProfiles, Flows and FlowRuns,
    /// one Job per FlowRun. Logs are JSON lines on standard error.
    Controller {
        /// Where `/metrics` is served.
        #[arg(long, default_value = "0.0.0.0:8080", value_name = "ADDR")]
        metrics_addr: std::net::SocketAddr,
        /// Where `/healthz` and `/readyz` are served.
        #[arg(long, default_value = "0.0.0.0:8081", value_name = "ADDR")]
        health_addr: std::net::SocketAddr,
        /// Reconcile only while holding the `sluice-controller` Lease in the
        /// namespace `POD_NAMESPACE`, as `POD_NAME`.
        #[arg(long)]
        leader_elect: bool,
        /// The image of run and validation Jobs.
        #[arg(long, env = "SLUICE_RUNNER_IMAGE", value_name = "IMAGE")]
        runner_image: String,
        /// Watch only this namespace (default: all namespaces).
        #[arg(long, value_name = "NAMESPACE")]
        namespace: Option<String>,
        /// Mount a Secret a ConnectorProfile names only when it is labelled
        /// sluice.dev/allowed=true (turn off only in single-tenant clusters).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
        require_secret_opt_in: bool,
        /// Run as a Flow's runTemplate.serviceAccountName only when that
        /// account is labelled sluice.dev/allowed=true.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
        require_service_account_opt_in: bool,
        /// The controller's namespace, where the Lease lives.
        #[arg(long, env = "POD_NAMESPACE", default_value = "default", hide = true)]
        pod_namespace: String,
        /// This instance's name in the Lease.
        #[arg(long, env = "POD_NAME", hide = true)]
        pod_name: Option<String>,
    },
    /// List the fields a Flow's source exposes and those its tasks write, or
    /// (with --profile / --entity, or a file without a Flow) the entities
    /// and fields a ConnectorProfile exposes.
    Discover {
        /// The manifest file.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// The Flow, when the file holds several.
        #[arg(long, conflicts_with_all = ["profile", "entity"])]
        flow: Option<String>,
        /// List what this ConnectorProfile exposes instead of a Flow's fields.
        #[arg(long)]
        profile: Option<String>,
        /// Show this entity's fields (a table, bucket/prefix or file).
        #[arg(long)]
        entity: Option<String>,
    },
    /// Print the first records of a Flow's source before and after its tasks.
    Preview {
        /// The manifest file.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// The Flow to preview, when the file holds several.
        #[arg(long)]
        flow: Option<String>,
        /// How many source records to show.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
}

fn main() -> std::process::ExitCode {
    match dispatch(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!(
                "error: {}",
                sluice::connectors::secrets::redact(&chain(&error))
            );
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, leaving out causes the message already quotes.
fn chain(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn dispatch(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Crds { out_dir } => crds(out_dir).map(|()| std::process::ExitCode::SUCCESS),
        Command::Local { file, flow, run_id } => {
            let request = sluice::local::Request { file, flow, run_id };
            let plan = sluice::local::prepare(&request)?;
            let executed = sluice::local::execute(plan);
            print!("{}", sluice::connectors::secrets::redact(&executed.table));
            Ok(std::process::ExitCode::from(executed.exit_code()))
        }
        Command::Run { namespace, name } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let finished = runtime.block_on(async {
                let client = kube::Client::try_default().await?;
                let working_dir = std::env::current_dir()?;
                let request = sluice::runner::Request {
                    namespace,
                    name,
                    working_dir,
                };
                anyhow::Ok(sluice::runner::run(client, request).await?)
            });
            // An interrupted run may leave a thread blocked in I/O (planning
            // that waits on a source, an engine past its grace): the process
            // does not wait for it.
            runtime.shutdown_background();
            let finished = finished?;
            match finished.signal {
                Some(signal) => println!(
                    "FlowRun finished: {:?} (interrupted by {signal})",
                    finished.phase
                ),
                None => println!("FlowRun finished: {:?}", finished.phase),
            }
            Ok(std::process::ExitCode::from(finished.exit_code()))
        }
        Command::Check { namespace, profile } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let result = runtime.block_on(async {
                let client = kube::Client::try_default().await?;
                let request = sluice::check::Request {
                    namespace,
                    name: profile,
                    working_dir: std::env::current_dir()?,
                };
                anyhow::Ok(sluice::check::check(client, request).await?)
            })?;
            println!("{}", sluice::connectors::secrets::redact(&result.to_line()));
            if let Some(path) = sluice::check::termination_log() {
                sluice::check::write_result(&result, &path)?;
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Controller {
            metrics_addr,
            health_addr,
            leader_elect,
            runner_image,
            namespace,
            require_secret_opt_in,
            require_service_account_opt_in,
            pod_namespace,
            pod_name,
        } => {
            init_json_logs();
            let identity = pod_name.unwrap_or_else(|| {
                format!(
                    "sluice-controller-{}-{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis())
                        .unwrap_or_default()
                )
            });
            let options = sluice::controller::Options {
                metrics_addr,
                health_addr,
                leader_elect,
                lease_namespace: pod_namespace,
                identity,
                config: sluice::controller::Config {
                    runner_image,
                    namespace,
                    require_secret_opt_in,
                    require_service_account_opt_in,
                },
            };
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let client = kube::Client::try_default().await?;
                if let Err(error) = sluice::controller::run(client, options).await {
                    tracing::error!(category = error.category(), %error, "the controller stopped");
                    return Err(anyhow::Error::new(error));
                }
                anyhow::Ok(())
            })?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Discover {
            file,
            flow,
            profile,
            entity,
        } => {
            if profile.is_some() || entity.is_some() || !sluice::local::has_flow(&file)? {
                print!(
                    "{}",
                    sluice::local::catalog(&file, profile.as_deref(), entity.as_deref())?
                );
                return Ok(std::process::ExitCode::SUCCESS);
            }
            let request = sluice::local::Request {
                file,
                flow,
                run_id: Some("discover".to_owned()),
            };
            print!("{}", sluice::local::discover(&request)?);
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Preview { file, flow, limit } => {
            let request = sluice::local::Request {
                file,
                flow,
                run_id: Some("preview".to_owned()),
            };
            print!("{}", sluice::local::preview(&request, limit)?);
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

/// JSON lines on standard error, filtered by `RUST_LOG` (default `info`).
fn init_json_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
