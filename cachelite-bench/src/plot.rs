//! Charts as SVG, through plotters' SVG backend: text is written as
//! `<text>` elements, so no font files are needed.
//!
//! Two kinds: [`BarChart`], horizontal bars grouped by row (labels read
//! left to right, however long), and [`PanelChart`], small multiples of
//! line plots sharing one x axis and one legend. In both, the title spans
//! the whole image and the legend sits above the data, never on it.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Errors from drawing.
pub type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A chart a suite draws.
#[derive(Clone, Debug)]
pub enum Chart {
    /// Grouped horizontal bars.
    Bars(BarChart),
    /// Small multiples of lines.
    Panels(PanelChart),
    /// Bar charts one above the other, in one image.
    Stacked(Vec<BarChart>),
}

impl Chart {
    /// Writes the chart to `path` as SVG.
    ///
    /// # Errors
    /// If drawing or writing fails.
    pub fn write_svg(&self, path: &Path) -> DrawResult {
        match self {
            Chart::Bars(c) => c.write_svg(path),
            Chart::Panels(c) => c.write_svg(path),
            Chart::Stacked(cs) => {
                let sizes: Vec<(u32, u32)> = cs.iter().map(BarChart::size).collect();
                let width = sizes.iter().map(|s| s.0).max().unwrap_or(100);
                let height = sizes.iter().map(|s| s.1).sum::<u32>().max(100);
                let root = SVGBackend::new(path, (width, height)).into_drawing_area();
                root.fill(&WHITE)?;
                let mut rest = root.clone();
                for (c, (_, h)) in cs.iter().zip(&sizes) {
                    let (this, below) = rest.split_vertically(*h);
                    c.draw(&this)?;
                    rest = below;
                }
                root.present()?;
                Ok(())
            }
        }
    }
}

impl From<BarChart> for Chart {
    fn from(c: BarChart) -> Self {
        Chart::Bars(c)
    }
}

impl From<PanelChart> for Chart {
    fn from(c: PanelChart) -> Self {
        Chart::Panels(c)
    }
}

/// One series: a value (or a gap) per group.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// One value per group.
    pub values: Vec<Option<f64>>,
}

/// Horizontal bars grouped by row, one bar per series in each group, and an
/// optional reference series drawn as a black tick across each group.
#[derive(Clone, Debug, Default)]
pub struct BarChart {
    /// Caption.
    pub title: String,
    /// Value axis description.
    pub y_label: String,
    /// Group labels, top to bottom.
    pub groups: Vec<String>,
    /// Bars.
    pub series: Vec<Series>,
    /// Drawn across each group (OPT, a floor).
    pub reference: Option<Series>,
    /// End of the value axis; the largest value plus 10% if unset.
    pub y_max: Option<f64>,
}

