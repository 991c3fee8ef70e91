//! linuxkit semantics that evebuild reproduces: the package build file (`build.yml`) and its
//! image configuration, package tags (`linuxkit pkg show-tag`), and the YAML node model they
//! are read with.

pub mod buildyml;
pub mod imageconfig;
pub mod tag;
pub mod yaml;
