use serde_json::Value;

/// A successful create or update, as an `afterSave` hook sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveEvent {
    /// The class of the saved object, e.g. `"_User"` or `"Game"`.
    pub class_name: String,
    /// The object after the write, without secrets (no password, no token).
    ///
    /// Bounded, so that no client can make a hook run out of memory by
    /// storing a large value: a field whose JSON is over 64 KiB arrives as
    /// `{"__type": "Elided", "bytes": N}` (N: the size of its JSON), and
    /// while the whole object is over 1 MiB its largest fields are elided
    /// the same way. Use [`SaveEvent::is_elided`] to tell.
    pub object: Value,
    /// The object before the write, bounded like [`SaveEvent::object`];
    /// `None` for a create.
    pub original: Option<Value>,
    /// The keys the write set.
    pub changed: Vec<String>,
}

impl SaveEvent {
    /// Whether the write set `key`. Unlike Parse's `dirty()` in afterSave,
    /// this works for `"password"` too (its value is never shown).
    pub fn changed(&self, key: &str) -> bool {
        self.changed.iter().any(|k| k == key)
    }

    /// The saved object's id.
    pub fn object_id(&self) -> Option<&str> {
        self.object.get("objectId").and_then(Value::as_str)
    }

    /// Whether the host left `key` of the saved object out for its size
    /// (see [`SaveEvent::object`]).
    pub fn is_elided(&self, key: &str) -> bool {
        self.object
            .get(key)
            .and_then(|v| v.get("__type"))
            .is_some_and(|t| t == "Elided")
    }

    /// True for a create, false for an update.
    pub fn is_new(&self) -> bool {
        self.original.is_none()
    }
}

/// A login or signup, as [`crate::Hooks::before_login`] and
/// [`crate::Hooks::after_login`] see it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginEvent {
    /// The user object without secrets (no password, hash or token):
    /// `objectId`, `username`, `email` and the custom fields, bounded like
    /// [`SaveEvent::object`].
    pub user: Value,
    /// True for a signup, false for a login.
    pub signup: bool,
    /// The device (installation id) the client logs in from.
    pub installation_id: Option<String>,
    /// The client's IP address, where the server knows it.
    pub client_address: Option<String>,
}

impl LoginEvent {
    /// The user's objectId.
    pub fn user_id(&self) -> Option<&str> {
        self.user.get("objectId").and_then(Value::as_str)
    }

    /// The user's field `key`, if set.
    pub fn field(&self, key: &str) -> Option<&Value> {
        self.user.get(key)
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// `POST /logout`.
    Logout,
    /// The owner deleted it (`DELETE /sessions/:id`).
    RevokedByUser,
    /// A hook revoked it.
    RevokedByHook,
    /// The master key deleted it.
    RevokedByAdmin,
    /// The user's password changed.
    PasswordChange,
    /// A rotated-out token of the user came back: all their sessions end.
    ReuseDetected,
    /// It expired and was purged.
    Expired,
    /// The user was deleted.
    UserDeleted,
    /// A new login on the same installation replaced it.
    Replaced,
}

impl EndReason {
    /// A stable name for logs: `"logout"`, `"revoked-by-user"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::RevokedByUser => "revoked-by-user",
            EndReason::RevokedByHook => "revoked-by-hook",
            EndReason::RevokedByAdmin => "revoked-by-admin",
            EndReason::PasswordChange => "password-change",
            EndReason::ReuseDetected => "reuse-detected",
            EndReason::Expired => "expired",
            EndReason::UserDeleted => "user-deleted",
            EndReason::Replaced => "replaced",
        }
    }
}

/// A session that ended, as [`crate::Hooks::after_session_end`] sees it
/// (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    /// The session's objectId.
    pub session_id: String,
    /// Its user.
    pub user_id: String,
    /// Its device.
    pub installation_id: Option<String>,
    /// Why it ended.
    pub reason: EndReason,
    /// The address of the client whose request ended it, where known.
    pub client_address: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn elided_fields_are_told_apart_from_values_that_look_alike() {
        let event = SaveEvent {
            class_name: "_User".into(),
            object: json!({
                "objectId": "u1",
                "blob": {"__type": "Elided", "bytes": 12_582_914},
                "note": "Elided",
            }),
            original: None,
            changed: vec!["blob".into()],
        };
        assert!(event.is_elided("blob"));
        assert!(!event.is_elided("note"));
        assert!(!event.is_elided("missing"));
        assert_eq!(event.object_id(), Some("u1"));
        assert!(event.is_new());
    }
}
