//! # GRUB scripts and files EVE's images carry outside the rootfs's own grub.cfg
//!
//! - [`ESP_STUB_CFG`]: the `EFI/BOOT/grub.cfg` written onto the ESP of live and installer.raw
//!   images (make-raw's "embedded chainloader"): pick the rootfs partition and chainload the
//!   GRUB EFI binary inside it.
//! - [`ISO_STUB_CFG`]: the `EFI/BOOT/grub.cfg` of the installer ISO's El Torito FAT image: hand
//!   over to the grub.cfg on the ISO itself.
//! - [`grubenv`] / [`cmdline_env`]: a GRUB environment block (the format of `grub-editenv`),
//!   used for `boot/cmdline.env`, the copy of `boot/cmdline` that a stock GRUB can read.
//!
//! EVE builds these for its own GRUB (2.12 + patches: `gptprio.next`, `cat --set`,
//! `$cmddevice`). The scripts here first try EVE's commands and then fall back to what a
//! stock GRUB 2.06 (Debian's grub-efi-amd64-bin) has, so one image boots with either. The
//! GRUB binary must have these modules built in: part_gpt fat squash4 iso9660 probe regexp
//! test chain search configfile loadenv echo.
//!
//! Not here: the rootfs's own grub.cfg and `BOOT.pc`'s embedded config (both come from the
//! grub package), and the HiKey/Android variant.

/// The ESP's `EFI/BOOT/grub.cfg`: chainload `/EFI/BOOT/BOOTX64.EFI` of the rootfs partition.
///
/// With EVE's GRUB, `gptprio.next` chooses the partition of type 5dfbf5f4 (CoreOS usr) with
/// the highest GPT priority that is successful or has tries left, as make-raw's stub does.
/// A stock GRUB has no `gptprio.next` (it prints ``error: can't find command `gptprio.next'``
/// and goes on): the stub then looks on the disk it was loaded from (`$cmdpath`), and failing
/// that on every disk, for the first partition whose unique GUID is one of EVE's fixed rootfs
/// GUIDs, in this order — IMGA `…30052`, IMGB `…30053`, INSTALLER `…30060`
/// (eve-build-facts §5.1). The same stub serves live and installer.raw images.
/// Stock GRUB cannot read the priority bits, so with both IMGA and IMGB present it boots IMGA.
///
/// Details that matter on stock GRUB 2.06: `probe --part-uuid` prints the GUID in lower case;
/// the wildcard `(hd0,gpt*)` yields names *with* parentheses, which `regexp` strips before
/// `chainloader ($dev)/…`. When the chainload fails (no rootfs on the partition) the stub says
/// so and reboots, as EVE's does. Run by a legacy-BIOS GRUB (`BOOT.pc`, `$grub_platform` =
/// `pc`), which cannot chainload an EFI binary, the stub reads the chosen partition's
/// `/EFI/BOOT/grub.cfg` instead (EVE's BOOT.pc does the same from its embedded config).
pub const ESP_STUB_CFG: &str = r#"# EVE: boot the GRUB inside the rootfs partition chosen by GPT priority.
set dev=""
gptprio.next -d dev -u uuid
if [ -z "$dev" ]; then
  # No gptprio (stock GRUB): find EVE's rootfs partitions by their fixed unique GUIDs,
  # IMGA, IMGB, INSTALLER, on the disk this GRUB was loaded from, then on any disk.
  set own="hd*"
  regexp --set=1:own '^\(([^,)]+)' "$cmdpath"
  for disk in "$own" "hd*"; do
    for guid in ad6871ee-31f9-4cf3-9e09-6f7a25c30052 ad6871ee-31f9-4cf3-9e09-6f7a25c30053 ad6871ee-31f9-4cf3-9e09-6f7a25c30060; do
      if [ -z "$dev" ]; then
        for d in ($disk,gpt*); do
          set pu=""
          probe --part-uuid --set=pu $d
          if [ "$pu" = "$guid" ]; then
            regexp --set=dev '^\((.*)\)$' "$d"
            set uuid="$pu"
            break
          fi
        done
      fi
    done
  done
fi
if [ -z "$dev" ]; then
  echo "EVE: no rootfs partition (IMGA, IMGB or INSTALLER) found"
else
  echo "EVE: booting rootfs partition $dev ($uuid)"
fi
set root=$dev
if [ "$grub_platform" = "pc" ]; then
  # Legacy BIOS (BOOT.pc): no EFI binary to chainload; run the rootfs's grub.cfg itself.
  configfile ($dev)/EFI/BOOT/grub.cfg
fi
chainloader ($dev)/EFI/BOOT/BOOTX64.EFI
boot
echo "EVE: cannot boot /EFI/BOOT/BOOTX64.EFI on ($dev); rebooting"
sleep 3
reboot
"#;

/// The installer ISO's El Torito `EFI/BOOT/grub.cfg`: run the grub.cfg on the ISO.
///
/// EVE's GRUB sets `$cmddevice` to the device it was loaded from; a stock GRUB does not, so
/// the stub falls back to the ISO 9660 volume labelled `EVEISO` (makeiso's `-V EVEISO`).
/// Firmware that reads GRUB's `$prefix` from the ISO itself never gets here: GRUB then reads
/// the ISO's `/EFI/BOOT/grub.cfg` directly, which is the same end.
pub const ISO_STUB_CFG: &str = r#"# EVE installer ISO: continue with the grub.cfg on the ISO.
set install_part="$cmddevice"
if [ -z "$install_part" ]; then search --no-floppy --label EVEISO --set=install_part; fi
set dev=$install_part
set root=$dev
echo "EVE: installer ISO on ($dev)"
configfile ($dev)/EFI/BOOT/grub.cfg
"#;

