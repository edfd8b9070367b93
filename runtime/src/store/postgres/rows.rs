//! The column lists and row decoders the backend's modules share (a leaf:
//! it imports none of them).

use serde_json::Value;
use tokio_postgres::Row;

use crate::store::{Fields, SessionRecord, StoreError, UserRecord};

pub(super) const SESSION_COLUMNS: &str = "object_id, user_id, installation_id, created_with, created_at, \
                               updated_at, last_used_at, absolute_expires_at";

/// How many columns [`SESSION_COLUMNS`] names.
pub(super) const SESSION_COLUMN_COUNT: usize = 8;

pub(super) fn session_from_row(row: &Row) -> SessionRecord {
    session_at(row, 0)
}

/// The session whose [`SESSION_COLUMNS`] start at column `first` of `row`.
pub(super) fn session_at(row: &Row, first: usize) -> SessionRecord {
    SessionRecord {
        object_id: row.get(first),
        user_id: row.get(first + 1),
        installation_id: row.get(first + 2),
        created_with: row.get(first + 3),
        created_at: row.get(first + 4),
        updated_at: row.get(first + 5),
        last_used_at: row.get(first + 6),
        absolute_expires_at: row.get(first + 7),
    }
}

pub(super) const USER_COLUMNS: &str =
    "object_id, username, email, password_hash, fields, created_at, updated_at";

pub(super) fn user_from_row(row: &Row) -> Result<UserRecord, StoreError> {
    user_at(row, 0)
}

/// The user whose [`USER_COLUMNS`] start at column `first` of `row`.
pub(super) fn user_at(row: &Row, first: usize) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        object_id: row.get(first),
        username: row.get(first + 1),
        email: row.get(first + 2),
        password_hash: row.get(first + 3),
        fields: fields_from(row.get(first + 4))?,
        created_at: row.get(first + 5),
        updated_at: row.get(first + 6),
    })
}

pub(super) fn fields_from(value: Value) -> Result<Fields, StoreError> {
    Ok(serde_json::from_value(value)?)
}
