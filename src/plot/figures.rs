//! The figures of flow-model papers, each from plain data to a PNG file:
//! samples beside data (scatter or 2-D histogram), density heatmaps,
//! particle trajectories (one panel or one per block), loss curves, image
//! grids, ECG traces, and per-block diagnostics.
//!
//! Non-finite values: scattered points, trajectory particles and curve
//! values that are not finite are left out (a few diverged samples or a
//! loss that blew up should not prevent the figure); gridded values
//! (heatmap cells, image pixels, ECG samples) must be finite, else the
//! function returns [`Error::NonFinite`]. Empty inputs are
//! [`Error::InvalidArgument`], mismatched lengths [`Error::Shape`]. Every
//! figure is written atomically: on error no file is left at `path`.

use std::path::Path;

use super::axes::{self, Axes, Extent, Layout};
use super::canvas::{Align, Canvas, Rect, WHITE, with_alpha};
use super::colormap::{self, Colormap};
use crate::{Error, Result, invalid_arg, shape_err};

/// How a point cloud is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Small translucent dots.
    Scatter,
    /// A `bins × bins` 2-D histogram over the extent shown with viridis, as
    /// FFJORD shows its toy samples (counts scaled by the largest bin).
    Histogram { bins: usize },
}

/// Particle positions over time: `snapshots[t][i]` is particle `i` at time
/// index `t`; every snapshot lists the same particles in the same order.
pub type Snapshots = Vec<Vec<[f64; 2]>>;

/// Side of a square panel showing a 2-D point set or field.
const SQUARE_PANEL: f64 = 340.0;
/// Outer margin where nothing else needs the room.
const MARGIN: f64 = 14.0;
const MAX_BINS: usize = 2048;

fn finite2(p: &[f64; 2]) -> bool {
    p[0].is_finite() && p[1].is_finite()
}

/// A white canvas sized for `layout`.
fn canvas_for(layout: &Layout) -> Result<Canvas> {
    let (w, h) = layout.size();
    Canvas::new(w, h, WHITE)
}

/// A row of square panels sharing `extent`: tick labels on every x axis, on
/// the first y axis only.
fn square_row(n: usize, extent: Extent, titled: bool, bottom_extra: f64) -> Result<(Canvas, Vec<Axes>)> {
    let probe = Axes::new(Rect::new(0.0, 0.0, SQUARE_PANEL, SQUARE_PANEL), extent);
    let layout = Layout {
        rows: 1,
        cols: n,
        panel_w: SQUARE_PANEL,
        panel_h: SQUARE_PANEL,
        left: MARGIN + probe.y_axis_room(),
        right: MARGIN + 8.0,
        top: MARGIN + if titled { axes::title_room() } else { 0.0 },
        bottom: MARGIN + axes::x_axis_room() + bottom_extra,
        h_gap: 36.0,
        v_gap: 0.0,
    };
    let canvas = canvas_for(&layout)?;
    let panels = (0..n).map(|c| Axes::new(layout.panel(0, c), extent)).collect();
    Ok((canvas, panels))
}

/// Frame, ticks and title of a panel in a row that shares its y axis.
fn decorate_shared(canvas: &mut Canvas, ax: &Axes, first: bool, title: &str) {
    ax.frame(canvas);
    ax.x_axis(canvas, true);
    ax.y_axis(canvas, first);
    if !title.is_empty() {
        ax.title(canvas, title);
    }
}

/// Dot radius and opacity for `n` points in a panel: denser clouds get
/// fainter dots so that overlap still shows density.
fn dot_look(n: usize) -> (f64, f64) {
    let alpha = (0.85 * (400.0 / n.max(1) as f64).sqrt()).clamp(0.06, 0.85);
    (1.3, alpha)
}

/// Samples next to the data they should match, on the same axes: two
/// panels titled `titles`. See [`point_panels`].
pub fn samples_beside_data(
    path: &Path,
    data: &[[f64; 2]],
    samples: &[[f64; 2]],
    extent: Extent,
    titles: [&str; 2],
    style: Style,
) -> Result<()> {
    point_panels(path, &[(titles[0], data), (titles[1], samples)], extent, style)
}

/// One panel per `(title, points)` set, side by side on the same `extent`.
/// Points outside the extent are not drawn; non-finite points are left
/// out. Each set must hold at least one finite point.
pub fn point_panels(path: &Path, sets: &[(&str, &[[f64; 2]])], extent: Extent, style: Style) -> Result<()> {
    if sets.is_empty() {
        invalid_arg!("point_panels: no point sets");
    }
    for (title, points) in sets {
        if points.is_empty() {
            invalid_arg!("point set '{title}' is empty");
        }
        if !points.iter().any(finite2) {
            return Err(Error::NonFinite(format!("point set '{title}' has no finite points")));
        }
    }
    if let Style::Histogram { bins } = style
        && !(1..=MAX_BINS).contains(&bins)
    {
        invalid_arg!("histogram bins {bins} must be between 1 and {MAX_BINS}");
    }
    let titled = sets.iter().any(|(t, _)| !t.is_empty());
    let (mut canvas, panels) = square_row(sets.len(), extent, titled, 0.0)?;
    for (k, ((title, points), ax)) in sets.iter().zip(&panels).enumerate() {
        match style {
            Style::Scatter => {
                ax.clip(&mut canvas);
                let finite: Vec<_> = points.iter().filter(|p| finite2(p)).collect();
                let (r, alpha) = dot_look(finite.len());
                let color = with_alpha(colormap::series_color(k), alpha);
                for p in finite {
                    if extent.contains(p[0], p[1]) {
                        let (x, y) = ax.to_px(p[0], p[1]);
                        canvas.fill_circle(x, y, r, color);
                    }
                }
            }
            Style::Histogram { bins } => {
                let mut counts = vec![0.0f64; bins * bins];
                let (sx, sy) =
                    (bins as f64 / (extent.x_max - extent.x_min), bins as f64 / (extent.y_max - extent.y_min));
                for p in points.iter().filter(|p| finite2(p) && extent.contains(p[0], p[1])) {
                    let i = (((p[0] - extent.x_min) * sx) as usize).min(bins - 1);
                    let j = (((p[1] - extent.y_min) * sy) as usize).min(bins - 1);
                    counts[j * bins + i] += 1.0;
                }
                let top = counts.iter().cloned().fold(0.0, f64::max).max(1.0);
                draw_field(&mut canvas, ax, &counts, [bins, bins], Colormap::Viridis, (0.0, top), false);
            }
        }
        decorate_shared(&mut canvas, ax, k == 0, title);
    }
    canvas.save_png(path)
}

