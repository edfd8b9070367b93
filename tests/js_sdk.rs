//! Runs the official Parse JavaScript SDK suite (`tests/js`, `node --test`)
//! against a real `cloudcode` process on SQLite. Installs the npm packages
//! on first use.

include!("js_suite.rs");
