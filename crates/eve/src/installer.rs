//! What EVE puts on installer media besides the images, as data: the files make-raw's
//! `efi_installer_extension` adds to the installer's ESP and make-efi adds to the ISO
//! (`boot/.boot_repository`, `boot/.uuid`, `UsbInvocationScript.txt`), the ISO's layout
//! (which parts of the installer rootfs go to the ISO root, the name of the rootfs image on
//! it) and make-efi's size rule for the El Torito FAT image.
//!
//! Sources: `pkg/mkimage-raw-efi/make-raw` (`efi_installer_extension`),
//! `pkg/mkimage-raw-efi/UsbInvocationScript.txt` and `pkg/mkimage-iso-efi/make-efi` in
//! lf-edge/eve at 2c6b415 (eve-build-facts §5.5, §5.6).
//!
//! Differences on purpose: `boot/.uuid` is derived from a caller's seed (make-raw and
//! make-efi read `/dev/random`); make-efi's fallback busybox initrd (built when the kernel
//! package brings no `boot/initrd.img`) is not made.

/// Marks a medium that carries EVE's boot files (`touch boot/.boot_repository`).
pub const BOOT_REPOSITORY: &str = "boot/.boot_repository";
/// The medium's identity, read by grub_installer.cfg (`cat -s boot_uid …/boot/.uuid`).
pub const BOOT_UUID: &str = "boot/.uuid";
/// Dell 3000-series firmware reads this from the root of a USB ESP.
pub const USB_INVOCATION_SCRIPT_PATH: &str = "UsbInvocationScript.txt";
/// Its contents (pkg/mkimage-raw-efi/UsbInvocationScript.txt).
pub const USB_INVOCATION_SCRIPT: &str =
    "usb_disable_secure_boot noreset;\nusb_one_time_boot usb nolog;\n";

/// The installer rootfs image's name on the ISO (grub_installer.cfg's `rootimg=`).
pub const ISO_ROOTFS_IMAGE: &str = "rootfs_installer.img";
/// What make-efi copies from the installer rootfs to the ISO root (`cp -r EFI boot`,
/// `cp etc/eve-release etc/`).
pub const ISO_FROM_ROOTFS: [&str; 3] = ["EFI", "boot", "etc/eve-release"];
/// Whether make-efi's `xorriso -m 'rootfs-*'` leaves a file (or directory) of this name out
/// of the ISO (the pattern matches names, anywhere in the tree).
pub fn iso_excludes(name: &[u8]) -> bool {
    name.starts_with(b"rootfs-")
}

/// Where the El Torito image's files come from and go (`mcopy EFI/BOOT/* ::/EFI/BOOT/`).
pub const EFI_BOOT_DIR: &str = "EFI/BOOT";
/// The file of [`EFI_BOOT_DIR`] make-efi replaces with its stub.
pub const GRUB_CFG: &str = "EFI/BOOT/grub.cfg";

/// `boot/.uuid`'s contents: 32 lower-case hex digits and a newline, as
/// `od -An -x -N 16 /dev/random | tr -d ' '` prints them, here taken from `seed` (at least
/// 16 bytes of a content hash).
pub fn boot_uuid(seed: &[u8]) -> String {
    let mut s: String = seed.iter().take(16).map(|b| format!("{b:02x}")).collect();
    s.push('\n');
    s
}

/// Whether an `EFI/BOOT` file name is the UEFI loader make-efi sizes the image by
/// (`EFI/BOOT/BOOT*EFI`).
pub fn is_loader(name: &[u8]) -> bool {
    name.starts_with(b"BOOT") && name.ends_with(b"EFI")
}

/// Size in bytes of make-efi's El Torito FAT image for a loader of `loader_size` bytes:
/// `(size / 1024 + 511) / 32 * 32` KiB (511 KiB of headroom, a multiple of 32 KiB).
pub fn boot_image_size(loader_size: u64) -> u64 {
    (loader_size / 1024 + 511) / 32 * 32 * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_image_size_as_make_efi() {
        // golden/iso/bootimg-mkfs.txt: a 1 MiB BOOTX64.EFI gives `mkfs.vfat -C boot.img 1504`.
        assert_eq!(boot_image_size(1 << 20), 1504 * 1024);
        assert_eq!(boot_image_size(0), 480 * 1024);
    }

    #[test]
    fn uuid_is_od_shaped() {
        let u = boot_uuid(&[0xab; 32]);
        assert_eq!(u.len(), 33);
        assert!(u.ends_with('\n') && u[..32].bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(is_loader(b"BOOTX64.EFI") && is_loader(b"BOOTAA64.EFI"));
        assert!(!is_loader(b"grub.cfg") && !is_loader(b"BOOT.pc"));
        assert!(iso_excludes(b"rootfs-generic.img") && !iso_excludes(ISO_ROOTFS_IMAGE.as_bytes()));
    }
}
