//! What an account's identifiers may look like: the rules signup and
//! account changes enforce, and that login checks before it spends a
//! database read or a throttle entry on an identifier no account can have.

/// Longest username and email an account can have.
pub const MAX_USERNAME: usize = 256;
pub const MAX_EMAIL: usize = 254;

pub fn valid_username(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_USERNAME && !s.chars().any(char::is_control)
}

pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= MAX_EMAIL
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

/// Whether a login's identifiers could name an account at all (an email is
/// matched as stored, so only its length and characters are checked).
pub fn could_name_an_account(username: Option<&str>, email: Option<&str>) -> bool {
    let valid_email = |e: &str| e.len() <= MAX_EMAIL && !e.chars().any(char::is_control);
    username.is_none_or(valid_username) && email.is_none_or(valid_email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        for ok in ["a@example.com", "first.last+tag@sub.example.org"] {
            assert!(looks_like_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@example.com",
            "a@.com",
            "a b@example.com",
            "a@example.com.",
            "a@b@c.com",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }
}
