//! Expressions over time: keyframes eased into one another, so that an action (a blink, a
//! turn) has the smooth start and stop of a real movement rather than a jump or a constant
//! speed that a motion check could tell apart.

use crate::scene::Expression;

/// Keyframes `(t_ms, Expression)`; between two keys the expression follows a smoothstep
/// (cubic ease-in-out), before the first and after the last it holds.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    keys: Vec<(f64, Expression)>,
}

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key. Keys may be given in any order; a key at the time of an earlier one
    /// replaces it.
    pub fn key(mut self, t_ms: f64, expression: Expression) -> Self {
        match self.keys.binary_search_by(|(t, _)| t.total_cmp(&t_ms)) {
            Ok(i) => self.keys[i].1 = expression,
            Err(i) => self.keys.insert(i, (t_ms, expression)),
        }
        self
    }

    /// Time of the last key (0 when empty).
    pub fn duration_ms(&self) -> f64 {
        self.keys.last().map(|k| k.0).unwrap_or(0.0)
    }

    /// The expression at `t_ms`; neutral when there are no keys.
    pub fn at(&self, t_ms: f64) -> Expression {
        let Some(first) = self.keys.first() else { return Expression::default() };
        let after = self.keys.partition_point(|(t, _)| *t <= t_ms);
        if after == 0 {
            return first.1;
        }
        let (t0, e0) = self.keys[after - 1];
        let Some(&(t1, e1)) = self.keys.get(after) else { return e0 };
        let u = ((t_ms - t0) / (t1 - t0)).clamp(0.0, 1.0) as f32;
        e0.lerp(&e1, u * u * (3.0 - 2.0 * u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(c: f32) -> Expression {
        Expression { eye_closure: c, ..Expression::default() }
    }

    #[test]
    fn eases_between_keys_and_holds_outside() {
        let tl = Timeline::new().key(100.0, closed(0.0)).key(300.0, closed(1.0)).key(200.0, closed(0.5));
        assert_eq!(tl.at(0.0), closed(0.0));
        assert_eq!(tl.at(100.0), closed(0.0));
        assert_eq!(tl.at(200.0), closed(0.5));
        assert_eq!(tl.at(1000.0), closed(1.0));
        assert_eq!(tl.duration_ms(), 300.0);
        // Half-way between keys the ease is at half; a quarter of the way it lags a straight line.
        assert!((tl.at(150.0).eye_closure - 0.25).abs() < 1e-6);
        let quarter = tl.at(125.0).eye_closure;
        assert!(quarter > 0.0 && quarter < 0.125, "{quarter}");
        // Monotonic between keys that rise.
        let mut last = -1.0;
        for t in 100..=300 {
            let c = tl.at(t as f64).eye_closure;
            assert!(c >= last);
            last = c;
        }
    }

    #[test]
    fn empty_timeline_is_neutral_and_replacing_a_key_works() {
        assert_eq!(Timeline::new().at(5.0), Expression::default());
        let tl = Timeline::new().key(0.0, closed(1.0)).key(0.0, closed(0.3));
        assert_eq!(tl.at(10.0), closed(0.3));
    }
}
