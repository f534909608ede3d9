//! Hyper-parameters of the tree learners, with scikit-learn's defaults, parsed from the `key=value` strings the
//! CLI passes (`--param max_depth=8`). Parsing rejects unknown keys (listing the accepted ones) and bad values
//! (naming key and value), and every fit re-validates its parameters, so a struct built in code gets the same
//! checks as one parsed from text.

use serde::{Deserialize, Serialize};

use crate::error::{MlResult, invalid_param};
use crate::train::Task;

/// How many features a split considers at each node (drawn anew at every node, as scikit-learn does).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxFeatures {
    /// Every feature.
    All,
    /// `max(1, floor(sqrt(n_features)))`.
    Sqrt,
    /// `max(1, floor(log2(n_features)))`.
    Log2,
    /// `max(1, floor(fraction * n_features))`, fraction in (0, 1].
    Fraction(f64),
    /// An exact count, 1..=n_features.
    Count(usize),
}

impl MaxFeatures {
    /// Parses `all`, `sqrt`, `log2`, an integer count (`5`) or a fraction (`0.5`, `1.0`), like scikit-learn's
    /// int-versus-float convention.
    pub fn parse(key: &str, text: &str) -> MlResult<MaxFeatures> {
        match text.trim() {
            "all" | "none" | "None" => Ok(MaxFeatures::All),
            "sqrt" => Ok(MaxFeatures::Sqrt),
            "log2" => Ok(MaxFeatures::Log2),
            other => {
                if let Ok(count) = other.parse::<usize>() {
                    let parsed = MaxFeatures::Count(count);
                    parsed.check(key)?;
                    return Ok(parsed);
                }
                match other.parse::<f64>() {
                    Ok(fraction) => {
                        let parsed = MaxFeatures::Fraction(fraction);
                        parsed.check(key)?;
                        Ok(parsed)
                    }
                    Err(_) => Err(bad_value(
                        key,
                        text,
                        "use sqrt, log2, all, a count such as 5, or a fraction in (0, 1] such as 0.5",
                    )),
                }
            }
        }
    }

    /// The text [`MaxFeatures::parse`] reads back to this value.
    pub fn text(&self) -> String {
        match *self {
            MaxFeatures::All => "all".into(),
            MaxFeatures::Sqrt => "sqrt".into(),
            MaxFeatures::Log2 => "log2".into(),
            MaxFeatures::Fraction(f) => float_text(f),
            MaxFeatures::Count(c) => c.to_string(),
        }
    }

    fn check(&self, key: &str) -> MlResult<()> {
        match *self {
            MaxFeatures::Fraction(f) if !(f > 0.0 && f <= 1.0) => Err(bad_value(
                key,
                &f.to_string(),
                "a fraction must be in (0, 1]",
            )),
            MaxFeatures::Count(0) => Err(bad_value(key, "0", "a count must be at least 1")),
            _ => Ok(()),
        }
    }

    /// The number of features to consider out of `n_features`; errors when a count exceeds `n_features`.
    pub fn resolve(&self, key: &str, n_features: usize) -> MlResult<usize> {
        self.check(key)?;
        let n = n_features as f64;
        let count = match *self {
            MaxFeatures::All => n_features,
            MaxFeatures::Sqrt => n.sqrt().floor() as usize,
            MaxFeatures::Log2 => n.log2().floor() as usize,
            MaxFeatures::Fraction(f) => (f * n).floor() as usize,
            MaxFeatures::Count(c) if c > n_features => {
                return Err(bad_value(
                    key,
                    &c.to_string(),
                    &format!("the data has only {n_features} features; use at most {n_features}"),
                ));
            }
            MaxFeatures::Count(c) => c,
        };
        Ok(count.clamp(1, n_features.max(1)))
    }
}

/// Per-class sample weights for classification forests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every class weighs 1.
    Uniform,
    /// `n_samples / (n_classes * count(class))` over the whole training set.
    Balanced,
    /// As `Balanced`, but computed on each tree's bootstrap sample.
    BalancedSubsample,
    /// One weight per class, in label order.
    Explicit(Vec<f64>),
}

