//! Sending cached feed bodies without copying them, as nginx does with sendfile(2).
//!
//! A large body is kept in a file that has no name — an `O_TMPFILE` in the data directory when
//! [`keep_bodies_in`] was called and the filesystem allows it, else an in-memory file (memfd) —
//! mapped read-only, and handed to hyper as ordinary [`Bytes`] over that mapping. A file on a
//! disk filesystem lives in the page cache in large folios, which the kernel splices into a
//! socket with a fraction of the per-page work a memfd's 4 KiB pages need (measured: 25 µs
//! instead of 38–46 µs of server CPU per 246 KB response at 256 connections). [`Connection`] wraps each TCP connection:
//! when hyper asks it to write a slice that lies inside one of those mappings, it sends the
//! bytes with `sendfile(2)` from the memfd instead of `write(2)` from memory, so the kernel
//! references the pages rather than copying ~240 KB per response; the response head before it
//! goes out with `MSG_MORE` so head and body still share packets. Anything else (small bodies,
//! HTTP/2 frames, pages) is written as usual.
//!
//! Safety rests on two facts: a mapping is registered for exactly as long as the [`Bytes`] that
//! own it live (hyper holds them while it writes), and a body's file is never written after it
//! is filled, so pages the kernel still references after the owner is gone never change. A
//! memfd is sealed against writes; an `O_TMPFILE` was never linked into the filesystem, so no
//! other process can open it by name.
//! Off Linux, or if a memfd cannot be made, bodies are plain heap [`Bytes`] and nothing changes.
//!
//! This is the only module of wirefeed allowed `unsafe` (the crate denies it everywhere else);
//! every block says why it is sound. The descriptor-lifetime rule in particular: a descriptor
//! found by [`linux::lookup`] is used after the registry's lock is released, which is sound
//! only because the body being written owns it and hyper holds that body for the whole write.
//! Setting `sendfile = false` keeps every body on the heap, so none of this runs.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Bodies smaller than this are kept on the heap: copying them costs less than a syscall.
pub(crate) const MIN_BYTES: usize = 16 * 1024;

/// Keeps large bodies in unnamed files in `dir` from now on, when its filesystem supports
/// `O_TMPFILE` (ext4, XFS, btrfs, tmpfs); otherwise they stay in memfds. Says which.
pub(crate) fn keep_bodies_in(dir: &std::path::Path) {
    #[cfg(target_os = "linux")]
    match linux::use_directory(dir) {
        Ok(()) => {
            tracing::debug!(dir = %dir.display(), "large cached bodies live in unnamed files here")
        }
        Err(e) => tracing::info!(
            dir = %dir.display(),
            error = %e,
            "cannot keep cached bodies in unnamed files here; keeping them in memory files"
        ),
    }
    #[cfg(not(target_os = "linux"))]
    let _ = dir;
}

/// A body for the cache: in a sealed memfd when it is large enough (and the platform allows),
/// on the heap otherwise.
pub(crate) fn sendable(body: &[u8]) -> Bytes {
    if body.len() >= MIN_BYTES {
        #[cfg(target_os = "linux")]
        match linux::MappedFile::new(body) {
            Ok(mapped) => return Bytes::from_owner(mapped),
            Err(e) => tracing::debug!(error = %e, "no memfd for a body; keeping it on the heap"),
        }
    }
    Bytes::copy_from_slice(body)
}

/// Raises the soft limit on open files to the hard limit, as nginx's `worker_rlimit_nofile`
/// would: every connection and every zero-copy body holds a descriptor, and a soft limit of
/// 1024 would cap a busy server far below `max_connections`. Returns the limit now in force.
pub(crate) fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Unix
        Some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}

/// A server connection whose writes of [`sendable`] bodies use sendfile(2).
pub(crate) struct Connection {
    io: TokioIo<TcpStream>,
}

impl Connection {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self {
            io: TokioIo::new(stream),
        }
    }

    pub(crate) fn stream(&self) -> &TcpStream {
        self.io.inner()
    }
}

