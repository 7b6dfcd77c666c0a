// TEMPORARY (not to be committed): runs the CLI's search bench before it is wired into main.rs.
#[path = "../../shiren-cli/src/bench_search.rs"]
mod bench_search;
use clap::Parser;
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: bench_search::SearchBenchArgs,
}
fn main() -> anyhow::Result<()> {
    bench_search::run(&Cli::parse().args)
}