impl ClassWeight {
    /// The text [`ClassWeight::parse`] reads back to this value.
    pub fn text(&self) -> String {
        match self {
            ClassWeight::Uniform => "none".into(),
            ClassWeight::Balanced => "balanced".into(),
            ClassWeight::BalancedSubsample => "balanced_subsample".into(),
            ClassWeight::Explicit(weights) => weights
                .iter()
                .map(|&w| float_text(w))
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// Parses `none`, `balanced`, `balanced_subsample`, or comma-separated weights in label order (`1,5`).
    pub fn parse(key: &str, text: &str) -> MlResult<ClassWeight> {
        match text.trim() {
            "none" | "None" | "uniform" => Ok(ClassWeight::Uniform),
            "balanced" => Ok(ClassWeight::Balanced),
            "balanced_subsample" => Ok(ClassWeight::BalancedSubsample),
            other => {
                let hint = "use none, balanced, balanced_subsample, or one non-negative weight per class in \
                            label order, comma-separated (e.g. 1,5)";
                let weights = other
                    .split(',')
                    .map(|part| part.trim().parse::<f64>())
                    .collect::<Result<Vec<f64>, _>>()
                    .map_err(|_| bad_value(key, text, hint))?;
                if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
                    return Err(bad_value(key, text, hint));
                }
                Ok(ClassWeight::Explicit(weights))
            }
        }
    }
}

/// Whether gradient boosting holds out a validation split and stops when its loss stops improving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EarlyStopping {
    /// On when the training set has more than 10,000 rows (scikit-learn's `early_stopping='auto'`).
    Auto,
    On,
    Off,
}

/// A single decision tree (scikit-learn's `DecisionTreeClassifier` / `DecisionTreeRegressor` defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionTreeParams {
    /// `None` grows until leaves are pure or too small to split.
    pub max_depth: Option<usize>,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    pub max_features: MaxFeatures,
    /// Histogram bins per feature, 2..=255.
    pub max_bins: usize,
}

impl Default for DecisionTreeParams {
    fn default() -> Self {
        DecisionTreeParams {
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            max_features: MaxFeatures::All,
            max_bins: 255,
        }
    }
}

const DECISION_TREE_KEYS: &[&str] = &[
    "max_depth",
    "min_samples_split",
    "min_samples_leaf",
    "max_features",
    "max_bins",
];

impl DecisionTreeParams {
    pub fn from_pairs(pairs: &[(String, String)]) -> MlResult<Self> {
        let mut params = DecisionTreeParams::default();
        for (key, value) in pairs {
            match key.as_str() {
                "max_depth" => params.max_depth = parse_optional_count(key, value)?,
                "min_samples_split" => params.min_samples_split = parse_number(key, value)?,
                "min_samples_leaf" => params.min_samples_leaf = parse_number(key, value)?,
                "max_features" => params.max_features = MaxFeatures::parse(key, value)?,
                "max_bins" => params.max_bins = parse_number(key, value)?,
                _ => return Err(unknown_key("decision tree", key, DECISION_TREE_KEYS)),
            }
        }
        params.validate()?;
        Ok(params)
    }

    pub fn validate(&self) -> MlResult<()> {
        check_tree_shape(
            self.max_depth,
            self.min_samples_split,
            self.min_samples_leaf,
            self.max_bins,
        )?;
        self.max_features.check("max_features")
    }

    /// Every parameter, defaults included, as `from_pairs` reads them back.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        vec![
            pair("max_depth", optional_count_text(self.max_depth)),
            pair("min_samples_split", self.min_samples_split.to_string()),
            pair("min_samples_leaf", self.min_samples_leaf.to_string()),
            pair("max_features", self.max_features.text()),
            pair("max_bins", self.max_bins.to_string()),
        ]
    }
}

/// A random forest (scikit-learn's `RandomForestClassifier` / `RandomForestRegressor` defaults). The seed is
/// an argument of `fit`, not a parameter, so that it is recorded once beside the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForestParams {
    pub n_estimators: usize,
    pub max_depth: Option<usize>,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    /// `None` picks scikit-learn's default for the task: `sqrt` for classification, all features for regression.
    pub max_features: Option<MaxFeatures>,
    pub bootstrap: bool,
    /// Ignored by regression.
    pub class_weight: ClassWeight,
    pub max_bins: usize,
}

