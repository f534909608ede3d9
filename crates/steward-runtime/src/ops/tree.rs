//! `ai.onnx.ml` TreeEnsembleClassifier and TreeEnsembleRegressor (versions 1 to 3), compiled to flat arrays.
//!
//! Every node becomes one entry of a single array (children as indices, so a walk is a loop over one slice),
//! leaves point at a range of `(output, weight)` pairs, and a batch is evaluated row by row with one score
//! buffer, in parallel over row chunks for large batches. Comparisons are done in `f64` on the `f32` input,
//! which is exact for `f32` thresholds (versions 1-2) and what version 3's double thresholds mean.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::attrs::Attributes;
use crate::error::{RuntimeResult, invalid_input};
use crate::onnx::NodeProto;
use crate::ops::{PostTransform, apply_post_transform};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Leaf,
}

impl Mode {
    fn parse(text: &str) -> Option<Mode> {
        Some(match text {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => Mode::Leaf,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
struct Node {
    mode: Mode,
    feature: usize,
    threshold: f64,
    true_child: u32,
    false_child: u32,
    missing_goes_true: bool,
    /// `weights[leaf_start..leaf_end]` for leaves.
    leaf_start: u32,
    leaf_end: u32,
}

/// 16 bytes: a branch (`feature`, `threshold`, children `left` = true, `right` = false; the top bit of
/// `feature` set when a missing value goes to the true branch). A leaf is a node that leads to itself whatever
/// the input (threshold +inf, missing values go true, both children itself), so a walk can take a fixed number
/// of steps, the tree's depth, without testing for leaves: no branch to mispredict.
#[derive(Debug, Clone, Copy)]
struct FastNode {
    threshold: f32,
    feature: u32,
    left: u32,
    right: u32,
}

/// Rows walked together by [`Forest::leaves_of`].
const LANES: usize = 8;
const MISSING_TRUE: u32 = 1 << 31;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

/// The compiled forest shared by both operators.
#[derive(Debug, Clone)]
pub struct Forest {
    nodes: Vec<Node>,
    /// The same trees in a compact layout, when every branch is `BRANCH_LEQ` with an f32 threshold (what
    /// scikit-learn exports): the walk needs no mode dispatch, and `x <= t || (missing goes true && x is NaN)`
    /// decides without a branch, in f32.
    fast: Option<FastTrees>,
    roots: Vec<u32>,
    weights: Vec<(u32, f64)>,
    /// Every leaf carries one weight per output, in output order, and leaves are summed (scikit-learn's
    /// forests, binary and regression boosting): a leaf's weights are then added straight into the row's
    /// scores, with no per-weight output lookup and no "scored" flags (every output is scored by every tree).
    dense: bool,
    /// With `dense`, the weights alone (`weights[i].1`), so a leaf's `n_outputs` values are one contiguous run.
    dense_weights: Vec<f64>,
    n_outputs: usize,
    n_features: usize,
    aggregate: Aggregate,
}

impl FastNode {
    /// The input column this node reads (leaves read column 0). With `MISSING` false the forest has no
    /// missing-goes-true flag to strip.
    #[inline]
    fn column<const MISSING: bool>(&self) -> usize {
        if MISSING {
            (self.feature & !MISSING_TRUE) as usize
        } else {
            self.feature as usize
        }
    }

    /// The node `x` goes to: `x <= threshold`, or a missing value where missing values go true. Without
    /// `MISSING`, a NaN compares false and goes to the false side, as it should when no branch says otherwise.
    #[inline]
    fn next<const MISSING: bool>(&self, x: f32) -> usize {
        let go_true = if MISSING {
            (x <= self.threshold) | (x.is_nan() & (self.feature & MISSING_TRUE != 0))
        } else {
            x <= self.threshold
        };
        (if go_true { self.left } else { self.right }) as usize
    }
}

/// The compact layout: nodes, each leaf's weight range (by node index), each tree's depth (by root order).
#[derive(Debug, Clone)]
struct FastTrees {
    nodes: Vec<FastNode>,
    leaf_ranges: Vec<(u32, u32)>,
    depths: Vec<u32>,
    /// Some branch sends missing values to its true side. Without any, `x <= threshold` alone decides (a NaN
    /// compares false and goes to the false side, as it should), and the walk skips the missing-value test.
    missing_goes_true: bool,
}

/// The weights leaves carry: `(tree, node, output, weight)` as four parallel lists.
struct LeafAttributes<'a> {
    tree_ids: &'a [i64],
    node_ids: &'a [i64],
    outputs: &'a [i64],
    weights: &'a [f64],
}

/// Finishes one row: aggregated scores and which outputs got a weight → the row's output values.
type FinishRow<'a> = &'a (dyn Fn(&mut [f64], &[bool], &mut [f32]) + Sync);

struct NodeAttributes {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    feature_ids: Vec<i64>,
    values: Vec<f64>,
    modes: Vec<String>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    missing_true: Vec<i64>,
}

impl Forest {
    fn compile(
        attrs: &Attributes,
        nodes: NodeAttributes,
        leaves: LeafAttributes,
        n_outputs: usize,
        aggregate: Aggregate,
    ) -> RuntimeResult<Forest> {
        let LeafAttributes {
            tree_ids: leaf_tree_ids,
            node_ids: leaf_node_ids,
            outputs: leaf_outputs,
            weights: leaf_weights,
        } = leaves;
        let n = nodes.node_ids.len();
        for (name, len) in [
            ("nodes_treeids", nodes.tree_ids.len()),
            ("nodes_featureids", nodes.feature_ids.len()),
            ("nodes_values", nodes.values.len()),
            ("nodes_modes", nodes.modes.len()),
            ("nodes_truenodeids", nodes.true_ids.len()),
            ("nodes_falsenodeids", nodes.false_ids.len()),
        ] {
            if len != n {
                return Err(attrs.error(format!("{name} has {len} entries for {n} nodes")));
            }
        }
        if !nodes.missing_true.is_empty() && nodes.missing_true.len() != n {
            return Err(
                attrs.error("nodes_missing_value_tracks_true does not have one entry per node")
            );
        }
        let m = leaf_node_ids.len();
        if leaf_tree_ids.len() != m || leaf_outputs.len() != m || leaf_weights.len() != m {
            return Err(
                attrs.error("the leaf weight attributes (tree, node, id, weight) differ in length")
            );
        }
        let mut index: HashMap<(i64, i64), u32> = HashMap::with_capacity(n);
        for (i, (&tree, &node)) in nodes.tree_ids.iter().zip(&nodes.node_ids).enumerate() {
            if index.insert((tree, node), i as u32).is_some() {
                return Err(attrs.error(format!("node {node} of tree {tree} is defined twice")));
            }
        }
        let mut compiled = Vec::with_capacity(n);
        let mut n_features = 0;
        for i in 0..n {
            let mode = Mode::parse(&nodes.modes[i])
                .ok_or_else(|| attrs.error(format!("unknown node mode '{}'", nodes.modes[i])))?;
            let tree = nodes.tree_ids[i];
            let child = |id: i64| -> RuntimeResult<u32> {
                index.get(&(tree, id)).copied().ok_or_else(|| {
                    attrs.error(format!(
                        "node {} of tree {tree} points at node {id}, which does not exist",
                        nodes.node_ids[i]
                    ))
                })
            };
            let (true_child, false_child, feature) = if mode == Mode::Leaf {
                (0, 0, 0)
            } else {
                let feature = usize::try_from(nodes.feature_ids[i]).map_err(|_| {
                    attrs.error(format!("negative feature id {}", nodes.feature_ids[i]))
                })?;
                n_features = n_features.max(feature + 1);
                (
                    child(nodes.true_ids[i])?,
                    child(nodes.false_ids[i])?,
                    feature,
                )
            };
            compiled.push(Node {
                mode,
                feature,
                threshold: nodes.values[i],
                true_child,
                false_child,
                missing_goes_true: nodes.missing_true.get(i).is_some_and(|&v| v != 0),
                leaf_start: 0,
                leaf_end: 0,
            });
        }
        // Leaf weights grouped by leaf, in attribute order within a leaf.
        let mut per_leaf: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n];
        for k in 0..m {
            let node = *index
                .get(&(leaf_tree_ids[k], leaf_node_ids[k]))
                .ok_or_else(|| {
                    attrs.error(format!(
                        "a weight refers to node {} of tree {}, which does not exist",
                        leaf_node_ids[k], leaf_tree_ids[k]
                    ))
                })?;
            let output = usize::try_from(leaf_outputs[k])
                .ok()
                .filter(|&o| o < n_outputs)
                .ok_or_else(|| {
                    attrs.error(format!(
                        "weight for output {} of {n_outputs}",
                        leaf_outputs[k]
                    ))
                })?;
            per_leaf[node as usize].push((output as u32, leaf_weights[k]));
        }
        let mut weights = Vec::with_capacity(m);
        for (node, leaf) in compiled.iter_mut().zip(per_leaf) {
            node.leaf_start = weights.len() as u32;
            weights.extend(leaf);
            node.leaf_end = weights.len() as u32;
        }
        // Roots: nodes no other node of their tree points at, one per tree, in order of first appearance.
        let mut is_child = vec![false; n];
        for node in compiled.iter().filter(|n| n.mode != Mode::Leaf) {
            is_child[node.true_child as usize] = true;
            is_child[node.false_child as usize] = true;
        }
        let mut roots: Vec<u32> = Vec::new();
        let mut seen_trees: HashMap<i64, ()> = HashMap::new();
        for (i, &child) in is_child.iter().enumerate() {
            if !child {
                if seen_trees.insert(nodes.tree_ids[i], ()).is_some() {
                    return Err(
                        attrs.error(format!("tree {} has more than one root", nodes.tree_ids[i]))
                    );
                }
                roots.push(i as u32);
            }
        }
        // Every tree must be a tree: a walk from its root never meets a node twice (no cycles, no sharing), so
        // evaluation always ends.
        let mut visited = vec![false; n];
        for &root in &roots {
            let mut stack = vec![root];
            while let Some(i) = stack.pop() {
                if std::mem::replace(&mut visited[i as usize], true) {
                    return Err(attrs.error("a tree has a cycle or shares a node"));
                }
                let node = &compiled[i as usize];
                if node.mode != Mode::Leaf {
                    stack.push(node.true_child);
                    stack.push(node.false_child);
                }
            }
        }
        if visited.iter().any(|v| !v) {
            return Err(attrs.error("some nodes are not reachable from any root"));
        }
        let fast = compiled
            .iter()
            .all(|n| {
                matches!(n.mode, Mode::Leaf | Mode::Leq)
                    && n.feature < MISSING_TRUE as usize
                    // Exactly an f32 (always so for versions 1-2), so comparing the f32 input with it in f32 is
                    // the same as in f64.
                    && f64::from(n.threshold as f32) == n.threshold
            })
            .then(|| {
                let nodes = compiled
                    .iter()
                    .enumerate()
                    .map(|(i, n)| match n.mode {
                        // Both children are the leaf itself, so which way a value (or NaN) goes does not matter.
                        Mode::Leaf => FastNode {
                            threshold: f32::INFINITY,
                            feature: 0,
                            left: i as u32,
                            right: i as u32,
                        },
                        _ => FastNode {
                            threshold: n.threshold as f32,
                            feature: n.feature as u32
                                | if n.missing_goes_true { MISSING_TRUE } else { 0 },
                            left: n.true_child,
                            right: n.false_child,
                        },
                    })
                    .collect();
                let leaf_ranges = compiled
                    .iter()
                    .map(|n| (n.leaf_start, n.leaf_end))
                    .collect();
                let depths = roots.iter().map(|&r| depth(&compiled, r)).collect();
                let missing_goes_true = compiled
                    .iter()
                    .any(|n| n.mode != Mode::Leaf && n.missing_goes_true);
                FastTrees {
                    nodes,
                    leaf_ranges,
                    depths,
                    missing_goes_true,
                }
            });
        let dense = matches!(aggregate, Aggregate::Sum | Aggregate::Average)
            && compiled.iter().filter(|n| n.mode == Mode::Leaf).all(|n| {
                let leaf = &weights[n.leaf_start as usize..n.leaf_end as usize];
                leaf.len() == n_outputs
                    && leaf
                        .iter()
                        .enumerate()
                        .all(|(o, &(output, _))| output as usize == o)
            });
        let dense_weights = if dense {
            weights.iter().map(|&(_, w)| w).collect()
        } else {
            Vec::new()
        };
        Ok(Forest {
            nodes: compiled,
            fast,
            roots,
            weights,
            dense_weights,
            dense,
            n_outputs,
            n_features,
            aggregate,
        })
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The weights of the leaf `row` reaches in tree `tree` (its position in `roots`), as a range of
    /// `self.weights`.
    #[inline]
    fn leaf_of(&self, tree: usize, row: &[f32]) -> (usize, usize) {
        let root = self.roots[tree];
        if let Some(fast) = &self.fast {
            // One row: stop at the leaf (a leaf is the only node that leads to itself).
            let mut i = root as usize;
            loop {
                let node = &fast.nodes[i];
                if node.left as usize == i {
                    break;
                }
                i = node.next::<true>(row[node.column::<true>()]);
            }
            let (start, end) = fast.leaf_ranges[i];
            return (start as usize, end as usize);
        }
        let mut node = &self.nodes[root as usize];
        loop {
            let x = f64::from(row[node.feature]);
            let go_true = match node.mode {
                Mode::Leaf => return (node.leaf_start as usize, node.leaf_end as usize),
                _ if x.is_nan() => node.missing_goes_true,
                Mode::Leq => x <= node.threshold,
                Mode::Lt => x < node.threshold,
                Mode::Gte => x >= node.threshold,
                Mode::Gt => x > node.threshold,
                Mode::Eq => x == node.threshold,
                Mode::Neq => x != node.threshold,
            };
            node = &self.nodes[if go_true {
                node.true_child
            } else {
                node.false_child
            } as usize];
        }
    }

    /// [`Forest::leaf_of`] for every row of `x`. On the compact layout, rows walk the tree in groups of
    /// [`LANES`], one level at a time for the whole group and as many levels as the tree is deep, so the loads
    /// of different rows overlap and no lane waits on a branch.
    fn leaves_of(&self, tree: usize, x: &[f32], width: usize, out: &mut [(usize, usize)]) {
        let Some(fast) = &self.fast else {
            for (o, row) in out.iter_mut().zip(x.chunks_exact(width)) {
                *o = self.leaf_of(tree, row);
            }
            return;
        };
        if fast.missing_goes_true {
            self.walk_lanes::<true>(fast, tree, x, width, out);
        } else {
            self.walk_lanes::<false>(fast, tree, x, width, out);
        }
    }

    /// The lane walk of [`Forest::leaves_of`], with the missing-value test compiled in or out.
    #[inline]
    fn walk_lanes<const MISSING: bool>(
        &self,
        fast: &FastTrees,
        tree: usize,
        x: &[f32],
        width: usize,
        out: &mut [(usize, usize)],
    ) {
        let root = self.roots[tree] as usize;
        let depth = fast.depths[tree];
        // The checks the unchecked loads below rely on, once per call instead of per step.
        assert!(
            width >= self.n_features,
            "rows narrower than the features the trees read"
        );
        let n_nodes = fast.nodes.len();
        for (group, rows) in out.chunks_mut(LANES).zip(x.chunks(LANES * width)) {
            let mut nodes = [root; LANES];
            let lanes = group.len();
            if lanes == LANES && rows.len() == LANES * width {
                for _ in 0..depth {
                    for (lane, i) in nodes.iter_mut().enumerate() {
                        // SAFETY: `*i` is a root or a child index, and `compile` checked every child index
                        // against the node count (the walk only follows those); a branch's feature is below
                        // `n_features` <= `width` (checked by `evaluate`), and leaves read feature 0, so
                        // `lane * width + feature` is inside this group's `LANES * width` values.
                        unsafe {
                            std::hint::assert_unchecked(*i < n_nodes);
                            let node = fast.nodes.get_unchecked(*i);
                            let x = *rows.get_unchecked(lane * width + node.column::<MISSING>());
                            *i = node.next::<MISSING>(x);
                        }
                    }
                }
            } else {
                for _ in 0..depth {
                    for (lane, i) in nodes[..lanes].iter_mut().enumerate() {
                        let node = &fast.nodes[*i];
                        *i = node.next::<MISSING>(rows[lane * width + node.column::<MISSING>()]);
                    }
                }
            }
            for (o, &i) in group.iter_mut().zip(&nodes) {
                let (start, end) = fast.leaf_ranges[i];
                *o = (start as usize, end as usize);
            }
        }
    }

    /// Aggregated scores of one row into `scores` (`n_outputs`), and which outputs received a weight.
    fn score_row(&self, row: &[f32], scores: &mut [f64], has_score: &mut [bool]) {
        self.reset_scores(scores, has_score);
        match &self.fast {
            Some(fast) if row.len() >= self.n_features => {
                if fast.missing_goes_true {
                    self.score_row_lanes::<true>(fast, row, scores, has_score);
                } else {
                    self.score_row_lanes::<false>(fast, row, scores, has_score);
                }
            }
            _ => {
                for tree in 0..self.roots.len() {
                    let (start, end) = self.leaf_of(tree, row);
                    self.add_leaf(start, end, scores, has_score);
                }
            }
        }
        self.finish_scores(scores, has_score);
    }

    /// One row through [`LANES`] trees at a time, all of them stepped together as many levels as the deepest
    /// of them (leaves lead to themselves): the trees' node loads overlap instead of each walk waiting on the
    /// previous one's last branch, which is what a single row's latency is made of in a forest larger than the
    /// caches. Leaves are added in tree order, so the sums equal the tree-by-tree ones.
    fn score_row_lanes<const MISSING: bool>(
        &self,
        fast: &FastTrees,
        row: &[f32],
        scores: &mut [f64],
        has_score: &mut [bool],
    ) {
        let n_nodes = fast.nodes.len();
        for (roots, depths) in self.roots.chunks(LANES).zip(fast.depths.chunks(LANES)) {
            let mut nodes = [0usize; LANES];
            for (node, &root) in nodes.iter_mut().zip(roots) {
                *node = root as usize;
            }
            let lanes = roots.len();
            let depth = depths.iter().copied().max().unwrap_or(0);
            for _ in 0..depth {
                for i in nodes[..lanes].iter_mut() {
                    // SAFETY: `*i` is a root or a child index, which `compile` checked against the node count;
                    // a branch's feature is below `n_features` <= `row.len()` (checked by the caller) and
                    // leaves read feature 0.
                    unsafe {
                        std::hint::assert_unchecked(*i < n_nodes);
                        let node = fast.nodes.get_unchecked(*i);
                        let x = *row.get_unchecked(node.column::<MISSING>());
                        *i = node.next::<MISSING>(x);
                    }
                }
            }
            for &i in &nodes[..lanes] {
                let (start, end) = fast.leaf_ranges[i];
                self.add_leaf(start as usize, end as usize, scores, has_score);
            }
        }
    }

    /// The aggregate's starting value for every output, none of them scored yet.
    fn reset_scores(&self, scores: &mut [f64], has_score: &mut [bool]) {
        scores.fill(match self.aggregate {
            Aggregate::Min => f64::INFINITY,
            Aggregate::Max => f64::NEG_INFINITY,
            _ => 0.0,
        });
        has_score.fill(false);
    }

    /// Folds the weights of one leaf, `weights[start..end]`, into one row's scores.
    #[inline]
    fn add_leaf(&self, start: usize, end: usize, scores: &mut [f64], has_score: &mut [bool]) {
        for &(output, weight) in &self.weights[start..end] {
            let (s, h) = (
                &mut scores[output as usize],
                &mut has_score[output as usize],
            );
            *s = match self.aggregate {
                Aggregate::Sum | Aggregate::Average => *s + weight,
                Aggregate::Min => s.min(weight),
                Aggregate::Max => s.max(weight),
            };
            *h = true;
        }
    }

    /// Outputs no leaf scored are 0; averages are divided by the number of trees.
    fn finish_scores(&self, scores: &mut [f64], has_score: &[bool]) {
        for (s, &h) in scores.iter_mut().zip(has_score) {
            if !h {
                *s = 0.0;
            } else if self.aggregate == Aggregate::Average {
                *s /= self.roots.len() as f64;
            }
        }
    }

    /// Scores every row (`x` is `n_rows × width`, `width >= n_features`) with `finish(scores, has_score, out)`
    /// writing `out_width` values per row; parallel over chunks for large batches.
    fn evaluate(
        &self,
        x: &[f32],
        width: usize,
        out_width: usize,
        finish: FinishRow,
    ) -> RuntimeResult<Vec<f32>> {
        if width < self.n_features {
            return Err(invalid_input(format!(
                "the tree ensemble reads feature {} but the input has {width} columns",
                self.n_features - 1
            )));
        }
        let n_rows = x.len().checked_div(width).unwrap_or(0);
        let mut out = vec![0.0f32; n_rows * out_width];
        if out_width == 0 {
            return Ok(out);
        }
        // Tree by tree over a block of rows, so one tree's nodes stay in cache for the whole block (a forest is
        // often larger than the caches); blocks run in parallel.
        let k = self.n_outputs;
        let run = |first_row: usize, block: &mut [f32]| {
            let rows = block.len() / out_width;
            let mut scores = vec![0.0; rows * k];
            let mut has = vec![false; rows * k];
            if rows == 1 {
                self.score_row(
                    &x[first_row * width..(first_row + 1) * width],
                    &mut scores,
                    &mut has,
                );
            } else {
                self.score_block(
                    &x[first_row * width..(first_row + rows) * width],
                    width,
                    &mut scores,
                    &mut has,
                );
            }
            for (i, out_row) in block.chunks_mut(out_width).enumerate() {
                finish(
                    &mut scores[i * k..(i + 1) * k],
                    &has[i * k..(i + 1) * k],
                    out_row,
                );
            }
        };
        const CHUNK: usize = 128;
        if n_rows > 2 * CHUNK {
            out.par_chunks_mut(CHUNK * out_width)
                .enumerate()
                .for_each(|(c, block)| run(c * CHUNK, block));
        } else {
            for (c, block) in out.chunks_mut(CHUNK * out_width).enumerate() {
                run(c * CHUNK, block);
            }
        }
        Ok(out)
    }

    /// [`Forest::score_row`] for every row of `x` (`rows × width`), trees in the outer loop. Same sums in the
    /// same order per row (trees in order), so the results equal the row-by-row ones.
    fn score_block(&self, x: &[f32], width: usize, scores: &mut [f64], has: &mut [bool]) {
        let k = self.n_outputs;
        self.reset_scores(scores, has);
        let n_rows = x.len() / width.max(1);
        let mut leaves = vec![(0usize, 0usize); n_rows];
        if self.dense {
            // Same additions in the same order as `add_leaf`, without its bookkeeping.
            has.fill(!self.roots.is_empty());
            for tree in 0..self.roots.len() {
                self.leaves_of(tree, x, width, &mut leaves);
                // The common output counts with the count known to the compiler (no inner loop to run).
                match k {
                    1 => add_dense_leaves::<1>(scores, &leaves, &self.dense_weights),
                    2 => add_dense_leaves::<2>(scores, &leaves, &self.dense_weights),
                    3 => add_dense_leaves::<3>(scores, &leaves, &self.dense_weights),
                    _ => {
                        for (row_scores, &(start, _)) in scores.chunks_exact_mut(k).zip(&leaves) {
                            let weights = &self.dense_weights[start..start + k];
                            for (s, &w) in row_scores.iter_mut().zip(weights) {
                                *s += w;
                            }
                        }
                    }
                }
            }
            self.finish_scores(scores, has);
            return;
        }
        for tree in 0..self.roots.len() {
            self.leaves_of(tree, x, width, &mut leaves);
            for (r, &(start, end)) in leaves.iter().enumerate() {
                self.add_leaf(
                    start,
                    end,
                    &mut scores[r * k..(r + 1) * k],
                    &mut has[r * k..(r + 1) * k],
                );
            }
        }
        self.finish_scores(scores, has);
    }
}

/// Adds each row's leaf weights (`K` per leaf, starting at the leaf's index into `weights`) to its `K` scores.
#[inline]
fn add_dense_leaves<const K: usize>(
    scores: &mut [f64],
    leaves: &[(usize, usize)],
    weights: &[f64],
) {
    for (row_scores, &(start, _)) in scores.chunks_exact_mut(K).zip(leaves) {
        let leaf: &[f64; K] = weights[start..start + K]
            .try_into()
            .expect("a dense leaf has one weight per output");
        for (s, w) in row_scores.iter_mut().zip(leaf) {
            *s += w;
        }
    }
}

/// The number of steps from `root` to its deepest leaf (the tree was checked to be a tree).
fn depth(nodes: &[Node], root: u32) -> u32 {
    let mut deepest = 0;
    let mut stack = vec![(root, 0u32)];
    while let Some((i, d)) = stack.pop() {
        let node = &nodes[i as usize];
        if node.mode == Mode::Leaf {
            deepest = deepest.max(d);
        } else {
            stack.push((node.true_child, d + 1));
            stack.push((node.false_child, d + 1));
        }
    }
    deepest
}

fn node_attributes(attrs: &Attributes) -> RuntimeResult<NodeAttributes> {
    Ok(NodeAttributes {
        tree_ids: attrs.ints("nodes_treeids"),
        node_ids: attrs.ints("nodes_nodeids"),
        feature_ids: attrs.ints("nodes_featureids"),
        values: attrs.numbers("nodes_values")?,
        modes: attrs.strings("nodes_modes")?,
        true_ids: attrs.ints("nodes_truenodeids"),
        false_ids: attrs.ints("nodes_falsenodeids"),
        missing_true: attrs.ints("nodes_missing_value_tracks_true"),
    })
}

/// Class labels of a classifier.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl Labels {
    pub fn len(&self) -> usize {
        match self {
            Labels::Int(v) => v.len(),
            Labels::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn from_attributes(attrs: &Attributes) -> RuntimeResult<Labels> {
        let strings = attrs.strings("classlabels_strings")?;
        // Tree ensembles and ZipMap call them classlabels_int64s, LinearClassifier classlabels_ints.
        let mut ints = attrs.ints("classlabels_int64s");
        if ints.is_empty() {
            ints = attrs.ints("classlabels_ints");
        }
        match (strings.is_empty(), ints.is_empty()) {
            (false, true) => Ok(Labels::Str(strings)),
            (true, false) => Ok(Labels::Int(ints)),
            (true, true) => {
                Err(attrs.error("has neither classlabels_strings nor classlabels_int64s"))
            }
            (false, false) => {
                Err(attrs.error("has both classlabels_strings and classlabels_int64s"))
            }
        }
    }

    pub fn names(&self) -> Vec<String> {
        match self {
            Labels::Int(v) => v.iter().map(ToString::to_string).collect(),
            Labels::Str(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TreeClassifier {
    forest: Forest,
    pub labels: Labels,
    base_values: Vec<f64>,
    post_transform: PostTransform,
    /// Two classes with weights for only one of them: ONNX Runtime's "binary case".
    binary_single_score: Option<u32>,
    weights_all_positive: bool,
}

impl TreeClassifier {
    pub fn compile(node: &NodeProto) -> RuntimeResult<TreeClassifier> {
        let attrs = Attributes::new(node);
        let labels = Labels::from_attributes(&attrs)?;
        let class_ids = attrs.ints("class_ids");
        let weights = attrs.numbers("class_weights")?;
        let forest = Forest::compile(
            &attrs,
            node_attributes(&attrs)?,
            LeafAttributes {
                tree_ids: &attrs.ints("class_treeids"),
                node_ids: &attrs.ints("class_nodeids"),
                outputs: &class_ids,
                weights: &weights,
            },
            labels.len(),
            Aggregate::Sum,
        )?;
        let base_values = attrs.numbers("base_values")?;
        let mut distinct: Vec<i64> = class_ids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let binary_single_score =
            (labels.len() == 2 && distinct.len() == 1).then(|| distinct[0] as u32);
        Ok(TreeClassifier {
            forest,
            labels,
            base_values,
            post_transform: PostTransform::parse(&attrs)?,
            binary_single_score,
            weights_all_positive: weights.iter().all(|&w| w >= 0.0),
        })
    }

    pub fn n_features(&self) -> usize {
        self.forest.n_features()
    }

    /// Label indices and probabilities (`n_rows × n_classes`) as ONNX Runtime computes them.
    pub fn run(&self, x: &[f32], width: usize) -> RuntimeResult<(Vec<usize>, Vec<f32>)> {
        let k = self.labels.len();
        // One extra slot per row carries the label index through the f32 output buffer.
        let out = self.forest.evaluate(x, width, k + 1, &|scores, has, out| {
            let (label, probabilities) = out.split_at_mut(1);
            label[0] = self.finish(scores, has, probabilities) as f32;
        })?;
        let mut labels = Vec::with_capacity(out.len() / (k + 1));
        let mut probabilities = Vec::with_capacity(out.len() / (k + 1) * k);
        for row in out.chunks_exact(k + 1) {
            labels.push(row[0] as usize);
            probabilities.extend_from_slice(&row[1..]);
        }
        Ok((labels, probabilities))
    }

    fn finish(&self, scores: &mut [f64], has: &[bool], out: &mut [f32]) -> usize {
        if let Some(scored) = self.binary_single_score {
            // One score s decides between the two classes.
            let mut s = scores[scored as usize];
            if let Some(&base) = self
                .base_values
                .get(scored as usize)
                .or(self.base_values.first())
            {
                s += base;
            }
            let label = if self.weights_all_positive {
                s > 0.5
            } else {
                s > 0.0
            };
            let (negative, positive) = match self.post_transform {
                PostTransform::None if self.weights_all_positive => (1.0 - s, s),
                PostTransform::None => (-s, s),
                other => {
                    let mut pair = [-s, s];
                    apply_post_transform(other, &mut pair);
                    (pair[0], pair[1])
                }
            };
            out[0] = negative as f32;
            out[1] = positive as f32;
            return usize::from(label);
        }
        for (s, base) in scores.iter_mut().zip(&self.base_values) {
            *s += base;
        }
        let mut best = 0;
        let mut best_score = f64::NEG_INFINITY;
        for (i, (&s, &h)) in scores.iter().zip(has).enumerate() {
            if (h || !self.base_values.is_empty()) && s > best_score {
                best = i;
                best_score = s;
            }
        }
        apply_post_transform(self.post_transform, scores);
        for (o, &s) in out.iter_mut().zip(scores.iter()) {
            *o = s as f32;
        }
        best
    }
}

#[derive(Debug, Clone)]
pub struct TreeRegressor {
    forest: Forest,
    n_targets: usize,
    base_values: Vec<f64>,
    post_transform: PostTransform,
}

impl TreeRegressor {
    pub fn compile(node: &NodeProto) -> RuntimeResult<TreeRegressor> {
        let attrs = Attributes::new(node);
        let n_targets = usize::try_from(attrs.int("n_targets", 1))
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| attrs.error("n_targets must be at least 1"))?;
        let aggregate = match attrs.string("aggregate_function", "SUM")?.as_str() {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => return Err(attrs.error(format!("unknown aggregate_function '{other}'"))),
        };
        let forest = Forest::compile(
            &attrs,
            node_attributes(&attrs)?,
            LeafAttributes {
                tree_ids: &attrs.ints("target_treeids"),
                node_ids: &attrs.ints("target_nodeids"),
                outputs: &attrs.ints("target_ids"),
                weights: &attrs.numbers("target_weights")?,
            },
            n_targets,
            aggregate,
        )?;
        let base_values = attrs.numbers("base_values")?;
        if !base_values.is_empty() && base_values.len() != n_targets {
            return Err(attrs.error(format!(
                "{} base_values for {n_targets} targets",
                base_values.len()
            )));
        }
        Ok(TreeRegressor {
            forest,
            n_targets,
            base_values,
            post_transform: PostTransform::parse(&attrs)?,
        })
    }

    pub fn n_features(&self) -> usize {
        self.forest.n_features()
    }

    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    /// `n_rows × n_targets` predictions.
    pub fn run(&self, x: &[f32], width: usize) -> RuntimeResult<Vec<f32>> {
        self.forest
            .evaluate(x, width, self.n_targets, &|scores, _, out| {
                for (s, base) in scores.iter_mut().zip(&self.base_values) {
                    *s += base;
                }
                apply_post_transform(self.post_transform, scores);
                for (o, &s) in out.iter_mut().zip(scores.iter()) {
                    *o = s as f32;
                }
            })
    }
}
