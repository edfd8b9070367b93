//! Black-box tests: the real `cloudcode` binary on 127.0.0.1, real HTTP.

mod harness;

mod asvs;
mod attacks;
mod audit;
mod classes;
mod concurrency;
mod envelope;
mod expiry;
mod hooks;
mod sessions;
mod storage;
mod transport;
mod users;