/// The centres of the cells of an `nx × ny` grid over `extent`, in the order
/// [`density_heatmap`] and [`heatmap`] expect values: row by row from the
/// bottom (smallest y), left to right within a row.
pub fn grid_points(nx: usize, ny: usize, extent: Extent) -> Vec<[f64; 2]> {
    let (dx, dy) = ((extent.x_max - extent.x_min) / nx as f64, (extent.y_max - extent.y_min) / ny as f64);
    (0..ny)
        .flat_map(|j| {
            (0..nx).map(move |i| [extent.x_min + (i as f64 + 0.5) * dx, extent.y_min + (j as f64 + 0.5) * dy])
        })
        .collect()
}

/// Fills the panel with a field of `nx × ny` cell values (row 0 at the
/// bottom) mapped through `cmap` on `range`; bilinear between cell centres
/// when `smooth`, else each cell a flat block.
fn draw_field(
    canvas: &mut Canvas,
    ax: &Axes,
    values: &[f64],
    [nx, ny]: [usize; 2],
    cmap: Colormap,
    range: (f64, f64),
    smooth: bool,
) {
    canvas.set_clip(None);
    let r = ax.rect;
    let (x0, y0) = (r.x as usize, r.y as usize);
    let (w, h) = (r.w as usize, r.h as usize);
    let span = (range.1 - range.0).max(f64::MIN_POSITIVE);
    let at = |i: usize, j: usize| values[j * nx + i];
    for py in 0..h {
        // Fraction of the way up the panel at this pixel row's centre.
        let fy = 1.0 - (py as f64 + 0.5) / h as f64;
        for px in 0..w {
            let fx = (px as f64 + 0.5) / w as f64;
            let v = if smooth {
                let u = (fx * nx as f64 - 0.5).clamp(0.0, (nx - 1) as f64);
                let t = (fy * ny as f64 - 0.5).clamp(0.0, (ny - 1) as f64);
                let (i0, j0) = (u.floor() as usize, t.floor() as usize);
                let (i1, j1) = ((i0 + 1).min(nx - 1), (j0 + 1).min(ny - 1));
                let (a, b) = (u - i0 as f64, t - j0 as f64);
                let bottom = at(i0, j0) * (1.0 - a) + at(i1, j0) * a;
                let top = at(i0, j1) * (1.0 - a) + at(i1, j1) * a;
                bottom * (1.0 - b) + top * b
            } else {
                at(((fx * nx as f64) as usize).min(nx - 1), ((fy * ny as f64) as usize).min(ny - 1))
            };
            canvas.blend((x0 + px) as isize, (y0 + py) as isize, cmap.color((v - range.0) / span), 1.0);
        }
    }
}

/// A vertical colour bar right of the panel with ticks for `range`.
fn colorbar(canvas: &mut Canvas, rect: Rect, cmap: Colormap, range: (f64, f64)) {
    canvas.set_clip(None);
    let (x0, y0, w, h) = (rect.x as isize, rect.y as usize, rect.w as isize, rect.h as usize);
    for py in 0..h {
        let color = cmap.color(1.0 - (py as f64 + 0.5) / h as f64);
        for px in 0..w {
            canvas.blend(x0 + px, (y0 + py) as isize, color, 1.0);
        }
    }
    let bar = Axes::new(rect, Extent { x_min: 0.0, x_max: 1.0, y_min: range.0, y_max: range.1 });
    bar.frame(canvas);
    let ticks = axes::nice_ticks(range.0, range.1, 5);
    let labels = axes::format_ticks(&ticks);
    for (&t, label) in ticks.iter().zip(&labels) {
        let y = bar.y_px(t).floor();
        canvas.fill_rect(Rect::new(rect.right() + 1.0, y, axes::TICK_LENGTH, 1.0), axes::FRAME_COLOR);
        let style = axes::text_style().align(Align::Start, Align::Center);
        canvas.text(rect.right() + 1.0 + axes::TICK_LENGTH + 4.0, y + 0.5, label, style);
    }
}

/// Width of a colour bar's labels for `range`.
fn colorbar_label_width(range: (f64, f64)) -> f64 {
    let ticks = axes::nice_ticks(range.0, range.1, 5);
    axes::format_ticks(&ticks).iter().map(|t| axes::text_width(t)).fold(0.0, f64::max)
}

