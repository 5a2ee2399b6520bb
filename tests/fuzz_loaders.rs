//! Property-based fuzzing of every loader: `.npy`, CSV (plain and gzipped),
//! IDX, PNG densities, safetensors files, block checkpoints and TOML
//! settings are fed arbitrary bytes and mutations of valid files (flipped,
//! overwritten, inserted, deleted and duplicated bytes, truncations, numbers
//! spliced into text). Each must return a value that is what it claims to be
//! or a clean error: never a panic, and never more memory than the load limit
//! allows however much a header promises — the allocations of each call are
//! counted by this binary's global allocator and bounded.
//!
//! Also here: headers that lie about sizes (each refused without allocating
//! what they promise), honest files over the limit (refused naming the file,
//! the size and the limit), and a gzip bomb.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use wasserflow::cli::TrainArgs;
use wasserflow::cli::settings::Settings;
use wasserflow::data::ImageDensity;
use wasserflow::data::loaders::{load_csv_within, load_idx_within, load_npy_within, save_npy};
use wasserflow::density::Divergence;
use wasserflow::flows::{Block, BlockSpec, EvalOptions, FieldKind};
use wasserflow::io::LoadLimits;
use wasserflow::io::checkpoint::{load_block, save_block};
use wasserflow::io::safetensors::{read_safetensors_within, write_safetensors};
use wasserflow::nn::Activation;
use wasserflow::ode::tableau::RK4;
use wasserflow::{Error, Rng, Tensor};

// ----- allocation accounting ----------------------------------------------

/// The system allocator, counting each thread's live bytes and their peak
/// (loaders run on the calling thread; other tests' threads do not mix in).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let v = live.get() + delta;
        live.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            note(l.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            note(l.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        note(-(l.size() as isize));
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            note(new as isize - l.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning its result and the most bytes it held at once.
fn peak_bytes<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let r = f();
    (r, (PEAK.with(Cell::get) - start).max(0) as usize)
}

/// The limit the fuzzed loaders run under, and what a call may hold at most:
/// the limit itself (decoded data), the same again for a decoder's own
/// buffers, and slack for bookkeeping proportional to the input.
const LIMIT: u64 = 1 << 20;
fn memory_bound(input_len: usize) -> usize {
    2 * LIMIT as usize + 64 * input_len + (256 << 10)
}

fn limits() -> LoadLimits {
    LoadLimits::new(LIMIT)
}

// ----- inputs ---------------------------------------------------------------

/// Cases per property: enough to reach the branches of each parser, few
/// enough for the whole file to take a few seconds.
const CASES: u32 = 256;

fn runner(name: &str) -> TestRunner {
    // A fixed seed per property: a failure reproduces on every run and machine.
    let seed: [u8; 32] = std::array::from_fn(|i| name.as_bytes().get(i).copied().unwrap_or(i as u8));
    TestRunner::new_with_rng(
        Config { cases: CASES, failure_persistence: None, ..Config::default() },
        proptest::test_runner::TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &seed),
    )
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize, usize),
    /// Overwrites from a position with a number spelled in ASCII.
    Number(usize, String),
    /// Overwrites 1, 2, 4 or 8 bytes with an extreme integer, little- or big-endian.
    Extreme(usize, u8, bool),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let numbers = prop::sample::select(vec![
        "0",
        "-1",
        "1",
        "7",
        "255",
        "65535",
        "4294967295",
        "18446744073709551615",
        "99999999999999999999999",
        "1e309",
        "-1e309",
        "nan",
        "inf",
        "-inf",
        "1e39",
        "0.5",
        "-0",
        "1e-400",
        "(",
        ")",
        ",",
        "'",
        "\"",
        "{",
        "}",
        "[",
        "]",
    ]);
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(i, m)| Mutation::Flip(i, m)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..32).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..64, any::<usize>()).prop_map(|(i, n, j)| Mutation::Duplicate(i, n, j)),
        (any::<usize>(), numbers).prop_map(|(i, s)| Mutation::Number(i, s.to_string())),
        (any::<usize>(), 0u8..4, any::<bool>()).prop_map(|(i, w, be)| Mutation::Extreme(i, w, be)),
    ]
}

