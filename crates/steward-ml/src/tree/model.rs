//! A fitted tree in flat arrays (feature, threshold, left, right, value offset per node), the layout ONNX's
//! `TreeEnsembleClassifier` / `TreeEnsembleRegressor` use: prediction walks `x[feature] <= threshold` to the
//! left (BRANCH_LEQ) on raw `f64` rows, and every threshold is exactly representable as `f32`.

use serde::{Deserialize, Serialize};

/// Marks a leaf in [`Tree::feature`].
pub const LEAF: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Split feature per node, or [`LEAF`].
    feature: Vec<u32>,
    /// Split threshold per node (0 for leaves): `x[feature] <= threshold` goes left.
    threshold: Vec<f64>,
    left: Vec<u32>,
    right: Vec<u32>,
    /// Start of a leaf's outputs in `values` (0 for split nodes).
    value_offset: Vec<u32>,
    /// Leaf outputs, `n_outputs` per leaf: class probabilities, a mean, or a boosting score.
    values: Vec<f64>,
    n_outputs: usize,
}

/// One node of a fitted tree, for exporters and inspection.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeView<'a> {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        values: &'a [f64],
    },
}

impl Tree {
    pub(crate) fn new(n_outputs: usize) -> Tree {
        Tree {
            feature: Vec::new(),
            threshold: Vec::new(),
            left: Vec::new(),
            right: Vec::new(),
            value_offset: Vec::new(),
            values: Vec::new(),
            n_outputs,
        }
    }

    /// Appends a placeholder node and returns its id; [`Tree::set_split`] or [`Tree::set_leaf`] fills it.
    pub(crate) fn push_node(&mut self) -> usize {
        self.feature.push(LEAF);
        self.threshold.push(0.0);
        self.left.push(0);
        self.right.push(0);
        self.value_offset.push(0);
        self.feature.len() - 1
    }

    pub(crate) fn set_split(
        &mut self,
        node: usize,
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    ) {
        self.feature[node] = feature as u32;
        self.threshold[node] = threshold;
        self.left[node] = left as u32;
        self.right[node] = right as u32;
    }

    pub(crate) fn set_leaf(&mut self, node: usize, values: &[f64]) {
        debug_assert_eq!(values.len(), self.n_outputs);
        self.feature[node] = LEAF;
        self.value_offset[node] = self.values.len() as u32;
        self.values.extend_from_slice(values);
    }

    /// Overwrites the outputs of a leaf set with [`Tree::set_leaf`].
    pub(crate) fn replace_leaf_values(&mut self, node: usize, values: &[f64]) {
        debug_assert_eq!(self.feature[node], LEAF);
        let start = self.value_offset[node] as usize;
        self.values[start..start + self.n_outputs].copy_from_slice(values);
    }

    /// Multiplies every leaf output (boosting's shrinkage).
    pub(crate) fn scale_values(&mut self, factor: f64) {
        for v in &mut self.values {
            *v *= factor;
        }
    }

    pub fn n_nodes(&self) -> usize {
        self.feature.len()
    }

    pub fn n_leaves(&self) -> usize {
        self.feature.iter().filter(|&&f| f == LEAF).count()
    }

    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// The longest root-to-leaf path, in splits (a single leaf has depth 0).
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(0usize, 0usize)];
        while let Some((node, depth)) = stack.pop() {
            if self.feature[node] == LEAF {
                deepest = deepest.max(depth);
            } else {
                stack.push((self.left[node] as usize, depth + 1));
                stack.push((self.right[node] as usize, depth + 1));
            }
        }
        deepest
    }

    pub fn node(&self, node: usize) -> NodeView<'_> {
        if self.feature[node] == LEAF {
            NodeView::Leaf {
                values: self.leaf_values(node),
            }
        } else {
            NodeView::Split {
                feature: self.feature[node] as usize,
                threshold: self.threshold[node],
                left: self.left[node] as usize,
                right: self.right[node] as usize,
            }
        }
    }

    /// The outputs of leaf `node`.
    #[inline]
    pub(crate) fn leaf_values(&self, node: usize) -> &[f64] {
        let start = self.value_offset[node] as usize;
        &self.values[start..start + self.n_outputs]
    }

    /// The leaf `row` falls into. `row` must have at least as many features as the tree uses (callers check
    /// the column count once per batch). Values are rounded to `f32` before they are compared, as ONNX (float32
    /// inputs) and scikit-learn (which casts `X` to float32 for its trees) compare them: a value within half an
    /// f32 ulp above a threshold would otherwise go right here and left in the exported graph.
    #[inline]
    pub fn leaf_of(&self, row: &[f64]) -> usize {
        let mut node = 0usize;
        loop {
            let feature = self.feature[node];
            if feature == LEAF {
                return node;
            }
            node = if f64::from(row[feature as usize] as f32) <= self.threshold[node] {
                self.left[node]
            } else {
                self.right[node]
            } as usize;
        }
    }

    /// The outputs of the leaf `row` falls into.
    #[inline]
    pub fn predict_row(&self, row: &[f64]) -> &[f64] {
        self.leaf_values(self.leaf_of(row))
    }

    /// [`Tree::leaf_of`] for `N` rows walked side by side: each step's node loads of the `N` rows are
    /// independent, so their cache misses overlap instead of queueing behind one another.
    #[inline]
    pub fn leaves_of<const N: usize>(&self, rows: [&[f64]; N]) -> [usize; N] {
        let mut nodes = [0usize; N];
        loop {
            let mut moved = false;
            for (node, row) in nodes.iter_mut().zip(rows) {
                let feature = self.feature[*node];
                if feature != LEAF {
                    moved = true;
                    let goes_left =
                        f64::from(row[feature as usize] as f32) <= self.threshold[*node];
                    *node = if goes_left {
                        self.left[*node]
                    } else {
                        self.right[*node]
                    } as usize;
                }
            }
            if !moved {
                return nodes;
            }
        }
    }
}
