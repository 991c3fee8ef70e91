//! # Reading a serial console
//!
//! Turns the byte stream of a VM's serial port into clean text lines: firmware and GRUB paint
//! the screen with ANSI/VT100 escape sequences and carriage returns, which are dropped here, so
//! that patterns match what a person reading the console sees. Also knows what a kernel panic
//! looks like. Does not interpret cursor movement (a line redrawn in place shows up as its
//! last version, or as several pieces).

/// Splits console bytes into lines without escape sequences, `\r` or other control characters
/// (tabs stay). Feed it chunks as they arrive; lines come out as they are completed.
#[derive(Debug, Default)]
pub struct LineSplitter {
    line: Vec<u8>,
    state: Escape,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// Plain text.
    #[default]
    None,
    /// After ESC.
    Start,
    /// Inside a control sequence (ESC `[` … final byte 0x40–0x7e).
    Csi,
    /// After ESC and an intermediate byte (ESC `(` B and the like): one more byte.
    Intermediate,
}

impl LineSplitter {
    /// Feeds `bytes`; returns the lines completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut done = Vec::new();
        for &b in bytes {
            self.state = match (self.state, b) {
                (Escape::None, 0x1b) => Escape::Start,
                (Escape::None, b'\n') => {
                    done.push(self.take());
                    Escape::None
                }
                (Escape::None, b) => {
                    if b == b'\t' || b >= 0x20 && b != 0x7f {
                        self.line.push(b);
                    }
                    Escape::None
                }
                (Escape::Start, b'[') => Escape::Csi,
                (Escape::Start, 0x20..=0x2f) => Escape::Intermediate,
                (Escape::Start, _) | (Escape::Intermediate, _) => Escape::None,
                (Escape::Csi, 0x40..=0x7e) => Escape::None,
                (Escape::Csi, _) => Escape::Csi,
            };
        }
        done
    }

    /// The unfinished last line, if any (at the end of the stream).
    pub fn finish(&mut self) -> Option<String> {
        (!self.line.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        let line = String::from_utf8_lossy(&self.line).trim_end().to_string();
        self.line.clear();
        line
    }
}

/// The line a Linux kernel prints when it panics (`panic()` in kernel/panic.c).
const KERNEL_PANIC: &str = "Kernel panic - not syncing";

/// True when `line` reports a kernel panic.
pub fn is_kernel_panic(line: &str) -> bool {
    line.contains(KERNEL_PANIC) && !line.contains("---[ end ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_firmware_escapes_and_carriage_returns() {
        // As OVMF and GRUB print them: mode changes, colours, cursor moves, CR LF.
        let raw = b"\x1b[=3h\x1b[=3h\x1b[0m\x1b[30m\x1b[40m\x1b[2J\x1b[01;01HBdsDxe: loading Boot0002\r\n\
                    Welcome to GRUB!\r\n\r\n\x1b(B\x1b[1;1Hx\r\n";
        let mut s = LineSplitter::default();
        let mut lines = Vec::new();
        // Fed in awkward pieces: escapes split across reads must still be removed.
        for chunk in raw.chunks(3) {
            lines.extend(s.push(chunk));
        }
        assert_eq!(
            lines,
            ["BdsDxe: loading Boot0002", "Welcome to GRUB!", "", "x"]
        );
        assert_eq!(s.finish(), None);
        assert_eq!(s.push(b"grub> "), Vec::<String>::new());
        assert_eq!(s.finish().as_deref(), Some("grub>"));
    }

    #[test]
    fn recognises_the_panic_line_not_its_trailer() {
        assert!(is_kernel_panic(
            "[    4.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"
        ));
        assert!(!is_kernel_panic(
            "[    4.2] ---[ end Kernel panic - not syncing: Attempted to kill init! ]---"
        ));
        assert!(!is_kernel_panic("EVEBUILD-BOOT-OK live 1.0"));
    }
}