fn apply(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in mutations {
        let n = b.len();
        let at = |i: usize| if n == 0 { 0 } else { i % n };
        match m {
            Mutation::Flip(i, x) if n > 0 => b[at(*i)] ^= x,
            Mutation::Set(i, x) if n > 0 => b[at(*i)] = *x,
            Mutation::Insert(i, x) => {
                let i = if n == 0 { 0 } else { i % (n + 1) };
                b.splice(i..i, x.iter().copied());
            }
            Mutation::Remove(i, k) if n > 0 => {
                let i = at(*i);
                b.drain(i..(i + k).min(n));
            }
            Mutation::Truncate(i) => b.truncate(if n == 0 { 0 } else { i % n }),
            Mutation::Duplicate(i, k, j) if n > 0 => {
                let i = at(*i);
                let piece: Vec<u8> = b[i..(i + k).min(n)].to_vec();
                let j = j % (n + 1);
                b.splice(j..j, piece);
            }
            Mutation::Number(i, s) if n > 0 => {
                let i = at(*i);
                for (k, c) in s.bytes().enumerate() {
                    if i + k < b.len() {
                        b[i + k] = c;
                    }
                }
            }
            Mutation::Extreme(i, w, be) if n > 0 => {
                let width = 1usize << w;
                let v: u64 = if *be { u64::MAX >> 1 } else { u64::MAX };
                let bytes = if *be { v.to_be_bytes() } else { v.to_le_bytes() };
                let i = at(*i);
                for k in 0..width {
                    if i + k < b.len() {
                        b[i + k] = bytes[k];
                    }
                }
            }
            _ => {}
        }
    }
    b
}

fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (prop::sample::select(seeds), prop::collection::vec(mutation(), 1..6)).prop_map(|(s, m)| apply(&s, &m))
}

