//! Immutable, content-addressed artifact storage.
//!
//! Every blob is stored under `sha256/<first two hex digits>/<sha256>` through the `object_store` crate (a local
//! folder by default; S3 is a matter of configuration later). Invariants:
//! - A blob's key is the SHA-256 of its bytes, so a blob never changes and identical content is stored once.
//! - Writes are atomic: `object_store`'s local backend writes a temporary file and renames it into place, so a
//!   reader (or a crash) sees the whole blob or none.
//! - Every read verifies the hash and names the corrupted object when it does not match.
//!
//! A *package* (a model folder: model file, metadata, ...) is stored as one blob per file plus a manifest blob
//! that lists every file's relative path, hash and size. The manifest's hash identifies the package.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

pub const MANIFEST_FORMAT: &str = "steward-package/1";
/// URIs of artifacts inside the configured artifact store: `steward-artifacts:sha256/ab/ab12...`.
pub const URI_SCHEME: &str = "steward-artifacts:";

#[derive(Debug, Error)]
pub enum ArtifactError {
    #[error(
        "artifact {key} is corrupted: its content hashes to {actual}, not {expected}; restore it from a backup or register the model again"
    )]
    Corrupted {
        key: String,
        expected: String,
        actual: String,
    },

    #[error("artifact {key} is missing from the artifact store")]
    Missing { key: String },

    #[error("invalid package: {0}")]
    InvalidPackage(String),

    #[error("invalid artifact hash '{0}': expected 64 lowercase hex digits")]
    InvalidHash(String),

    #[error("unsupported artifact store '{0}': use a folder path or file:///path")]
    UnsupportedUri(String),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("artifact store: {0}")]
    ObjectStore(#[from] object_store::Error),
}

pub type ArtifactResult<T> = Result<T, ArtifactError>;

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn check_hash(hash: &str) -> ArtifactResult<()> {
    if hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(ArtifactError::InvalidHash(hash.to_string()))
    }
}

/// The object key of a blob.
pub fn blob_key(hash: &str) -> String {
    format!("sha256/{}/{hash}", &hash[..2])
}

/// The URI recorded in metadata for a blob (relative to the artifact store, so the store can move).
pub fn blob_uri(hash: &str) -> String {
    format!("{URI_SCHEME}{}", blob_key(hash))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    pub hash: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Relative path inside the package, `/`-separated, no `..`.
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub files: Vec<ManifestEntry>,
}

impl Manifest {
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn file(&self, path: &str) -> Option<&ManifestEntry> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// A stored package: the manifest's hash identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRef {
    pub manifest_hash: String,
    pub manifest: Manifest,
}

impl PackageRef {
    pub fn uri(&self) -> String {
        blob_uri(&self.manifest_hash)
    }
}

#[derive(Clone)]
pub struct ArtifactStore {
    objects: Arc<dyn ObjectStore>,
    location: String,
}

impl std::fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactStore")
            .field("location", &self.location)
            .finish()
    }
}

impl ArtifactStore {
    /// A store in a local folder, created if missing.
    pub fn local(root: &Path) -> ArtifactResult<Self> {
        std::fs::create_dir_all(root).map_err(io_error(root))?;
        let root = root.canonicalize().map_err(io_error(root))?;
        // fsync before a write returns: a blob is durable before any metadata row can refer to it.
        let objects = LocalFileSystem::new_with_prefix(&root)?.with_fsync(true);
        Ok(ArtifactStore {
            objects: Arc::new(objects),
            location: root.display().to_string(),
        })
    }

