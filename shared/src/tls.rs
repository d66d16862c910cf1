//! TLS set-up shared by every HTTPS client in the process.

/// Installs rustls' ring provider as the process default, once.
///
/// reqwest is built with `rustls-no-provider` (no aws-lc, no OpenSSL), so
/// something must install a provider before the first HTTPS client is
/// built: the Upstash client and the cloud object stores both call this.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
