//! # linuxkit semantics
//!
//! What `linuxkit build --format tar` does, as a library: the yml schema ([`yml`]), image
//! layers flattened into one entry stream ([`flatten`]), the OCI `config.json` and linuxkit
//! `runtime.json` of each container ([`runtime`]), the metadata dump of the resolved yml
//! ([`metadata`]) and the rootfs assembled from the sections ([`assemble`]).

pub mod assemble;
pub mod flatten;
pub mod format;
pub mod gojson;
pub mod metadata;
pub mod runtime;
pub mod source;
pub mod yaml;
pub mod yamlv2;
pub mod yml;
