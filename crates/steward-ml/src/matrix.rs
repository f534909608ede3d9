//! Dense numeric data as the learners see it: a row-major matrix of finite `f64` features.

use serde::{Deserialize, Serialize};

/// A dense, row-major matrix. Learners may assume every value is finite: preprocessing imputes missing values
/// and the dataset loader rejects infinities before any learner runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    n_rows: usize,
    n_cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// `data.len()` must equal `n_rows * n_cols`.
    pub fn new(n_rows: usize, n_cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(
            data.len(),
            n_rows * n_cols,
            "matrix data has the wrong length"
        );
        Matrix {
            n_rows,
            n_cols,
            data,
        }
    }

    pub fn zeros(n_rows: usize, n_cols: usize) -> Self {
        Matrix::new(n_rows, n_cols, vec![0.0; n_rows * n_cols])
    }

    pub fn from_rows(rows: &[Vec<f64>]) -> Self {
        let n_cols = rows.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows.len() * n_cols);
        for row in rows {
            assert_eq!(row.len(), n_cols, "rows have different lengths");
            data.extend_from_slice(row);
        }
        Matrix::new(rows.len(), n_cols, data)
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.n_cols..(i + 1) * self.n_cols]
    }

    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        &mut self.data[i * self.n_cols..(i + 1) * self.n_cols]
    }

    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.n_cols + j]
    }

    pub fn set(&mut self, i: usize, j: usize, value: f64) {
        self.data[i * self.n_cols + j] = value;
    }

    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    pub fn column(&self, j: usize) -> Vec<f64> {
        (0..self.n_rows).map(|i| self.get(i, j)).collect()
    }

    /// The rows at `indices`, in that order (indices may repeat, as in a bootstrap sample).
    pub fn select_rows(&self, indices: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(indices.len() * self.n_cols);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Matrix::new(indices.len(), self.n_cols, data)
    }

    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[f64]> {
        (0..self.n_rows).map(move |i| self.row(i))
    }
}

/// Class probabilities: one row per sample, one column per class (columns in the order of the class labels).
pub type Probabilities = Matrix;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_columns_and_selection() {
        let m = Matrix::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]);
        assert_eq!(m.row(1), &[3.0, 4.0]);
        assert_eq!(m.column(1), vec![2.0, 4.0, 6.0]);
        let picked = m.select_rows(&[2, 0, 2]);
        assert_eq!(picked.as_slice(), &[5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
    }
}
