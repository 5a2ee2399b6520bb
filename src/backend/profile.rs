//! An opt-in per-op profile: every primitive a [`Storage`](super::Storage)
//! runs is timed with its FLOPs and bytes moved, by op kind, pass (forward
//! or backward: the tape marks its reverse sweep) and device, and the ops of
//! the last complete training iteration are kept as Chrome trace events.
//!
//! Disabled (the default), a primitive pays one relaxed atomic load. Enabled,
//! each primitive takes a clock reading at both ends; on a GPU the device is
//! synchronized after each op so that the time is the kernel's, which
//! serializes the GPU work: profile for the shares, not the total.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::Device;

static ENABLED: AtomicBool = AtomicBool::new(false);
static STATE: Mutex<Option<State>> = Mutex::new(None);

thread_local! {
    static BACKWARD: Cell<bool> = const { Cell::new(false) };
}

/// Forward ops, or those run by the tape's reverse sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pass {
    Forward,
    Backward,
}

impl Pass {
    pub fn name(self) -> &'static str {
        match self {
            Pass::Forward => "fwd",
            Pass::Backward => "bwd",
        }
    }
}

/// Totals of one op kind in one pass on one device.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpStats {
    pub calls: u64,
    pub seconds: f64,
    pub flops: f64,
    pub bytes: f64,
}

/// One op as a trace event (times in µs from the start of profiling).
#[derive(Clone, Debug)]
pub struct TraceEvent {
    pub op: &'static str,
    pub pass: Pass,
    pub device: Device,
    pub start_us: f64,
    pub duration_us: f64,
    pub thread: usize,
    pub flops: f64,
}

struct State {
    start: Instant,
    stats: BTreeMap<(&'static str, Pass, Device), OpStats>,
    current: Vec<TraceEvent>,
    last_iteration: Vec<TraceEvent>,
    iterations: u64,
    /// Iterations still to run before collecting (warm-up).
    skip: u64,
    /// Iterations to collect before stopping by itself.
    limit: Option<u64>,
    threads: Vec<std::thread::ThreadId>,
}

/// What a profile collected.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub stats: Vec<((&'static str, Pass, Device), OpStats)>,
    /// The ops of the last complete iteration (empty if no iteration was marked).
    pub last_iteration: Vec<TraceEvent>,
    pub iterations: u64,
}

/// Starts collecting (clearing anything collected before).
pub fn enable() {
    start(0, None);
}

/// Collects `iterations` training iterations after `warmup` more have ended
/// (see [`end_iteration`]), then stops by itself, so that what a trainer does
/// after its iterations (pushing particles, evaluating) stays out.
pub fn enable_for(warmup: u64, iterations: u64) {
    start(warmup, Some(iterations));
}

fn start(warmup: u64, limit: Option<u64>) {
    let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    *s = Some(State {
        start: Instant::now(),
        stats: BTreeMap::new(),
        current: Vec::new(),
        last_iteration: Vec::new(),
        iterations: 0,
        skip: warmup,
        limit,
        threads: Vec::new(),
    });
    ENABLED.store(true, Ordering::Release);
}

/// Stops collecting and returns what was collected.
pub fn disable() -> Profile {
    ENABLED.store(false, Ordering::Release);
    // A span that saw profiling on may still be recording; the lock orders it before the take.
    let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    match s.take() {
        Some(st) => Profile {
            stats: st.stats.into_iter().collect(),
            last_iteration: st.last_iteration,
            iterations: st.iterations,
        },
        None => Profile::default(),
    }
}

pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Marks the end of a training iteration: its ops become the trace.
pub fn end_iteration() {
    if !is_enabled() {
        return;
    }
    if let Some(st) = STATE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        if st.skip > 0 {
            st.skip -= 1;
            st.stats.clear();
            st.current.clear();
            return;
        }
        st.last_iteration = std::mem::take(&mut st.current);
        st.iterations += 1;
        if st.limit == Some(st.iterations) {
            ENABLED.store(false, Ordering::Release);
        }
    }
}

/// Ops run while the returned guard lives count as the backward pass.
pub fn backward_scope() -> BackwardScope {
    let was = BACKWARD.with(|b| b.replace(true));
    BackwardScope { was }
}

pub struct BackwardScope {
    was: bool,
}

impl Drop for BackwardScope {
    fn drop(&mut self) {
        BACKWARD.with(|b| b.set(self.was));
    }
}

