//! Parse's naming rule for classes and fields, shared by object writes and
//! by the hook loader (which checks the classes a manifest names).

/// Parse's field-name rule: a letter, then letters, digits and underscores.
pub fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && key.len() <= 128
}
