//! When a disk will be full, said only when the history supports it.
//!
//! The rule (also in the README): at least [`MIN_POINTS`] measurements spanning at least
//! [`MIN_SPAN_DAYS`] days, a least-squares line through (time, used bytes) that explains at least
//! [`MIN_R2`] of their variation, and a rising line. Otherwise there is no forecast, and the report
//! says "not enough history yet" instead of a number made from twenty minutes of noise.

/// Measurements needed for a forecast.
pub const MIN_POINTS: usize = 5;
/// Days of history needed for a forecast.
pub const MIN_SPAN_DAYS: f64 = 7.0;
/// How much of the variation the line must explain (R², 0..1).
pub const MIN_R2: f64 = 0.8;

/// A straight line through the points: (slope per second, R²), or None when the times are all equal.
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    // A perfectly flat series is fully explained by its (flat) line.
    let r2 = if syy <= 0.0 {
        1.0
    } else {
        sxy * sxy / (sxx * syy)
    };
    Some((slope, r2))
}

/// Days until full from a least-squares line, whatever the history; None when not growing.
pub fn days_to_full(points: &[(f64, f64)], size: f64) -> Option<f64> {
    let (slope, _) = fit(points)?;
    let last = points.last()?.1;
    (slope > 0.0).then(|| ((size - last) / slope / 86_400.0).max(0.0))
}

/// Whether the history is long and dense enough to forecast at all.
pub fn enough_history(points: &[(f64, f64)]) -> bool {
    let span = match (points.first(), points.last()) {
        (Some(a), Some(b)) => (b.0 - a.0) / 86_400.0,
        _ => 0.0,
    };
    points.len() >= MIN_POINTS && span >= MIN_SPAN_DAYS
}

/// Days until full under the report's rule (see the module comment); None means no forecast.
pub fn days_to_full_rule(points: &[(f64, f64)], size: f64) -> Option<f64> {
    if !enough_history(points) {
        return None;
    }
    let (_, r2) = fit(points)?;
    if r2 < MIN_R2 {
        return None;
    }
    days_to_full(points, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forecast_from_a_growing_disk() {
        let day = 86_400.0;
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64 * day, 50.0 + i as f64)).collect();
        let d = days_to_full(&pts, 100.0).expect("growing");
        assert!((d - 41.0).abs() < 0.01, "{d}");
        assert_eq!(days_to_full_rule(&pts, 100.0), Some(d));
        assert_eq!(
            days_to_full(&[(0.0, 5.0), (day, 5.0)], 10.0),
            None,
            "flat is not filling"
        );
        assert_eq!(days_to_full(&[(0.0, 5.0)], 10.0), None);
        // Three days of steady growth are not a week.
        assert_eq!(days_to_full_rule(&pts[..4], 100.0), None);
    }
}
