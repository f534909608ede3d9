//! ONNX models at registration and prediction: which file of a package is the graph (a single `.onnx` file, the
//! only `.onnx` file of a folder, or the `onnx` flavor of an MLflow model folder's `MLmodel`), and the check
//! that it runs.

use std::path::{Path, PathBuf};

use steward_runtime::Model;

use crate::{MODEL_FILE, ServiceError, ServiceResult};

/// The signature key that names the graph file inside a package.
pub const ONNX_FILE_KEY: &str = "onnx_file";

/// A graph that loaded and compiled.
pub struct CheckedOnnx {
    /// Path of the graph inside the package.
    pub file: String,
    pub model: Model,
}

impl CheckedOnnx {
    /// The version's signature: inputs, outputs and class labels from the graph, plus where the graph is.
    pub fn signature_json(&self) -> serde_json::Value {
        let mut signature = serde_json::to_value(self.model.signature()).unwrap_or_default();
        if let Some(map) = signature.as_object_mut() {
            map.insert(ONNX_FILE_KEY.into(), self.file.clone().into());
            map.insert("format".into(), "onnx".into());
        }
        signature
    }
}

/// The `data:` of the `onnx` flavor in an MLflow `MLmodel` file (YAML). Only that key is read, by indentation,
/// so no YAML parser is needed: `flavors:` → `onnx:` → `data: model.onnx`.
pub fn mlmodel_onnx_file(text: &str) -> Option<String> {
    let mut in_flavors = false;
    let mut onnx_indent: Option<usize> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if indent == 0 {
            in_flavors = trimmed.starts_with("flavors:");
            onnx_indent = None;
            continue;
        }
        if !in_flavors {
            continue;
        }
        match onnx_indent {
            None if trimmed == "onnx:" => onnx_indent = Some(indent),
            Some(level) if indent <= level => onnx_indent = (trimmed == "onnx:").then_some(indent),
            Some(_) => {
                if let Some(value) = trimmed.strip_prefix("data:") {
                    return Some(value.trim().trim_matches(['\'', '"']).to_string());
                }
            }
            None => {}
        }
    }
    None
}

/// Which file of a package folder is the graph; `None` for a folder without one (a model trained by Steward).
pub fn graph_in_folder(folder: &Path) -> ServiceResult<Option<PathBuf>> {
    let mlmodel = folder.join("MLmodel");
    if mlmodel.is_file() {
        let text = std::fs::read_to_string(&mlmodel).map_err(|e| {
            ServiceError::InvalidInput(format!("cannot read {}: {e}", mlmodel.display()))
        })?;
        let Some(data) = mlmodel_onnx_file(&text) else {
            return Err(ServiceError::InvalidInput(format!(
                "{} has no onnx flavor; Steward takes MLflow models saved with mlflow.onnx",
                mlmodel.display()
            )));
        };
        let relative = Path::new(&data);
        if relative.is_absolute()
            || relative
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(ServiceError::InvalidInput(format!(
                "{}: the onnx flavor's data '{data}' must be a path inside the folder",
                mlmodel.display()
            )));
        }
        return Ok(Some(folder.join(relative)));
    }
    let mut found = Vec::new();
    collect_onnx(folder, &mut found)?;
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        n => Err(ServiceError::InvalidInput(format!(
            "{} holds {n} .onnx files; keep one, or add an MLmodel naming it",
            folder.display()
        ))),
    }
}

fn collect_onnx(dir: &Path, found: &mut Vec<PathBuf>) -> ServiceResult<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ServiceError::InvalidInput(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| {
            ServiceError::InvalidInput(format!("cannot read {}: {e}", dir.display()))
        })?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| {
            ServiceError::InvalidInput(format!("cannot read {}: {e}", path.display()))
        })?;
        if kind.is_dir() {
            collect_onnx(&path, found)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Loads and compiles the graph a registration source holds, off the async runtime. `None` for a folder with
/// no graph (a package trained by Steward).
pub async fn check_source(source: &Path) -> ServiceResult<Option<CheckedOnnx>> {
    let source = source.to_path_buf();
    tokio::task::spawn_blocking(move || -> ServiceResult<Option<CheckedOnnx>> {
        let (path, file) = if source.is_dir() {
            match graph_in_folder(&source)? {
                None => return Ok(None),
                Some(path) => {
                    let file = path
                        .strip_prefix(&source)
                        .map(|p| p.to_string_lossy().replace('\\', "/"))
                        .unwrap_or_else(|_| MODEL_FILE.to_string());
                    (path, file)
                }
            }
        } else {
            (source.clone(), MODEL_FILE.to_string())
        };
        if !path.exists() {
            // The store reports a missing source with its own message.
            return Ok(None);
        }
        let bytes = std::fs::read(&path).map_err(|e| {
            ServiceError::InvalidInput(format!("cannot read {}: {e}", path.display()))
        })?;
        let model = Model::load(&bytes).map_err(|e| match e {
            steward_runtime::RuntimeError::Unsupported(m) => {
                steward_runtime::RuntimeError::Unsupported(format!(
                    "{}: {m}; this model cannot be registered until Steward runs it",
                    path.display()
                ))
            }
            steward_runtime::RuntimeError::InvalidModel(m) => {
                steward_runtime::RuntimeError::InvalidModel(format!("{}: {m}", path.display()))
            }
            other => other,
        })?;
        Ok(Some(CheckedOnnx { file, model }))
    })
    .await
    .map_err(|e| ServiceError::InvalidInput(format!("checking the model failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlmodel_names_the_onnx_file() {
        let text = "artifact_path: model\nflavors:\n  python_function:\n    data: model.onnx\n    loader_module: mlflow.onnx\n  onnx:\n    code: null\n    data: model.onnx\n    onnx_version: 1.17.0\nmlflow_version: 2.19.0\n";
        assert_eq!(mlmodel_onnx_file(text).as_deref(), Some("model.onnx"));
        assert_eq!(
            mlmodel_onnx_file("flavors:\n  sklearn:\n    pickled_model: model.pkl\n"),
            None
        );
        assert_eq!(
            mlmodel_onnx_file("flavors:\n  onnx:\n    data: 'nested/m.onnx'\n").as_deref(),
            Some("nested/m.onnx")
        );
    }
}
