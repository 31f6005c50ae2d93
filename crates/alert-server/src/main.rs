//! `alert-server`: see `alert-server --help`.

use std::process::ExitCode;

use alert_server::cli::{Cli, Command, ImportCommand, ServeArgs};
use alert_server::config::{FlagOverrides, ServerConfig};
use alert_server::{exit, migrate, plugins, send};
use clap::Parser;

/// Runs a one-shot command on a current-thread runtime, prints its report and exits with its
/// code; `runtime_failure` when no runtime could be started.
fn run_report(
    command: impl std::future::Future<Output = alert_server::report::Report>,
    runtime_failure: ExitCode,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return runtime_failure;
        }
    };
    let report = runtime.block_on(command);
    for line in &report.stdout {
        println!("{line}");
    }
    for line in &report.stderr {
        eprintln!("{line}");
    }
    ExitCode::from(report.code)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => serve(&args),
        Command::Plugins(args) => {
            let registry = match alert_server::try_registry() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(exit::INVALID_INPUT);
                }
            };
            if args.json {
                println!("{}", plugins::plugins_json(registry));
            } else {
                print!("{}", plugins::plugins_table(registry));
            }
            ExitCode::SUCCESS
        }
        Command::Send(args) => run_report(send::run(&args), ExitCode::FAILURE),
        Command::Import(ImportCommand::Dinky(args)) => run_report(
            alert_server::import::run_dinky(&args),
            ExitCode::from(exit::INVALID_INPUT),
        ),
        Command::Migrate(args) => run_report(migrate::run(&args), ExitCode::FAILURE),
        Command::Provision(args) => run_report(
            alert_server::provision::run(&args),
            ExitCode::from(exit::INVALID_INPUT),
        ),
        Command::Healthcheck(args) => run_report(
            alert_server::healthcheck::run(&args),
            ExitCode::from(alert_server::healthcheck::UNHEALTHY),
        ),
        Command::Silence(args) => run_report(
            alert_server::silence_cli::run(&args),
            ExitCode::from(exit::TRANSIENT),
        ),
    }
}

fn serve(args: &ServeArgs) -> ExitCode {
    let flags = FlagOverrides {
        listen: args.listen,
        database_url: args.database_url.clone(),
        log_format: args.log_format,
        provision: args.provision.clone(),
    };
    let config = match ServerConfig::load(args.config.as_deref(), &flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::INVALID_INPUT);
        }
    };
    alert_server::logging::init(config.log_format, &config.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match alert_server::serve::start(config).await {
            Ok(server) => {
                server.run_until_signal().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
