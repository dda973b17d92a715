//! A line chart: title, axes with tick labels, optional log-scale y, a legend.

use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::ascii::{FONT_6X10, FONT_9X15_BOLD};
use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Circle, Line, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Alignment, Text};

use super::canvas::Canvas;

/// Matplotlib's `tab10` colours: series `i` gets `PALETTE[i % 10]`.
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The colour of series `index`.
pub fn color(index: usize) -> Rgb888 {
    let (r, g, b) = PALETTE[index % PALETTE.len()];
    Rgb888::new(r, g, b)
}

/// One named series of `(x, y)` points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points in x order.
    pub points: Vec<(f64, f64)>,
    /// Draw points as dots (sparse series such as validation) instead of a line.
    pub markers: bool,
}

/// A chart of several series sharing the axes.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// The series, drawn in order.
    pub series: Vec<Series>,
    /// Use a log-scale y axis when every value is positive and they span at least this ratio
    /// (`None`: always linear).
    pub log_y_above_ratio: Option<f64>,
}

const WIDTH: u32 = 960;
const HEIGHT: u32 = 540;
const LEFT: i32 = 90;
const RIGHT: i32 = 24;
const TOP: i32 = 44;
const BOTTOM: i32 = 56;

/// Maps data to pixels.
struct Frame {
    x: (f64, f64),
    y: (f64, f64),
    log_y: bool,
}

impl Frame {
    fn px(&self, x: f64) -> i32 {
        let width = f64::from(WIDTH as i32 - LEFT - RIGHT);
        LEFT + ((x - self.x.0) / (self.x.1 - self.x.0) * width).round() as i32
    }

    fn py(&self, y: f64) -> i32 {
        let y = if self.log_y { y.log10() } else { y };
        let height = f64::from(HEIGHT as i32 - TOP - BOTTOM);
        HEIGHT as i32 - BOTTOM - ((y - self.y.0) / (self.y.1 - self.y.0) * height).round() as i32
    }
}

impl LineChart {
    /// Draws the chart (a "no data" note when no series has a point).
    pub fn render(&self) -> Canvas {
        let mut canvas = Canvas::new(WIDTH, HEIGHT);
        let title = MonoTextStyle::new(&FONT_9X15_BOLD, Rgb888::BLACK);
        let small = MonoTextStyle::new(&FONT_6X10, Rgb888::BLACK);
        let centre = (WIDTH / 2) as i32;
        draw(
            Text::with_alignment(
                &self.title,
                Point::new(centre, 26),
                title,
                Alignment::Center,
            ),
            &mut canvas,
        );
        draw(
            Text::with_alignment(
                &self.x_label,
                Point::new(centre, HEIGHT as i32 - 12),
                small,
                Alignment::Center,
            ),
            &mut canvas,
        );
        let Some(frame) = self.frame() else {
            let note = Text::with_alignment(
                "no finite values logged yet",
                Point::new(centre, (HEIGHT / 2) as i32),
                small,
                Alignment::Center,
            );
            draw(note, &mut canvas);
            return canvas;
        };
        self.axes(&frame, &mut canvas);
        for (index, series) in self.series.iter().enumerate() {
            plot_series(series, color(index), &frame, &mut canvas);
        }
        self.legend(&mut canvas);
        canvas
    }