impl Default for RandomForestParams {
    fn default() -> Self {
        RandomForestParams {
            n_estimators: 100,
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            max_features: None,
            bootstrap: true,
            class_weight: ClassWeight::Uniform,
            max_bins: 255,
        }
    }
}

const RANDOM_FOREST_KEYS: &[&str] = &[
    "n_estimators",
    "max_depth",
    "min_samples_split",
    "min_samples_leaf",
    "max_features",
    "bootstrap",
    "class_weight",
    "max_bins",
];

impl RandomForestParams {
    /// Every parameter, defaults included, as `from_pairs` reads them back; `max_features` left to the task's
    /// default is written as that default (`sqrt` for classification, `all` for regression).
    pub fn to_pairs(&self, task: Task) -> Vec<(String, String)> {
        let max_features = self.max_features.unwrap_or(match task {
            Task::Classification => MaxFeatures::Sqrt,
            Task::Regression => MaxFeatures::All,
        });
        vec![
            pair("n_estimators", self.n_estimators.to_string()),
            pair("max_depth", optional_count_text(self.max_depth)),
            pair("min_samples_split", self.min_samples_split.to_string()),
            pair("min_samples_leaf", self.min_samples_leaf.to_string()),
            pair("max_features", max_features.text()),
            pair("bootstrap", self.bootstrap.to_string()),
            pair("class_weight", self.class_weight.text()),
            pair("max_bins", self.max_bins.to_string()),
        ]
    }

    pub fn from_pairs(pairs: &[(String, String)]) -> MlResult<Self> {
        let mut params = RandomForestParams::default();
        for (key, value) in pairs {
            match key.as_str() {
                "n_estimators" => params.n_estimators = parse_number(key, value)?,
                "max_depth" => params.max_depth = parse_optional_count(key, value)?,
                "min_samples_split" => params.min_samples_split = parse_number(key, value)?,
                "min_samples_leaf" => params.min_samples_leaf = parse_number(key, value)?,
                "max_features" => params.max_features = Some(MaxFeatures::parse(key, value)?),
                "bootstrap" => params.bootstrap = parse_bool(key, value)?,
                "class_weight" => params.class_weight = ClassWeight::parse(key, value)?,
                "max_bins" => params.max_bins = parse_number(key, value)?,
                _ => return Err(unknown_key("random forest", key, RANDOM_FOREST_KEYS)),
            }
        }
        params.validate()?;
        Ok(params)
    }

    pub fn validate(&self) -> MlResult<()> {
        if self.n_estimators == 0 {
            return Err(bad_value(
                "n_estimators",
                "0",
                "a forest needs at least 1 tree (default 100)",
            ));
        }
        check_tree_shape(
            self.max_depth,
            self.min_samples_split,
            self.min_samples_leaf,
            self.max_bins,
        )?;
        if let Some(max_features) = &self.max_features {
            max_features.check("max_features")?;
        }
        if let ClassWeight::Explicit(weights) = &self.class_weight
            && weights.iter().any(|w| !w.is_finite() || *w < 0.0)
        {
            return Err(invalid_param(format!(
                "class_weight {weights:?} has a negative or non-finite weight; give one weight >= 0 per class"
            )));
        }
        Ok(())
    }
}

/// Gradient-boosted trees (scikit-learn's `HistGradientBoostingClassifier` / `Regressor` defaults: leaf-wise
/// growth with at most 31 leaves, 20 samples per leaf, early stopping on when there are more than 10,000 rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradientBoostingParams {
    pub learning_rate: f64,
    /// Boosting rounds (scikit-learn's `max_iter`); multiclass fits one tree per class per round.
    pub n_estimators: usize,
    pub max_depth: Option<usize>,
    /// Leaf-wise (best-first) growth stops at this many leaves; `None` grows depth-limited trees only.
    pub max_leaves: Option<usize>,
    pub min_samples_leaf: usize,
    /// L2 penalty on leaf values (`l2_regularization`).
    pub l2_regularization: f64,
    pub max_bins: usize,
    pub early_stopping: EarlyStopping,
    pub validation_fraction: f64,
    pub n_iter_no_change: usize,
    /// A round counts as an improvement when it lowers the validation loss by more than `tol`.
    pub tol: f64,
}

