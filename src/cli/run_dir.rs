//! A run directory: `config.toml` (the resolved settings), `checkpoints/`
//! (one file per finished block), `metrics.jsonl` (one JSON object per
//! line) and `figures/`. Every file is written atomically.

use std::path::{Path, PathBuf};

use crate::io::json::Value;

use super::settings::Settings;
use crate::io::write_bytes_atomically;
use crate::{Error, Result};

pub struct RunDir {
    pub root: PathBuf,
    /// Metric records not yet written out.
    pending: Vec<Value>,
    /// Whether this process writes the directory: not on the ranks other
    /// than 0 of an `mpirun` launch ([`RunDir::follower`]).
    writes: bool,
}

impl RunDir {
    /// Creates the directory (and its subdirectories) if needed.
    pub fn create(root: &Path) -> Result<Self> {
        for dir in [root.to_path_buf(), root.join("checkpoints"), root.join("figures")] {
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        }
        let run = RunDir { root: root.to_path_buf(), pending: Vec::new(), writes: true };
        run.remove_temporaries();
        Ok(run)
    }

    /// The run another process writes (rank 0 under `mpirun`): paths to read
    /// from, and every write (settings, metrics) dropped.
    pub fn follower(root: &Path) -> Self {
        RunDir { root: root.to_path_buf(), pending: Vec::new(), writes: false }
    }

    /// An existing run: the directory must hold a `config.toml`.
    pub fn open(root: &Path) -> Result<Self> {
        let run = RunDir { root: root.to_path_buf(), pending: Vec::new(), writes: true };
        if !run.config_path().is_file() {
            return Err(Error::InvalidArgument(format!(
                "{} is not a run directory (it has no config.toml; `wasserflow train --out DIR` makes one)",
                root.display()
            )));
        }
        Ok(run)
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    pub fn figures(&self) -> PathBuf {
        self.root.join("figures")
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    pub fn write_settings(&self, s: &Settings) -> Result<()> {
        if !self.writes {
            return Ok(());
        }
        let text = format!("# written by wasserflow {}\n{}", env!("CARGO_PKG_VERSION"), s.to_toml());
        write_bytes_atomically(&self.config_path(), text.as_bytes())
    }

    pub fn read_settings(&self) -> Result<Settings> {
        Settings::from_toml_file(&self.config_path())
    }

    /// Queues one record for `metrics.jsonl`; [`RunDir::flush_metrics`] writes it.
    pub fn record(&mut self, v: Value) {
        if self.writes {
            self.pending.push(v);
        }
    }

    /// Rewrites `metrics.jsonl` atomically with the queued records appended.
    pub fn flush_metrics(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self.metrics_path();
        let mut text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(Error::Io { path, source }),
        };
        for v in self.pending.drain(..) {
            text.push_str(&v.to_string());
            text.push('\n');
        }
        write_bytes_atomically(&path, text.as_bytes())
    }

    /// Every record of `metrics.jsonl` (none if there is no file yet).
    pub fn read_metrics(&self) -> Result<Vec<Value>> {
        let path = self.metrics_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(Error::Io { path, source }),
        };
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                Value::parse(l)
                    .map_err(|e| Error::Format { path: path.clone(), message: format!("line {}: {e}", i + 1) })
            })
            .collect()
    }

    /// Drops the records of blocks that a resumed run will train again:
    /// those after `initial` blocks of the initial pass and after `refined`
    /// blocks of a refinement, and any final evaluation.
    pub fn truncate_metrics(&mut self, initial: usize, refined: usize) -> Result<()> {
        if !self.writes {
            return Ok(());
        }
        let keep = |v: &Value| {
            let block = v.get("block").and_then(Value::as_u64).map_or(0, |b| b as usize);
            match (v.get("kind").and_then(Value::as_str), v.get("phase").and_then(Value::as_str)) {
                (Some("eval"), _) => false,
                (_, Some("refine")) => block <= refined,
                _ => block <= initial,
            }
        };
        let kept: Vec<Value> = self.read_metrics()?.into_iter().filter(keep).collect();
        let text: String = kept.iter().map(|v| format!("{v}\n")).collect();
        write_bytes_atomically(&self.metrics_path(), text.as_bytes())
    }

    /// Temporary files of a run killed mid-write (`.name.pid-n.tmp`).
    fn remove_temporaries(&self) {
        for dir in [self.root.clone(), self.checkpoints(), self.figures()] {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') && name.ends_with(".tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// A trained run as the commands after `train` use it.
pub struct TrainedRun {
    pub dir: RunDir,
    pub settings: Settings,
    pub flow: crate::flows::BlockFlow<f32>,
    pub standardizer: Option<crate::data::Standardizer>,
}

impl TrainedRun {
    /// Opens a run directory and loads its settings and every finished block.
    pub fn load(root: &Path) -> Result<Self> {
        let dir = RunDir::open(root)?;
        let settings = dir.read_settings()?;
        let (flow, infos) = crate::io::checkpoint::load_flow::<f32>(&dir.checkpoints())?;
        check_blocks_fit(&settings, &infos, &dir.checkpoints())?;
        let standardization = infos[0].run.get("standardization").cloned().unwrap_or(Value::Null);
        let standardizer = super::data::standardizer_from_json(&standardization)?;
        if let Some(st) = &standardizer
            && st.dim() != flow.dim
        {
            return Err(Error::Format {
                path: dir.checkpoints(),
                message: format!("the standardization has {} dimensions, the flow {}", st.dim(), flow.dim),
            });
        }
        Ok(TrainedRun { dir, settings, flow, standardizer })
    }
}

/// Refuses checkpoints whose networks are not the ones the run's settings
/// describe (a checkpoint copied from another run, settings edited after
/// training), naming what differs.
pub fn check_blocks_fit(s: &Settings, infos: &[crate::io::checkpoint::CheckpointInfo], dir: &Path) -> Result<()> {
    let want_hidden = crate::setting!(s, hidden);
    let want_act = super::train::activation(s)?;
    let want_field = crate::setting!(s, field);
    for info in infos {
        let mut diffs = Vec::new();
        if info.spec.hidden != want_hidden {
            diffs.push(format!("hidden {:?} (settings: {:?})", info.spec.hidden, want_hidden));
        }
        if info.spec.act != want_act {
            diffs.push(format!("activation {:?} (settings: {:?})", info.spec.act, want_act));
        }
        if info.spec.field.name() != want_field {
            diffs.push(format!("field {} (settings: {want_field})", info.spec.field.name()));
        }
        if !diffs.is_empty() {
            return Err(Error::Format {
                path: dir.join(crate::io::checkpoint::block_file_name(info.block)),
                message: format!("this checkpoint is of another model: {}", diffs.join(", ")),
            });
        }
    }
    Ok(())
}
