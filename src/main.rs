//! `callflow`: check, compile, disassemble, simulate and test call flows (answering real SIP
//! calls comes next).
//! The binary owns all I/O; the language lives in `callflow-compiler`.

mod call;
mod check_cmd;
mod compile_cmd;
mod explain;
mod flowtest;
mod load;
mod serve;
mod simulate;
mod switch;
mod wav;

use clap::{Parser, Subcommand, ValueEnum};

/// The checker and the VM allocate many small nodes and texts; mimalloc does that markedly
/// faster than the system allocator (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "callflow",
    version,
    about = "Call flows for telephone lines: check, compile, run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable reports with source excerpts.
    Human,
    /// One JSON object per diagnostic, one per line.
    Json,
    /// GitHub Actions annotations.
    Github,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Check flow files for mistakes (files or directories, recursively).
    Check {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Treat warnings as errors (exit code 1).
        #[arg(long)]
        deny_warnings: bool,
        /// Colour in human output.
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
        /// Flow files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Compile flow files (checked first) into one bytecode file.
    Compile {
        /// Flow files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Where to write the bytecode.
        #[arg(short, long, default_value = "flows.cfb")]
        output: PathBuf,
    },
    /// Print a bytecode file as readable instructions, with the source lines they came from.
    Disasm {
        /// A bytecode file written by `callflow compile` (or flow files, compiled on the fly).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Simulate a call through a flow (or a scenario of several) and print what happens, step
    /// by step.
    Simulate(Box<simulate::Args>),
    /// Answer SIP calls with the flows (UDP on 127.0.0.1:5060 by default).
    Serve(Box<serve::Args>),
    /// Call a running server: press keys as SIP INFO and print what happened.
    Call(Box<call::Args>),
    /// Set an operator switch of the running server (`callflow switch emergency on`).
    Switch(switch::Args),
    /// Run the flows' tests (`test "..." { }` blocks) and report what failed.
    Test(flowtest::Args),
    /// Print the admin API as an OpenAPI document (JSON; docs/openapi.json is its output).
    Openapi,
    /// Explain a diagnostic code, such as CF0401.
    Explain {
        /// The code to explain.
        code: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Disasm { .. }
            | Command::Simulate(_)
            | Command::Test(_)
            | Command::Explain { .. }
            | Command::Call(_)
            | Command::Openapi
    ) {
        // Rust ignores SIGPIPE, so printing into a closed pipe (`| head`) would panic; these
        // commands end the way Unix tools do instead. `check` handles a closed pipe itself (its
        // exit status must still say what it found); the server prints only log lines.
        // SAFETY: restoring a signal's default disposition at start-up, before any thread.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli.command {
        Command::Check {
            format,
            deny_warnings,
            color,
            paths,
        } => check_cmd::run(&paths, format, deny_warnings, color),
        Command::Compile { paths, output } => compile_cmd::compile(&paths, &output),
        Command::Disasm { paths } => compile_cmd::disasm(&paths),
        Command::Simulate(args) => simulate::run(&args),
        Command::Test(args) => flowtest::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Switch(args) => switch::run(&args),
        Command::Call(args) => call::run(&args),
        Command::Explain { code } => explain::run(&code),
        Command::Openapi => {
            let doc = callflow_runtime::server::admin::openapi();
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            ExitCode::SUCCESS
        }
    }
}