impl Default for GradientBoostingParams {
    fn default() -> Self {
        GradientBoostingParams {
            learning_rate: 0.1,
            n_estimators: 100,
            max_depth: None,
            max_leaves: Some(31),
            min_samples_leaf: 20,
            l2_regularization: 0.0,
            max_bins: 255,
            early_stopping: EarlyStopping::Auto,
            validation_fraction: 0.1,
            n_iter_no_change: 10,
            tol: 1e-7,
        }
    }
}

const GRADIENT_BOOSTING_KEYS: &[&str] = &[
    "learning_rate",
    "n_estimators (alias max_iter)",
    "max_depth",
    "max_leaves (alias max_leaf_nodes)",
    "min_samples_leaf",
    "l2_regularization",
    "max_bins",
    "early_stopping",
    "validation_fraction",
    "n_iter_no_change",
    "tol",
];

impl GradientBoostingParams {
    /// Every parameter, defaults included, as `from_pairs` reads them back.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let early_stopping = match self.early_stopping {
            EarlyStopping::Auto => "auto",
            EarlyStopping::On => "true",
            EarlyStopping::Off => "false",
        };
        vec![
            pair("learning_rate", float_text(self.learning_rate)),
            pair("n_estimators", self.n_estimators.to_string()),
            pair("max_depth", optional_count_text(self.max_depth)),
            pair("max_leaves", optional_count_text(self.max_leaves)),
            pair("min_samples_leaf", self.min_samples_leaf.to_string()),
            pair("l2_regularization", float_text(self.l2_regularization)),
            pair("max_bins", self.max_bins.to_string()),
            pair("early_stopping", early_stopping),
            pair("validation_fraction", float_text(self.validation_fraction)),
            pair("n_iter_no_change", self.n_iter_no_change.to_string()),
            pair("tol", float_text(self.tol)),
        ]
    }

    pub fn from_pairs(pairs: &[(String, String)]) -> MlResult<Self> {
        let mut params = GradientBoostingParams::default();
        for (key, value) in pairs {
            match key.as_str() {
                "learning_rate" => params.learning_rate = parse_number(key, value)?,
                "n_estimators" | "max_iter" => params.n_estimators = parse_number(key, value)?,
                "max_depth" => params.max_depth = parse_optional_count(key, value)?,
                "max_leaves" | "max_leaf_nodes" => {
                    params.max_leaves = parse_optional_count(key, value)?
                }
                "min_samples_leaf" => params.min_samples_leaf = parse_number(key, value)?,
                "l2_regularization" => params.l2_regularization = parse_number(key, value)?,
                "max_bins" => params.max_bins = parse_number(key, value)?,
                "early_stopping" => {
                    params.early_stopping = match value.trim() {
                        "auto" => EarlyStopping::Auto,
                        "true" | "on" | "yes" | "1" => EarlyStopping::On,
                        "false" | "off" | "no" | "0" => EarlyStopping::Off,
                        _ => return Err(bad_value(key, value, "use auto, true or false")),
                    }
                }
                "validation_fraction" => params.validation_fraction = parse_number(key, value)?,
                "n_iter_no_change" => params.n_iter_no_change = parse_number(key, value)?,
                "tol" => params.tol = parse_number(key, value)?,
                _ => {
                    return Err(unknown_key(
                        "gradient boosting",
                        key,
                        GRADIENT_BOOSTING_KEYS,
                    ));
                }
            }
        }
        params.validate()?;
        Ok(params)
    }

    pub fn validate(&self) -> MlResult<()> {
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(bad_value(
                "learning_rate",
                &self.learning_rate.to_string(),
                "it must be a finite number > 0 (default 0.1)",
            ));
        }
        if self.n_estimators == 0 {
            return Err(bad_value(
                "n_estimators",
                "0",
                "boosting needs at least 1 round (default 100)",
            ));
        }
        check_tree_shape(self.max_depth, 2, self.min_samples_leaf, self.max_bins)?;
        if let Some(leaves) = self.max_leaves
            && leaves < 2
        {
            return Err(bad_value(
                "max_leaves",
                &leaves.to_string(),
                "a tree needs at least 2 leaves; use none for no limit",
            ));
        }
        if !(self.l2_regularization >= 0.0 && self.l2_regularization.is_finite()) {
            return Err(bad_value(
                "l2_regularization",
                &self.l2_regularization.to_string(),
                "it must be a finite number >= 0",
            ));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return Err(bad_value(
                "validation_fraction",
                &self.validation_fraction.to_string(),
                "it must be in (0, 1) (default 0.1)",
            ));
        }
        if self.n_iter_no_change == 0 {
            return Err(bad_value(
                "n_iter_no_change",
                "0",
                "it must be at least 1 (default 10)",
            ));
        }
        if !(self.tol >= 0.0 && self.tol.is_finite()) {
            return Err(bad_value(
                "tol",
                &self.tol.to_string(),
                "it must be a finite number >= 0",
            ));
        }
        Ok(())
    }
}

