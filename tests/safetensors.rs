//! safetensors files: round trips, compatibility with the Python `safetensors`
//! package, and refusal of damaged files (errors, never panics).

use std::path::{Path, PathBuf};
use std::process::Command;

use wasserflow::flows::{Field, FieldKind};
use wasserflow::io::safetensors::{SafeTensors, load_params, read_safetensors, save_params, write_safetensors};
use wasserflow::nn::{Activation, ParamStore};
use wasserflow::{Error, Float, Rng, Tensor};

const PYTHON: &str = "/opt/torchenv/bin/python";

/// Named tensors as the writer takes them.
type Named<'a> = &'a [(&'a str, &'a Tensor<f32>)];
/// Metadata as the writer takes it.
type Meta<'a> = &'a [(&'a str, &'a str)];
/// Parameter names and shapes of a store.
type Layout<'a> = &'a [(&'a str, &'a [usize])];

/// A fresh directory per test, under cargo's scratch space for integration tests.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("safetensors").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Values a format must carry unchanged, non-finite ones included.
const SPECIAL: [f64; 8] = [0.0, -0.0, 1.5, -1e-310, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 3.0e38];

const METADATA: [(&str, &str); 3] = [("kind", "test"), ("quote", "a\"b\\c\nd\u{1}"), ("unicode", "é😀")];

fn round_trip<T: Float>(dir: &Path) {
    let a = Tensor::<T>::from_f64s(&SPECIAL[..6], [2, 3]).unwrap();
    let b = Tensor::<T>::from_f64s(&SPECIAL[6..], [2]).unwrap();
    let scalar = Tensor::<T>::from_f64s(&[42.0], [0usize; 0]).unwrap();
    let empty = Tensor::<T>::zeros([0, 4]);
    let path = dir.join(format!("round_trip_{}.safetensors", T::DTYPE.name()));
    let tensors = [("a", &a), ("b \"ü\"", &b), ("scalar", &scalar), ("empty", &empty)];
    write_safetensors(&path, &tensors, &METADATA).unwrap();

    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "header padded to keep the data aligned");
    assert_eq!(bytes.len(), 8 + n + 9 * T::DTYPE.size_bytes());

    let f = read_safetensors(&path).unwrap();
    assert_eq!(f.names(), ["a", "b \"ü\"", "scalar", "empty"]);
    let meta: Vec<(&str, &str)> = f.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(meta, METADATA);
    assert_eq!(f.meta("unicode"), Some("é😀"));
    let want_dtype = if T::DTYPE.size_bytes() == 4 { "F32" } else { "F64" };
    for (name, t) in tensors {
        assert_eq!(f.dtype(name), Some(want_dtype));
        assert_eq!(f.shape(name), Some(t.dims()));
        let got = f.get::<T>(name).unwrap();
        assert_eq!(got.dims(), t.dims(), "{name}");
        assert_eq!(bits(&got.to_f64_vec().unwrap()), bits(&t.to_f64_vec().unwrap()), "{name}");
    }
}

#[test]
fn round_trip_f32_and_f64_with_metadata() {
    let dir = scratch("round_trip");
    round_trip::<f32>(&dir);
    round_trip::<f64>(&dir);
}

#[test]
fn converts_between_f32_and_f64() {
    let dir = scratch("convert");
    let third = 1.0 / 3.0;
    let x64 = Tensor::<f64>::from_f64s(&[third, -2.0, f64::NAN], [3]).unwrap();
    let p64 = dir.join("f64.safetensors");
    write_safetensors(&p64, &[("x", &x64)], &[]).unwrap();
    let as32 = read_safetensors(&p64).unwrap().get::<f32>("x").unwrap().to_vec().unwrap();
    assert_eq!(as32[..2], [third as f32, -2.0]);
    assert!(as32[2].is_nan());

    let x32 = Tensor::<f32>::from_vec(vec![third as f32, 1e-40], [2]).unwrap();
    let p32 = dir.join("f32.safetensors");
    write_safetensors(&p32, &[("x", &x32)], &[]).unwrap();
    let as64 = read_safetensors(&p32).unwrap().get::<f64>("x").unwrap().to_vec().unwrap();
    assert_eq!(as64, [third as f32 as f64, 1e-40f32 as f64]);
    assert!(read_safetensors(&p32).unwrap().metadata.is_empty());
}