    /// `file:///path` or a plain folder path.
    pub fn open(uri: &str) -> ArtifactResult<Self> {
        if let Some(path) = uri.strip_prefix("file://") {
            Self::local(Path::new(path))
        } else if uri.contains("://") {
            Err(ArtifactError::UnsupportedUri(uri.to_string()))
        } else {
            Self::local(Path::new(uri))
        }
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// Stores bytes under their hash. Storing content that is already there costs one existence check.
    pub async fn put_bytes(&self, data: Bytes) -> ArtifactResult<BlobRef> {
        let hash = sha256_hex(&data);
        let size = data.len() as u64;
        let key = ObjectPath::from(blob_key(&hash));
        match self.objects.head(&key).await {
            Ok(meta) if meta.size == size => {}
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {
                self.objects.put(&key, PutPayload::from(data)).await?;
            }
            Err(other) => return Err(other.into()),
        }
        Ok(BlobRef { hash, size })
    }

    /// Reads a blob and checks that its content still has its hash.
    pub async fn get_verified(&self, hash: &str) -> ArtifactResult<Bytes> {
        check_hash(hash)?;
        let key = blob_key(hash);
        let data = match self.objects.get(&ObjectPath::from(key.clone())).await {
            Ok(result) => result.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(ArtifactError::Missing { key });
            }
            Err(other) => return Err(other.into()),
        };
        let actual = sha256_hex(&data);
        if actual != hash {
            return Err(ArtifactError::Corrupted {
                key,
                expected: hash.to_string(),
                actual,
            });
        }
        Ok(data)
    }

    /// Stores a single file as a package holding it under `name`.
    pub async fn put_file_as_package(&self, file: &Path, name: &str) -> ArtifactResult<PackageRef> {
        let data = tokio::fs::read(file).await.map_err(io_error(file))?;
        self.put_package_files(vec![(name.to_string(), Bytes::from(data))])
            .await
    }

    /// Stores every regular file under `dir` (recursively) as one package. Symbolic links are refused, so a
    /// package cannot smuggle in files from outside its folder.
    pub async fn put_package_dir(&self, dir: &Path) -> ArtifactResult<PackageRef> {
        let mut relative_paths = Vec::new();
        collect_files(dir, Path::new(""), &mut relative_paths)?;
        if relative_paths.is_empty() {
            return Err(ArtifactError::InvalidPackage(format!(
                "{} holds no files",
                dir.display()
            )));
        }
        let mut files = Vec::with_capacity(relative_paths.len());
        for relative in relative_paths {
            let full = dir.join(&relative);
            let data = tokio::fs::read(&full).await.map_err(io_error(&full))?;
            files.push((package_path(&relative)?, Bytes::from(data)));
        }
        self.put_package_files(files).await
    }

