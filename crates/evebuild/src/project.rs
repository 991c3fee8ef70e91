//! # Finding the source tree
//!
//! An EVE-shaped project is a directory with `images/rootfs.yml.in` and `pkg/`. With no `-C`,
//! evebuild builds the current directory when it is one, and otherwise — in an evebuild
//! checkout — the bundled example under `examples/hello-eve`.

use std::path::{Path, PathBuf};

/// The example evebuild builds when run in its own checkout.
pub const BUNDLED_EXAMPLE: &str = "examples/hello-eve";

/// An EVE-shaped source tree.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project root (absolute).
    pub root: PathBuf,
    /// True when evebuild fell back to the bundled example.
    pub is_bundled_example: bool,
}

/// Why no project could be found.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// `-C` named something that is not a directory.
    #[error("project directory {0} does not exist (check the path given to -C)")]
    Missing(PathBuf),
    /// The directory has no `images/rootfs.yml.in`.
    #[error(
        "{0} is not an EVE source tree: it has no images/rootfs.yml.in (run evebuild in the \
         root of an EVE checkout, or pass -C <dir>)"
    )]
    NotEve(PathBuf),
}

impl Project {
    /// Locates the project: `dir` when given, else the current directory, else the bundled
    /// example of an evebuild checkout at the current directory.
    pub fn discover(dir: Option<&Path>, cwd: &Path) -> Result<Project, ProjectError> {
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                cwd.join(p)
            }
        };
        if let Some(d) = dir {
            let d = abs(d);
            if !d.is_dir() {
                return Err(ProjectError::Missing(d));
            }
            return Self::at(&d, false);
        }
        if is_eve_tree(cwd) {
            return Self::at(cwd, false);
        }
        let example = cwd.join(BUNDLED_EXAMPLE);
        if is_eve_tree(&example) {
            return Self::at(&example, true);
        }
        Err(ProjectError::NotEve(cwd.to_path_buf()))
    }

    fn at(dir: &Path, is_bundled_example: bool) -> Result<Project, ProjectError> {
        if !is_eve_tree(dir) {
            return Err(ProjectError::NotEve(dir.to_path_buf()));
        }
        let root = dir
            .canonicalize()
            .map_err(|_| ProjectError::Missing(dir.to_path_buf()))?;
        Ok(Project {
            root,
            is_bundled_example,
        })
    }

    /// `<root>/pkg`.
    pub fn pkg_dir(&self) -> PathBuf {
        self.root.join("pkg")
    }

    /// `<root>/images`.
    pub fn images_dir(&self) -> PathBuf {
        self.root.join("images")
    }
}

fn is_eve_tree(dir: &Path) -> bool {
    dir.join("images/rootfs.yml.in").is_file()
}