/// Colours that stay apart from one another (Tableau 10), in series order.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(227, 119, 194),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A value printed beside its bar: three significant digits or so.
fn value_text(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A rough width of `text` in pixels at font size `px` (sans-serif).
fn text_width(text: &str, px: u32) -> u32 {
    (text.chars().count() as u32 * px * 54).div_ceil(100)
}

const TITLE_PX: u32 = 20;
const TEXT_PX: u32 = 13;
const BAR_PX: u32 = 9;
const GROUP_GAP_PX: u32 = 10;
const DATA_WIDTH: u32 = 640;

/// One legend entry: how its sample is drawn.
enum Key {
    Box(RGBColor),
    Line(RGBColor, bool),
    Tick,
}

/// Legend entries laid out in rows across `width`; returns the height used.
fn legend_height(entries: &[(String, Key)], width: u32) -> u32 {
    legend_layout(entries, width).last().map_or(0, |p| p.1 + 22)
}

fn legend_layout(entries: &[(String, Key)], width: u32) -> Vec<(u32, u32)> {
    let (mut x, mut y) = (10, 0);
    entries
        .iter()
        .map(|(name, _)| {
            let w = 32 + text_width(name, TEXT_PX) + 12;
            if x + w > width && x > 10 {
                x = 10;
                y += 22;
            }
            let at = (x, y);
            x += w;
            at
        })
        .collect()
}

fn draw_legend(area: &DrawingArea<SVGBackend<'_>, Shift>, entries: &[(String, Key)]) -> DrawResult {
    let width = area.dim_in_pixel().0;
    let text = TextStyle::from(("sans-serif", TEXT_PX).into_font());
    for ((name, key), (x, y)) in entries.iter().zip(legend_layout(entries, width)) {
        let (x, y) = (x as i32, y as i32 + 4);
        match key {
            Key::Box(c) => {
                area.draw(&Rectangle::new([(x, y + 1), (x + 24, y + 12)], c.filled()))?
            }
            Key::Line(c, dashed) => {
                if *dashed {
                    for dx in [0, 10, 20] {
                        area.draw(&PathElement::new(
                            vec![(x + dx, y + 6), (x + dx + 5, y + 6)],
                            c.stroke_width(3),
                        ))?;
                    }
                } else {
                    area.draw(&PathElement::new(
                        vec![(x, y + 6), (x + 24, y + 6)],
                        c.stroke_width(3),
                    ))?;
                }
                area.draw(&Circle::new((x + 12, y + 6), 3, c.filled()))?;
            }
            Key::Tick => area.draw(&PathElement::new(
                vec![(x + 12, y - 2), (x + 12, y + 14)],
                BLACK.stroke_width(3),
            ))?,
        }
        area.draw(&Text::new(name.clone(), (x + 32, y), text.clone()))?;
    }
    Ok(())
}

fn draw_title(area: &DrawingArea<SVGBackend<'_>, Shift>, title: &str) -> DrawResult {
    let style = TextStyle::from(("sans-serif", TITLE_PX).into_font().style(FontStyle::Bold))
        .pos(Pos::new(HPos::Left, VPos::Top));
    area.draw(&Text::new(title.to_owned(), (12, 10), style))?;
    Ok(())
}

impl BarChart {
    fn x_top(&self) -> f64 {
        self.y_max.unwrap_or_else(|| {
            let max = self
                .series
                .iter()
                .chain(&self.reference)
                .flat_map(|s| s.values.iter().flatten())
                .fold(0.0_f64, |a, &b| a.max(b));
            if max > 0.0 { max * 1.1 } else { 1.0 }
        })
    }

    fn legend(&self) -> Vec<(String, Key)> {
        let mut e: Vec<(String, Key)> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), Key::Box(color(i))))
            .collect();
        if let Some(r) = &self.reference {
            e.push((r.name.clone(), Key::Tick));
        }
        e
    }

    fn label_width(&self) -> u32 {
        self.groups
            .iter()
            .map(|g| text_width(g, TEXT_PX))
            .max()
            .unwrap_or(0)
            + 24
    }

    fn bar_px(&self) -> u32 {
        if self.series.len() <= 2 {
            2 * BAR_PX
        } else {
            BAR_PX
        }
    }

    /// Height of the title and legend, then of everything.
    fn heights(&self, width: u32) -> (u32, u32) {
        let groups = self.groups.len().max(1) as u32;
        let per_group = self.series.len().max(1) as u32 * self.bar_px() + GROUP_GAP_PX;
        let top = 44 + legend_height(&self.legend(), width);
        (top, top + groups * per_group + 60)
    }

    /// The size the chart is drawn at, in pixels.
    #[must_use]
    pub fn size(&self) -> (u32, u32) {
        let width =
            (self.label_width() + DATA_WIDTH + 40).max(text_width(&self.title, TITLE_PX) + 40);
        (width, self.heights(width).1)
    }

    /// Writes the chart to `path` as SVG.
    ///
    /// # Errors
    /// If drawing or writing fails.
    pub fn write_svg(&self, path: &Path) -> DrawResult {
        let root = SVGBackend::new(path, self.size()).into_drawing_area();
        root.fill(&WHITE)?;
        self.draw(&root)?;
        root.present()?;
        Ok(())
    }

    /// Draws the chart on `root`, which is at least [`size`](Self::size).
    ///
    /// # Errors
    /// If drawing fails.
    pub fn draw(&self, root: &DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult {
        let groups = self.groups.len().max(1) as u32;
        let label_w = self.label_width();
        let width = root.dim_in_pixel().0;
        let legend = self.legend();
        let per_group = self.series.len().max(1) as u32 * self.bar_px() + GROUP_GAP_PX;
        let (top, _) = self.heights(width);
        let (head, body) = root.split_vertically(top);
        draw_title(&head, &self.title)?;
        draw_legend(&head.margin(40, 0, 0, 0), &legend)?;

        let x_top = self.x_top();
        let g = f64::from(groups);
        let mut chart = ChartBuilder::on(&body)
            .margin_right(28)
            .margin_top(4)
            .x_label_area_size(50)
            .y_label_area_size(label_w)
            .build_cartesian_2d(0f64..x_top, 0f64..g)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .y_labels(0)
            .y_label_formatter(&|_| String::new())
            .x_label_formatter(&|x| {
                if x_top >= 20.0 {
                    format!("{x:.0}")
                } else {
                    format!("{x:.1}")
                }
            })
            .x_desc(self.y_label.as_str())
            .label_style(("sans-serif", TEXT_PX))
            .draw()?;
        // Group i occupies the band [g - i - 1, g - i], first at the top;
        // every other band is shaded so the eye finds a row's bars.
        let band = |i: usize| g - i as f64 - 1.0;
        chart.draw_series((0..self.groups.len()).filter(|i| i % 2 == 0).map(|i| {
            Rectangle::new(
                [(0.0, band(i)), (x_top, band(i) + 1.0)],
                RGBColor(240, 240, 240).filled(),
            )
        }))?;
        let n = self.series.len().max(1) as f64;
        let pad = f64::from(GROUP_GAP_PX) / 2.0 / f64::from(per_group);
        let slot = (1.0 - 2.0 * pad) / n;
        for (si, s) in self.series.iter().enumerate() {
            let c = color(si);
            chart.draw_series(s.values.iter().enumerate().filter_map(|(gi, v)| {
                let v = (*v)?;
                let y1 = band(gi) + 1.0 - pad - si as f64 * slot;
                Some(Rectangle::new(
                    [(0.0, y1 - slot * 0.85), (v.min(x_top), y1)],
                    c.filled(),
                ))
            }))?;
        }
        // Values are printed at the bar ends when there are few series or
        // a single group, and always where a bar runs past the axis (drawn cut, with `›`).
        let value_style =
            TextStyle::from(("sans-serif", 11).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        for (si, s) in self.series.iter().enumerate() {
            for (gi, v) in s.values.iter().enumerate() {
                let Some(v) = *v else { continue };
                let cut = v > x_top;
                if self.series.len() > 3 && self.groups.len() > 1 && !cut {
                    continue;
                }
                let y = band(gi) + 1.0 - pad - (si as f64 + 0.42) * slot;
                let (px, py) = chart.backend_coord(&(v.min(x_top), y));
                let (bx, by) = body.get_base_pixel();
                let text = format!("{}{}", value_text(v), if cut { " ›" } else { "" });
                let x = if cut {
                    px - bx - text_width(&text, 11) as i32 - 4
                } else {
                    px - bx + 4
                };
                let style = if cut {
                    value_style.color(&WHITE)
                } else {
                    value_style.clone()
                };
                body.draw(&Text::new(text, (x, py - by), style))?;
            }
        }
        if let Some(r) = &self.reference {
            chart.draw_series(r.values.iter().enumerate().filter_map(|(gi, v)| {
                let v = (*v)?;
                Some(PathElement::new(
                    vec![(v, band(gi) + 0.04), (v, band(gi) + 0.96)],
                    BLACK.stroke_width(3),
                ))
            }))?;
        }
        let label = TextStyle::from(("sans-serif", TEXT_PX).into_font())
            .pos(Pos::new(HPos::Right, VPos::Center));
        let (bx, by) = body.get_base_pixel();
        for (gi, name) in self.groups.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(0.0, band(gi) + 0.5));
            let (px, py) = (px - bx, py - by);
            body.draw(&Text::new(name.clone(), (px - 8, py), label.clone()))?;
        }
        Ok(())
    }
}

