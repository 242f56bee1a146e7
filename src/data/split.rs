//! Stratified train/validation splits.

use super::rng::Rng;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Row indices, ascending.
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
}

/// Splits rows so that each class keeps its share in both parts. Each class sends
/// `round(valid_fraction × class size)` rows to validation; the same seed gives the same split.
pub fn stratified_split(target: &[u8], valid_fraction: f64, seed: u64) -> Split {
    let mut train = Vec::new();
    let mut valid = Vec::new();
    let mut classes: Vec<u8> = target.to_vec();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        let mut rows: Vec<usize> = (0..target.len()).filter(|&i| target[i] == class).collect();
        Rng::derive(seed, 1000 + class as u64).shuffle(&mut rows);
        let k = (valid_fraction * rows.len() as f64).round() as usize;
        valid.extend_from_slice(&rows[..k]);
        train.extend_from_slice(&rows[k..]);
    }
    train.sort_unstable();
    valid.sort_unstable();
    Split { train, valid }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_class_shares_and_covers_every_row_once() {
        let target: Vec<u8> = (0..1000).map(|i| (i % 5 == 0) as u8).collect();
        let s = stratified_split(&target, 0.2, 42);
        assert_eq!(s.valid.len(), 200);
        assert_eq!(s.train.len(), 800);
        let pos_valid = s.valid.iter().filter(|&&i| target[i] == 1).count();
        assert_eq!(pos_valid, 40);
        let mut all: Vec<usize> = s.train.iter().chain(&s.valid).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(s, stratified_split(&target, 0.2, 42));
        assert_ne!(s, stratified_split(&target, 0.2, 43));
    }
}