    /// Stores files (package path, content) and then the manifest that lists them. The manifest is written
    /// last, so an interrupted call leaves only unreferenced blobs, never a manifest naming a missing file.
    pub async fn put_package_files(
        &self,
        mut files: Vec<(String, Bytes)>,
    ) -> ArtifactResult<PackageRef> {
        files.sort_by(|a, b| a.0.cmp(&b.0));
        if files.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(ArtifactError::InvalidPackage(
                "two files have the same path".into(),
            ));
        }
        let mut entries = Vec::with_capacity(files.len());
        for (path, data) in files {
            validate_package_path(&path)?;
            let blob = self.put_bytes(data).await?;
            entries.push(ManifestEntry {
                path,
                sha256: blob.hash,
                size: blob.size,
            });
        }
        let manifest = Manifest {
            format: MANIFEST_FORMAT.to_string(),
            files: entries,
        };
        let text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ArtifactError::InvalidPackage(e.to_string()))?;
        let blob = self.put_bytes(Bytes::from(text)).await?;
        Ok(PackageRef {
            manifest_hash: blob.hash,
            manifest,
        })
    }

    pub async fn read_manifest(&self, manifest_hash: &str) -> ArtifactResult<Manifest> {
        let data = self.get_verified(manifest_hash).await?;
        let manifest: Manifest = serde_json::from_slice(&data).map_err(|e| {
            ArtifactError::InvalidPackage(format!(
                "manifest {} is not a Steward manifest: {e}",
                blob_key(manifest_hash)
            ))
        })?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(ArtifactError::InvalidPackage(format!(
                "manifest {} has format '{}', expected '{MANIFEST_FORMAT}'",
                blob_key(manifest_hash),
                manifest.format
            )));
        }
        for entry in &manifest.files {
            validate_package_path(&entry.path)?;
            check_hash(&entry.sha256)?;
        }
        Ok(manifest)
    }

    /// Reads the manifest and every file of a package, checking each hash. Returns the manifest.
    pub async fn verify_package(&self, manifest_hash: &str) -> ArtifactResult<Manifest> {
        let manifest = self.read_manifest(manifest_hash).await?;
        for entry in &manifest.files {
            self.get_verified(&entry.sha256).await?;
        }
        Ok(manifest)
    }

    /// Reads one file of a package, verified.
    pub async fn read_package_file(
        &self,
        manifest_hash: &str,
        path: &str,
    ) -> ArtifactResult<Bytes> {
        let manifest = self.read_manifest(manifest_hash).await?;
        let entry = manifest.file(path).ok_or_else(|| {
            ArtifactError::InvalidPackage(format!("package {manifest_hash} has no file '{path}'"))
        })?;
        self.get_verified(&entry.sha256).await
    }

    /// Writes a package's files under `dest` (which must not exist yet), verified.
    pub async fn restore_package(
        &self,
        manifest_hash: &str,
        dest: &Path,
    ) -> ArtifactResult<Manifest> {
        let manifest = self.read_manifest(manifest_hash).await?;
        if dest.exists() {
            return Err(ArtifactError::InvalidPackage(format!(
                "{} already exists; choose a new folder",
                dest.display()
            )));
        }
        for entry in &manifest.files {
            let data = self.get_verified(&entry.sha256).await?;
            let target = dest.join(&entry.path);
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(io_error(parent))?;
            }
            tokio::fs::write(&target, &data)
                .await
                .map_err(io_error(&target))?;
        }
        Ok(manifest)
    }
}

fn collect_files(root: &Path, relative: &Path, out: &mut Vec<PathBuf>) -> ArtifactResult<()> {
    let dir = root.join(relative);
    let mut entries = std::fs::read_dir(&dir)
        .map_err(io_error(&dir))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error(&dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().map_err(io_error(&path))?;
        let child = relative.join(entry.file_name());
        if kind.is_symlink() {
            return Err(ArtifactError::InvalidPackage(format!(
                "{} is a symbolic link; packages hold regular files only",
                path.display()
            )));
        } else if kind.is_dir() {
            collect_files(root, &child, out)?;
        } else if kind.is_file() {
            out.push(child);
        }
    }
    Ok(())
}

fn package_path(relative: &Path) -> ArtifactResult<String> {
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().ok_or_else(|| {
                ArtifactError::InvalidPackage(format!(
                    "file name {} is not UTF-8",
                    relative.display()
                ))
            })?),
            _ => {
                return Err(ArtifactError::InvalidPackage(format!(
                    "unexpected path {}",
                    relative.display()
                )));
            }
        }
    }
    Ok(parts.join("/"))
}