fn check_tree_shape(
    max_depth: Option<usize>,
    min_samples_split: usize,
    min_samples_leaf: usize,
    max_bins: usize,
) -> MlResult<()> {
    if max_depth == Some(0) {
        return Err(bad_value(
            "max_depth",
            "0",
            "use at least 1, or none for no limit",
        ));
    }
    if min_samples_split < 2 {
        return Err(bad_value(
            "min_samples_split",
            &min_samples_split.to_string(),
            "a split needs at least 2 samples",
        ));
    }
    if min_samples_leaf == 0 {
        return Err(bad_value(
            "min_samples_leaf",
            "0",
            "a leaf needs at least 1 sample",
        ));
    }
    if !(2..=255).contains(&max_bins) {
        return Err(bad_value(
            "max_bins",
            &max_bins.to_string(),
            "it must be in 2..=255 (bins are stored as bytes)",
        ));
    }
    Ok(())
}

/// Parameter values as the text `from_pairs` reads back to the same value: what a run records.
pub(crate) fn optional_count_text(value: Option<usize>) -> String {
    value.map_or_else(|| "none".to_string(), |v| v.to_string())
}

/// A float as text that parses back to the same bits; `{:?}` keeps a decimal point (`1.0`), which matters
/// where an integer means something else (`max_features=1` is one feature, `1.0` all of them).
pub(crate) fn float_text(value: f64) -> String {
    format!("{value:?}")
}

pub(crate) fn pair(key: &str, value: impl Into<String>) -> (String, String) {
    (key.to_string(), value.into())
}

pub(crate) fn bad_value(key: &str, value: &str, hint: &str) -> crate::error::MlError {
    invalid_param(format!("parameter {key}={value} is invalid: {hint}"))
}

pub(crate) fn unknown_key(algorithm: &str, key: &str, accepted: &[&str]) -> crate::error::MlError {
    invalid_param(format!(
        "unknown {algorithm} parameter '{key}'; accepted: {}",
        accepted.join(", ")
    ))
}

pub(crate) fn parse_number<T: std::str::FromStr>(key: &str, value: &str) -> MlResult<T> {
    value.trim().parse::<T>().map_err(|_| {
        bad_value(
            key,
            value,
            &format!("expected a {}", std::any::type_name::<T>()),
        )
    })
}

pub(crate) fn parse_optional_count(key: &str, value: &str) -> MlResult<Option<usize>> {
    match value.trim() {
        "none" | "None" | "null" => Ok(None),
        other => other
            .parse::<usize>()
            .map(Some)
            .map_err(|_| bad_value(key, value, "expected a whole number, or none for no limit")),
    }
}

