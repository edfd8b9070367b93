//! Comparing secrets (the master key, client keys, the application id).

/// Compares two secrets in time independent of where they differ.
pub fn secret_eq(expected: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}
