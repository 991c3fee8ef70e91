//! # linuxkit semantics
//!
//! What linuxkit does, as a library: the yml schema ([`yml`]), image layers flattened into one
//! entry stream ([`flatten`]), the OCI `config.json` and linuxkit `runtime.json` of each
//! container ([`runtime`]), the metadata dump of the resolved yml ([`metadata`]), the rootfs
//! assembled from the sections ([`assemble`]), the package build file ([`buildyml`]) with its
//! image configuration ([`imageconfig`]) and package tags ([`tag`]). YAML is read as Go's
//! yaml.v3 reads it ([`yaml`]) and the metadata dump written as yaml.v2 writes it ([`yamlv2`]).

pub mod assemble;
pub mod buildyml;
pub mod flatten;
pub mod format;
pub mod gojson;
pub mod imageconfig;
pub mod metadata;
pub mod runtime;
pub mod source;
pub mod tag;
pub mod yaml;
pub mod yamlv2;
pub mod yml;
