//! Means and Student-t confidence intervals across episodes.

use statrs::distribution::{ContinuousCDF, StudentsT};

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
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
fn t_975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64).map_or(1.959_964, |t| t.inverse_cdf(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

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