/// A primitive being timed; records itself when dropped.
pub struct Span {
    op: &'static str,
    device: Device,
    flops: f64,
    bytes: f64,
    start: Instant,
}

/// Starts timing `op` if profiling is on (`None`, at the cost of one atomic
/// load, if it is off).
#[inline]
pub fn span(op: &'static str, device: Device, flops: f64, bytes: f64) -> Option<Span> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    Some(Span { op, device, flops, bytes, start: Instant::now() })
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Device::Cuda(i) = self.device {
            // The kernel's time, not its launch's; a failure shows up at the next op.
            let _ = super::cuda::synchronize(i);
        }
        let end = Instant::now();
        let pass = if BACKWARD.with(|b| b.get()) { Pass::Backward } else { Pass::Forward };
        let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
        let Some(st) = guard.as_mut() else { return };
        let seconds = end.duration_since(self.start).as_secs_f64();
        let e = st.stats.entry((self.op, pass, self.device)).or_default();
        e.calls += 1;
        e.seconds += seconds;
        e.flops += self.flops;
        e.bytes += self.bytes;
        let id = std::thread::current().id();
        let thread = match st.threads.iter().position(|t| *t == id) {
            Some(i) => i,
            None => {
                st.threads.push(id);
                st.threads.len() - 1
            }
        };
        let start_us = self.start.saturating_duration_since(st.start).as_secs_f64() * 1e6;
        st.current.push(TraceEvent {
            op: self.op,
            pass,
            device: self.device,
            start_us,
            duration_us: seconds * 1e6,
            thread,
            flops: self.flops,
        });
    }
}

/// The machine's measured ceilings the table compares against.
#[derive(Clone, Copy, Debug)]
pub struct Peaks {
    pub gflops: f64,
    pub gbytes_per_s: f64,
}

impl Profile {
    /// Total seconds over all ops.
    pub fn total_seconds(&self) -> f64 {
        self.stats.iter().map(|(_, s)| s.seconds).sum()
    }

    /// The table, worst offenders (most time) first, per iteration when
    /// iterations were marked.
    pub fn table(&self, peaks: Peaks) -> String {
        let mut rows: Vec<_> = self.stats.iter().collect();
        rows.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
        let total = self.total_seconds().max(f64::MIN_POSITIVE);
        let per = self.iterations.max(1) as f64;
        let mut out = format!(
            "{:<22} {:>4} {:>7} {:>9} {:>11} {:>9} {:>6} {:>8} {:>6} {:>8} {:>6}\n",
            "op", "pass", "device", "calls/it", "ms/it", "µs/call", "share", "GFLOP/s", "%peak", "GB/s", "%peak"
        );
        for ((op, pass, dev), s) in rows {
            let gf = s.flops / s.seconds.max(1e-12) / 1e9;
            let gb = s.bytes / s.seconds.max(1e-12) / 1e9;
            out += &format!(
                "{:<22} {:>4} {:>7} {:>9.1} {:>11.3} {:>9.2} {:>5.1}% {:>8.1} {:>5.1}% {:>8.1} {:>5.1}%\n",
                op,
                pass.name(),
                dev.to_string(),
                s.calls as f64 / per,
                s.seconds * 1e3 / per,
                s.seconds * 1e6 / s.calls.max(1) as f64,
                100.0 * s.seconds / total,
                gf,
                100.0 * gf / peaks.gflops,
                gb,
                100.0 * gb / peaks.gbytes_per_s,
            );
        }
        out +=
            &format!("total {:.3} ms per iteration over {} iteration(s)\n", total * 1e3 / per, self.iterations.max(1));
        out
    }

    /// The last iteration as Chrome trace-event JSON (opens in Perfetto and
    /// chrome://tracing): one complete ("X") event per op.
    pub fn chrome_trace(&self) -> String {
        let mut out = String::from("{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
        let t0 = self.last_iteration.first().map_or(0.0, |e| e.start_us);
        for (i, e) in self.last_iteration.iter().enumerate() {
            out += &format!(
                "{{\"name\": \"{}\", \"cat\": \"{}\", \"ph\": \"X\", \"ts\": {:.3}, \"dur\": {:.3}, \"pid\": 0, \"tid\": {}, \"args\": {{\"device\": \"{}\", \"flops\": {}}}}}{}\n",
                e.op,
                e.pass.name(),
                e.start_us - t0,
                e.duration_us,
                e.thread,
                e.device,
                e.flops,
                if i + 1 < self.last_iteration.len() { "," } else { "" }
            );
        }
        out += "]}\n";
        out
    }
}
