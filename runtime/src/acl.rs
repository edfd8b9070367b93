//! Parse access control lists: `{"*": {"read": true}, "<userId>": {"read": true, "write": true}}`.
//!
//! An object without an `ACL` field is public, as in Parse. Role entries
//! (`role:Name`) are accepted and stored but grant nothing yet, since roles do
//! not exist here. The master key bypasses ACLs; callers check that first.

use serde_json::Value;

use crate::error::{Code, Error, Result};
use crate::store::Fields;
use crate::store::query::acl_grants;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    fn key(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// Whether `user` (None: anonymous) may read or write an object with these fields.
pub fn allows(fields: &Fields, user: Option<&str>, access: Access) -> bool {
    acl_grants(fields, user, access.key())
}

/// Checks the shape of an ACL a client sent.
pub fn validate(acl: &Value) -> Result<()> {
    let invalid = || Error::parse(Code::InvalidAcl, "Invalid ACL.");
    let entries = acl.as_object().ok_or_else(invalid)?;
    for entry in entries.values() {
        let perms = entry.as_object().ok_or_else(invalid)?;
        let well_formed = perms
            .iter()
            .all(|(k, v)| (k == "read" || k == "write") && v.is_boolean());
        if !well_formed {
            return Err(invalid());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_acl(acl: Value) -> Fields {
        json!({ "ACL": acl }).as_object().unwrap().clone()
    }

    #[test]
    fn objects_without_acl_are_public() {
        assert!(allows(&Fields::new(), None, Access::Write));
    }

    #[test]
    fn user_and_public_entries_grant_separately() {
        let fields = with_acl(json!({"*": {"read": true}, "u1": {"read": true, "write": true}}));
        assert!(allows(&fields, None, Access::Read));
        assert!(!allows(&fields, None, Access::Write));
        assert!(!allows(&fields, Some("u2"), Access::Write));
        assert!(allows(&fields, Some("u1"), Access::Write));
    }

    #[test]
    fn malformed_or_role_acls_grant_nothing() {
        for acl in [
            json!("public"),
            json!({"*": true}),
            json!({"role:admin": {"read": true}}),
        ] {
            assert!(!allows(&with_acl(acl), Some("u1"), Access::Read));
        }
    }

    #[test]
    fn validation_rejects_wrong_shapes() {
        assert!(validate(&json!({"*": {"read": true}})).is_ok());
        for bad in [
            json!([]),
            json!({"*": {"read": "yes"}}),
            json!({"*": {"delete": true}}),
            json!({"u": 1}),
        ] {
            assert!(validate(&bad).is_err(), "{bad}");
        }
    }
}
