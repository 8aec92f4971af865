//! `link-bench`: the measuring program of `script/bench`, one binary so that
//! the release profile's fat LTO links it once.
//!
//! ```text
//! link-bench criterion [SECONDS]    handler CPU per request, with criterion
//! link-bench loop CASE COUNT        one handler case COUNT times, for callgrind
//! link-bench fixture ...            links for the other measurements
//! ```

mod cpu;
mod fixture;

use link_bench::BenchError;

fn main() -> Result<(), BenchError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args[..] {
        ["criterion"] => cpu::criterion_mode(5),
        ["criterion", seconds] => cpu::criterion_mode(seconds.parse()?),
        ["loop", name, count] => cpu::loop_mode(name, count.parse()?),
        ["fixture", ref rest @ ..] => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(fixture::run(rest)),
        _ => Err(
            "usage: link-bench criterion [SECONDS] | link-bench loop CASE COUNT | \
                  link-bench fixture ..."
                .into(),
        ),
    }
}