impl hyper::rt::Read for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        #[cfg(target_os = "linux")]
        if let Some(source) = linux::lookup(buf) {
            return linux::poll_sendfile(self.io.inner(), cx, source);
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        #[cfg(target_os = "linux")]
        if let Some((at, source)) = bufs
            .iter()
            .enumerate()
            .find_map(|(i, b)| linux::lookup(b).map(|source| (i, source)))
        {
            let stream = self.io.inner();
            if at == 0 {
                return linux::poll_sendfile(stream, cx, source);
            }
            // The response head (and anything else before the body) first, marked as more to
            // come so that the kernel does not push it out in a packet of its own.
            return linux::poll_send_more(stream, cx, &bufs[..at]);
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeMap;
    use std::io::{self, IoSlice, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::RwLock;
    use std::task::{Context, Poll, ready};

    use tokio::io::Interest;
    use tokio::net::TcpStream;

    /// Live mappings by start address: (length, file).
    static REGISTRY: RwLock<BTreeMap<usize, (usize, RawFd)>> = RwLock::new(BTreeMap::new());

    /// Where bodies' unnamed files go, when not in memfds.
    static DIRECTORY: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();

    pub(crate) fn use_directory(dir: &std::path::Path) -> io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        std::fs::create_dir_all(dir)?;
        let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // One file made and dropped now says whether the filesystem can.
        drop(unnamed_file(&path)?);
        DIRECTORY
            .set(path)
            .map_err(|_| io::Error::other("the body directory is already chosen"))
    }

    fn unnamed_file(dir: &std::ffi::CStr) -> io::Result<OwnedFd> {
        // SAFETY: a valid C string and flags; the result is checked.
        let raw = unsafe {
            libc::open(
                dir.as_ptr(),
                libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC,
                0o600,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: open returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
    }

    fn memfd() -> io::Result<OwnedFd> {
        let name = c"wirefeed-body";
        // SAFETY: a valid C string and flags; the result is checked.
        let raw = unsafe {
            libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: memfd_create returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
    }

    /// Where a slice's bytes are in a memfd.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Source {
        fd: RawFd,
        offset: usize,
        len: usize,
    }

    /// The memfd holding a slice, when the slice lies wholly inside a registered mapping.
    pub(crate) fn lookup(slice: &[u8]) -> Option<Source> {
        if slice.len() < super::MIN_BYTES / 4 {
            return None;
        }
        let start = slice.as_ptr() as usize;
        let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
        let (&base, &(len, fd)) = registry.range(..=start).next_back()?;
        (start + slice.len() <= base + len).then_some(Source {
            fd,
            offset: start - base,
            len: slice.len(),
        })
    }

    #[cfg(test)]
    pub(crate) fn is_registered(address: usize) -> bool {
        REGISTRY.read().unwrap().contains_key(&address)
    }

    /// A body's file (unnamed, or a sealed memfd) and its read-only mapping, registered while
    /// alive.
    pub(crate) struct MappedFile {
        fd: OwnedFd,
        ptr: *const u8,
        len: usize,
    }

    // SAFETY: the raw pointer is to a read-only shared mapping that lives exactly as long as
    // this value and is never written, so reading it from any thread is sound, and moving the
    // value (with its descriptor) to another thread moves nothing that is thread-bound.
    unsafe impl Send for MappedFile {}
    // SAFETY: as for Send: shared access only ever reads immutable bytes.
    unsafe impl Sync for MappedFile {}

    impl MappedFile {
        pub(crate) fn new(body: &[u8]) -> io::Result<Self> {
            let unnamed = DIRECTORY.get().and_then(|dir| match unnamed_file(dir) {
                Ok(fd) => Some(fd),
                Err(e) => {
                    tracing::debug!(error = %e, "no unnamed file for a body; using a memfd");
                    None
                }
            });
            let sealable = unnamed.is_none();
            let fd = match unnamed {
                Some(fd) => fd,
                None => memfd()?,
            };
            let mut file = std::fs::File::from(fd);
            file.write_all(body)?;
            let fd = OwnedFd::from(file);
            if sealable {
                let seals = libc::F_SEAL_WRITE
                    | libc::F_SEAL_GROW
                    | libc::F_SEAL_SHRINK
                    | libc::F_SEAL_SEAL;
                // SAFETY: fcntl on a descriptor we own.
                if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            // SAFETY: mapping `len` bytes of a file of that length, read-only and shared.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    body.len(),
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    fd.as_raw_fd(),
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let mapped = Self {
                ptr: ptr as *const u8,
                len: body.len(),
                fd,
            };
            REGISTRY
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(mapped.ptr as usize, (mapped.len, mapped.fd.as_raw_fd()));
            Ok(mapped)
        }
    }

    impl AsRef<[u8]> for MappedFile {
        fn as_ref(&self) -> &[u8] {
            // SAFETY: the mapping is `len` readable bytes until drop, and is never written.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }

    impl Drop for MappedFile {
        fn drop(&mut self) {
            REGISTRY
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(self.ptr as usize));
            // SAFETY: unmapping exactly what `new` mapped; nothing refers to it any more.
            unsafe {
                libc::munmap(self.ptr as *mut libc::c_void, self.len);
            }
        }
    }

    /// Sends (part of) `source` with sendfile(2) once the socket is writable.
    pub(crate) fn poll_sendfile(
        stream: &TcpStream,
        cx: &mut Context<'_>,
        source: Source,
    ) -> Poll<io::Result<usize>> {
        poll_send(stream, cx, || {
            let mut offset = source.offset as libc::off_t;
            // SAFETY: `offset` is a valid pointer to a local. `source.fd` is a raw descriptor
            // copied out of the registry, whose read lock was released in `lookup`: it is
            // still open because the `MappedFile` that owns it (and unregisters it on drop) is
            // kept alive by the `Bytes` whose slice hyper is writing right now — hyper borrows
            // that buffer for the whole of this call, so the owner cannot be dropped and the
            // descriptor cannot be closed or reused before sendfile returns.
            unsafe { libc::sendfile(stream.as_raw_fd(), source.fd, &mut offset, source.len) }
        })
    }

    /// Writes `bufs` with `MSG_MORE`: more data follows at once.
    pub(crate) fn poll_send_more(
        stream: &TcpStream,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        poll_send(stream, cx, || {
            // SAFETY: an all-zero msghdr is valid; the iovecs outlive the call, and
            // IoSlice is ABI-compatible with iovec on Unix.
            let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
            message.msg_iov = bufs.as_ptr() as *mut libc::iovec;
            message.msg_iovlen = bufs.len() as _;
            unsafe {
                libc::sendmsg(
                    stream.as_raw_fd(),
                    &message,
                    libc::MSG_MORE | libc::MSG_NOSIGNAL,
                )
            }
        })
    }

    /// Runs a sending system call (returning bytes sent, or -1 with errno) once the socket is
    /// writable, waiting again while it would block.
    fn poll_send(
        stream: &TcpStream,
        cx: &mut Context<'_>,
        mut call: impl FnMut() -> isize,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(stream.poll_write_ready(cx))?;
            let sent = stream.try_io(Interest::WRITABLE, || {
                let n = call();
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_bodies_are_mapped_and_found_small_ones_are_not() {
        let text: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let body = sendable(&text);
        assert_eq!(&body[..], &text[..]);
        #[cfg(target_os = "linux")]
        {
            assert!(linux::lookup(&body).is_some());
            assert!(linux::lookup(&body[50_000..60_000]).is_some());
            let small = sendable(&text[..100]);
            assert!(linux::lookup(&small).is_none());
            let on_heap = text.clone();
            assert!(linux::lookup(&on_heap).is_none());
            let address = body.as_ptr() as usize;
            let copy = body.clone();
            drop(body);
            assert!(linux::is_registered(address), "a clone keeps the mapping");
            drop(copy);
            assert!(
                !linux::is_registered(address),
                "the last owner unregisters it"
            );
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn bodies_kept_in_a_directory_are_in_files_without_names() {
        let dir = tempfile::tempdir().unwrap();
        keep_bodies_in(dir.path());
        let text: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let body = sendable(&text);
        assert_eq!(&body[..], &text[..]);
        assert!(linux::lookup(&body[1000..]).is_some());
        // Nothing appears in the directory: the file was never linked.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