    /// Data ranges (with a margin), or `None` without points.
    fn frame(&self) -> Option<Frame> {
        let points = || self.series.iter().flat_map(|s| s.points.iter().copied());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (x, y) in points() {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if x0 > x1 {
            return None;
        }
        let log_y = self
            .log_y_above_ratio
            .is_some_and(|ratio| y0 > 0.0 && y1 / y0 >= ratio);
        let (y0, y1) = if log_y {
            (y0.log10(), y1.log10())
        } else {
            (y0, y1)
        };
        let pad = |lo: f64, hi: f64| {
            let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
            (lo - span * 0.05, hi + span * 0.05)
        };
        let x = if x1 > x0 {
            (x0, x1)
        } else {
            (x0 - 1.0, x1 + 1.0)
        };
        Some(Frame {
            x,
            y: pad(y0, y1),
            log_y,
        })
    }

    fn axes(&self, frame: &Frame, canvas: &mut Canvas) {
        let grid = PrimitiveStyle::with_stroke(Rgb888::new(225, 225, 225), 1);
        let axis = PrimitiveStyle::with_stroke(Rgb888::BLACK, 1);
        let small = MonoTextStyle::new(&FONT_6X10, Rgb888::BLACK);
        let (left, right) = (LEFT, WIDTH as i32 - RIGHT);
        let (top, bottom) = (TOP, HEIGHT as i32 - BOTTOM);
        for x in ticks(frame.x.0, frame.x.1) {
            let px = frame.px(x);
            draw(
                Line::new(Point::new(px, top), Point::new(px, bottom)).into_styled(grid),
                canvas,
            );
            draw(
                Text::with_alignment(
                    &label(x),
                    Point::new(px, bottom + 14),
                    small,
                    Alignment::Center,
                ),
                canvas,
            );
        }
        let y_ticks = if frame.log_y {
            log_ticks(frame.y.0, frame.y.1)
        } else {
            ticks(frame.y.0, frame.y.1)
        };
        for y in y_ticks {
            let py = frame.py(y);
            draw(
                Line::new(Point::new(left, py), Point::new(right, py)).into_styled(grid),
                canvas,
            );
            draw(
                Text::with_alignment(
                    &label(y),
                    Point::new(left - 6, py + 3),
                    small,
                    Alignment::Right,
                ),
                canvas,
            );
        }
        let size = Size::new((right - left) as u32, (bottom - top) as u32);
        draw(
            Rectangle::new(Point::new(left, top), size).into_styled(axis),
            canvas,
        );
        if frame.log_y {
            draw(
                Text::new("log scale", Point::new(left, top - 6), small),
                canvas,
            );
        }
    }

    fn legend(&self, canvas: &mut Canvas) {
        let small = MonoTextStyle::new(&FONT_6X10, Rgb888::BLACK);
        let longest = self.series.iter().map(|s| s.name.len()).max().unwrap_or(0) as i32;
        let width = longest * 6 + 36;
        let x = WIDTH as i32 - RIGHT - width - 8;
        let mut y = TOP + 8;
        let box_size = Size::new(width as u32, (self.series.len() as u32) * 14 + 8);
        let background = PrimitiveStyle::with_fill(Rgb888::WHITE);
        draw(
            Rectangle::new(Point::new(x, y), box_size).into_styled(background),
            canvas,
        );
        let border = PrimitiveStyle::with_stroke(Rgb888::new(180, 180, 180), 1);
        draw(
            Rectangle::new(Point::new(x, y), box_size).into_styled(border),
            canvas,
        );
        y += 4;
        for (index, series) in self.series.iter().enumerate() {
            let mid = y + 6;
            if series.markers {
                let dot = PrimitiveStyle::with_fill(color(index));
                draw(
                    Circle::with_center(Point::new(x + 15, mid), 7).into_styled(dot),
                    canvas,
                );
            } else {
                let stroke = PrimitiveStyle::with_stroke(color(index), 2);
                draw(
                    Line::new(Point::new(x + 6, mid), Point::new(x + 24, mid)).into_styled(stroke),
                    canvas,
                );
            }
            draw(
                Text::new(&series.name, Point::new(x + 30, mid + 3), small),
                canvas,
            );
            y += 14;
        }
    }
}

fn plot_series(series: &Series, color: Rgb888, frame: &Frame, canvas: &mut Canvas) {
    let points: Vec<Point> = series
        .points
        .iter()
        .filter(|(_, y)| !frame.log_y || *y > 0.0)
        .map(|&(x, y)| Point::new(frame.px(x), frame.py(y)))
        .collect();
    if series.markers || points.len() == 1 {
        let dot = PrimitiveStyle::with_fill(color);
        for p in &points {
            draw(Circle::with_center(*p, 7).into_styled(dot), canvas);
        }
    }
    if !series.markers {
        let stroke = PrimitiveStyle::with_stroke(color, 2);
        for pair in points.windows(2) {
            draw(Line::new(pair[0], pair[1]).into_styled(stroke), canvas);
        }
    }
}

/// Draws on the canvas (which cannot fail).
fn draw(drawable: impl Drawable<Color = Rgb888>, canvas: &mut Canvas) {
    let _ = drawable.draw(canvas);
}

/// About five round tick values in `[lo, hi]`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 5.0;
    if !raw.is_finite() || raw <= 0.0 {
        return vec![lo];
    }
    let exponent = raw.log10().floor() as i32;
    let scale = 10f64.powi(exponent.abs());
    // `units * scale` or `units / scale`: exact for round values, unlike `i * 0.2`.
    let value = |units: f64| {
        if exponent < 0 {
            units / scale
        } else {
            units * scale
        }
    };
    let mantissa = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|&m| value(m) >= raw)
        .unwrap_or(10.0);
    let step = value(mantissa);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| value(i as f64 * mantissa)).collect()
}

/// Powers of ten (and 2x, 5x when few) in `[10^lo, 10^hi]`, as values.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades = (lo.floor() as i32)..=(hi.ceil() as i32);
    let mantissas: &[f64] = if hi - lo < 2.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    decades
        .flat_map(|d| mantissas.iter().map(move |m| m * 10f64.powi(d)))
        .filter(|v| (lo..=hi).contains(&v.log10()))
        .collect()
}

/// A short tick label: `1500`, `0.25`, `3e-5`.
fn label(value: f64) -> String {
    let abs = value.abs();
    if abs == 0.0 {
        "0".into()
    } else if !(1e-3..1e6).contains(&abs) {
        format!("{value:.0e}")
    } else {
        let text = format!("{value:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks(0.0, 100.0), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(ticks(0.3, 1.2), [0.4, 0.6, 0.8, 1.0, 1.2]);
        assert_eq!(log_ticks(-1.0, 2.0), [0.1, 1.0, 10.0, 100.0]);
        assert_eq!(label(3e-5), "3e-5");
        assert_eq!(label(0.25), "0.25");
        assert_eq!(label(1500.0), "1500");
    }
}
