//! A thin `ObjectStore` decorator over a real store: records every path
//! asked for (to prove no request escapes the configured prefix) and injects
//! storage faults on demand (backend errors, reads slower than any timeout,
//! reads held until the test lets them go).

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use shared::storage::StorageLocation;

/// What reads do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreFault {
    /// Pass every call through.
    Pass,
    /// Fail every read with a backend error (`object_store::Error::Generic`).
    Error,
    /// Hold every read this long before passing it through.
    Slow(Duration),
}

/// The decorator. Clone the `Arc` to keep a handle for assertions.
pub struct ProbeStore {
    inner: Arc<dyn ObjectStore>,
    paths: Mutex<Vec<String>>,
    fault: Mutex<StoreFault>,
    /// Reads of paths containing this text wait until [`ProbeStore::resume`].
    paused: tokio::sync::watch::Sender<Option<String>>,
    /// Reads of paths containing this text read, then hand over their
    /// result only after [`ProbeStore::resume`].
    results_paused: tokio::sync::watch::Sender<Option<String>>,
    held: AtomicUsize,
}

/// A location over `location`'s store behind a new [`ProbeStore`], with the
/// same prefix; the probe is returned to watch and steer its reads.
pub fn probed(location: &StorageLocation) -> (Arc<ProbeStore>, StorageLocation) {
    let probe = ProbeStore::new(location.store.clone());
    let probed = StorageLocation::from_store(probe.clone(), location.prefix.as_ref())
        .expect("a location over the probe");
    (probe, probed)
}

impl ProbeStore {
    /// Wraps `inner`, passing every call through.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Arc<Self> {
        Arc::new(ProbeStore {
            inner,
            paths: Mutex::new(Vec::new()),
            fault: Mutex::new(StoreFault::Pass),
            paused: tokio::sync::watch::Sender::new(None),
            results_paused: tokio::sync::watch::Sender::new(None),
            held: AtomicUsize::new(0),
        })
    }

    /// Holds every read of a path containing `needle` until [`ProbeStore::resume`].
    pub fn pause_reads_of(&self, needle: &str) {
        self.paused.send_replace(Some(needle.to_string()));
    }

    /// Reads of a path containing `needle` read at once but hand over their
    /// result only after [`ProbeStore::resume`]: a read that returns data
    /// older than a write made meanwhile. (The result is taken before the
    /// hold, as the memory store's results are copies; a file's would not be.)
    pub fn hold_results_of(&self, needle: &str) {
        self.results_paused.send_replace(Some(needle.to_string()));
    }

    /// Lets held reads (and later ones) through.
    pub fn resume(&self) {
        self.paused.send_replace(None);
        self.results_paused.send_replace(None);
    }

    /// Waits until `n` reads are held (panics after 10 s).
    pub async fn wait_until_held(&self, n: usize) {
        for _ in 0..1000 {
            if self.held.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no read was held within 10 s");
    }

    async fn hold_if_paused(&self, path: &str) {
        self.hold_while(&self.paused, path).await;
    }

    async fn hold_while(&self, channel: &tokio::sync::watch::Sender<Option<String>>, path: &str) {
        let mut paused = channel.subscribe();
        let matches = |p: &Option<String>| p.as_deref().is_some_and(|n| path.contains(n));
        if !matches(&paused.borrow()) {
            return;
        }
        self.held.fetch_add(1, Ordering::SeqCst);
        let _ = paused.wait_for(|p| !matches(p)).await;
        self.held.fetch_sub(1, Ordering::SeqCst);
    }

    /// Every path asked for so far (reads, lists, writes), in order.
    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }

    /// Number of recorded calls.
    pub fn calls(&self) -> usize {
        self.paths.lock().unwrap().len()
    }

    /// Switches the read fault.
    pub fn set_fault(&self, fault: StoreFault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn record(&self, path: &str) {
        self.paths.lock().unwrap().push(path.to_string());
    }

    async fn before_read(&self, location: &Path) -> Result<()> {
        self.record(location.as_ref());
        self.hold_if_paused(location.as_ref()).await;
        let fault = *self.fault.lock().unwrap();
        match fault {
            StoreFault::Pass => Ok(()),
            StoreFault::Error => Err(object_store::Error::Generic {
                store: "ProbeStore",
                source: "injected backend failure".into(),
            }),
            StoreFault::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
        }
    }
}

impl fmt::Debug for ProbeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProbeStore({})", self.inner)
    }
}

impl fmt::Display for ProbeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProbeStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for ProbeStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.record(location.as_ref());
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.record(location.as_ref());
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.before_read(location).await?;
        let result = self.inner.get_opts(location, options).await;
        self.hold_while(&self.results_paused, location.as_ref())
            .await;
        result
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.before_read(location).await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.record("<delete_stream>");
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.record(prefix.map_or("", |p| p.as_ref()));
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.record(prefix.map_or("", |p| p.as_ref()));
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.record(prefix.map_or("", |p| p.as_ref()));
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.record(from.as_ref());
        self.record(to.as_ref());
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.record(from.as_ref());
        self.record(to.as_ref());
        self.inner.rename_opts(from, to, options).await
    }
}
