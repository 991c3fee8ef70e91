//! EVE-OS build conventions that evebuild reproduces: the knobs and their rules, the version
//! string, the kernel table, image yml composition and the `*_TAG` placeholders.

pub mod compose;
pub mod kernel;
pub mod knobs;
pub mod make;
pub mod placeholders;
pub mod version;
