//! Checkpoints: one safetensors file per finished block, holding the block's
//! weights and, in the header's metadata, a JSON document that describes the
//! block's network and grid, the run it belongs to (method, dataset,
//! standardization, configuration, trainer state) and the versions that wrote
//! it. Files are written atomically; loading rebuilds the network from the
//! description and refuses weights that do not fit it, saying what differs.
//!
//! A run directory's flow is `checkpoints/block-0001.safetensors`,
//! `block-0002...`, in order; a run killed mid-write leaves at most a hidden
//! temporary file, which loading ignores.

use std::path::{Path, PathBuf};

use crate::io::json::Value;
use crate::json;

use super::classifier::{activation_from_json, activation_to_json};
use super::safetensors::{SafeTensors, read_safetensors, save_params};
use crate::density::{Divergence, Probe};
use crate::flows::{Block, BlockFlow, BlockSpec, FieldKind};
use crate::nn::ParamStore;
use crate::ode::tableau;
use crate::tensor::Float;
use crate::{Error, Result};

/// The metadata key under which the JSON description is stored.
const META_KEY: &str = "wasserflow";
/// Bumped when the description changes incompatibly.
pub const FORMAT_VERSION: u64 = 1;

/// What a checkpoint says besides the weights.
#[derive(Clone, Debug)]
pub struct CheckpointInfo {
    /// 1-based position of the block in its flow.
    pub block: usize,
    pub spec: BlockSpec,
    /// The run's own description (method, dataset, standardization, config, trainer state).
    pub run: Value,
    /// The crate version that wrote the file.
    pub written_by: String,
}

/// `block-0001.safetensors` for block 1.
pub fn block_file_name(block: usize) -> String {
    format!("block-{block:04}.safetensors")
}

/// The JSON form of a block's specification.
pub fn spec_to_json(spec: &BlockSpec) -> Value {
    let act = activation_to_json(spec.act);
    let divergence = match spec.divergence {
        Divergence::Exact => json!({"name": "exact"}),
        Divergence::DiscreteJacobian => json!({"name": "jacobian"}),
        Divergence::Hutchinson { probes, probe } => json!({
            "name": "hutchinson",
            "probes": probes,
            "probe": match probe { Probe::Rademacher => "rademacher", Probe::Gaussian => "gaussian" },
        }),
    };
    json!({
        "dim": spec.dim,
        "field": spec.field.name(),
        "hidden": spec.hidden,
        "activation": act,
        "grid": spec.grid,
        "solver": spec.solver.name,
        "divergence": divergence,
    })
}

/// Reads a block specification back from [`spec_to_json`]'s form.
pub fn spec_from_json(v: &Value) -> std::result::Result<BlockSpec, String> {
    let field = |k: &str| v.get(k).ok_or_else(|| format!("the block description has no '{k}'"));
    let usize_of =
        |x: &Value, what: &str| x.as_u64().map(|u| u as usize).ok_or_else(|| format!("'{what}' is not a count"));
    let f64_of = |x: &Value, what: &str| x.as_f64().ok_or_else(|| format!("'{what}' is not a number"));
    let str_of =
        |x: &Value, what: &str| x.as_str().map(str::to_owned).ok_or_else(|| format!("'{what}' is not a string"));
    let dim = usize_of(field("dim")?, "dim")?;
    let kind = FieldKind::from_name(&str_of(field("field")?, "field")?).map_err(|e| e.to_string())?;
    let hidden = field("hidden")?
        .as_array()
        .ok_or("'hidden' is not a list")?
        .iter()
        .map(|h| usize_of(h, "hidden"))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let act = activation_from_json(field("activation")?)?;
    let grid = field("grid")?
        .as_array()
        .ok_or("'grid' is not a list")?
        .iter()
        .map(|t| f64_of(t, "grid"))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let solver = tableau::by_name(&str_of(field("solver")?, "solver")?).map_err(|e| e.to_string())?;
    let d = field("divergence")?;
    let divergence = match d.get("name").and_then(Value::as_str) {
        Some("exact") => Divergence::Exact,
        Some("jacobian") => Divergence::DiscreteJacobian,
        Some("hutchinson") => Divergence::Hutchinson {
            probes: usize_of(d.get("probes").ok_or("hutchinson without probes")?, "probes")?,
            probe: match d.get("probe").and_then(Value::as_str) {
                Some("rademacher") => Probe::Rademacher,
                Some("gaussian") => Probe::Gaussian,
                other => return Err(format!("unknown Hutchinson probe {other:?}")),
            },
        },
        other => return Err(format!("unknown divergence {other:?}")),
    };
    Ok(BlockSpec { dim, field: kind, hidden, act, grid, solver, divergence })
}

/// Writes block number `block` (1-based) of a flow to `path`, atomically.
pub fn save_block<T: Float>(path: &Path, block: usize, b: &Block<T>, run: &Value) -> Result<()> {
    let doc = json!({
        "format_version": FORMAT_VERSION,
        "written_by": format!("wasserflow {}", env!("CARGO_PKG_VERSION")),
        "block": block,
        "spec": spec_to_json(&b.spec),
        "run": run,
    });
    save_params(path, &b.store, &[(META_KEY, &doc.to_string())])
}

/// Reads a block checkpoint: the block (weights checked against the
/// described network) and what the file says about it.
pub fn load_block<T: Float>(path: &Path) -> Result<(Block<T>, CheckpointInfo)> {
    block_from_safetensors(&read_safetensors(path)?)
}