/// Package paths are relative, `/`-separated, and never leave the package (no `..`, no absolute path).
pub fn validate_package_path(path: &str) -> ArtifactResult<()> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        return Err(ArtifactError::InvalidPackage(format!(
            "path '{path}' is not a relative path inside the package"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ArtifactStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::local(&dir.path().join("artifacts")).unwrap();
        (dir, store)
    }

    fn blob_file(dir: &tempfile::TempDir, hash: &str) -> PathBuf {
        dir.path().join("artifacts").join(blob_key(hash))
    }

    #[tokio::test]
    async fn blobs_are_content_addressed_and_deduplicated() {
        let (dir, store) = store();
        let a = store.put_bytes(Bytes::from_static(b"hello")).await.unwrap();
        assert_eq!(
            a.hash,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let again = store.put_bytes(Bytes::from_static(b"hello")).await.unwrap();
        assert_eq!(a, again);
        assert!(blob_file(&dir, &a.hash).is_file());
        assert_eq!(store.get_verified(&a.hash).await.unwrap(), "hello");
    }

    #[tokio::test]
    async fn a_corrupted_blob_is_named() {
        let (dir, store) = store();
        let blob = store
            .put_bytes(Bytes::from_static(b"weights"))
            .await
            .unwrap();
        std::fs::write(blob_file(&dir, &blob.hash), b"tampered").unwrap();
        match store.get_verified(&blob.hash).await {
            Err(ArtifactError::Corrupted { key, expected, .. }) => {
                assert_eq!(key, blob_key(&blob.hash));
                assert_eq!(expected, blob.hash);
            }
            other => panic!("expected Corrupted, got {other:?}"),
        }
        // Storing the right content again repairs it (same size differs: size check).
        std::fs::remove_file(blob_file(&dir, &blob.hash)).unwrap();
        assert!(matches!(
            store.get_verified(&blob.hash).await,
            Err(ArtifactError::Missing { .. })
        ));
        store
            .put_bytes(Bytes::from_static(b"weights"))
            .await
            .unwrap();
        assert_eq!(store.get_verified(&blob.hash).await.unwrap(), "weights");
        assert!(matches!(
            store.get_verified("../../etc/passwd").await,
            Err(ArtifactError::InvalidHash(_))
        ));
    }

    #[tokio::test]
    async fn packages_round_trip_and_verify_every_file() {
        let (dir, store) = store();
        let src = dir.path().join("model");
        std::fs::create_dir_all(src.join("extra")).unwrap();
        std::fs::write(src.join("model.onnx"), b"onnx bytes").unwrap();
        std::fs::write(src.join("extra/labels.txt"), b"setosa\nversicolor\n").unwrap();
        let package = store.put_package_dir(&src).await.unwrap();
        let paths: Vec<_> = package
            .manifest
            .files
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(paths, ["extra/labels.txt", "model.onnx"]);
        assert_eq!(package.manifest.total_size(), 10 + 18);
        assert_eq!(
            store.verify_package(&package.manifest_hash).await.unwrap(),
            package.manifest
        );
        assert_eq!(
            store
                .read_package_file(&package.manifest_hash, "model.onnx")
                .await
                .unwrap(),
            "onnx bytes"
        );

        let out = dir.path().join("restored");
        store
            .restore_package(&package.manifest_hash, &out)
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(out.join("extra/labels.txt")).unwrap(),
            b"setosa\nversicolor\n"
        );
        assert!(
            store
                .restore_package(&package.manifest_hash, &out)
                .await
                .is_err()
        );

        let labels = &package.manifest.file("extra/labels.txt").unwrap().sha256;
        std::fs::write(blob_file(&dir, labels), b"x").unwrap();
        assert!(matches!(
            store.verify_package(&package.manifest_hash).await,
            Err(ArtifactError::Corrupted { .. })
        ));
    }

    #[tokio::test]
    async fn packages_refuse_escaping_paths_and_links() {
        let (dir, store) = store();
        for bad in ["../x", "/etc/passwd", "a/../../b", "", "a//b", "./a"] {
            assert!(
                store
                    .put_package_files(vec![(bad.to_string(), Bytes::from_static(b"x"))])
                    .await
                    .is_err(),
                "{bad}"
            );
        }
        let src = dir.path().join("linked");
        std::fs::create_dir_all(&src).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", src.join("model.onnx")).unwrap();
        assert!(matches!(
            store.put_package_dir(&src).await,
            Err(ArtifactError::InvalidPackage(_))
        ));
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(store.put_package_dir(&empty).await.is_err());
    }

    #[tokio::test]
    async fn a_tampered_manifest_cannot_point_outside_the_package() {
        let (_dir, store) = store();
        let evil = serde_json::json!({
            "format": MANIFEST_FORMAT,
            "files": [{"path": "../../outside", "sha256": "0".repeat(64), "size": 1}]
        });
        let blob = store
            .put_bytes(Bytes::from(serde_json::to_vec(&evil).unwrap()))
            .await
            .unwrap();
        assert!(matches!(
            store.read_manifest(&blob.hash).await,
            Err(ArtifactError::InvalidPackage(_))
        ));
    }
}