/// One panel of a [`PanelChart`]: a value per x tick for each series,
/// `None` where the series does not take part.
#[derive(Clone, Debug)]
pub struct Lines {
    /// Panel caption.
    pub title: String,
    /// Per series (in [`PanelChart::series`] order), one value per x tick.
    pub values: Vec<Option<Vec<f64>>>,
}

/// Small multiples: one line plot per panel, every panel with the same x
/// ticks, series colours and legend; each panel scales its own y axis
/// from zero.
#[derive(Clone, Debug)]
pub struct PanelChart {
    /// Caption of the whole figure.
    pub title: String,
    /// x axis description.
    pub x_label: String,
    /// y axis description.
    pub y_label: String,
    /// Labels of the x positions, evenly spaced.
    pub x_ticks: Vec<String>,
    /// Series names, legend order; colours follow it.
    pub series: Vec<String>,
    /// Series drawn dashed (floors, references).
    pub dashed: Vec<String>,
    /// The panels.
    pub panels: Vec<Lines>,
}

const PANEL_W: u32 = 420;
const PANEL_H: u32 = 300;

impl PanelChart {
    /// Writes the chart to `path` as SVG.
    ///
    /// # Errors
    /// If drawing or writing fails.
    pub fn write_svg(&self, path: &Path) -> DrawResult {
        let cols = self.panels.len().clamp(1, 3) as u32;
        let rows = (self.panels.len() as u32).div_ceil(cols).max(1);
        let width = (cols * PANEL_W).max(text_width(&self.title, TITLE_PX) + 40);
        let legend: Vec<(String, Key)> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), Key::Line(color(i), self.dashed.contains(s))))
            .collect();
        let top = 44 + legend_height(&legend, width);
        let height = top + rows * PANEL_H;
        let root = SVGBackend::new(path, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (head, body) = root.split_vertically(top);
        draw_title(&head, &self.title)?;
        draw_legend(&head.margin(40, 0, 0, 0), &legend)?;
        let cells = body.split_evenly((rows as usize, cols as usize));
        for (panel, cell) in self.panels.iter().zip(&cells) {
            self.draw_panel(panel, cell)?;
        }
        root.present()?;
        Ok(())
    }

    fn draw_panel(&self, p: &Lines, area: &DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult {
        let n = self.x_ticks.len().max(1);
        let y_max = p
            .values
            .iter()
            .flatten()
            .flatten()
            .fold(0.0_f64, |a, &b| a.max(b));
        let y_top = if y_max > 0.0 { y_max * 1.12 } else { 1.0 };
        let x_range = -0.25..(n as f64 - 0.75);
        let mut chart = ChartBuilder::on(area)
            .caption(&p.title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(x_range, 0f64..y_top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_label_formatter(&|_| String::new())
            .y_labels(6)
            .light_line_style(TRANSPARENT)
            .y_label_formatter(&|y| {
                if y_top >= 20.0 {
                    format!("{y:.0}")
                } else {
                    format!("{y:.1}")
                }
            })
            .y_desc(self.y_label.as_str())
            .label_style(("sans-serif", 12))
            .draw()?;
        let tick =
            TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        // backend_coord is in whole-image pixels; the area draws relative
        // to its own corner.
        let (bx, by) = area.get_base_pixel();
        let at = |x: f64| {
            let (px, py) = chart.backend_coord(&(x, 0.0));
            (px - bx, py - by)
        };
        for (i, t) in self.x_ticks.iter().enumerate() {
            let (px, py) = at(i as f64);
            area.draw(&Text::new(t.clone(), (px, py + 6), tick.clone()))?;
        }
        let (cx, cy) = at((n as f64 - 1.0) / 2.0);
        area.draw(&Text::new(self.x_label.clone(), (cx, cy + 20), tick))?;
        for (si, values) in p.values.iter().enumerate() {
            let Some(values) = values else { continue };
            let c = color(si);
            let pts: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as f64, v))
                .collect();
            if self.dashed.contains(&self.series[si]) {
                chart.draw_series(DashedLineSeries::new(pts.clone(), 6, 4, c.stroke_width(2)))?;
            } else {
                // The first series (cachelite's default) stands out.
                let w = if si == 0 { 3 } else { 2 };
                chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(w)))?;
            }
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_with_text_elements() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.svg");
        let chart = BarChart {
            title: "t".into(),
            y_label: "hit ratio (%)".into(),
            groups: vec!["zipf-0.9@1000".into(), "OLTP@2000".into()],
            series: vec![
                Series {
                    name: "lru".into(),
                    values: vec![Some(40.0), Some(42.5)],
                },
                Series {
                    name: "fifo".into(),
                    values: vec![None, Some(30.0)],
                },
            ],
            reference: Some(Series {
                name: "OPT".into(),
                values: vec![Some(55.0), Some(60.0)],
            }),
            y_max: Some(100.0),
        };
        chart.write_svg(&path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<text") && svg.contains("OLTP@2000") && svg.contains("OPT"));
    }
}
