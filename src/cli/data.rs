//! A run's data: the named dataset split into a training set and a test set
//! by the run's seed, optionally standardized with statistics of the training
//! set. The standardization travels with the checkpoints, so that NLLs are
//! reported in the data's own units and samples are returned in them.

use super::settings::Settings;
use crate::data::{DataSource, Standardizer};
use crate::tensor::Tensor;
use crate::{Result, Rng, setting};

/// The data a run trains and is evaluated on.
pub struct RunData {
    pub source: DataSource,
    /// Training points, standardized when `standardizer` is set.
    pub train: Tensor<f32>,
    /// Test points in the data's own units.
    pub test: Tensor<f32>,
    pub standardizer: Option<Standardizer>,
}

/// The stream of random choices that draws the data: the same for a seed
/// whatever else the run does.
fn data_rng(seed: u64) -> Rng {
    Rng::seed(seed ^ 0xda7a_5eed)
}

/// Loads and splits the data named by the settings.
pub fn prepare(s: &Settings) -> Result<RunData> {
    prepare_source(DataSource::parse(&setting!(s, data))?, s)
}

/// Splits (and draws from) a data set already resolved from the settings.
pub fn prepare_source(source: DataSource, s: &Settings) -> Result<RunData> {
    let mut rng = data_rng(setting!(s, seed));
    let n_test = setting!(s, n_test);
    let (train_source, test) = source.train_test::<f32>(n_test, &mut rng)?;
    let train = match train_source.rows::<f32>() {
        Some(rows) => rows?,
        None => train_source.sample::<f32>(setting!(s, n_train), &mut rng)?,
    };
    let (train, test) = match source.levels() {
        Some(_) => (dequantize(&train, &mut rng)?, dequantize(&test, &mut rng)?),
        None => (train, test),
    };
    let standardizer = if setting!(s, standardize) { Some(Standardizer::fit(&train)?) } else { None };
    let train = match &standardizer {
        Some(st) => st.apply(&train)?,
        None => train,
    };
    Ok(RunData { source, train, test, standardizer })
}

pub use crate::data::standardize::{standardizer_from_json, standardizer_to_json};

/// Integer-valued data (pixel levels `0..L`) made continuous: `x + U` with
/// `U ~ Uniform[0, 1)^d`, drawn once per run from the data's stream. A
/// density of `x + U` bounds the discrete likelihood from above (each
/// integer point's unit cell has volume 1), so the NLL reported for it is
/// an upper bound on the discrete NLL, in the data's integer units; a
/// continuous density fitted to the integers themselves has no such meaning
/// (it can grow without bound on the lattice).
pub fn dequantize(x: &Tensor<f32>, rng: &mut Rng) -> Result<Tensor<f32>> {
    x.add(&Tensor::rand_uniform(x.dims(), 0.0, 1.0, rng)?)
}

/// `n` rows of `x` drawn without replacement by `rng` (all of them, in a
/// random order, when `x` has no more than `n`).
pub fn subsample(x: &Tensor<f32>, n: usize, rng: &mut Rng) -> Result<Tensor<f32>> {
    let rows = x.dims()[0];
    let perm = rng.permutation(rows);
    x.gather_rows(&perm[..n.min(rows)])
}