fn check_grid(values: &[f64], nx: usize, ny: usize, what: &str) -> Result<()> {
    if nx == 0 || ny == 0 {
        invalid_arg!("{what}: grid {nx}×{ny} is empty");
    }
    if values.len() != nx * ny {
        shape_err!("{what}: {} values for a {nx}×{ny} grid (expected {})", values.len(), nx * ny);
    }
    Ok(())
}

/// One square panel showing a field with an optional colour bar.
#[allow(clippy::too_many_arguments)]
fn field_figure(
    path: &Path,
    values: &[f64],
    [nx, ny]: [usize; 2],
    extent: Extent,
    title: &str,
    cmap: Colormap,
    range: (f64, f64),
    with_colorbar: bool,
) -> Result<()> {
    let probe = Axes::new(Rect::new(0.0, 0.0, SQUARE_PANEL, SQUARE_PANEL), extent);
    let bar_room =
        if with_colorbar { 16.0 + 14.0 + 1.0 + axes::TICK_LENGTH + 4.0 + colorbar_label_width(range) } else { 0.0 };
    let layout = Layout {
        rows: 1,
        cols: 1,
        panel_w: SQUARE_PANEL,
        panel_h: SQUARE_PANEL,
        left: MARGIN + probe.y_axis_room(),
        right: MARGIN + 8.0 + bar_room,
        top: MARGIN + if title.is_empty() { 0.0 } else { axes::title_room() },
        bottom: MARGIN + axes::x_axis_room(),
        h_gap: 0.0,
        v_gap: 0.0,
    };
    let mut canvas = canvas_for(&layout)?;
    let ax = Axes::new(layout.panel(0, 0), extent);
    draw_field(&mut canvas, &ax, values, [nx, ny], cmap, range, true);
    decorate_shared(&mut canvas, &ax, true, title);
    if with_colorbar {
        let r = ax.rect;
        colorbar(&mut canvas, Rect::new(r.right() + 16.0, r.y, 14.0, r.h), cmap, range);
    }
    canvas.save_png(path)
}

/// The density exp(log p) on a grid, shown with viridis from 0 to its
/// maximum. `log_density` holds `nx × ny` values at the cell centres given
/// by [`grid_points`] (row by row from the bottom). −∞ (zero density) is
/// allowed; NaN and +∞ are errors, and so is a grid that is −∞ everywhere.
pub fn density_heatmap(
    path: &Path,
    log_density: &[f64],
    nx: usize,
    ny: usize,
    extent: Extent,
    title: &str,
    with_colorbar: bool,
) -> Result<()> {
    check_grid(log_density, nx, ny, "density_heatmap")?;
    if let Some(i) = log_density.iter().position(|v| v.is_nan() || *v == f64::INFINITY) {
        return Err(Error::NonFinite(format!("log-density cell {i} is {}", log_density[i])));
    }
    let peak = log_density.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if peak == f64::NEG_INFINITY {
        return Err(Error::NonFinite("log-density is -inf everywhere".into()));
    }
    let density: Vec<f64> = log_density.iter().map(|&l| l.exp()).collect();
    let top = density.iter().cloned().fold(0.0, f64::max);
    // A density whose exp underflows is still drawn, relative to its peak.
    let (values, range) = if top > 0.0 && top.is_finite() {
        (density, (0.0, top))
    } else {
        (log_density.iter().map(|&l| (l - peak).exp()).collect(), (0.0, 1.0))
    };
    field_figure(path, &values, [nx, ny], extent, title, Colormap::Viridis, range, with_colorbar)
}

/// Any field on a grid (same layout as [`density_heatmap`]) with a colour
/// bar. With [`Colormap::Diverging`] the range is symmetric about 0, so
/// signed quantities (log density ratios, differences) read as blue below
/// zero and red above; with viridis it runs from the minimum to the maximum.
pub fn heatmap(
    path: &Path,
    values: &[f64],
    nx: usize,
    ny: usize,
    extent: Extent,
    title: &str,
    cmap: Colormap,
) -> Result<()> {
    check_grid(values, nx, ny, "heatmap")?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("heatmap cell {i} is {}", values[i])));
    }
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let range = match cmap {
        Colormap::Diverging => {
            let m = lo.abs().max(hi.abs()).max(f64::MIN_POSITIVE);
            (-m, m)
        }
        Colormap::Viridis if hi > lo => (lo, hi),
        Colormap::Viridis => (lo - 0.5, hi + 0.5),
    };
    field_figure(path, values, [nx, ny], extent, title, cmap, range, true)
}

/// Particle trajectories through the flow in one panel: thin lines coloured
/// by time (viridis, dark = start), black dots at the start and red dots at
/// the end, with a key below. For the reverse direction pass the snapshots
/// in reverse order. See [`trajectory_panels`].
pub fn trajectories(path: &Path, snapshots: &[Vec<[f64; 2]>], extent: Extent, title: &str) -> Result<()> {
    draw_trajectories(path, &[snapshots], &[title], extent)
}

/// A row of trajectory panels on the same extent, one per block of a
/// progressive trainer, titled `titles` (one per block). Each block's
/// snapshots must have at least one time with at least one particle and
/// the same number of particles at every time. A particle with a non-finite
/// position at any time is left out; a block with no particle left is an
/// error.
pub fn trajectory_panels(path: &Path, blocks: &[Snapshots], titles: &[&str], extent: Extent) -> Result<()> {
    let blocks: Vec<&[Vec<[f64; 2]>]> = blocks.iter().map(|b| b.as_slice()).collect();
    draw_trajectories(path, &blocks, titles, extent)
}

