//! Turning `STORAGE_URL` into an object store and a prefix.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::{ObjectStore, memory::InMemory, path::Path};
use url::Url;

/// `STORAGE_URL` could not be turned into a store.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    /// The value is not a URL or path we understand.
    #[error("STORAGE_URL is invalid: {0}")]
    Invalid(String),
    /// The scheme is not one of file, memory, gs, s3.
    #[error(
        "STORAGE_URL has unsupported scheme {0:?}: use a path, file://, memory://, gs:// or s3://"
    )]
    UnsupportedScheme(String),
    /// The backend refused its configuration (missing bucket, bad credentials setting...).
    #[error("STORAGE_URL backend {backend:?} could not be configured")]
    Backend {
        /// The backend of the URL.
        backend: Backend,
        /// What object_store reported.
        #[source]
        source: object_store::Error,
    },
}

/// Which backend a `STORAGE_URL` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Local folder (`file://` or a plain path).
    File,
    /// Process memory (`memory://`), for tests.
    Memory,
    /// Google Cloud Storage (`gs://bucket/prefix`).
    Gcs,
    /// S3 or an S3-compatible endpoint (`s3://bucket/prefix`, `AWS_ENDPOINT`).
    S3,
}

/// An object store plus the prefix under which the data set lives.
#[derive(Clone, Debug)]
pub struct StorageLocation {
    /// The backend.
    pub backend: Backend,
    /// The store itself.
    pub store: Arc<dyn ObjectStore>,
    /// Prefix inside the store (may be empty).
    pub prefix: Path,
    /// The bucket of `gs://` and `s3://` locations (change events of other
    /// buckets are ignored); `None` for local folders and memory.
    pub bucket: Option<String>,
    /// The folder of a local location (`None` for other backends); imports
    /// lock a file in it.
    pub local_root: Option<PathBuf>,
}

impl StorageLocation {
    /// Parses `value` as a `STORAGE_URL`: an absolute or relative local path,
    /// `file:///abs/path`, `memory://`, `gs://bucket/prefix` or `s3://bucket/prefix`.
    ///
    /// Cloud backends take credentials and endpoints from their usual
    /// environment variables (`GOOGLE_*`, `AWS_*`). Building a store does
    /// no network I/O.
    pub fn parse(value: &str) -> Result<Self, LocationError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(LocationError::Invalid("it is empty".into()));
        }
        if !value.contains("://") {
            return Self::local(std::path::Path::new(value));
        }
        let url = Url::parse(value).map_err(|e| LocationError::Invalid(e.to_string()))?;
        match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|_| LocationError::Invalid("file:// URL must be absolute".into()))?;
                Self::local(&path)
            }
            "memory" => Ok(StorageLocation {
                backend: Backend::Memory,
                store: Arc::new(InMemory::new()),
                prefix: url_prefix(&url)?,
                bucket: None,
                local_root: None,
            }),
            "gs" => Self::cloud(&url, Backend::Gcs),
            "s3" => Self::cloud(&url, Backend::S3),
            other => Err(LocationError::UnsupportedScheme(other.to_string())),
        }
    }

    /// A `gs://` or `s3://` location; credentials and endpoints come from
    /// the backend's usual environment variables.
    fn cloud(url: &Url, backend: Backend) -> Result<Self, LocationError> {
        let bucket = bucket_of(url)?;
        crate::tls::install_crypto_provider();
        let built: Result<Arc<dyn ObjectStore>, object_store::Error> = match backend {
            Backend::Gcs => object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map(|store| Arc::new(store) as Arc<dyn ObjectStore>),
            _ => object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map(|store| Arc::new(store) as Arc<dyn ObjectStore>),
        };
        Ok(StorageLocation {
            backend,
            store: built.map_err(|source| LocationError::Backend { backend, source })?,
            prefix: url_prefix(url)?,
            bucket: Some(bucket.to_string()),
            local_root: None,
        })
    }

    /// A location over an existing store (tests share one `InMemory` this way).
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Self, LocationError> {
        Ok(StorageLocation {
            backend: Backend::Memory,
            store,
            prefix: Path::parse(prefix).map_err(|e| LocationError::Invalid(e.to_string()))?,
            bucket: None,
            local_root: None,
        })
    }

    fn local(path: &std::path::Path) -> Result<Self, LocationError> {
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| LocationError::Invalid(e.to_string()))?
                .join(path)
        };
        if !absolute.is_dir() {
            return Err(LocationError::Invalid(format!(
                "{} is not a directory",
                absolute.display()
            )));
        }
        let store =
            object_store::local::LocalFileSystem::new_with_prefix(&absolute).map_err(|source| {
                LocationError::Backend {
                    backend: Backend::File,
                    source,
                }
            })?;
        Ok(StorageLocation {
            backend: Backend::File,
            store: Arc::new(store),
            prefix: Path::default(),
            bucket: None,
            local_root: Some(absolute),
        })
    }
}

fn bucket_of(url: &Url) -> Result<&str, LocationError> {
    url.host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| LocationError::Invalid(format!("{}:// URL needs a bucket", url.scheme())))
}

fn url_prefix(url: &Url) -> Result<Path, LocationError> {
    let raw = url.path().trim_matches('/');
    Path::parse(raw).map_err(|e| LocationError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme() {
        let dir = std::env::temp_dir();
        let file = StorageLocation::parse(&format!("file://{}", dir.display())).unwrap();
        assert_eq!(file.backend, Backend::File);
        let plain = StorageLocation::parse(dir.to_str().unwrap()).unwrap();
        assert_eq!(plain.backend, Backend::File);
        let memory = StorageLocation::parse("memory:///data/v1").unwrap();
        assert_eq!(memory.backend, Backend::Memory);
        assert_eq!(memory.prefix.as_ref(), "data/v1");
        let gcs = StorageLocation::parse("gs://my-bucket/stocks/v1").unwrap();
        assert_eq!(gcs.backend, Backend::Gcs);
        assert_eq!(gcs.prefix.as_ref(), "stocks/v1");
        let s3 = StorageLocation::parse("s3://bucket/some/prefix").unwrap();
        assert_eq!(s3.backend, Backend::S3);
        assert_eq!(s3.prefix.as_ref(), "some/prefix");
        assert_eq!(s3.bucket.as_deref(), Some("bucket"));
        assert_eq!(gcs.bucket.as_deref(), Some("my-bucket"));
        assert_eq!(memory.bucket, None);
    }

    #[test]
    fn rejects_bad_values_with_clear_messages() {
        for (value, needle) in [
            ("", "empty"),
            ("ftp://host/x", "unsupported scheme"),
            ("s3:///nobucket", "bucket"),
            ("/definitely/not/a/dir/for/tests", "not a directory"),
        ] {
            let err = StorageLocation::parse(value).unwrap_err().to_string();
            assert!(err.contains("STORAGE_URL"), "{err}");
            assert!(err.contains(needle), "{value}: {err}");
        }
    }
}
