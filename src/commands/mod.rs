//! One module per subcommand, each with an `execute` returning the exit code.

mod authorize;
mod bundle;
mod check;
mod fleet;
mod plugin;
mod report;
mod serve;
pub(crate) mod test;
mod token;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Authorize(args) => authorize::execute(&args),
        Command::Bundle(cmd) => bundle::execute(&cmd),
        Command::Check(args) => check::execute(&args),
        Command::Plugin(cmd) => plugin::execute(&cmd),
        Command::Test { bundle } => test::execute(&bundle),
        Command::Serve(args) => serve::execute(&args),
        Command::Token(args) => token::execute(&args),
        Command::Fleet(args) => fleet::execute(&args),
        Command::Report(cmd) => report::execute(&cmd),
    }
}