pub(crate) fn parse_bool(key: &str, value: &str) -> MlResult<bool> {
    match value.trim() {
        "true" | "True" | "yes" | "1" => Ok(true),
        "false" | "False" | "no" | "0" => Ok(false),
        _ => Err(bad_value(key, value, "expected true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn written_parameters_read_back_to_the_same_values() {
        let forest = RandomForestParams {
            n_estimators: 7,
            max_depth: Some(4),
            min_samples_split: 3,
            min_samples_leaf: 2,
            // 1.0 is every feature and 1 is one feature: the text must keep them apart.
            max_features: Some(MaxFeatures::Fraction(1.0)),
            bootstrap: false,
            class_weight: ClassWeight::Explicit(vec![1.0, 2.5]),
            max_bins: 63,
        };
        let written = forest.to_pairs(Task::Classification);
        assert_eq!(RandomForestParams::from_pairs(&written).unwrap(), forest);
        for max_features in [
            MaxFeatures::All,
            MaxFeatures::Sqrt,
            MaxFeatures::Log2,
            MaxFeatures::Count(1),
            MaxFeatures::Fraction(0.3),
        ] {
            assert_eq!(
                MaxFeatures::parse("max_features", &max_features.text()).unwrap(),
                max_features
            );
        }
        for weight in [
            ClassWeight::Uniform,
            ClassWeight::Balanced,
            ClassWeight::BalancedSubsample,
        ] {
            assert_eq!(
                ClassWeight::parse("class_weight", &weight.text()).unwrap(),
                weight
            );
        }

        let boosting = GradientBoostingParams {
            learning_rate: 0.05,
            n_estimators: 12,
            max_depth: Some(3),
            max_leaves: None,
            min_samples_leaf: 5,
            l2_regularization: 0.25,
            max_bins: 31,
            early_stopping: EarlyStopping::Off,
            validation_fraction: 0.2,
            n_iter_no_change: 4,
            tol: 1e-9,
        };
        assert_eq!(
            GradientBoostingParams::from_pairs(&boosting.to_pairs()).unwrap(),
            boosting
        );
        let tree = DecisionTreeParams {
            max_depth: None,
            min_samples_split: 4,
            min_samples_leaf: 3,
            max_features: MaxFeatures::Count(2),
            max_bins: 100,
        };
        assert_eq!(
            DecisionTreeParams::from_pairs(&tree.to_pairs()).unwrap(),
            tree
        );
    }

    #[test]
    fn a_forest_records_the_max_features_its_task_defaults_to() {
        let forest = RandomForestParams::default();
        let value = |task| {
            forest
                .to_pairs(task)
                .into_iter()
                .find(|(key, _)| key == "max_features")
                .map(|(_, value)| value)
        };
        assert_eq!(value(Task::Classification).as_deref(), Some("sqrt"));
        assert_eq!(value(Task::Regression).as_deref(), Some("all"));
    }

    #[test]
    fn defaults_follow_scikit_learn_and_text_overrides_them() {
        let forest = RandomForestParams::from_pairs(&pairs(&[
            ("n_estimators", "10"),
            ("max_features", "0.5"),
            ("class_weight", "balanced"),
            ("max_depth", "none"),
        ]))
        .unwrap();
        assert_eq!(forest.n_estimators, 10);
        assert_eq!(forest.max_features, Some(MaxFeatures::Fraction(0.5)));
        assert_eq!(forest.class_weight, ClassWeight::Balanced);
        let boosting = GradientBoostingParams::default();
        assert_eq!(boosting.max_leaves, Some(31));
        assert_eq!(boosting.min_samples_leaf, 20);
        assert_eq!(
            MaxFeatures::parse("max_features", "3").unwrap(),
            MaxFeatures::Count(3)
        );
        assert_eq!(
            ClassWeight::parse("class_weight", "1, 5").unwrap(),
            ClassWeight::Explicit(vec![1.0, 5.0])
        );
    }

    #[test]
    fn resolve_counts_features_like_scikit_learn() {
        assert_eq!(MaxFeatures::Sqrt.resolve("k", 20).unwrap(), 4);
        assert_eq!(MaxFeatures::Log2.resolve("k", 20).unwrap(), 4);
        assert_eq!(MaxFeatures::Fraction(0.01).resolve("k", 20).unwrap(), 1);
        assert_eq!(MaxFeatures::All.resolve("k", 20).unwrap(), 20);
        assert!(MaxFeatures::Count(21).resolve("k", 20).is_err());
    }

    #[test]
    fn messages_name_the_key_and_value() {
        let err = GradientBoostingParams::from_pairs(&pairs(&[("learning_rate", "-1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("learning_rate=-1"), "{err}");
        let err = RandomForestParams::from_pairs(&pairs(&[("n_trees", "5")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("n_trees") && err.contains("n_estimators"),
            "{err}"
        );
        let err = RandomForestParams::from_pairs(&pairs(&[("max_features", "1.5")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_features"), "{err}");
        assert!(DecisionTreeParams::from_pairs(&pairs(&[("max_depth", "0")])).is_err());
        assert!(DecisionTreeParams::from_pairs(&pairs(&[("max_bins", "256")])).is_err());
    }
}
