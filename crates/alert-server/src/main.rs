//! `alert-server`: see `alert-server --help`.

use std::process::ExitCode;

use alert_server::cli::{Cli, Command};
use alert_server::{exit, plugins, send};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
        Command::Send(args) => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let report = runtime.block_on(send::run(&args));
            for line in &report.stdout {
                println!("{line}");
            }
            for line in &report.stderr {
                eprintln!("{line}");
            }
            ExitCode::from(report.code)
        }
    }
}
