//! Reproducible splits: train/test(/validation) and k-fold, stratified by class for classification.
//! The same `n`, labels and seed always give the same indices (sorted ascending within each part).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{MlResult, invalid_data, invalid_param};
use crate::rng::Rng;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
    pub validation: Vec<usize>,
}

fn check_fraction(name: &str, value: f64) -> MlResult<()> {
    if !(0.0..1.0).contains(&value) || value.is_nan() {
        return Err(invalid_param(format!(
            "{name} must be in [0, 1), got {value}"
        )));
    }
    Ok(())
}

/// Groups row indices by class (or one group of all rows when not stratified), each group shuffled.
fn shuffled_groups(n: usize, stratify: Option<&[usize]>, rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let class = stratify.map_or(0, |labels| labels[i]);
        groups.entry(class).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    for group in &mut groups {
        rng.shuffle(group);
    }
    groups
}

/// Splits `n` rows into train, test and (when `validation_size > 0`) validation parts. The test part has
/// `ceil(test_size × n)` rows, as scikit-learn's `train_test_split`. With `stratify`, those rows are shared
/// among the classes in proportion to their counts (largest remainders get the rounding), so each class keeps
/// its share in every part.
pub fn train_test_split(
    n: usize,
    test_size: f64,
    validation_size: f64,
    stratify: Option<&[usize]>,
    seed: u64,
) -> MlResult<Split> {
    check_fraction("test size", test_size)?;
    check_fraction("validation size", validation_size)?;
    if test_size + validation_size >= 1.0 {
        return Err(invalid_param(format!(
            "test size ({test_size}) plus validation size ({validation_size}) leave no rows to train on"
        )));
    }
    if let Some(labels) = stratify
        && labels.len() != n
    {
        return Err(invalid_data(
            "stratification labels and rows differ in length",
        ));
    }
    let mut rng = Rng::new(seed);
    let mut split = Split {
        train: Vec::new(),
        test: Vec::new(),
        validation: Vec::new(),
    };
    let groups = shuffled_groups(n, stratify, &mut rng);
    let counts: Vec<usize> = groups.iter().map(Vec::len).collect();
    // As scikit-learn's `train_test_split`: the test part has ceil(test_size × n) rows.
    let n_test_total = (test_size * n as f64).ceil() as usize;
    let n_validation_total = (validation_size * n as f64).round() as usize;
    let test_counts = allocate(n_test_total, &counts);
    let remaining: Vec<usize> = counts
        .iter()
        .zip(&test_counts)
        .map(|(c, t)| c - t)
        .collect();
    let mut test_counts = test_counts;
    let mut validation_counts =
        allocate(n_validation_total.min(remaining.iter().sum()), &remaining);
    // Keep at least one row of every class to train on.
    for (g, &count) in counts.iter().enumerate() {
        while count > 0 && test_counts[g] + validation_counts[g] >= count {
            if validation_counts[g] > 0 {
                validation_counts[g] -= 1;
            } else if test_counts[g] > 0 {
                test_counts[g] -= 1;
            } else {
                break;
            }
        }
    }
    for ((group, &n_test), &n_validation) in groups.iter().zip(&test_counts).zip(&validation_counts)
    {
        split.test.extend_from_slice(&group[..n_test]);
        split
            .validation
            .extend_from_slice(&group[n_test..n_test + n_validation]);
        split
            .train
            .extend_from_slice(&group[n_test + n_validation..]);
    }
    if split.train.is_empty() {
        return Err(invalid_data("no rows left to train on"));
    }
    if test_size > 0.0 && split.test.is_empty() {
        return Err(invalid_data(format!(
            "{n} rows are too few for a test split of {test_size}; use more data or --test-size 0"
        )));
    }
    split.train.sort_unstable();
    split.test.sort_unstable();
    split.validation.sort_unstable();
    Ok(split)
}

/// Shares `total` among groups of sizes `counts` in proportion to them: each gets the floor of its exact share,
/// and the rows left over go to the largest fractional parts (ties to the larger group, then the earlier one).
/// No group gets more than its size.
fn allocate(total: usize, counts: &[usize]) -> Vec<usize> {
    let n: usize = counts.iter().sum();
    if n == 0 || total == 0 {
        return vec![0; counts.len()];
    }
    let total = total.min(n);
    let exact: Vec<f64> = counts
        .iter()
        .map(|&c| total as f64 * c as f64 / n as f64)
        .collect();
    let mut shares: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        let (fa, fb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        fb.total_cmp(&fa)
            .then(counts[b].cmp(&counts[a]))
            .then(a.cmp(&b))
    });
    let mut left = total - shares.iter().sum::<usize>();
    for &group in order.iter().cycle().take(order.len() * 2) {
        if left == 0 {
            break;
        }
        if shares[group] < counts[group] {
            shares[group] += 1;
            left -= 1;
        }
    }
    shares
}

