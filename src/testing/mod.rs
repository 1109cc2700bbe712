//! A cookie-jar HTTP client for integration tests (being built).
