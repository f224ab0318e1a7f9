import CWardenSystem
import Foundation

/// Keeps an append-only file from growing the page cache without bound.
///
/// The decision log is written once and never read back by Warden; left to the kernel, every byte
/// of it stays cached until memory runs short, evicting what other programs on the host read. And
/// where the cache grows into memory never used before (a VM's untouched pages), growing it costs
/// more than the write: on the benchmark VM, a fifth of Warden's CPU then went to copying records
/// into new cache pages. So every `window` bytes, the newest window's writeback starts (without
/// waiting), and the window before it, whose writeback started one step earlier, is waited for and
/// dropped from the cache. The cache keeps the last one or two windows, its pages are reused, and a
/// record is on disk once two windows more have been written, if the kernel's own writeback has not
/// come first. Waiting for the older window is the back-pressure of a disk slower than the records.
struct WriteBehind {
    let window: Int
    private(set) var enabled: Bool
    /// Start of the bytes written since the last step.
    private var mark: off_t = 0
    /// Start of the window whose writeback the last step started.
    private var previousMark: off_t = 0
    private var sinceMark = 0

    init(descriptor: Int32, window: Int) {
        self.window = window
        #if os(Linux)
        // Only a regular file has cache pages of its own: a pipe, a terminal or /dev/null has none.
        var info = stat()
        self.enabled = window > 0 && fstat(descriptor, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        #else
        // Without posix_fadvise (macOS), the cache is left to the kernel.
        self.enabled = false
        #endif
        if self.enabled {
            let end = lseek(descriptor, 0, SEEK_END)
            self.mark = max(end, 0)
            self.previousMark = self.mark
        }
    }

    /// Notes `count` more bytes appended; once a window is complete, takes a step. Returns the
    /// `errno` of a failed step, after which it does nothing more.
    mutating func wrote(_ count: Int, descriptor: Int32) -> Int32? {
        guard self.enabled else { return nil }
        self.sinceMark += count
        guard self.sinceMark >= self.window else { return nil }
        // With O_APPEND the offset is the end of what this descriptor wrote last, wherever other
        // writers or a truncation left the file.
        let end = lseek(descriptor, 0, SEEK_CUR)
        guard end >= 0 else { return self.fail() }
        if end < self.mark {
            // Truncated (a copy-and-truncate rotation): start over from the new end.
            self.mark = end
            self.previousMark = end
            self.sinceMark = 0
            return nil
        }
        guard warden_start_writeback(descriptor, self.mark, end - self.mark) == 0 else { return self.fail() }
        if self.previousMark < self.mark {
            let length = self.mark - self.previousMark
            guard warden_finish_writeback(descriptor, self.previousMark, length) == 0 else { return self.fail() }
            #if os(Linux)
            // posix_fadvise returns its error rather than setting errno.
            let result = posix_fadvise(descriptor, self.previousMark, length, POSIX_FADV_DONTNEED)
            guard result == 0 else { return self.fail(result) }
            #endif
        }
        self.previousMark = self.mark
        self.mark = end
        self.sinceMark = 0
        return nil
    }

    private mutating func fail(_ error: Int32 = errno) -> Int32 {
        self.enabled = false
        return error
    }
}