/// K folds: returns `(train, test)` index pairs; every row is in exactly one test fold. Stratified folds deal
/// each class's shuffled rows round-robin over the folds.
pub fn k_fold(
    n: usize,
    k: usize,
    stratify: Option<&[usize]>,
    seed: u64,
) -> MlResult<Vec<(Vec<usize>, Vec<usize>)>> {
    if k < 2 {
        return Err(invalid_param(format!(
            "cross-validation needs at least 2 folds, got {k}"
        )));
    }
    if n < k {
        return Err(invalid_data(format!(
            "{n} rows cannot be split into {k} folds"
        )));
    }
    let mut rng = Rng::new(seed);
    let mut fold_of = vec![0usize; n];
    let mut next_fold = 0;
    for group in shuffled_groups(n, stratify, &mut rng) {
        for row in group {
            fold_of[row] = next_fold;
            next_fold = (next_fold + 1) % k;
        }
    }
    Ok((0..k)
        .map(|fold| {
            let (test, train): (Vec<usize>, Vec<usize>) =
                (0..n).partition(|&row| fold_of[row] == fold);
            (train, test)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_split_keeps_proportions_and_is_reproducible() {
        let labels: Vec<usize> = (0..100).map(|i| usize::from(i >= 80)).collect();
        let a = train_test_split(100, 0.25, 0.0, Some(&labels), 7).unwrap();
        let b = train_test_split(100, 0.25, 0.0, Some(&labels), 7).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.test.len(), 25);
        assert_eq!(a.test.iter().filter(|&&i| labels[i] == 1).count(), 5);
        let c = train_test_split(100, 0.25, 0.0, Some(&labels), 8).unwrap();
        assert_ne!(a.test, c.test);
        let mut all: Vec<usize> = a.train.iter().chain(&a.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn test_part_sizes_follow_scikit_learn() {
        // train_test_split(test_size=0.25) on 150 rows holds out ceil(37.5) = 38; stratified over three
        // classes of 50 the shares are 12.67 each, so two classes give 13 and one gives 12.
        let labels: Vec<usize> = (0..150).map(|i| i / 50).collect();
        let split = train_test_split(150, 0.25, 0.0, Some(&labels), 3).unwrap();
        assert_eq!((split.train.len(), split.test.len()), (112, 38));
        let mut per_class: Vec<usize> = (0..3)
            .map(|c| split.test.iter().filter(|&&i| labels[i] == c).count())
            .collect();
        per_class.sort_unstable();
        assert_eq!(per_class, vec![12, 13, 13]);
        let plain = train_test_split(10, 0.33, 0.0, None, 3).unwrap();
        assert_eq!(plain.test.len(), 4);
        assert_eq!(allocate(5, &[1, 1, 8]), vec![1, 0, 4]);
        assert_eq!(allocate(3, &[2, 2]), vec![2, 1]);
    }

    #[test]
    fn validation_part_and_limits() {
        let split = train_test_split(50, 0.2, 0.2, None, 1).unwrap();
        assert_eq!(
            (split.train.len(), split.test.len(), split.validation.len()),
            (30, 10, 10)
        );
        assert!(train_test_split(10, 1.0, 0.0, None, 1).is_err());
        assert!(train_test_split(10, 0.6, 0.5, None, 1).is_err());
        assert!(train_test_split(1, 0.2, 0.0, None, 1).is_err());
        // A class with one row stays in train.
        let labels = [0, 0, 0, 0, 1];
        let split = train_test_split(5, 0.4, 0.0, Some(&labels), 3).unwrap();
        assert!(split.train.contains(&4));
    }

    #[test]
    fn k_fold_covers_every_row_once() {
        let labels: Vec<usize> = (0..30).map(|i| i % 3).collect();
        let folds = k_fold(30, 5, Some(&labels), 11).unwrap();
        let mut seen = [0; 30];
        for (train, test) in &folds {
            assert_eq!(train.len() + test.len(), 30);
            assert_eq!(test.len(), 6);
            for &row in test {
                seen[row] += 1;
            }
            for class in 0..3 {
                assert_eq!(test.iter().filter(|&&i| labels[i] == class).count(), 2);
            }
        }
        assert!(seen.iter().all(|&count| count == 1));
        assert!(k_fold(3, 5, None, 1).is_err());
        assert!(k_fold(30, 1, None, 1).is_err());
    }
}
