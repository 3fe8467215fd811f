//! The command line: `serve`, `migrate`, `check-config`, `plans`, `user …`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use subvisor_actors::store;
use subvisor_http::UserView;

use crate::config::Settings;
use crate::ops_client::OpsClient;
use crate::startup::{Application, shutdown_signal};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "subvisor",
    version,
    about = "Sells and provisions VPN access through a Telegram bot"
)]
pub struct Cli {
    /// Configuration directory (holding default.toml and optionally local.toml).
    /// Without it, ./config is used if present, else the built-in defaults.
    #[arg(long, global = true, value_name = "DIR")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (migrates the database first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Load and validate the configuration; exit non-zero naming the bad key.
    CheckConfig {
        /// Also ask every node what it serves and compare it with `[[nodes]]`
        /// (port, SNI, key, short id); exit non-zero on drift or an unreachable node.
        #[arg(long)]
        online: bool,
    },
    /// List the configured plans.
    Plans,
    /// Print a fresh REALITY X25519 key pair in Xray's format.
    Keygen,
    /// Print the Xray server configuration (JSON) of one `[[nodes]]` entry:
    /// the API inbound, stats, the VLESS + REALITY inbound the links point at.
    NodeConfig {
        /// The node's `name`.
        name: String,
        /// REALITY private key, when the entry has no `private_key`
        /// (visible to other local users in the process list: prefer the file).
        #[arg(long, conflicts_with = "private_key_file")]
        private_key: Option<String>,
        /// A file holding the REALITY private key (e.g. `xray x25519` output's first value).
        #[arg(long, value_name = "FILE")]
        private_key_file: Option<PathBuf>,
        /// REALITY `dest`: the real site whose TLS handshake is borrowed (default `<sni>:443`).
        #[arg(long)]
        dest: Option<String>,
        /// Address the VLESS inbound listens on (default `0.0.0.0`).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Converge nodes with the desired users through the running server
    /// (prints the diff; with --dry-run changes nothing).
    Reconcile {
        /// Only this node (default: all).
        #[arg(long)]
        node: Option<String>,
        #[arg(long)]
        dry_run: bool,
        /// Print the ops API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect or change one user through the running server's ops API.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Payments through the running server's ops API.
    Payments {
        #[command(subcommand)]
        action: PaymentsAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum PaymentsAction {
    /// Ask every provider about unpaid orders now and apply what was paid
    /// (with --dry-run: only report it).
    Reconcile {
        #[arg(long)]
        dry_run: bool,
        /// Print the ops API's JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Show a user's subscription, keys and balance.
    Show {
        id: i64,
        /// Print the ops API's JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Extend a user's subscription by N days.
    Grant {
        id: i64,
        #[arg(long)]
        days: u32,
    },
    /// Take a user's access away now.
    Revoke { id: i64 },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Keygen = cli.command {
        let (private, public) = crate::keys::generate()?;
        println!("Private key: {private}\nPublic key: {public}");
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref()).context("invalid configuration")?;
    match cli.command {
        Command::Serve => {
            telemetry::init(&settings.log);
            serve(settings)
        }
        Command::Migrate => {
            telemetry::init(&settings.log);
            block_on(async {
                let store = store::connect(&settings.store_options()).await?;
                store.migrate().await?;
                store.close().await;
                println!("migrations applied ({:?})", store.backend());
                Ok(())
            })
        }
        Command::Keygen => Ok(()),
        Command::NodeConfig {
            name,
            private_key,
            private_key_file,
            dest,
            listen,
        } => {
            settings.nodes()?;
            let node = settings
                .nodes
                .iter()
                .find(|n| n.name == name)
                .ok_or(crate::node_config::NodeConfigError::UnknownNode(name))?;
            let private_key = match private_key_file {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?
                        .trim()
                        .to_owned(),
                ),
                None => private_key,
            };
            let options = crate::node_config::Options {
                private_key,
                dest,
                listen,
            };
            let config = crate::node_config::build(node, &options)?;
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(())
        }
        Command::Reconcile {
            node,
            dry_run,
            json,
        } => {
            let client = OpsClient::new(settings.http.ops_addr, settings.ops_token())?;
            block_on(async {
                let report = client.reconcile(node.as_deref(), dry_run).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                    return Ok(());
                }
                for n in report["nodes"].as_array().into_iter().flatten() {
                    println!(
                        "{}: desired {}, on node {}, missing {}, extra {}, mismatched {}{}{}",
                        n["node"].as_str().unwrap_or("?"),
                        n["desired"],
                        n["actual"]
                            .as_u64()
                            .map_or("(cannot list)".to_string(), |a| a.to_string()),
                        n["missing"],
                        n["extra"],
                        n["mismatched"],
                        if dry_run {
                            " (dry run: nothing changed)".to_string()
                        } else {
                            format!(", fixed {}, failed {}", n["fixed"], n["failed"])
                        },
                        n["error"]
                            .as_str()
                            .map_or(String::new(), |e| format!(", error: {e}")),
                    );
                    for e in n["sample_missing"].as_array().into_iter().flatten() {
                        println!("  + {}", e.as_str().unwrap_or("?"));
                    }
                    for e in n["sample_extra"].as_array().into_iter().flatten() {
                        println!("  - {}", e.as_str().unwrap_or("?"));
                    }
                }
                Ok(())
            })
        }
        Command::Payments {
            action: PaymentsAction::Reconcile { dry_run, json },
        } => {
            let client = OpsClient::new(settings.http.ops_addr, settings.ops_token())?;
            block_on(async {
                let report = client.reconcile_payments(dry_run).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                    return Ok(());
                }
                let checked = report["checked"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(p, n)| format!("{p} {n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "nothing".into());
                let found = report["found"].as_array().map_or(0, Vec::len);
                println!(
                    "checked: {checked}; found {found} payment event(s) we had not finished{}",
                    if dry_run {
                        " (dry run: nothing changed)".to_string()
                    } else {
                        format!(", applied {}", report["applied"])
                    }
                );
                for f in report["found"].as_array().into_iter().flatten() {
                    println!(
                        "  {} {} order {} → {}",
                        f["provider"].as_str().unwrap_or("?"),
                        f["event_id"].as_str().unwrap_or("?"),
                        f["order"].as_str().unwrap_or("-"),
                        f["outcome"].as_str().unwrap_or("(not applied)"),
                    );
                }
                for line in report["not_reconciled"].as_array().into_iter().flatten() {
                    println!("  not reconciled: {}", line.as_str().unwrap_or("?"));
                }
                for line in report["errors"].as_array().into_iter().flatten() {
                    println!("  error: {}", line.as_str().unwrap_or("?"));
                }
                Ok(())
            })
        }
        Command::CheckConfig { online } => {
            let plans = settings.plans()?;
            let node_configs = settings.nodes()?;
            let nodes = if node_configs.is_empty() {
                "sandbox (in-memory)".to_string()
            } else {
                node_configs
                    .iter()
                    .map(|n| n.name.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "configuration OK: database {}, {} plan(s), public {}, ops {}, ops token {}, nodes: {nodes}",
                redact_url(&settings.database.url),
                plans.iter().count(),
                settings.http.public_addr,
                settings.http.ops_addr,
                if settings.ops.token.is_some() {
                    "set"
                } else {
                    "not set"
                },
            );
            // Warnings go to stderr and never change the exit code.
            for warning in settings.warnings() {
                eprintln!("warning: {warning}");
            }
            if online {
                block_on(check_drift(&node_configs, settings.gateway.call_timeout))?;
            }
            Ok(())
        }
        Command::Plans => {
            for plan in settings.plans()?.iter() {
                let stars = plan.stars.map_or("-".into(), |s| format!("{s} XTR"));
                let fiat = plan.fiat.as_ref().map_or("-".into(), |m| m.to_string());
                println!(
                    "{:<16} {:>5} days  {:>10}  {:>12}  {}",
                    plan.id, plan.days, stars, fiat, plan.title
                );
            }
            Ok(())
        }
        Command::User { action } => {
            let client = OpsClient::new(settings.http.ops_addr, settings.ops_token())?;
            block_on(async {
                let (view, json) = match action {
                    UserAction::Show { id, json } => (client.user(id).await?, json),
                    UserAction::Grant { id, days } => (client.grant(id, days).await?, false),
                    UserAction::Revoke { id } => (client.revoke(id).await?, false),
                };
                if json {
                    println!("{}", serde_json::to_string_pretty(&view)?);
                } else {
                    print_user(&view);
                }
                Ok(())
            })
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    let system = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the tokio runtime: {e}"))
    });
    system.block_on(async move {
        let app = Application::build(settings).await?;
        app.run_until(shutdown_signal()).await
    })
}

/// `check-config --online`: each node's drift from its entry, one line per node.
async fn check_drift(
    nodes: &[subvisor_actors::provisioning::NodeConfig],
    call_timeout: std::time::Duration,
) -> anyhow::Result<()> {
    use subvisor_actors::provisioning::drift::{self, DriftCheck};
    use subvisor_actors::provisioning::xray_api::XrayApi;
    let mut failed = Vec::new();
    for node in nodes {
        let api = XrayApi::new(&node.api, node.api_flavor, &node.inbound_tag, call_timeout)?;
        match drift::check(&api, node).await {
            Ok(DriftCheck::Checked(m)) if m.is_empty() => {
                println!("{}: serves what its links say (no drift)", node.name);
            }
            Ok(DriftCheck::Checked(mismatches)) => {
                println!(
                    "{}: DRIFT — links built from [[nodes]] may not connect",
                    node.name
                );
                for m in mismatches {
                    println!(
                        "  {}: [[nodes]] says {:?}, the node serves {:?}",
                        m.field, m.expected, m.actual
                    );
                }
                failed.push(node.name.to_string());
            }
            Ok(DriftCheck::Unsupported) => println!(
                "{}: drift unknown: the node cannot list its inbounds (v2ray, or Xray without HandlerService.ListInbounds)",
                node.name
            ),
            Err(e) => {
                println!("{}: cannot check: {e}", node.name);
                failed.push(node.name.to_string());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("node(s) failing the online check: {}", failed.join(", "))
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?
        .block_on(f)
}

fn print_user(v: &UserView) {
    match &v.expires_at {
        Some(at) => println!("user {}: {} (expires {at})", v.user_id, v.status),
        None => println!("user {}: no subscription", v.user_id),
    }
    for k in &v.keys {
        println!("  key {} {} ({})", k.email, k.uuid, k.state);
    }
    println!("  balance {} {}", v.balance.minor, v.balance.currency);
    println!(
        "  trial used: {}, bot blocked: {}",
        v.trial_used, v.bot_blocked
    );
}

/// Hides the password of a database URL.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