const START_COLOR: [u8; 4] = [20, 20, 20, 255];
const END_COLOR: [u8; 4] = [214, 39, 40, 255];
/// Trajectory lines use viridis up to here; its last tenth is too pale on white.
const TIME_COLOR_END: f64 = 0.85;

fn draw_trajectories(path: &Path, blocks: &[&[Vec<[f64; 2]>]], titles: &[&str], extent: Extent) -> Result<()> {
    if blocks.is_empty() {
        invalid_arg!("trajectories: no blocks");
    }
    if titles.len() != blocks.len() {
        invalid_arg!("trajectories: {} titles for {} blocks", titles.len(), blocks.len());
    }
    let mut kept = Vec::with_capacity(blocks.len());
    for (b, snapshots) in blocks.iter().enumerate() {
        let Some(first) = snapshots.first() else {
            invalid_arg!("trajectories: block {b} has no snapshots");
        };
        let n = first.len();
        if n == 0 {
            invalid_arg!("trajectories: block {b} has no particles");
        }
        if let Some(t) = snapshots.iter().position(|s| s.len() != n) {
            shape_err!("trajectories: block {b} has {} particles at time {t} but {n} at time 0", snapshots[t].len());
        }
        let good: Vec<usize> = (0..n).filter(|&i| snapshots.iter().all(|s| finite2(&s[i]))).collect();
        if good.is_empty() {
            return Err(Error::NonFinite(format!(
                "trajectories: every particle of block {b} has a non-finite position"
            )));
        }
        kept.push(good);
    }
    let titled = titles.iter().any(|t| !t.is_empty());
    let key_room = axes::line_height() + 12.0;
    let (mut canvas, panels) = square_row(blocks.len(), extent, titled, key_room)?;
    for (b, ((snapshots, good), ax)) in blocks.iter().zip(&kept).zip(&panels).enumerate() {
        ax.clip(&mut canvas);
        let steps = snapshots.len();
        let alpha = (0.8 * (60.0 / good.len() as f64).sqrt()).clamp(0.3, 0.8);
        let width = if good.len() > 300 { 1.0 } else { 1.2 };
        for &i in good {
            let segments: Vec<_> = (1..steps)
                .map(|t| {
                    let time = (t as f64 - 0.5) / (steps - 1) as f64 * TIME_COLOR_END;
                    let color = with_alpha(colormap::viridis(time), alpha);
                    (
                        ax.to_px(snapshots[t - 1][i][0], snapshots[t - 1][i][1]),
                        ax.to_px(snapshots[t][i][0], snapshots[t][i][1]),
                        color,
                    )
                })
                .collect();
            canvas.stroke_segments(&segments, width);
        }
        let r = if good.len() > 300 { 1.2 } else { 1.8 };
        for (snapshot, color) in [(&snapshots[0], START_COLOR), (&snapshots[steps - 1], END_COLOR)] {
            for &i in good {
                let (x, y) = ax.to_px(snapshot[i][0], snapshot[i][1]);
                canvas.fill_circle(x, y, r, with_alpha(color, 0.85));
            }
        }
        decorate_shared(&mut canvas, ax, b == 0, titles[b]);
    }
    trajectory_key(&mut canvas, panels[0].rect.bottom() + axes::x_axis_room() + 12.0);
    canvas.save_png(path)
}

/// "● start  ● end  time [gradient]" centred on the row at `y` (top).
fn trajectory_key(canvas: &mut Canvas, y: f64) {
    canvas.set_clip(None);
    let gradient_w = 60.0;
    let items = ["start", "end", "time"];
    let width: f64 = items.iter().map(|t| axes::text_width(t) + 15.0 + 22.0).sum::<f64>() + gradient_w;
    let mut x = ((canvas.width() as f64 - width) / 2.0).round();
    let mid = y + axes::line_height() / 2.0;
    let style = axes::text_style().align(Align::Start, Align::Center);
    for (label, color) in [("start", START_COLOR), ("end", END_COLOR)] {
        canvas.fill_circle(x + 4.0, mid, 3.5, color);
        x += 15.0;
        canvas.text(x, mid, label, style);
        x += axes::text_width(label) + 22.0;
    }
    canvas.text(x, mid, "time", style);
    x += axes::text_width("time") + 8.0;
    for px in 0..gradient_w as usize {
        let color = colormap::viridis((px as f64 + 0.5) / gradient_w * TIME_COLOR_END);
        canvas.fill_rect(Rect::new(x + px as f64, mid - 2.0, 1.0, 4.0), color);
    }
}

/// Trailing moving average over the last `window` finite values (fewer at
/// the start); non-finite entries stay non-finite and are skipped.
fn moving_average(values: &[f64], window: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(values.len());
    let mut recent = std::collections::VecDeque::with_capacity(window);
    let mut sum = 0.0;
    for &v in values {
        if !v.is_finite() {
            out.push(f64::NAN);
            continue;
        }
        recent.push_back(v);
        sum += v;
        if recent.len() > window {
            sum -= recent.pop_front().unwrap_or(0.0);
        }
        out.push(sum / recent.len() as f64);
    }
    out
}

/// The y range of values that can be drawn (finite, and positive on a log
/// axis), widened a little; `None` if nothing can be drawn.
fn value_range<'a>(series: impl Iterator<Item = &'a f64>, log: bool) -> Option<(f64, f64)> {
    let (lo, hi) = series
        .filter(|v| v.is_finite() && (!log || **v > 0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return None;
    }
    Some(if log {
        let (l, h) = (lo.log10(), hi.log10());
        let pad = if h > l { (h - l) * 0.05 } else { 0.3 };
        (10f64.powf(l - pad), 10f64.powf(h + pad))
    } else {
        let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1.0) * 0.1 };
        (lo - pad, hi + pad)
    })
}

