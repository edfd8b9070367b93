// The black-box suite's modules, shared by the `api` (SQLite) and
// `api_postgres` roots; `harness::on_postgres` tells them apart.

mod harness;
mod postgres;

mod asvs;
mod attacks;
mod audit;
mod check;
mod classes;
mod concurrency;
mod devkit;
mod envelope;
mod expiry;
mod hooks;
mod lifecycle;
mod metrics;
mod migrate;
mod queries;
mod reload;
mod nodes;
mod schemas;
mod sessions;
mod slow_clients;
mod storage;
mod transport;
mod users;
