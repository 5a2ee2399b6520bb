//! Figures as PNG files, drawn by a small rasterizer of our own: a canvas
//! with anti-aliased primitives and a built-in bitmap font, colour maps,
//! panels with nice ticks, and the figure functions of flow-model papers.
//!
//! The figure functions take plain slices (points as `[f64; 2]`, grids and
//! curves as `f64`), not tensors, so that any layer can produce their input.

pub mod axes;
pub mod canvas;
pub mod colormap;
pub mod figures;
pub mod font;

pub use axes::Extent;
pub use canvas::Canvas;
pub use colormap::Colormap;
pub use figures::{
    ImageGridGeometry, Snapshots, Style, block_metrics, density_heatmap, ecg_traces, field_panels, grid_points,
    heatmap, image_grid, image_grid_geometry, loss_curves, point_panels, samples_beside_data, trajectories,
    trajectory_panels,
};