/// Loss (or any metric) against iteration, one line per `(name, values)`
/// with a legend; x is the iteration counted from 1. With `smooth_window`
/// above 1 the raw values are drawn faint and a trailing moving average of
/// that many iterations on top. With `log_y` values ≤ 0 cannot be shown and
/// are left out, as are non-finite values (the line breaks there).
pub fn loss_curves(
    path: &Path,
    series: &[(&str, &[f64])],
    title: &str,
    log_y: bool,
    smooth_window: usize,
) -> Result<()> {
    if series.is_empty() {
        invalid_arg!("loss_curves: no series");
    }
    let longest = series.iter().map(|s| s.1.len()).max().unwrap_or(0);
    if longest == 0 {
        invalid_arg!("loss_curves: every series is empty");
    }
    let Some((y_min, y_max)) = value_range(series.iter().flat_map(|s| s.1.iter()), log_y) else {
        return Err(Error::NonFinite(format!(
            "loss_curves: no {}values to draw",
            if log_y { "finite positive " } else { "finite " }
        )));
    };
    let (x_min, x_max) = if longest == 1 { (0.5, 1.5) } else { (0.0, longest as f64) };
    let extent = Extent::new(x_min, x_max, y_min, y_max)?;
    let (panel_w, panel_h) = (560.0, 320.0);
    let make = |rect| if log_y { Axes::log_y(rect, extent) } else { Ok(Axes::new(rect, extent)) };
    let probe = make(Rect::new(0.0, 0.0, panel_w, panel_h))?;
    let layout = Layout {
        rows: 1,
        cols: 1,
        panel_w,
        panel_h,
        left: MARGIN + axes::y_label_room() + probe.y_axis_room(),
        right: MARGIN + 28.0,
        top: MARGIN + if title.is_empty() { 0.0 } else { axes::title_room() },
        bottom: MARGIN + axes::x_axis_room_labelled(),
        h_gap: 0.0,
        v_gap: 0.0,
    };
    let mut canvas = canvas_for(&layout)?;
    let ax = make(layout.panel(0, 0))?;
    ax.grid(&mut canvas);
    ax.clip(&mut canvas);
    let to_points =
        |values: &[f64]| -> Vec<(f64, f64)> {
            values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    if v.is_finite() && (!log_y || v > 0.0) {
                        ax.to_px(i as f64 + 1.0, v)
                    } else {
                        (f64::NAN, f64::NAN)
                    }
                })
                .collect()
        };
    for (k, (_, values)) in series.iter().enumerate() {
        let color = colormap::series_color(k);
        if smooth_window > 1 {
            canvas.polyline(&to_points(values), 1.0, with_alpha(color, 0.25));
            canvas.polyline(&to_points(&moving_average(values, smooth_window)), 1.8, color);
        } else {
            canvas.polyline(&to_points(values), 1.5, color);
        }
        if values.len() == 1 && values[0].is_finite() {
            let (x, y) = ax.to_px(1.0, values[0]);
            canvas.fill_circle(x, y, 3.0, color);
        }
    }
    ax.frame(&mut canvas);
    ax.x_axis(&mut canvas, true);
    ax.y_axis(&mut canvas, true);
    ax.x_label(&mut canvas, "iteration");
    ax.y_label(&mut canvas, if smooth_window > 1 { "loss (moving average)" } else { "loss" });
    if !title.is_empty() {
        ax.title(&mut canvas, title);
    }
    let entries: Vec<(&str, [u8; 4])> =
        series.iter().enumerate().map(|(k, s)| (s.0, colormap::series_color(k))).collect();
    legend(&mut canvas, &ax, &entries);
    canvas.save_png(path)
}

/// A legend box in the panel's upper-right corner: a line sample and a
/// label per entry. Entries with empty labels are not listed.
fn legend(canvas: &mut Canvas, ax: &Axes, entries: &[(&str, [u8; 4])]) {
    let entries: Vec<_> = entries.iter().filter(|e| !e.0.is_empty()).collect();
    if entries.is_empty() {
        return;
    }
    canvas.set_clip(None);
    let (pad, sample, row) = (8.0, 22.0, axes::line_height() + 6.0);
    let label_w = entries.iter().map(|e| axes::text_width(e.0)).fold(0.0, f64::max);
    let w = pad * 2.0 + sample + 6.0 + label_w;
    let h = pad * 2.0 + row * entries.len() as f64 - 6.0;
    let r = ax.rect;
    let bx = Rect::new((r.right() - 8.0 - w).round(), (r.y + 8.0).round(), w.round(), h.round());
    canvas.fill_rect(bx, with_alpha(WHITE, 0.9));
    canvas.stroke_rect(bx, 1.0, [200, 200, 200, 255]);
    for (k, (label, color)) in entries.iter().enumerate() {
        let mid = (bx.y + pad + row * k as f64 + axes::line_height() / 2.0).round();
        canvas.line((bx.x + pad, mid), (bx.x + pad + sample, mid), 2.0, *color);
        let style = axes::text_style().align(Align::Start, Align::Center);
        canvas.text(bx.x + pad + sample + 6.0, mid, label, style);
    }
}

/// Where an image grid puts its images: image `k`'s pixel (row `r`, column
/// `c`) is the `scale × scale` block whose top-left corner is
/// `(origin.0 + (k % cols) * pitch.0 + c * scale, origin.1 + (k / cols) * pitch.1 + r * scale)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageGridGeometry {
    pub width: usize,
    pub height: usize,
    pub origin: (usize, usize),
    pub pitch: (usize, usize),
    pub scale: usize,
    pub cols: usize,
}