fn arbitrary_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..1024)
}

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz_loaders").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `load` on files holding the inputs `strategy` draws, under the
/// memory bound; `load` returns `Err` for clean refusals and checks what
/// it accepts itself. Panics fail the property with the input that caused them.
fn fuzz<S: Strategy<Value = Vec<u8>>>(
    name: &str,
    file_name: &str,
    strategy: S,
    load: impl Fn(&Path) -> Result<(), Error>,
) -> (usize, usize) {
    let dir = scratch(name);
    let path = dir.join(file_name);
    let (accepted, refused) = (Cell::new(0), Cell::new(0));
    runner(name)
        .run(&strategy, |bytes| {
            std::fs::write(&path, &bytes).unwrap();
            let (result, peak) = peak_bytes(|| load(&path));
            prop_assert!(
                peak <= memory_bound(bytes.len()),
                "{name}: {peak} bytes held for a {}-byte input (result {result:?})",
                bytes.len()
            );
            match result {
                Ok(()) => accepted.set(accepted.get() + 1),
                Err(e) => {
                    let message = e.to_string();
                    prop_assert!(!message.is_empty());
                    refused.set(refused.get() + 1);
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (accepted.get(), refused.get())
}

/// What a loaded tensor must be: its declared size and finite values.
fn check_tensor(t: &Tensor<f32>) -> Result<(), Error> {
    let v = t.to_vec()?;
    assert_eq!(v.len(), t.dims().iter().product::<usize>());
    assert!(v.iter().all(|x| x.is_finite()), "a loader returned a non-finite value");
    Ok(())
}

// ----- valid seeds ------------------------------------------------------------

fn npy_seeds(dir: &Path) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let a = Tensor::<f32>::from_vec(vec![1.0, -2.5, 3.0, 4.0, 5.5, -6.0], [3, 2]).unwrap();
    save_npy(dir.join("a.npy"), &a).unwrap();
    seeds.push(std::fs::read(dir.join("a.npy")).unwrap());
    let b = Tensor::<f64>::from_vec(vec![0.25, 1e10, -3.0, 7.0], [4]).unwrap();
    save_npy(dir.join("b.npy"), &b).unwrap();
    seeds.push(std::fs::read(dir.join("b.npy")).unwrap());
    // Version 2 header, bytes.
    let header = b"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }\n";
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    v2.extend_from_slice(&(header.len() as u32).to_le_bytes());
    v2.extend_from_slice(header);
    v2.extend_from_slice(&[0, 1, 2, 253, 254, 255]);
    seeds.push(v2);
    seeds
}

fn csv_text_seeds() -> Vec<Vec<u8>> {
    vec![
        b"x,y\n1,2\n# a comment\n3.5,-4e2\n\n5,6\n".to_vec(),
        b"0.1 0.2 0.3\n1 2 3\n-1 -2 -3\n".to_vec(),
        b"1\n2\n3\n".to_vec(),
    ]
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn idx(kind: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn idx_seeds() -> Vec<Vec<u8>> {
    let f64s: Vec<u8> = [1.0f64, -2.0, 0.5, 1e300].iter().flat_map(|v| v.to_be_bytes()).collect();
    vec![
        idx(0x08, &[2, 3, 3], &(0..18).collect::<Vec<u8>>()),
        idx(0x0E, &[2, 2], &f64s),
        idx(0x0B, &[3], &[0, 1, 255, 255, 128, 0]),
    ]
}

fn png(
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    trns: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, width, height);
        e.set_color(color);
        e.set_depth(depth);
        if color == png::ColorType::Indexed {
            e.set_palette(vec![0, 0, 0, 255, 255, 255, 128, 64, 32]);
        }
        if let Some(t) = trns {
            e.set_trns(t.to_vec());
        }
        let mut w = e.write_header().unwrap();
        w.write_image_data(data).unwrap();
    }
    out
}

/// Recomputes the CRC of every whole chunk after the PNG signature.
fn fix_png_crcs(b: &mut [u8]) {
    let mut at = 8;
    while at + 12 <= b.len() {
        let len = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&e| e + 4 <= b.len()) else { break };
        let mut crc = flate2::Crc::new();
        crc.update(&b[at + 4..end]);
        b[end..end + 4].copy_from_slice(&crc.sum().to_be_bytes());
        at = end + 4;
    }
}

fn png_seeds() -> Vec<Vec<u8>> {
    use png::{BitDepth, ColorType};
    vec![
        png(4, 3, ColorType::Grayscale, BitDepth::Eight, &[0, 50, 100, 150, 200, 250, 255, 0, 10, 20, 30, 40], None),
        png(2, 2, ColorType::Rgba, BitDepth::Sixteen, &(0..32).map(|i| (i * 8) as u8).collect::<Vec<_>>(), None),
        png(3, 2, ColorType::Indexed, BitDepth::Eight, &[0, 1, 2, 2, 1, 0], Some(&[255, 0, 128])),
        png(8, 2, ColorType::Grayscale, BitDepth::One, &[0b1010_0000, 0b0101_1111], None),
    ]
}

fn tiny_spec() -> BlockSpec {
    BlockSpec {
        dim: 2,
        field: FieldKind::TimeMlp,
        hidden: vec![3],
        act: Activation::Tanh,
        grid: vec![0.0, 0.5, 1.0],
        solver: &RK4,
        divergence: Divergence::Exact,
    }
}

fn checkpoint_seeds(dir: &Path) -> Vec<Vec<u8>> {
    let block = Block::<f32>::new(tiny_spec(), &mut Rng::seed(1)).unwrap();
    let path = dir.join("seed.safetensors");
    save_block(&path, 1, &block, &wasserflow::json!({"method": "jko"})).unwrap();
    vec![std::fs::read(&path).unwrap()]
}

fn safetensors_seeds(dir: &Path) -> Vec<Vec<u8>> {
    let a = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
    let b = Tensor::<f32>::from_vec(vec![7.0], [0usize; 0]).unwrap();
    let path = dir.join("plain.safetensors");
    write_safetensors(&path, &[("a", &a), ("b", &b)], &[("k", "v")]).unwrap();
    let mut seeds = vec![std::fs::read(&path).unwrap()];
    seeds.extend(checkpoint_seeds(dir));
    seeds
}

fn toml_seeds() -> Vec<Vec<u8>> {
    let jko = Settings::defaults("jko").unwrap().to_toml();
    vec![
        jko.into_bytes(),
        b"method = \"lfm\"\nhidden = [8, 8]\nlr = 1e-3\nblocks = 3\ntime_dist = \"beta:2,2\"\n".to_vec(),
        b"n_train = 500\nstep_size = 0.5\nsolver = \"rk4\"\nstandardize = true\n".to_vec(),
    ]
}

// ----- properties -----------------------------------------------------------

fn report(name: &str, (accepted, refused): (usize, usize)) {
    eprintln!("{name}: {accepted} accepted, {refused} refused cleanly");
    assert_eq!(accepted + refused, CASES as usize);
}

#[test]
fn npy_never_panics_nor_overallocates() {
    let seeds = npy_seeds(&scratch("npy_seeds"));
    let load = |p: &Path| load_npy_within::<f32>(p, &limits()).and_then(|t| check_tensor(&t));
    report("npy arbitrary", fuzz("npy_arbitrary", "x.npy", arbitrary_bytes(), load));
    let with_magic = arbitrary_bytes().prop_map(|mut b| {
        b.splice(0..0, b"\x93NUMPY\x01\x00".iter().copied());
        b
    });
    report("npy magic + arbitrary", fuzz("npy_magic", "x.npy", with_magic, load));
    report("npy mutated", fuzz("npy_mutated", "x.npy", mutated(seeds), load));
}

#[test]
fn csv_never_panics_nor_overallocates() {
    let load = |p: &Path| load_csv_within::<f32>(p, &limits()).and_then(|t| check_tensor(&t));
    report("csv arbitrary", fuzz("csv_arbitrary", "x.csv", arbitrary_bytes(), load));
    let soup = prop::collection::vec(
        prop::sample::select(vec![
            "1", "-2.5", "1e39", "1e309", "nan", "NaN", "inf", "-inf", "x", ",", ",", " ", "\t", "\n", "\n", "#", "0",
            "1e-400", "\"", "\r\n", "é",
        ]),
        0..80,
    )
    .prop_map(|t| t.concat().into_bytes());
    report("csv token soup", fuzz("csv_soup", "x.csv", soup, load));
    report("csv mutated", fuzz("csv_mutated", "x.csv", mutated(csv_text_seeds()), load));
    let gz_seeds = csv_text_seeds().iter().map(|s| gz(s)).collect();
    report("csv.gz mutated", fuzz("csvgz_mutated", "x.csv.gz", mutated(gz_seeds), load));
    let mutated_text_gzipped = (prop::sample::select(csv_text_seeds()), prop::collection::vec(mutation(), 1..6))
        .prop_map(|(s, m)| gz(&apply(&s, &m)));
    report("csv.gz of mutated text", fuzz("csvgz_text", "x.csv.gz", mutated_text_gzipped, load));
}

#[test]
fn idx_never_panics_nor_overallocates() {
    let load = |p: &Path| load_idx_within::<f32>(p, &limits()).and_then(|(t, _)| check_tensor(&t));
    report("idx arbitrary", fuzz("idx_arbitrary", "x.idx", arbitrary_bytes(), load));
    report("idx mutated", fuzz("idx_mutated", "x.idx", mutated(idx_seeds()), load));
}

#[test]
fn png_densities_never_panic_nor_overallocate() {
    let load = |p: &Path| {
        let d = ImageDensity::open_within(p, &limits())?;
        let total: f64 = d.mass().iter().sum();
        assert!((total - 1.0).abs() < 1e-9 && d.mass().iter().all(|m| *m >= 0.0), "mass {total}");
        check_tensor(&d.sample::<f32>(16, &mut Rng::seed(0))?)
    };
    report("png arbitrary", fuzz("png_arbitrary", "x.png", arbitrary_bytes(), load));
    report("png mutated", fuzz("png_mutated", "x.png", mutated(png_seeds()), load));
    // The same with every chunk's CRC made right again, so that mutations reach past the checksums.
    let resealed = mutated(png_seeds()).prop_map(|mut b| {
        fix_png_crcs(&mut b);
        b
    });
    report("png mutated, CRCs fixed", fuzz("png_resealed", "x.png", resealed, load));
}

#[test]
fn safetensors_never_panic_nor_overallocate() {
    let seeds = safetensors_seeds(&scratch("st_seeds"));
    let load = |p: &Path| {
        let f = read_safetensors_within(p, &limits())?;
        for name in f.names() {
            if let Ok(t) = f.get::<f64>(name) {
                assert_eq!(t.dims(), f.shape(name).unwrap());
            }
        }
        Ok(())
    };
    report("safetensors arbitrary", fuzz("st_arbitrary", "x.safetensors", arbitrary_bytes(), load));
    report("safetensors mutated", fuzz("st_mutated", "x.safetensors", mutated(seeds), load));
}

#[test]
fn checkpoints_never_panic_nor_overallocate() {
    let seeds = checkpoint_seeds(&scratch("ckpt_seeds"));
    let load = |p: &Path| {
        let (block, info) = load_block::<f32>(p)?;
        assert_eq!(block.spec.dim, info.spec.dim);
        // An accepted block is a working one: it maps points to finite points or says why not.
        let x = Tensor::<f32>::from_vec(vec![0.5; 2 * block.spec.dim], [2, block.spec.dim]).unwrap();
        let mut flow = wasserflow::flows::BlockFlow::new(block.spec.dim);
        flow.push(block)?;
        flow.transport(&x, EvalOptions::default()).map(drop)
    };
    report("checkpoint mutated", fuzz("ckpt_mutated", "block-0001.safetensors", mutated(seeds.clone()), load));
    // Mutations aimed at the JSON description: digits and brackets inside the metadata.
    let text = String::from_utf8_lossy(&seeds[0]).into_owned();
    let meta_at = text.find("{\\\"").unwrap_or(8);
    let aimed = (prop::collection::vec(
        (0usize..400, prop::sample::select(vec!["9", "99999999", "0", "-1", "[", "]", "1e9", ","])),
        1..4,
    ))
    .prop_map(move |edits| {
        let mut b = seeds[0].clone();
        for (off, s) in edits {
            let i = (meta_at + off).min(b.len() - 1);
            for (k, c) in s.bytes().enumerate() {
                if i + k < b.len() {
                    b[i + k] = c;
                }
            }
        }
        b
    });
    report("checkpoint metadata edits", fuzz("ckpt_meta", "block-0001.safetensors", aimed, load));
}

#[test]
fn toml_settings_never_panic() {
    let load = |p: &Path| {
        let settings = Settings::from_toml_file(p)?;
        // Settings that parse go on through what `train` does before any work.
        let args = TrainArgs {
            config: Some(p.to_path_buf()),
            out: None,
            resume: false,
            no_figures: true,
            force: false,
            settings: Settings::default(),
        };
        let (s, _) = wasserflow::cli::train::resolve(&args)?;
        wasserflow::cli::memory::estimate(&s, 2, None).map(drop)?;
        let _ = settings.to_toml();
        Ok(())
    };
    report("toml arbitrary", fuzz("toml_arbitrary", "x.toml", arbitrary_bytes(), load));
    report("toml mutated", fuzz("toml_mutated", "x.toml", mutated(toml_seeds()), load));
}

// ----- lying headers, honest files over the limit, bombs ----------------------

/// `load` refuses the input with a message containing every needle, holding
/// at most `bound` bytes meanwhile.
#[track_caller]
fn refused_within<T>(load: impl FnOnce() -> Result<T, Error>, needles: &[&str], bound: usize) {
    let (r, peak) = peak_bytes(load);
    let e = r.err().expect("expected a refusal").to_string();
    assert!(peak <= bound, "{peak} bytes held while refusing: {e}");
    for n in needles {
        assert!(e.contains(n), "'{e}' does not mention '{n}'");
    }
}

#[test]
fn headers_that_promise_more_than_the_file_holds_allocate_nothing_of_it() {
    let dir = scratch("lying");
    let big = LoadLimits::new(u64::MAX);
    let bound = 1 << 20;

    let header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }\n";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(header);
    npy.extend_from_slice(&[0; 64]);
    std::fs::write(dir.join("lying.npy"), &npy).unwrap();
    refused_within(|| load_npy_within::<f32>(dir.join("lying.npy"), &big), &["lying.npy", "truncated"], bound);

    std::fs::write(dir.join("lying.idx"), idx(0x0E, &[60000, 60000], &[0; 64])).unwrap();
    refused_within(|| load_idx_within::<f32>(dir.join("lying.idx"), &big), &["lying.idx", "28800000000"], bound);

    // A PNG header declaring 50000 × 50000 RGBA pixels (10 GB decoded) over a few bytes of data.
    let mut lying_png = png(1, 1, png::ColorType::Rgba, png::BitDepth::Eight, &[0, 0, 0, 255], None);
    lying_png[16..20].copy_from_slice(&50_000u32.to_be_bytes());
    lying_png[20..24].copy_from_slice(&50_000u32.to_be_bytes());
    let crc = {
        let mut c = flate2::Crc::new();
        c.update(&lying_png[12..29]);
        c.sum()
    };
    lying_png[29..33].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(dir.join("lying.png"), &lying_png).unwrap();
    refused_within(
        || ImageDensity::open_within(dir.join("lying.png"), &LoadLimits::new(1 << 30)),
        &["lying.png", "50000×50000", "load limit"],
        bound,
    );

    let mut st = Vec::new();
    let h = br#"{"a":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4000000000000]}}"#;
    st.extend_from_slice(&(h.len() as u64).to_le_bytes());
    st.extend_from_slice(h);
    st.extend_from_slice(&[0; 16]);
    std::fs::write(dir.join("lying.safetensors"), &st).unwrap();
    refused_within(
        || read_safetensors_within(&dir.join("lying.safetensors"), &big),
        &["lying.safetensors", "past the end"],
        bound,
    );
    let mut huge_len = u64::MAX.to_le_bytes().to_vec();
    huge_len.extend_from_slice(b"{}");
    std::fs::write(dir.join("len.safetensors"), &huge_len).unwrap();
    refused_within(
        || read_safetensors_within(&dir.join("len.safetensors"), &big),
        &["len.safetensors", "header length"],
        bound,
    );
}

/// A checkpoint of the tiny block whose description says `hidden`.
fn checkpoint_claiming(path: &Path, hidden: &[usize]) {
    let block = Block::<f32>::new(tiny_spec(), &mut Rng::seed(1)).unwrap();
    let mut spec = wasserflow::io::checkpoint::spec_to_json(&block.spec);
    spec["hidden"] = wasserflow::json!(hidden);
    let doc = wasserflow::json!({"format_version": 1, "written_by": "test", "block": 1, "spec": spec, "run": {}});
    let tensors: Vec<(&str, &Tensor<f32>)> =
        block.store.names().iter().map(String::as_str).zip(block.store.values()).collect();
    write_safetensors(path, &tensors, &[("wasserflow", &doc.to_string())]).unwrap();
}

#[test]
fn a_checkpoint_describing_a_huge_network_is_refused_before_building_it() {
    let dir = scratch("huge_net");
    let path = dir.join("block-0001.safetensors");
    checkpoint_claiming(&path, &[3]);
    assert!(load_block::<f32>(&path).is_ok());
    // At least 2·10⁸ + 10⁸·2 weights described, 20 held: building that network first took 2.4 GB.
    checkpoint_claiming(&path, &[99_999_999]);
    refused_within(|| load_block::<f32>(&path), &["block-0001.safetensors", "at least 399999996", "holds 20"], 1 << 20);
    for hidden in [&[7][..], &[0], &[3, 0], &[]] {
        checkpoint_claiming(&path, hidden);
        refused_within(|| load_block::<f32>(&path), &["block-0001.safetensors"], 1 << 20);
    }
}

#[test]
fn honest_files_over_the_limit_are_refused_naming_file_size_and_limit() {
    let dir = scratch("over");
    let x = Tensor::<f64>::from_vec((0..10_000).map(|i| i as f64).collect(), [1000, 10]).unwrap();
    save_npy(dir.join("big.npy"), &x).unwrap();
    let small = LoadLimits::new(10_000);
    refused_within(
        || load_npy_within::<f32>(dir.join("big.npy"), &small),
        &["big.npy", "40000", "10000", LoadLimits::ENV],
        1 << 16,
    );
    assert!(load_npy_within::<f32>(dir.join("big.npy"), &LoadLimits::new(40_000)).is_ok());

    let values: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    std::fs::write(dir.join("big.idx"), idx(0x08, &[1000, 10], &values)).unwrap();
    refused_within(|| load_idx_within::<f64>(dir.join("big.idx"), &small), &["big.idx", "80000", "10000"], 1 << 16);

    let text: String = (0..2000).map(|i| format!("{i},{}\n", i * 2)).collect();
    std::fs::write(dir.join("big.csv"), &text).unwrap();
    refused_within(|| load_csv_within::<f32>(dir.join("big.csv"), &small), &["big.csv", "10000"], 1 << 16);

    std::fs::write(dir.join("big.png"), png(64, 64, png::ColorType::Grayscale, png::BitDepth::Eight, &[7; 4096], None))
        .unwrap();
    refused_within(|| ImageDensity::open_within(dir.join("big.png"), &small), &["big.png", "64×64", "10000"], 1 << 16);

    let t = Tensor::<f32>::zeros([100, 100]);
    write_safetensors(&dir.join("big.safetensors"), &[("t", &t)], &[]).unwrap();
    refused_within(
        || read_safetensors_within(&dir.join("big.safetensors"), &small),
        &["big.safetensors", "10000"],
        1 << 16,
    );
}

#[test]
fn a_gzip_bomb_is_refused_at_the_limit() {
    let dir = scratch("bomb");
    // 16 MiB of one repeated line compresses to about 16 KiB.
    let line = b"1,2,3,4,5,6,7,8\n";
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for _ in 0..(16 << 20) / line.len() {
        e.write_all(line).unwrap();
    }
    std::fs::write(dir.join("bomb.csv.gz"), e.finish().unwrap()).unwrap();
    refused_within(
        || load_csv_within::<f32>(dir.join("bomb.csv.gz"), &LoadLimits::new(1 << 20)),
        &["bomb.csv.gz", "decompressed", "1048576"],
        4 << 20,
    );
}

#[test]
fn values_too_large_for_f32_are_refused_with_their_place() {
    let dir = scratch("overflow");
    std::fs::write(dir.join("big.csv"), "1,2\n3,1e39\n").unwrap();
    let e = load_csv_within::<f32>(dir.join("big.csv"), &limits()).unwrap_err().to_string();
    assert!(e.contains("line 2, column 2") && e.contains("too large for f32"), "{e}");
    assert!(load_csv_within::<f64>(dir.join("big.csv"), &limits()).is_ok());
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, -1e300], [2, 2]).unwrap();
    save_npy(dir.join("big.npy"), &x).unwrap();
    let e = load_npy_within::<f32>(dir.join("big.npy"), &limits()).unwrap_err().to_string();
    assert!(e.contains("row 1, column 1") && e.contains("too large for f32"), "{e}");
}