/// [`load_block`] of a safetensors file already read (or parsed from bytes
/// with [`SafeTensors::parse`]); errors name the file's path.
pub fn block_from_safetensors<T: Float>(file: &SafeTensors) -> Result<(Block<T>, CheckpointInfo)> {
    let path = file.path();
    let bad = |message: String| Error::Format { path: path.to_path_buf(), message };
    let text =
        file.meta(META_KEY).ok_or_else(|| bad("not a wasserflow checkpoint (no 'wasserflow' metadata)".into()))?;
    let doc: Value = Value::parse(text).map_err(|e| bad(format!("checkpoint metadata is not JSON: {e}")))?;
    let version = doc.get("format_version").and_then(Value::as_u64).unwrap_or(0);
    if version != FORMAT_VERSION {
        return Err(bad(format!("checkpoint format version {version}, this build reads {FORMAT_VERSION}")));
    }
    let spec = spec_from_json(doc.get("spec").unwrap_or(&Value::Null)).map_err(bad)?;
    let block = doc.get("block").and_then(Value::as_u64).ok_or_else(|| bad("no block index".into()))? as usize;
    // The described network is built before its weights are compared with the file's: a
    // description far larger than the file (damaged metadata) is refused before that allocation.
    let held: u128 =
        file.names().iter().filter_map(|n| file.shape(n)).map(|s| s.iter().map(|&d| d as u128).product::<u128>()).sum();
    let least = least_parameters(&spec);
    if least > held {
        return Err(bad(format!(
            "the description asks for a network of at least {least} weights, the file holds {held} (damaged metadata)"
        )));
    }
    let mut store = ParamStore::new();
    for name in file.names() {
        let w = file.get::<T>(name)?;
        // Training stops before it would save a non-finite weight: one here means a damaged file.
        if !w.all_finite()? {
            return Err(bad(format!("weight '{name}' holds NaN or infinite values (damaged file)")));
        }
        store.add(name, w)?;
    }
    let b = Block::with_params(spec.clone(), store).map_err(|e| bad(e.to_string()))?;
    let info = CheckpointInfo {
        block,
        spec,
        run: doc.get("run").cloned().unwrap_or(Value::Null),
        written_by: doc.get("written_by").and_then(Value::as_str).unwrap_or("unknown").to_owned(),
    };
    Ok((b, info))
}

/// A lower bound on the weights of the network a specification describes:
/// every velocity field maps `dim → hidden… → dim` through dense layers, each
/// with at least `in × out` weights; a U-Net's levels are convolutions, at
/// least `in × out` weights between consecutive channel widths.
fn least_parameters(spec: &BlockSpec) -> u128 {
    if let FieldKind::UNet { channels, .. } = spec.field {
        let widths: Vec<u128> =
            std::iter::once(channels).chain(spec.hidden.iter().copied()).chain([channels]).map(|w| w as u128).collect();
        return widths.windows(2).fold(0u128, |acc, w| acc.saturating_add(w[0].saturating_mul(w[1])));
    }
    let widths: Vec<u128> =
        std::iter::once(spec.dim).chain(spec.hidden.iter().copied()).chain([spec.dim]).map(|w| w as u128).collect();
    widths.windows(2).fold(0u128, |acc, w| acc.saturating_add(w[0].saturating_mul(w[1])))
}

/// The block checkpoints in `dir`, in block order, checked to be numbered
/// 1, 2, … without gaps. An empty or missing directory gives an empty list.
pub fn block_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Io { path: dir.to_path_buf(), source }),
    };
    let mut numbered = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_prefix("block-").and_then(|r| r.strip_suffix(".safetensors")) {
            let n: usize = n.parse().map_err(|_| Error::Format {
                path: entry.path(),
                message: "a block checkpoint's name must be block-NNNN.safetensors".into(),
            })?;
            numbered.push((n, entry.path()));
        }
    }
    numbered.sort();
    for (i, (n, path)) in numbered.iter().enumerate() {
        if *n != i + 1 {
            return Err(Error::Format {
                path: path.clone(),
                message: format!("block checkpoints must be numbered 1, 2, …; block {} is missing", i + 1),
            });
        }
    }
    Ok(numbered.into_iter().map(|(_, p)| p).collect())
}

/// Loads every block checkpoint in `dir` into one flow, with each file's
/// description. The blocks must share a dimension and their stored indices
/// must match their file names.
pub fn load_flow<T: Float>(dir: &Path) -> Result<(BlockFlow<T>, Vec<CheckpointInfo>)> {
    let files = block_files(dir)?;
    let mut flow: Option<BlockFlow<T>> = None;
    let mut infos = Vec::with_capacity(files.len());
    for (i, path) in files.iter().enumerate() {
        let (block, info) = load_block::<T>(path)?;
        if info.block != i + 1 {
            return Err(Error::Format {
                path: path.clone(),
                message: format!("the file says it is block {}, its name says block {}", info.block, i + 1),
            });
        }
        let f = flow.get_or_insert_with(|| BlockFlow::new(block.spec.dim));
        f.push(block).map_err(|e| Error::Format { path: path.clone(), message: e.to_string() })?;
        infos.push(info);
    }
    match flow {
        Some(f) => Ok((f, infos)),
        None => Err(Error::InvalidArgument(format!("no block checkpoints in {}", dir.display()))),
    }
}