/// Gap between images of a grid.
const IMAGE_GAP: usize = 2;

/// The layout [`image_grid`] uses for `n` images of `h × w` pixels in
/// `cols` columns: each image enlarged by the smallest whole factor that
/// makes its longer side at least 64 pixels.
pub fn image_grid_geometry(n: usize, h: usize, w: usize, cols: usize, title: &str) -> Result<ImageGridGeometry> {
    if n == 0 {
        invalid_arg!("image_grid: no images");
    }
    if h == 0 || w == 0 || cols == 0 {
        invalid_arg!("image_grid: image size {h}×{w} and column count {cols} must be positive");
    }
    let scale = 64usize.div_ceil(h.max(w)).max(1);
    let cols = cols.min(n);
    let rows = n.div_ceil(cols);
    let pitch = (w * scale + IMAGE_GAP, h * scale + IMAGE_GAP);
    let grid_w = cols * pitch.0 - IMAGE_GAP;
    let grid_h = rows * pitch.1 - IMAGE_GAP;
    let margin = MARGIN as usize;
    let title_h = if title.is_empty() { 0 } else { axes::line_height() as usize + 10 };
    let width = (grid_w + 2 * margin).max(axes::text_width(title) as usize + 2 * margin);
    let height = grid_h + 2 * margin + title_h;
    if width > Canvas::MAX_SIDE || height > Canvas::MAX_SIDE {
        invalid_arg!("image_grid: {n} images of {h}×{w} in {cols} columns need a {width}×{height} figure, too large");
    }
    Ok(ImageGridGeometry { width, height, origin: ((width - grid_w) / 2, margin + title_h), pitch, scale, cols })
}

/// A grid of grayscale images (digits, MNIST) in `cols` columns, each
/// `h × w` row-major, values mapped linearly from `range` (default [0, 1])
/// to black..white and clamped. Layout: [`image_grid_geometry`].
pub fn image_grid(
    path: &Path,
    images: &[Vec<f64>],
    h: usize,
    w: usize,
    cols: usize,
    title: &str,
    range: Option<(f64, f64)>,
) -> Result<()> {
    let g = image_grid_geometry(images.len(), h, w, cols, title)?;
    let (lo, hi) = range.unwrap_or((0.0, 1.0));
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        invalid_arg!("image_grid: value range [{lo}, {hi}] must be finite with lo < hi");
    }
    for (k, image) in images.iter().enumerate() {
        if image.len() != h * w {
            shape_err!("image_grid: image {k} has {} values, expected {h}×{w} = {}", image.len(), h * w);
        }
        if let Some(i) = image.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("image_grid: image {k} pixel {i} is {}", image[i])));
        }
    }
    let mut canvas = Canvas::new(g.width, g.height, WHITE)?;
    if !title.is_empty() {
        let style = axes::text_style().bold().align(Align::Center, Align::Start);
        canvas.text(g.width as f64 / 2.0, MARGIN, title, style);
    }
    let s = g.scale as f64;
    for (k, image) in images.iter().enumerate() {
        let x0 = (g.origin.0 + (k % g.cols) * g.pitch.0) as f64;
        let y0 = (g.origin.1 + (k / g.cols) * g.pitch.1) as f64;
        for r in 0..h {
            for c in 0..w {
                let level = ((image[r * w + c] - lo) / (hi - lo) * 255.0).round().clamp(0.0, 255.0) as u8;
                canvas.fill_rect(Rect::new(x0 + c as f64 * s, y0 + r as f64 * s, s, s), [level, level, level, 255]);
            }
        }
    }
    canvas.save_png(path)
}

/// ECG traces (values in mV) sampled at `sample_rate_hz`: real ones in the
/// left column, generated ones in the right, one trace per row, all on the
/// same y range and time axis (seconds). Either side may be empty (its
/// column is left out), not both; traces must be non-empty and finite.
pub fn ecg_traces(path: &Path, real: &[Vec<f64>], generated: &[Vec<f64>], sample_rate_hz: f64) -> Result<()> {
    if !(sample_rate_hz.is_finite() && sample_rate_hz > 0.0) {
        invalid_arg!("ecg_traces: sample rate {sample_rate_hz} Hz must be positive");
    }
    let columns: Vec<_> = [("Real", real, [30, 30, 30, 255]), ("Generated", generated, colormap::PALETTE[0])]
        .into_iter()
        .filter(|c| !c.1.is_empty())
        .collect();
    if columns.is_empty() {
        invalid_arg!("ecg_traces: no traces");
    }
    for (name, traces, _) in &columns {
        for (k, trace) in traces.iter().enumerate() {
            if trace.is_empty() {
                invalid_arg!("ecg_traces: {name} trace {k} is empty");
            }
            if let Some(i) = trace.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFinite(format!("ecg_traces: {name} trace {k} sample {i} is {}", trace[i])));
            }
        }
    }
    let all = columns.iter().flat_map(|c| c.1.iter()).flat_map(|t| t.iter());
    let (y_min, y_max) = value_range(all, false).unwrap_or((-1.0, 1.0));
    let longest = columns.iter().flat_map(|c| c.1.iter()).map(Vec::len).max().unwrap_or(1);
    let extent = Extent::new(0.0, longest as f64 / sample_rate_hz, y_min, y_max)?;
    let rows = columns.iter().map(|c| c.1.len()).max().unwrap_or(1);
    let (panel_w, panel_h) = (480.0, 96.0);
    let probe = Axes::new(Rect::new(0.0, 0.0, panel_w, panel_h), extent);
    let layout = Layout {
        rows,
        cols: columns.len(),
        panel_w,
        panel_h,
        left: MARGIN + axes::y_label_room() + probe.y_axis_room(),
        right: MARGIN + 10.0,
        top: MARGIN + axes::title_room(),
        bottom: MARGIN + axes::x_axis_room_labelled(),
        h_gap: 28.0 + probe.y_axis_room(),
        v_gap: 12.0,
    };
    let mut canvas = canvas_for(&layout)?;
    for (c, (name, traces, color)) in columns.iter().enumerate() {
        for r in 0..rows {
            let ax = Axes::new(layout.panel(r, c), extent);
            ax.grid(&mut canvas);
            if let Some(trace) = traces.get(r) {
                ax.clip(&mut canvas);
                let points: Vec<_> =
                    trace.iter().enumerate().map(|(i, &v)| ax.to_px(i as f64 / sample_rate_hz, v)).collect();
                canvas.polyline(&points, 1.2, *color);
            }
            ax.frame(&mut canvas);
            ax.x_axis(&mut canvas, r + 1 == rows);
            ax.y_axis(&mut canvas, true);
            if r == 0 {
                ax.title(&mut canvas, name);
            }
            if r + 1 == rows {
                ax.x_label(&mut canvas, "time (s)");
            }
            if c == 0 && r == rows / 2 {
                ax.y_label(&mut canvas, "mV");
            }
        }
    }
    canvas.save_png(path)
}