/// The ISO 9660 volume label of EVE's installer ISO, which the ISO grub.cfg and initrd look for.
pub const ISO_VOLUME_LABEL: &str = "EVEISO";

/// Where the rootfs carries its cmdline as a GRUB environment block (beside `boot/cmdline`).
pub const CMDLINE_ENV_PATH: &str = "boot/cmdline.env";

/// The variable of [`CMDLINE_ENV_PATH`] that holds the cmdline (`load_env -f … cmdline`).
pub const CMDLINE_ENV_VAR: &str = "cmdline";

/// Size of a GRUB environment block (grub-core/lib/envblk.c: `GRUB_ENVBLK_DEFCFG` size).
const ENVBLK_SIZE: usize = 1024;
/// The header of every environment block: GRUB's signature line, then the warning line that
/// grub-editenv writes (Debian's GRUB 2.06 and upstream 2.12 both do).
const ENVBLK_HEADER: &str = "# GRUB Environment Block\n\
    # WARNING: Do not edit this file by tools other than grub-editenv!!!\n";

/// Why an environment block cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GrubEnvError {
    /// The variables do not fit into the 1024-byte block.
    #[error(
        "GRUB environment block would be {size} bytes, more than GRUB's {ENVBLK_SIZE}: \
         shorten the kernel cmdline (variable {name})"
    )]
    TooLarge {
        /// Bytes the block would need.
        size: usize,
        /// The variable that did not fit.
        name: String,
    },
    /// A variable name GRUB would not read back.
    #[error(
        "GRUB environment variable name {0:?} is not valid: use letters, digits and '_' \
         (no '=', '#', spaces or newlines)"
    )]
    BadName(String),
}

/// A GRUB environment block holding `vars` in order, byte for byte what
/// `grub-editenv FILE create; grub-editenv FILE set NAME=VALUE …` writes: the header lines,
/// `name=value` lines (`\` and newline in values escaped with `\`), `#` padding to 1024 bytes.
pub fn grubenv(vars: &[(&str, &str)]) -> Result<Vec<u8>, GrubEnvError> {
    let mut block = Vec::with_capacity(ENVBLK_SIZE);
    block.extend_from_slice(ENVBLK_HEADER.as_bytes());
    for (name, value) in vars {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            return Err(GrubEnvError::BadName((*name).to_string()));
        }
        block.extend_from_slice(name.as_bytes());
        block.push(b'=');
        for b in value.bytes() {
            if b == b'\\' || b == b'\n' {
                block.push(b'\\');
            }
            block.push(b);
        }
        block.push(b'\n');
        if block.len() > ENVBLK_SIZE {
            return Err(GrubEnvError::TooLarge {
                size: block.len(),
                name: (*name).to_string(),
            });
        }
    }
    block.resize(ENVBLK_SIZE, b'#');
    Ok(block)
}

/// The content of [`CMDLINE_ENV_PATH`] for a rootfs whose `boot/cmdline` is `cmdline`.
pub fn cmdline_env(cmdline: &str) -> Result<Vec<u8>, GrubEnvError> {
    grubenv(&[(CMDLINE_ENV_VAR, cmdline)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What grub-editenv (grub-common) writes for the same variables.
    fn editenv(vars: &[(&str, &str)]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("env");
        let run = |args: &[&str]| {
            let out = Command::new("grub-editenv")
                .arg(&file)
                .args(args)
                .output()
                .expect("grub-editenv is missing: install the Debian package grub-common");
            assert!(out.status.success(), "grub-editenv {args:?}: {out:?}");
        };
        run(&["create"]);
        for (n, v) in vars {
            run(&["set", &format!("{n}={v}")]);
        }
        std::fs::read(&file).unwrap()
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn cmdline_env_matches_grub_editenv() {
        let cmdline = "rootdelay=3 linuxkit.unified_cgroup_hierarchy=0 a=\"b c\" d\\e";
        assert_eq!(
            text(&cmdline_env(cmdline).unwrap()),
            text(&editenv(&[("cmdline", cmdline)]))
        );
        assert_eq!(cmdline_env("").unwrap(), editenv(&[("cmdline", "")]));
    }

    #[test]
    fn several_variables_match_grub_editenv() {
        let vars = [
            ("first", "1"),
            ("second_var", "two words"),
            ("x", "multi\nline"),
        ];
        assert_eq!(text(&grubenv(&vars).unwrap()), text(&editenv(&vars)));
    }

    #[test]
    fn oversized_block_and_bad_names_are_refused() {
        let long = "x".repeat(1000);
        assert!(matches!(
            cmdline_env(&long),
            Err(GrubEnvError::TooLarge { name, .. }) if name == "cmdline"
        ));
        assert_eq!(
            grubenv(&[("a=b", "c")]),
            Err(GrubEnvError::BadName("a=b".into()))
        );
    }

    #[test]
    fn stubs_name_eves_rootfs_guids_in_lower_case() {
        // probe --part-uuid prints lower case; an upper-case GUID would never match.
        for guid in ["30052", "30053", "30060"] {
            assert!(ESP_STUB_CFG.contains(&format!("ad6871ee-31f9-4cf3-9e09-6f7a25c{guid}")));
        }
        assert!(!ESP_STUB_CFG.contains("AD6871EE"));
        assert!(ISO_STUB_CFG.contains(ISO_VOLUME_LABEL));
    }
}