#[test]
fn writes_are_atomic_and_leave_no_temporary_files() {
    let dir = scratch("atomic");
    let path = dir.join("w.safetensors");
    let small = Tensor::<f32>::ones([2]);
    let large = Tensor::<f32>::ones([1000]);
    write_safetensors(&path, &[("x", &large)], &[]).unwrap();
    write_safetensors(&path, &[("x", &small)], &[("v", "2")]).unwrap();
    let f = read_safetensors(&path).unwrap();
    assert_eq!(f.shape("x"), Some([2].as_slice()));
    assert_eq!(f.meta("v"), Some("2"));
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, ["w.safetensors"]);

    let missing_dir = dir.join("no").join("such").join("dir.safetensors");
    assert!(matches!(write_safetensors(&missing_dir, &[("x", &small)], &[]), Err(Error::Io { .. })));
    assert!(matches!(read_safetensors(&dir.join("absent.safetensors")), Err(Error::Io { .. })));
}

#[test]
fn write_refuses_ambiguous_names() {
    let dir = scratch("names");
    let path = dir.join("x.safetensors");
    let t = Tensor::<f32>::ones([1]);
    let cases: [(Named, Meta, &str); 3] = [
        (&[("a", &t), ("a", &t)], &[], "twice"),
        (&[("__metadata__", &t)], &[], "reserved"),
        (&[("a", &t)], &[("k", "1"), ("k", "2")], "twice"),
    ];
    for (tensors, meta, why) in cases {
        let e = write_safetensors(&path, tensors, meta).unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
    }
    assert!(!path.exists());
}

#[test]
fn refuses_files_that_are_not_safetensors() {
    let dir = scratch("foreign");
    let path = dir.join("noise.bin");
    std::fs::write(&path, vec![0xa5u8; 1 << 20]).unwrap();
    let e = read_safetensors(&path).unwrap_err().to_string();
    assert!(e.contains("noise.bin") && e.contains("exceeds the limit"), "{e}");
    std::fs::write(&path, b"{\"a\": 1}\n").unwrap();
    assert!(matches!(read_safetensors(&path), Err(Error::Format { .. })));
    assert!(matches!(read_safetensors(&dir), Err(Error::Io { .. } | Error::Format { .. })));
    if Path::new("/dev/zero").exists() {
        // Reports length 0: refused as too short, not read without end.
        assert!(read_safetensors(Path::new("/dev/zero")).unwrap_err().to_string().contains("too short"));
    }
}

/// A file with the given header text (unpadded) and data.
fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

fn parse_err(bytes: Vec<u8>) -> String {
    match SafeTensors::parse(bytes, Path::new("bad.safetensors")) {
        Ok(f) => panic!("accepted a malformed file holding {:?}", f.names()),
        Err(e @ Error::Format { .. }) => e.to_string(),
        Err(e) => panic!("expected a format error, got {e}"),
    }
}

fn valid_file() -> Vec<u8> {
    let dir = scratch("valid");
    let path = dir.join("v.safetensors");
    let a = Tensor::<f32>::from_f64s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
    let b = Tensor::<f32>::from_f64s(&[-1.0, 0.5], [2]).unwrap();
    let s = Tensor::<f32>::from_f64s(&[7.0], [0usize; 0]).unwrap();
    write_safetensors(&path, &[("a", &a), ("b", &b), ("s", &s)], &[("k", "v")]).unwrap();
    std::fs::read(&path).unwrap()
}

#[test]
fn every_truncation_is_an_error() {
    let full = valid_file();
    assert!(SafeTensors::parse(full.clone(), Path::new("full")).is_ok());
    for len in 0..full.len() {
        let e = parse_err(full[..len].to_vec());
        assert!(e.starts_with("bad.safetensors: "), "{e}");
    }
    // Through the file system too: the path is named in the error.
    let dir = scratch("truncated");
    let path = dir.join("t.safetensors");
    std::fs::write(&path, &full[..full.len() - 1]).unwrap();
    let e = read_safetensors(&path).unwrap_err().to_string();
    assert!(e.contains("t.safetensors") && e.contains("past the end"), "{e}");
}

