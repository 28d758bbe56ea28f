//! Grouped bar charts as SVG, through plotters' SVG backend: text is
//! written as `<text>` elements, so no font files are needed.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One series: a value (or a gap) per group.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// One value per group.
    pub values: Vec<Option<f64>>,
}

/// Bars grouped along the x axis, one bar per series in each group, and an
/// optional reference series drawn as a black bar across each group.
#[derive(Clone, Debug, Default)]
pub struct BarChart {
    /// Caption.
    pub title: String,
    /// Y axis description.
    pub y_label: String,
    /// Group labels, left to right.
    pub groups: Vec<String>,
    /// Bars.
    pub series: Vec<Series>,
    /// Drawn across each group (OPT, a floor).
    pub reference: Option<Series>,
    /// Top of the y axis; the largest value plus 10% if unset.
    pub y_max: Option<f64>,
}

const LEGEND_WIDTH: u32 = 260;
const BAR_PX: u32 = 7;

impl BarChart {
    fn y_top(&self) -> f64 {
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

    /// Writes the chart to `path` as SVG.
    ///
    /// # Errors
    /// If drawing or writing fails.
    pub fn write_svg(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let groups = self.groups.len().max(1);
        let per_group = (self.series.len() as u32 + 2) * BAR_PX;
        let label_len = self.groups.iter().map(String::len).max().unwrap_or(0) as u32;
        let bottom = 30 + label_len * 7;
        let legend_rows = self.series.len() as u32 + u32::from(self.reference.is_some());
        let width = (groups as u32 * per_group + 100 + LEGEND_WIDTH).max(700);
        let height = (380 + bottom).max(legend_rows * 18 + bottom + 80);
        let root = SVGBackend::new(path, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (plot_area, legend_area) = root.split_horizontally(width - LEGEND_WIDTH);
        let y_top = self.y_top();
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(&self.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(bottom)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..groups as f64, 0f64..y_top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(1)
            .x_label_formatter(&|_| String::new())
            .max_light_lines(1)
            .y_label_formatter(&|y| {
                if y_top >= 20.0 {
                    format!("{y:.0}")
                } else {
                    format!("{y:.1}")
                }
            })
            .y_desc(self.y_label.as_str())
            .draw()?;

        let n = self.series.len().max(1) as f64;
        let slot = 0.8 / n;
        for (si, s) in self.series.iter().enumerate() {
            let color = Palette99::pick(si).to_rgba();
            chart.draw_series(s.values.iter().enumerate().filter_map(|(g, v)| {
                let v = (*v)?;
                let x0 = g as f64 + 0.1 + si as f64 * slot;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + slot * 0.9, v.min(y_top))],
                    color.filled(),
                ))
            }))?;
        }
        if let Some(r) = &self.reference {
            chart.draw_series(r.values.iter().enumerate().filter_map(|(g, v)| {
                let v = (*v)?;
                let (x0, x1) = (g as f64 + 0.05, g as f64 + 0.95);
                Some(PathElement::new(
                    vec![(x0, v), (x1, v)],
                    BLACK.stroke_width(2),
                ))
            }))?;
        }

        let label_style = TextStyle::from(("sans-serif", 12).into_font())
            .transform(FontTransform::Rotate90)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (g, name) in self.groups.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(g as f64 + 0.5, 0.0));
            plot_area.draw(&Text::new(name.clone(), (px, py + 8), label_style.clone()))?;
        }

        let text = TextStyle::from(("sans-serif", 13).into_font());
        let mut y = 50;
        if let Some(r) = &self.reference {
            legend_area.draw(&PathElement::new(
                vec![(10, y + 6), (30, y + 6)],
                BLACK.stroke_width(2),
            ))?;
            legend_area.draw(&Text::new(r.name.clone(), (38, y), text.clone()))?;
            y += 18;
        }
        for (si, s) in self.series.iter().enumerate() {
            let color = Palette99::pick(si).to_rgba();
            legend_area.draw(&Rectangle::new([(10, y), (30, y + 12)], color.filled()))?;
            legend_area.draw(&Text::new(s.name.clone(), (38, y), text.clone()))?;
            y += 18;
        }
        root.present()?;
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
