//! `installer/config.img`: the FAT config partition made from the tree's `conf/` (EVE's
//! makeconfig.sh + pkg/mkconf), sized for the layout era, and `installer/persist.img`.

use super::Build;
use crate::context::Era;
use crate::session::ArtifactReport;
use crate::state::KeyBuilder;
use anyhow::Result;
use evebuild_eve::config_img::{self, ConfigImgOptions};

/// EVE's persist.img: 1 MiB of zeros.
pub const PERSIST_SIZE: u64 = 1 << 20;

impl Build<'_> {
    /// `installer/config.img`.
    pub fn config_img(&mut self) -> Result<ArtifactReport> {
        let cx = self.cx;
        let conf = cx.project.root.join("conf");
        let mut opts = ConfigImgOptions::new(&cx.rootfs_version, cx.source_date_epoch);
        if cx.era == Era::Eve17 {
            opts.size = config_img::EVE17_SIZE;
        }
        // The tree as it will be written (conf/ dereferenced, plus the marker) is the key.
        let tree = config_img::config_tree(&conf, &opts)?;
        let mut key = KeyBuilder::new("config.img");
        key.add("size", opts.size.to_string())
            .add("epoch", cx.source_date_epoch.to_string());
        for (e, data) in tree.iter() {
            key.add("entry", e.path.as_bytes()).add("data", data);
        }
        let out = cx.installer_dir.join("config.img");
        let key = key.finish();
        self.step("config.img", &out, &key, true, |_| {
            config_img::build_config_img(&conf, &opts, &out)?;
            Ok(())
        })
    }

    /// `installer/persist.img`: 1 MiB of zeros, as EVE makes it.
    pub fn persist_img(&mut self) -> Result<ArtifactReport> {
        let out = self.cx.installer_dir.join("persist.img");
        let key = KeyBuilder::new("persist.img")
            .add("size", PERSIST_SIZE.to_string())
            .finish();
        self.step("persist.img", &out, &key, false, |_| {
            crate::artifact::write_atomically(&out, |f| Ok(f.set_len(PERSIST_SIZE)?))
        })
    }
}