/// Per-block diagnostics of a progressive trainer (W2 moved, KL estimate,
/// loss, ...): one panel per `(name, values)` with `values[b]` the value at
/// block `b + 1`, drawn as a line with markers. Non-finite values are left
/// out; each metric needs at least one finite value.
pub fn block_metrics(path: &Path, per_block: &[(String, Vec<f64>)], title: &str) -> Result<()> {
    if per_block.is_empty() {
        invalid_arg!("block_metrics: no metrics");
    }
    let mut extents = Vec::with_capacity(per_block.len());
    for (name, values) in per_block {
        if values.is_empty() {
            invalid_arg!("block_metrics: metric '{name}' has no values");
        }
        let Some((lo, hi)) = value_range(values.iter(), false) else {
            return Err(Error::NonFinite(format!("block_metrics: metric '{name}' has no finite values")));
        };
        extents.push(Extent::new(0.5, values.len() as f64 + 0.5, lo, hi)?);
    }
    let (panel_w, panel_h) = (300.0, 220.0);
    let probes: Vec<_> = extents.iter().map(|&e| Axes::new(Rect::new(0.0, 0.0, panel_w, panel_h), e)).collect();
    let widest = probes.iter().map(Axes::y_axis_room).fold(0.0, f64::max);
    let layout = Layout {
        rows: 1,
        cols: per_block.len(),
        panel_w,
        panel_h,
        left: MARGIN + widest,
        right: MARGIN + 8.0,
        top: MARGIN + axes::title_room() + if title.is_empty() { 0.0 } else { axes::title_room() + 4.0 },
        bottom: MARGIN + axes::x_axis_room_labelled(),
        h_gap: 24.0 + widest,
        v_gap: 0.0,
    };
    let mut canvas = canvas_for(&layout)?;
    for (k, ((name, values), extent)) in per_block.iter().zip(&extents).enumerate() {
        let ax = Axes::new(layout.panel(0, k), *extent);
        let ticks = axes::integer_ticks(extent.x_min, extent.x_max, 6);
        ax.grid_at(&mut canvas, &ticks);
        ax.clip(&mut canvas);
        let color = colormap::series_color(k);
        let points: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(b, &v)| if v.is_finite() { ax.to_px(b as f64 + 1.0, v) } else { (f64::NAN, f64::NAN) })
            .collect();
        canvas.polyline(&points, 1.6, color);
        for &(x, y) in points.iter().filter(|p| p.0.is_finite()) {
            canvas.fill_circle(x, y, 3.6, WHITE);
            canvas.fill_circle(x, y, 3.0, color);
        }
        ax.frame(&mut canvas);
        ax.x_axis_at(&mut canvas, &ticks, true);
        ax.y_axis(&mut canvas, true);
        ax.x_label(&mut canvas, "block");
        ax.title(&mut canvas, name);
    }
    if !title.is_empty() {
        canvas.set_clip(None);
        let style = axes::text_style().bold().align(Align::Center, Align::Start);
        canvas.text(canvas.width() as f64 / 2.0, MARGIN, title, style);
    }
    canvas.save_png(path)
}

/// A titled set of 2-D points with one class label per point.
pub type LabeledPoints<'a> = (&'a str, &'a [[f64; 2]], &'a [usize]);

