//! Static assets: combined, minified, fingerprinted bundles (being built).
