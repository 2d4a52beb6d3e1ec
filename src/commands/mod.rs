//! One module per subcommand, each with an `execute` returning the exit code.

mod authorize;
mod bundle;
mod check;
mod test;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Authorize(args) => authorize::execute(&args),
        Command::Bundle(cmd) => bundle::execute(&cmd),
        Command::Check(args) => check::execute(&args),
        Command::Test { bundle } => test::execute(&bundle),
    }
}
