#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Immutable raw bytes, either owned or a read-only memory map of a file.
///
/// Weight matrices point into one of these and keep it alive, so a model's
/// quantised weights stay in the page cache instead of being copied.
public final class ByteStorage: @unchecked Sendable {
    // Sendable: the bytes are never written after init.
    public let baseAddress: UnsafeRawPointer
    public let count: Int
    private let mapped: Bool

    /// Copies `bytes` into a fresh allocation.
    public init(copying bytes: some Collection<UInt8>) {
        let n = bytes.count
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1), alignment: 64)
        var i = 0
        for b in bytes {
            p.storeBytes(of: b, toByteOffset: i, as: UInt8.self)
            i += 1
        }
        baseAddress = UnsafeRawPointer(p)
        count = n
        mapped = false
    }

    /// A fresh allocation of `count` bytes that `fill` writes once.
    public init(uninitializedCount count: Int, fill: (UnsafeMutableRawPointer) -> Void) {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        fill(p)
        baseAddress = UnsafeRawPointer(p)
        self.count = count
        mapped = false
    }

    /// Tells the kernel the mapped pages of this byte range are not needed
    /// now (they are re-read from the file if touched again). Used after a
    /// tensor was copied into another layout, so resident memory does not
    /// hold both. No effect on owned memory.
    public func releaseResidentPages(offset: Int, count: Int) {
        guard mapped, count > 0, offset >= 0, offset + count <= self.count else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        // Only whole pages inside the range: neighbours may still be in use.
        let start = (offset + page - 1) / page * page
        let end = (offset + count) / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: baseAddress + start), end - start, Int32(MADV_DONTNEED))
    }

    /// Maps the whole file read-only.
    public init(mappingFileAt path: String) throws(TensorError) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .io(path: path, reason: "cannot open (errno \(errno))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(path: path, reason: "cannot stat (errno \(errno))") }
        let n = Int(st.st_size)
        if n == 0 {
            baseAddress = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            count = 0
            mapped = false
            return
        }
        guard let p = mmap(nil, n, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw .io(path: path, reason: "cannot mmap (errno \(errno))")
        }
        baseAddress = UnsafeRawPointer(p)
        count = n
        mapped = true
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: baseAddress), count)
        } else {
            UnsafeMutableRawPointer(mutating: baseAddress).deallocate()
        }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: baseAddress, count: count) }
}
