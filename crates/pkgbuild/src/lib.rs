//! # Package builds
//!
//! Builds linuxkit packages (`pkg/<name>`: a `build.yml` and a Dockerfile) into OCI images in
//! the store, as `linuxkit pkg build` does, without a docker daemon:
//! - Dockerfiles that only assemble files (`FROM`, `COPY`, `ADD`, `ENV`, `LABEL` …, no `RUN`)
//!   are built in-process ([`native`]), with deterministic layers and configs, so the same
//!   sources give the same digests;
//! - Dockerfiles with `RUN` are handed to a container builder found on the machine
//!   ([`delegate`]: buildah, or docker buildx), with base images given to it from the store.
//!
//! Leaves out: remote `ADD` sources (URLs, git), `RUN --mount` semantics beyond what the
//! delegated builder does, SBOM attestations.

pub mod buildargs;
pub mod context;
pub mod delegate;
pub mod deps;
pub mod dockerfile;
pub mod ignore;
pub mod image_config;
pub mod native;
pub mod package;
pub mod pkgs;
pub mod store_images;

pub use package::{BuildOptions, BuiltPackage, build_package};
pub use pkgs::{AllOptions, Progress, Summary, build_all};

use std::path::{Path, PathBuf};

/// Everything that can go wrong building a package.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Dockerfile syntax error (names file and line).
    #[error(transparent)]
    Syntax(#[from] dockerfile::SyntaxError),
    /// A Dockerfile instruction that cannot be carried out.
    #[error("{file}:{line}: {message}", file = file.display())]
    Instruction {
        /// The Dockerfile.
        file: PathBuf,
        /// Line of the instruction.
        line: usize,
        /// What went wrong and what to do.
        message: String,
    },
    /// An I/O error on a path.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
