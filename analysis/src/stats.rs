//! Means and Student-t confidence intervals across episodes.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// The `q`-th percentile (0 to 100) of `values` by nearest rank: the smallest value with at
/// least `q`% of the values at or below it. `None` without values. The one percentile of Tender
/// (latency metrics, live call latencies).
#[must_use]
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// A mean over episodes with its 95% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    /// Bounds of the 95% interval; NaN when fewer than two episodes give a value.
    pub low: f64,
    pub high: f64,
    /// Number of episodes that give a value.
    pub n: usize,
}

impl Estimate {
    /// Half the width of the interval.
    #[must_use]
    pub fn half_width(&self) -> f64 {
        (self.high - self.low) / 2.0
    }

    /// Mean and 95% t-interval of the finite values among `values`, summed in order so the
    /// result does not depend on anything but the values.
    #[must_use]
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let xs: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        let n = xs.len();
        if n == 0 {
            return Self { mean: f64::NAN, low: f64::NAN, high: f64::NAN, n };
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Self { mean, low: f64::NAN, high: f64::NAN, n };
        }
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = t_975(n - 1) * (var / n as f64).sqrt();
        Self { mean, low: mean - half, high: mean + half, n }
    }

    /// The same for a proportion (each value in [0, 1]): a Wilson score interval with the
    /// effective sample size the episodes' spread implies (`p(1 − p) / se²`, as for proportions
    /// from clustered samples) and the t quantile, so the interval stays inside [0, 1] and nears
    /// the t-interval when the mean is far from the bounds.
    #[must_use]
    pub fn of_proportion(values: impl IntoIterator<Item = f64>) -> Self {
        let t = Self::of(values);
        let (n, p) = (t.n, t.mean);
        if n < 2 || !(0.0..=1.0).contains(&p) {
            return t;
        }
        let se = t.half_width() / t_975(n - 1);
        if se == 0.0 || p * (1.0 - p) == 0.0 {
            return Self { low: p, high: p, ..t };
        }
        let z = t_975(n - 1);
        let n_eff = p * (1.0 - p) / (se * se);
        let z2n = z * z / n_eff;
        let centre = (p + z2n / 2.0) / (1.0 + z2n);
        let half = z / (1.0 + z2n) * (se * se + z * z / (4.0 * n_eff * n_eff)).sqrt();
        Self { low: (centre - half).max(0.0), high: (centre + half).min(1.0), ..t }
    }
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
fn t_975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64).map_or(1.959_964, |t| t.inverse_cdf(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportion_intervals_stay_inside_zero_and_one() {
        // Two episodes far apart: the t-interval is [-0.31, 1.02]-like; Wilson's stays inside.
        let t = Estimate::of([0.3, 0.05]);
        assert!(t.low < 0.0, "{t:?}");
        let w = Estimate::of_proportion([0.3, 0.05]);
        assert!(w.low >= 0.0 && w.high <= 1.0 && w.low < w.mean && w.mean < w.high, "{w:?}");
        assert_eq!(w.mean, t.mean);
        let w = Estimate::of_proportion([0.98, 1.0]);
        assert!(w.high <= 1.0 && w.low < 0.98, "{w:?}");
        // Far from the bounds with many episodes, it is the t-interval.
        let xs: Vec<f64> = (0..200).map(|i| 0.5 + 0.05 * f64::from(i % 5) - 0.1).collect();
        let (t, w) = (Estimate::of(xs.iter().copied()), Estimate::of_proportion(xs));
        assert!((t.low - w.low).abs() < 1e-3 && (t.high - w.high).abs() < 1e-3, "{t:?} {w:?}");
        // All at a bound: no spread, the interval is the point.
        let w = Estimate::of_proportion([0.0, 0.0, 0.0]);
        assert_eq!((w.low, w.high), (0.0, 0.0));
        assert!(Estimate::of_proportion([0.4]).low.is_nan(), "one episode has no interval");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let xs = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(percentile(&xs, 50.0), Some(3.0));
        assert_eq!(percentile(&xs, 95.0), Some(5.0));
        assert_eq!(percentile(&xs, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn interval_matches_the_textbook() {
        // mean 2, sd 1, n 4: half-width = t(0.975, 3) * 1 / 2 = 3.182446 / 2.
        let e = Estimate::of([1.0, 2.0, 2.0, 3.0]);
        let sd = (2.0f64 / 3.0).sqrt();
        assert!((e.mean - 2.0).abs() < 1e-12);
        assert!((e.half_width() - 3.182_446_305 * sd / 2.0).abs() < 1e-6);
    }

    #[test]
    fn degenerate_inputs_give_nan_bounds() {
        assert!(Estimate::of([]).mean.is_nan());
        let one = Estimate::of([5.0]);
        assert_eq!((one.mean, one.n), (5.0, 1));
        assert!(one.low.is_nan());
        let e = Estimate::of([1.0, f64::NAN, 3.0]);
        assert_eq!((e.mean, e.n), (2.0, 2));
    }
}