#[test]
fn byte_flips_never_panic() {
    let full = valid_file();
    let n = u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    for pos in 0..full.len() {
        for mask in [0x01u8, 0x20, 0x80, 0xff] {
            let mut b = full.clone();
            b[pos] ^= mask;
            let r = SafeTensors::parse(b, Path::new("flipped"));
            if pos < 8 {
                assert!(r.is_err(), "changed header length accepted (byte {pos}, mask {mask:#x})");
            } else if pos >= 8 + n {
                // The data section is opaque: flips change values, not validity.
                assert!(r.is_ok(), "flip in the data refused (byte {pos})");
            } else if let Ok(f) = r {
                // A flip inside the header may still leave valid JSON (a name
                // or metadata letter); the result must still describe real data.
                for name in f.names() {
                    if f.dtype(name) == Some("F32") || f.dtype(name) == Some("F64") {
                        f.get::<f64>(name).unwrap();
                    }
                }
            }
        }
    }
}

#[test]
fn malformed_headers_are_errors() {
    let t = |extra: &str| format!(r#"{{"x":{{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}{extra}}}"#);
    let eight = [0u8; 8];
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "too short"),
        (vec![1, 2, 3], "too short"),
        (u64::MAX.to_le_bytes().to_vec(), "exceeds the limit"),
        (200_000_000u64.to_le_bytes().to_vec(), "exceeds the limit"),
        ([&64u64.to_le_bytes()[..], b"{}"].concat(), "runs past the end"),
        (raw_file("", &[]), "does not start with '{'"),
        (raw_file(" {}", &[]), "does not start with '{'"),
        (raw_file("{", &[]), "invalid JSON"),
        (raw_file("{\"__metadata__\":{},}", &[]), "invalid JSON"),
        (raw_file("{} {}", &[]), "invalid JSON"),
        (raw_file("{\"x\":1}", &[]), "not a JSON object"),
        ([&4u64.to_le_bytes()[..], &[b'{', 0xff, 0xfe, b'}']].concat(), "not UTF-8"),
        (raw_file(&format!("{{\"x\":{{\"extra\":{}}}}}", "[".repeat(5000)), &[]), "nesting"),
        (raw_file(&t(""), &eight[..4]), "past the end of the data section"),
        (raw_file(&t(""), &[0; 12]), "cover only 8"),
        (raw_file(&t(r#","y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}"#), &eight), "overlaps"),
        (raw_file(&t(r#","y":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}"#), &[0; 16]), "belong to no tensor"),
        (raw_file(r#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, &eight), "needs 12 bytes"),
        (raw_file(r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, &eight), "backwards"),
        (
            raw_file(r#"{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#, &[]),
            "more than usize::MAX",
        ),
        (raw_file(r#"{"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, &eight), "shape"),
        (raw_file(r#"{"x":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#, &eight), "shape"),
        (raw_file(r#"{"x":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}"#, &eight), "shape"),
        (raw_file(r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}"#, &eight), "data_offsets"),
        (raw_file(r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, &eight), "data_offsets"),
        (raw_file(r#"{"x":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}"#, &eight), "dtype 'F31'"),
        (raw_file(r#"{"x":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}"#, &eight), "dtype"),
        (raw_file(r#"{"x":{"shape":[2],"data_offsets":[0,8]}}"#, &eight), "no 'dtype'"),
        (raw_file(r#"{"x":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, &eight), "twice"),
        (raw_file(r#"{"x":[]}"#, &[]), "not a JSON object"),
        (raw_file(&t(r#","x":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}"#), &eight), "'x' twice"),
        (raw_file(&t(r#","__metadata__":{"a":1}"#), &eight), "not a string"),
        (raw_file(&t(r#","__metadata__":{"a":"1","a":"2"}"#), &eight), "twice"),
        (raw_file(&t(r#","__metadata__":[]"#), &eight), "not a JSON object"),
        (raw_file("{}", &eight), "cover only 0"),
    ];
    for (bytes, want) in cases {
        let e = parse_err(bytes);
        println!("{e}");
        assert!(e.contains(want), "expected '{want}' in: {e}");
    }
}

#[test]
fn accepts_what_the_format_allows() {
    let eight = [0u8; 8];
    let ok = |header: &str, data: &[u8]| SafeTensors::parse(raw_file(header, data), Path::new("ok")).unwrap();
    let f =
        ok(r#"{"__metadata__":null,"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":[true,{}]}}"#, &eight);
    assert!(f.metadata.is_empty());
    assert_eq!(f.get::<f32>("x").unwrap().to_vec().unwrap(), [0.0, 0.0]);
    let f = ok(
        r#"{"z":{"dtype":"F64","shape":[0,3],"data_offsets":[8,8]},"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}  "#,
        &eight,
    );
    assert_eq!(f.get::<f64>("z").unwrap().dims(), [0, 3]);
    let e = f.get::<f64>("i").unwrap_err().to_string();
    assert!(e.contains("'i'") && e.contains("I64"), "{e}");
    let e = f.get::<f64>("nope").unwrap_err().to_string();
    assert!(e.contains("'nope'") && e.contains("z, i"), "{e}");
    assert!(ok("{}", &[]).is_empty());
}

fn small_store<T: Float>(shapes: Layout, fill: f64) -> ParamStore<T> {
    let mut s = ParamStore::new();
    for (i, (name, shape)) in shapes.iter().enumerate() {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|j| fill + (i * 100 + j) as f64).collect();
        s.add(*name, Tensor::from_f64s(&v, shape.to_vec()).unwrap()).unwrap();
    }
    s
}

#[test]
fn load_params_restores_a_store() {
    let dir = scratch("params");
    let path = dir.join("p.safetensors");
    let layout: Layout = &[("w", &[2, 3]), ("b", &[3]), ("s", &[])];
    let saved = small_store::<f64>(layout, 0.25);
    save_params(&path, &saved, &[("model", "test")]).unwrap();
    assert_eq!(read_safetensors(&path).unwrap().meta("model"), Some("test"));

    let mut target = small_store::<f64>(layout, -7.0);
    load_params(&path, &mut target).unwrap();
    for (a, b) in saved.values().iter().zip(target.values()) {
        assert_eq!(a.to_vec().unwrap(), b.to_vec().unwrap());
    }
    // An f64 checkpoint loads into an f32 model (rounded).
    let mut narrow = small_store::<f32>(layout, 0.0);
    load_params(&path, &mut narrow).unwrap();
    assert_eq!(narrow.values()[0].to_vec().unwrap()[1], 1.25f32);
}

#[test]
fn load_params_rejects_a_different_model() {
    let dir = scratch("params_mismatch");
    let path = dir.join("p.safetensors");
    let layout: Layout = &[("w", &[2, 3]), ("b", &[3])];
    save_params(&path, &small_store::<f32>(layout, 0.0), &[]).unwrap();

    let cases: [(Layout, &[&str]); 3] = [
        (&[("w", &[3, 3]), ("b", &[3])], &["'w'", "[3, 3] in the model", "[2, 3] in the file"]),
        (&[("w", &[2, 3]), ("b", &[3]), ("c", &[1])], &["'c' is missing"]),
        (&[("w", &[2, 3])], &["'b' is not a parameter"]),
    ];
    for (other, wants) in cases {
        let mut store = small_store::<f32>(other, 5.0);
        let before: Vec<Vec<f32>> = store.values().iter().map(|t| t.to_vec().unwrap()).collect();
        let e = load_params(&path, &mut store).unwrap_err();
        assert!(matches!(e, Error::Format { .. }));
        let e = e.to_string();
        for want in wants {
            assert!(e.contains(want), "expected {want} in: {e}");
        }
        let after: Vec<Vec<f32>> = store.values().iter().map(|t| t.to_vec().unwrap()).collect();
        assert_eq!(before, after, "a refused checkpoint must leave the store as it was");
    }

    // Real models: a ConcatSquash checkpoint is not a time-MLP.
    let mut rng = Rng::seed(0);
    let mut cs = ParamStore::<f32>::new();
    Field::new(FieldKind::ConcatSquash, &mut cs, 2, &[16, 16], Activation::Tanh, &mut rng).unwrap();
    save_params(&path, &cs, &[]).unwrap();
    let mut mlp = ParamStore::<f32>::new();
    Field::new(FieldKind::TimeMlp, &mut mlp, 2, &[16, 16], Activation::Tanh, &mut rng).unwrap();
    let e = load_params(&path, &mut mlp).unwrap_err().to_string();
    assert!(e.contains("checkpoint does not match the model") && e.contains("is missing"), "{e}");
}

const PY_CHECK: &str = r#"
import sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

ours, theirs = sys.argv[1], sys.argv[2]
t = load_file(ours)
with safe_open(ours, framework="np") as f:
    meta = f.metadata()
assert meta == {"kind": "test", "quote": "a\"b\\c\nd\x01", "unicode": "é😀"}, meta
assert t["a"].dtype == np.float32 and t["a"].shape == (2, 3), t["a"]
assert np.array_equal(t["a"], np.arange(6, dtype=np.float32).reshape(2, 3) / 4 - 1)
b = t["b \"ü\""]
assert b.dtype == np.float64 and b.shape == (4,)
assert b[0] == 1e-300 and b[1] == -2.5 and np.isinf(b[2]) and np.isnan(b[3])
assert t["scalar"].shape == () and t["scalar"] == 42
assert t["empty"].shape == (0, 4)

save_file(
    {
        "x": (np.arange(6, dtype=np.float32) / 4).reshape(3, 2),
        "y": np.array([np.pi, -np.e], dtype=np.float64),
        "z": np.array([1, 2, 3], dtype=np.int64),
        "e": np.zeros((0, 3), dtype=np.float32),
    },
    theirs,
    metadata={"from": "python", "note": "ü\"\\"},
)
print("python safetensors", __import__("safetensors").__version__, "ok")
"#;

#[test]
fn compatible_with_python_safetensors() {
    if !Path::new(PYTHON).exists() {
        println!("skipped: {PYTHON} not found (the Python safetensors package is needed for this check)");
        return;
    }
    let dir = scratch("python");
    let ours = dir.join("ours.safetensors");
    let theirs = dir.join("theirs.safetensors");
    let a: Vec<f64> = (0..6).map(|i| i as f64 / 4.0 - 1.0).collect();
    let a = Tensor::<f32>::from_f64s(&a, [2, 3]).unwrap();
    let b = Tensor::<f64>::from_f64s(&[1e-300, -2.5, f64::INFINITY, f64::NAN], [4]).unwrap();
    let scalar = Tensor::<f32>::from_f64s(&[42.0], [0usize; 0]).unwrap();
    let empty = Tensor::<f32>::zeros([0, 4]);
    // One file, two dtypes: write the f32 tensors, then splice in the f64 one
    // through a second file read back as f64 (the writer takes one type).
    write_safetensors(&ours, &[("a", &a), ("scalar", &scalar), ("empty", &empty)], &METADATA).unwrap();
    let mixed = mixed_file(&ours, &[("b \"ü\"", &b)]);
    std::fs::write(&ours, mixed).unwrap();

    let out = Command::new(PYTHON).arg("-c").arg(PY_CHECK).arg(&ours).arg(&theirs).output().unwrap();
    assert!(
        out.status.success(),
        "python check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{}", String::from_utf8_lossy(&out.stdout).trim());

    let f = read_safetensors(&theirs).unwrap();
    assert_eq!(f.meta("from"), Some("python"));
    assert_eq!(f.meta("note"), Some("ü\"\\"));
    let x = f.get::<f32>("x").unwrap();
    assert_eq!(x.dims(), [3, 2]);
    assert_eq!(x.to_vec().unwrap(), [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]);
    assert_eq!(f.get::<f64>("y").unwrap().to_vec().unwrap(), [std::f64::consts::PI, -std::f64::consts::E]);
    assert_eq!(f.dtype("z"), Some("I64"));
    assert!(f.get::<f32>("z").unwrap_err().to_string().contains("I64"));
    assert_eq!(f.get::<f32>("e").unwrap().dims(), [0, 3]);
}

/// The file at `base` with `extra` f64 tensors appended, rebuilt through the
/// reader and a hand-assembled header (exercises reading our own output too).
fn mixed_file(base: &Path, extra: &[(&str, &Tensor<f64>)]) -> Vec<u8> {
    let f = read_safetensors(base).unwrap();
    let mut header = String::from("{\"__metadata__\":{");
    let meta: Vec<String> = f.metadata.iter().map(|(k, v)| format!("{}:{}", json(k), json(v))).collect();
    header.push_str(&meta.join(","));
    header.push('}');
    let mut data = Vec::new();
    for name in f.names() {
        let v = f.get::<f32>(name).unwrap();
        let begin = data.len();
        for x in v.to_vec().unwrap() {
            data.extend_from_slice(&x.to_le_bytes());
        }
        header.push_str(&format!(
            ",{}:{{\"dtype\":\"F32\",\"shape\":{:?},\"data_offsets\":[{begin},{}]}}",
            json(name),
            v.dims(),
            data.len()
        ));
    }
    for (name, t) in extra {
        let begin = data.len();
        for x in t.to_vec().unwrap() {
            data.extend_from_slice(&x.to_le_bytes());
        }
        header.push_str(&format!(
            ",{}:{{\"dtype\":\"F64\",\"shape\":{:?},\"data_offsets\":[{begin},{}]}}",
            json(name),
            t.dims(),
            data.len()
        ));
    }
    header.push('}');
    raw_file(&header, &data)
}

fn json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
