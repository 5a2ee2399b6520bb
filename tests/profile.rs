//! The per-op profiler: `wasserflow profile` prints a table with the ops of
//! a training iteration, worst first, and writes the last iteration as a
//! Chrome trace; forward and backward ops are told apart; a disabled
//! profiler records nothing.

use std::process::Command;

use wasserflow::autodiff::Tape;
use wasserflow::backend::profile::{self, Pass};
use wasserflow::{Rng, Tensor};

fn wasserflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasserflow"))
}

#[test]
fn profile_command_prints_the_table_and_writes_a_trace() {
    let dir = std::env::temp_dir().join(format!("wf-profile-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("trace.json");
    let out = wasserflow()
        .args(["--threads", "1", "profile", "--method", "cnf", "--data", "8gaussians", "--batch", "64"])
        .args(["--hidden", "16,16", "--profile-iterations", "2", "--warmup", "1", "--trace"])
        .arg(&trace)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("2 iterations after 1 warm-up"), "{stdout}");
    // Worst offender first: the rows' ms/it column is non-increasing.
    let rows: Vec<&str> =
        stdout.lines().skip_while(|l| !l.starts_with("op ")).skip(1).take_while(|l| !l.starts_with("total")).collect();
    let ms: Vec<f64> = rows.iter().map(|r| r.split_whitespace().nth(4).unwrap().parse().unwrap()).collect();
    assert!(ms.windows(2).all(|w| w[0] >= w[1]), "{stdout}");
    for needle in ["matmul", "tangent_act", "tangent_act_backward", "adam"] {
        assert!(rows.iter().any(|r| r.split_whitespace().next() == Some(needle)), "{needle} missing:\n{stdout}");
    }
    assert!(rows.iter().any(|r| r.contains(" bwd ")) && rows.iter().any(|r| r.contains(" fwd ")));
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.starts_with("{\"displayTimeUnit\"") && text.trim_end().ends_with("]}"));
    let events = text.matches("\"ph\": \"X\"").count();
    // One iteration: 40 field evaluations forward and their reverse, at least.
    assert!(events > 100, "{events} events");
    assert!(text.contains("\"cat\": \"bwd\"") && text.contains("\"cat\": \"fwd\""));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn profiler_counts_forward_and_backward_ops_and_nothing_when_off() {
    // The profiler is process-wide: this is the only test in this binary that toggles it.
    let mut rng = Rng::seed(1);
    let a = Tensor::<f64>::randn([8, 5], &mut rng).unwrap();
    let b = Tensor::<f64>::randn([5, 3], &mut rng).unwrap();
    let step = || {
        let tape = Tape::new();
        let (x, w) = (tape.var(a.clone()), tape.var(b.clone()));
        let loss = x.matmul(&w).unwrap().tanh().unwrap().sum_all().unwrap();
        tape.backward(loss).unwrap();
        profile::end_iteration();
    };
    step();
    assert!(!profile::is_enabled());
    profile::enable();
    step();
    step();
    let p = profile::disable();
    assert_eq!(p.iterations, 2);
    let calls = |op: &str, pass: Pass| {
        p.stats.iter().filter(|((o, q, _), _)| *o == op && *q == pass).map(|(_, s)| s.calls).sum::<u64>()
    };
    assert_eq!(calls("matmul", Pass::Forward), 2);
    // x·w backward: one product for each operand.
    assert_eq!(calls("matmul", Pass::Backward), 4);
    let fwd_flops: f64 =
        p.stats.iter().filter(|((o, q, _), _)| *o == "matmul" && *q == Pass::Forward).map(|(_, s)| s.flops).sum();
    assert_eq!(fwd_flops, 2.0 * 2.0 * 8.0 * 5.0 * 3.0);
    step();
    let off = profile::disable();
    assert!(off.stats.is_empty() && off.iterations == 0);
}
