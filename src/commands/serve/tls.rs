//! HTTPS for `serve`: rustls with ring, optional client certificates.

use super::*;

/// The TLS acceptor of `--tls-cert`/`--tls-key` (and `--tls-client-ca`
/// for mutual TLS), or none for plain HTTP. Errors name the file.
pub(super) fn tls_acceptor(args: &ServeArgs) -> Result<Option<tokio_rustls::TlsAcceptor>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let certs = |flag: &str, path: &std::path::Path| {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<_, _>>())
            .map_err(|e| format!("{flag} `{}`: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "{flag} `{}`: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
                path.display()
            ));
        }
        Ok(certs)
    };
    let chain = certs("--tls-cert", cert)?;
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "--tls-key `{}`: {e} (expected a PEM PKCS#8, PKCS#1 or SEC1 private key)",
            key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match &args.tls_client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs("--tls-client-ca", ca)? {
                roots
                    .add(c)
                    .map_err(|e| format!("--tls-client-ca `{}`: {e}", ca.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| format!("--tls-client-ca `{}`: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, private).map_err(|e| {
        format!(
            "--tls-cert `{}` and --tls-key `{}` do not make a certificate: {e}",
            cert.display(),
            key.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}