/// Panels of labeled 2-D points over a classifier's decision regions, side
/// by side on the same `extent`: the points of each `(title, points, labels)`
/// coloured by label (one colour per class, [`colormap::series_color`]), and,
/// with `regions = Some((classes, [nx, ny]))`, every panel's background tinted
/// by the class predicted in each cell of the grid [`grid_points`] lays out
/// (row by row from the bottom) with the decision boundary, where the
/// predicted class changes, drawn as a dark line. Flow-DRO's figure: data
/// beside its worst-case transport. Points outside the extent are not drawn;
/// non-finite points are left out; each set needs a finite point and one
/// label per point.
pub fn decision_panels(
    path: &Path,
    sets: &[LabeledPoints<'_>],
    regions: Option<(&[usize], [usize; 2])>,
    extent: Extent,
) -> Result<()> {
    if sets.is_empty() {
        invalid_arg!("decision_panels: no point sets");
    }
    for (title, points, labels) in sets {
        if points.is_empty() {
            invalid_arg!("point set '{title}' is empty");
        }
        if labels.len() != points.len() {
            shape_err!("point set '{title}': {} labels for {} points", labels.len(), points.len());
        }
        if !points.iter().any(finite2) {
            return Err(Error::NonFinite(format!("point set '{title}' has no finite points")));
        }
    }
    if let Some((classes, [nx, ny])) = regions {
        if nx == 0 || ny == 0 {
            invalid_arg!("decision_panels: region grid {nx}×{ny} is empty");
        }
        if classes.len() != nx * ny {
            shape_err!("decision_panels: {} classes for a {nx}×{ny} grid", classes.len());
        }
    }
    let titled = sets.iter().any(|(t, _, _)| !t.is_empty());
    let (mut canvas, panels) = square_row(sets.len(), extent, titled, 0.0)?;
    for (k, ((title, points, labels), ax)) in sets.iter().zip(&panels).enumerate() {
        if let Some((classes, [nx, ny])) = regions {
            canvas.set_clip(None);
            let r = ax.rect;
            let (x0, y0, w, h) = (r.x as usize, r.y as usize, r.w as usize, r.h as usize);
            let class_at = |px: usize, py: usize| {
                let (fx, fy) = ((px as f64 + 0.5) / w as f64, 1.0 - (py as f64 + 0.5) / h as f64);
                let (i, j) = (((fx * nx as f64) as usize).min(nx - 1), ((fy * ny as f64) as usize).min(ny - 1));
                classes[j * nx + i]
            };
            for py in 0..h {
                for px in 0..w {
                    let c = class_at(px, py);
                    let edge = (px + 1 < w && class_at(px + 1, py) != c) || (py + 1 < h && class_at(px, py + 1) != c);
                    let (color, alpha) =
                        if edge { (axes::FRAME_COLOR, 0.9) } else { (colormap::series_color(c), 0.16) };
                    canvas.blend((x0 + px) as isize, (y0 + py) as isize, color, alpha as f32);
                }
            }
        }
        ax.clip(&mut canvas);
        let n_finite = points.iter().filter(|p| finite2(p)).count();
        let (r, alpha) = dot_look(n_finite);
        let alpha = alpha.max(0.35);
        for (p, &label) in points.iter().zip(labels.iter()) {
            if finite2(p) && extent.contains(p[0], p[1]) {
                let (x, y) = ax.to_px(p[0], p[1]);
                canvas.fill_circle(x, y, r + 0.4, with_alpha(colormap::series_color(label), alpha));
            }
        }
        decorate_shared(&mut canvas, ax, k == 0, title);
    }
    canvas.save_png(path)
}

/// A row of fields on one grid (the layout of [`heatmap`]), one panel per
/// `(title, values)`, sharing the colour range `range` and one colour bar
/// right of the last panel: e.g. a true log density ratio beside its
/// estimates (the tutorial's Fig. 10). Values outside `range` take its end
/// colours. Every value must be finite and every set must have `nx × ny`
/// values; `range` must be finite with `lo < hi`.
pub fn field_panels(
    path: &Path,
    fields: &[(&str, &[f64])],
    nx: usize,
    ny: usize,
    extent: Extent,
    cmap: Colormap,
    range: (f64, f64),
) -> Result<()> {
    if fields.is_empty() {
        invalid_arg!("field_panels: no fields");
    }
    if !(range.0.is_finite() && range.1.is_finite() && range.0 < range.1) {
        invalid_arg!("field_panels: the colour range {range:?} must be finite and increasing");
    }
    for (title, values) in fields {
        check_grid(values, nx, ny, &format!("field_panels '{title}'"))?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("field '{title}' cell {i} is {}", values[i])));
        }
    }
    let titled = fields.iter().any(|(t, _)| !t.is_empty());
    let bar_room = 16.0 + 14.0 + 1.0 + axes::TICK_LENGTH + 4.0 + colorbar_label_width(range);
    let probe = Axes::new(Rect::new(0.0, 0.0, SQUARE_PANEL, SQUARE_PANEL), extent);
    let layout = Layout {
        rows: 1,
        cols: fields.len(),
        panel_w: SQUARE_PANEL,
        panel_h: SQUARE_PANEL,
        left: MARGIN + probe.y_axis_room(),
        right: MARGIN + 8.0 + bar_room,
        top: MARGIN + if titled { axes::title_room() } else { 0.0 },
        bottom: MARGIN + axes::x_axis_room(),
        h_gap: 36.0,
        v_gap: 0.0,
    };
    let mut canvas = canvas_for(&layout)?;
    let mut last = None;
    for (k, (title, values)) in fields.iter().enumerate() {
        let ax = Axes::new(layout.panel(0, k), extent);
        let clamped: Vec<f64> = values.iter().map(|v| v.clamp(range.0, range.1)).collect();
        draw_field(&mut canvas, &ax, &clamped, [nx, ny], cmap, range, true);
        decorate_shared(&mut canvas, &ax, k == 0, title);
        last = Some(ax.rect);
    }
    let r = last.expect("at least one field");
    colorbar(&mut canvas, Rect::new(r.right() + 16.0, r.y, 14.0, r.h), cmap, range);
    canvas.save_png(path)
}
