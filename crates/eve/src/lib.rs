//! EVE-OS build conventions that evebuild reproduces: the knobs and their rules, the version
//! string, the kernel table, image yml composition and the `*_TAG` placeholders, the
//! config partition (config.img) and the disk partition tables.

pub mod compose;
pub mod config_img;
pub mod grub;
pub mod installer;
pub mod kernel;
pub mod knobs;
pub mod make;
pub mod partitions;
pub mod placeholders;
pub mod version;
pub mod yml;
