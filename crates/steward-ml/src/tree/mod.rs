//! Decision trees, random forests and gradient-boosted trees with histogram-based split finding.