/// Inputs on which cargo-fuzz found panics (fuzz/seeds/*/regression-*), now refused cleanly.
#[test]
fn inputs_cargo_fuzz_found_are_refused() {
    let dir = scratch("regressions");
    // IDX, rank 5, dimensions [0, 3824651, 2³²−1, 2³²−1, 0]: no data is needed, and the trailing
    // dimensions' product overflowed (a panic with overflow checks, a wrapped shape without).
    let idx_bytes = [
        0x00, 0x00, 0x0e, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x5c, 0x0b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
    ];
    std::fs::write(dir.join("zero.idx"), idx_bytes).unwrap();
    refused_within(|| load_idx_within::<f32>(dir.join("zero.idx"), &limits()), &["zero.idx", "trailing"], 1 << 16);
    // A 40 × 2 palette PNG whose PLTE chunk is 10 bytes (not whole RGB triples): png 0.18 panics expanding it.
    let png_bytes = [
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x28, 0x00, 0x00, 0x00, 0x02, 0x08, 0x03, 0x00, 0x00, 0x01, 0xaa, 0xaa, 0x96, 0x28, 0x00, 0x00, 0x00,
        0x0a, 0x50, 0x4c, 0x54, 0x45, 0x00, 0x00, 0x3f, 0x00, 0xff, 0xff, 0xff, 0x80, 0x40, 0x20, 0x59, 0xe4, 0xf7,
        0x3c, 0x00, 0x00, 0x00, 0x03, 0x74, 0x25, 0x4e, 0x53, 0xff, 0x00, 0x80, 0xa9, 0x56, 0x73, 0x13, 0x00, 0x00,
        0x00, 0x10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x64, 0x60, 0x9a, 0x60, 0x60, 0x64, 0x00, 0x20, 0x60,
        0x82,
    ];
    std::fs::write(dir.join("palette.png"), png_bytes).unwrap();
    refused_within(
        || ImageDensity::open_within(dir.join("palette.png"), &limits()),
        &["palette.png", "palette"],
        1 << 20,
    );
}
