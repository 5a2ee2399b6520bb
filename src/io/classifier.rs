//! Classifier files: the weights of an [`crate::nn::Classifier`] in
//! safetensors, with a JSON description of the network and its input
//! normalization (and whatever the caller records about its training) in the
//! header's metadata. Written atomically; loading rebuilds the network from
//! the description and refuses weights that do not fit it.

use std::path::Path;

use crate::io::json::Value;
use crate::json;

use super::safetensors::{read_safetensors, save_params};
use crate::nn::{Activation, Classifier, ClassifierSpec, ParamStore};
use crate::tensor::Float;
use crate::{Error, Result};

/// The metadata key of a classifier's description (a flow block's is `wasserflow`).
const META_KEY: &str = "wasserflow_classifier";
/// Bumped when the description changes incompatibly.
pub const CLASSIFIER_FORMAT_VERSION: u64 = 1;

/// An activation as every wasserflow file describes it: `{"name": …}`, with `beta`/`alpha` where it has one.
pub fn activation_to_json(act: Activation) -> Value {
    match act {
        Activation::Softplus { beta } => json!({"name": "softplus", "beta": beta}),
        Activation::Elu { alpha } => json!({"name": "elu", "alpha": alpha}),
        a => json!({"name": a.name()}),
    }
}

/// Reads [`activation_to_json`]'s form back.
pub fn activation_from_json(v: &Value) -> std::result::Result<Activation, String> {
    let name = v.get("name").and_then(Value::as_str).ok_or("the activation has no name")?;
    let number = |k: &str| v.get(k).and_then(Value::as_f64).ok_or_else(|| format!("{name} without {k}"));
    Ok(match name {
        "softplus" => Activation::Softplus { beta: number("beta")? },
        "elu" => Activation::Elu { alpha: number("alpha")? },
        other => Activation::from_name(other).map_err(|e| e.to_string())?,
    })
}

/// The JSON form of a classifier's specification.
pub fn classifier_spec_to_json(spec: &ClassifierSpec) -> Value {
    json!({
        "dim": spec.dim,
        "classes": spec.classes,
        "hidden": spec.hidden,
        "activation": activation_to_json(spec.act),
        "input_shift": spec.input_shift,
        "input_scale": spec.input_scale,
    })
}

/// Reads [`classifier_spec_to_json`]'s form back.
pub fn classifier_spec_from_json(v: &Value) -> std::result::Result<ClassifierSpec, String> {
    let field = |k: &str| v.get(k).ok_or_else(|| format!("the classifier description has no '{k}'"));
    let count = |k: &str| field(k)?.as_u64().map(|u| u as usize).ok_or_else(|| format!("'{k}' is not a count"));
    let hidden = field("hidden")?
        .as_array()
        .ok_or("'hidden' is not a list")?
        .iter()
        .map(|h| h.as_u64().map(|u| u as usize).ok_or("'hidden' holds a non-count".to_string()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let input_shift = field("input_shift")?
        .as_array()
        .ok_or("'input_shift' is not a list")?
        .iter()
        .map(|h| h.as_f64().ok_or("'input_shift' holds a non-number".to_string()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let spec = ClassifierSpec {
        dim: count("dim")?,
        classes: count("classes")?,
        hidden,
        act: activation_from_json(field("activation")?)?,
        input_shift,
        input_scale: field("input_scale")?.as_f64().ok_or("'input_scale' is not a number")?,
    };
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

/// Writes a classifier to `path` atomically; `training` is stored beside its
/// description (data set, settings, accuracies: whatever the caller wants kept).
pub fn save_classifier<T: Float>(path: &Path, c: &Classifier<T>, training: &Value) -> Result<()> {
    let doc = json!({
        "format_version": CLASSIFIER_FORMAT_VERSION,
        "written_by": format!("wasserflow {}", env!("CARGO_PKG_VERSION")),
        "kind": "mlp-classifier",
        "spec": classifier_spec_to_json(&c.spec),
        "training": training,
    });
    save_params(path, &c.store, &[(META_KEY, &doc.to_string())])
}

/// Reads a classifier file: the classifier (weights checked against the
/// described network) and the `training` record it was saved with.
pub fn load_classifier<T: Float>(path: &Path) -> Result<(Classifier<T>, Value)> {
    if path.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{} is a directory; a classifier is one .safetensors file (`wasserflow classifier --out FILE` writes one)",
            path.display()
        )));
    }
    let file = read_safetensors(path)?;
    let bad = |message: String| Error::Format { path: path.to_path_buf(), message };
    let Some(text) = file.meta(META_KEY) else {
        let what = if file.meta("wasserflow").is_some() { "a flow block checkpoint" } else { "not a wasserflow file" };
        return Err(bad(format!("not a classifier ({what}; `wasserflow classifier` writes classifiers)")));
    };
    let doc: Value = Value::parse(text).map_err(|e| bad(format!("classifier metadata is not JSON: {e}")))?;
    let version = doc.get("format_version").and_then(Value::as_u64).unwrap_or(0);
    if version != CLASSIFIER_FORMAT_VERSION {
        return Err(bad(format!("classifier format version {version}, this build reads {CLASSIFIER_FORMAT_VERSION}")));
    }
    let spec = classifier_spec_from_json(doc.get("spec").unwrap_or(&Value::Null)).map_err(bad)?;
    let mut store = ParamStore::new();
    for name in file.names() {
        store.add(name, file.get::<T>(name)?)?;
    }
    let c = Classifier::with_params(spec, store).map_err(|e| bad(e.to_string()))?;
    Ok((c, doc.get("training").cloned().unwrap_or(Value::Null)))
}
