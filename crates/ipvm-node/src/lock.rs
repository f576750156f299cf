//! The instruction lock of the coordination rule (`ipvm_core::coordinate`)
//! across the processes of one store on disk: an OS file lock (`flock` on
//! Unix, `LockFileEx` on Windows, through std's `File::lock`) on
//! `locks/<instruction CID>` beside the store's database. The OS releases a
//! lock when its process ends, killed or not, so a killed run never leaves
//! an instruction locked. The lock files themselves stay (an empty file per
//! instruction ever locked): removing one while another process waits on it
//! would let two processes hold "the" lock at once.
//!
//! The wait is a poll: `try_lock` every few milliseconds, the executor
//! free in between (a timer thread wakes the task), so the other tasks of
//! this process keep running while one waits — a process that waited with
//! its whole thread could hold one lock while waiting for another that a
//! second process holds while waiting for the first.

use std::fs::{File, OpenOptions, TryLockError};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ipvm_core::coordinate::Busy;
use ipvm_core::{Cid, InstructionLock};

/// How long a waiter sleeps between two tries.
const POLL: Duration = Duration::from_millis(5);

/// File locks in `dir` (`<store>/locks`), or none (`--memory`: a store no
/// other process shares, so the tasks run uncoordinated).
#[derive(Debug, Clone)]
pub(crate) struct FileLocks {
    dir: Option<PathBuf>,
}

/// A held lock: the open, locked file. Dropping it closes the file, which
/// releases the lock.
#[derive(Debug)]
pub(crate) struct HeldFile(#[allow(dead_code, reason = "held for its lock")] File);

impl FileLocks {
    /// Locks in `dir`, created when first needed.
    pub(crate) fn in_dir(dir: PathBuf) -> Self {
        Self { dir: Some(dir) }
    }

    /// No locks.
    pub(crate) fn none() -> Self {
        Self { dir: None }
    }

    /// The lock file of `instruction`, opened (and created if missing);
    /// `None` if this has no directory or the file cannot be opened (the
    /// task then runs uncoordinated: a lock is an optimisation of the memo,
    /// not a condition of running).
    fn open(&self, instruction: &Cid) -> Option<File> {
        let dir = self.dir.as_ref()?;
        let path = dir.join(instruction.to_string());
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
        };
        match open() {
            Ok(f) => Some(f),
            Err(_) => {
                std::fs::create_dir_all(dir).ok()?;
                open().ok()
            }
        }
    }

    /// One `try_lock`: `Ok(Some)` held, `Err(Busy)` held elsewhere,
    /// `Ok(None)` no lock to take.
    fn try_once(&self, instruction: &Cid) -> Result<Option<HeldFile>, Busy> {
        let Some(file) = self.open(instruction) else {
            return Ok(None);
        };
        match file.try_lock() {
            Ok(()) => Ok(Some(HeldFile(file))),
            Err(TryLockError::WouldBlock) => Err(Busy),
            Err(TryLockError::Error(_)) => Ok(None),
        }
    }
}

impl InstructionLock for FileLocks {
    type Guard = HeldFile;

    async fn acquire(&self, instruction: &Cid) -> Option<HeldFile> {
        loop {
            match self.try_once(instruction) {
                Ok(held) => return held,
                Err(Busy) => Sleep::new(POLL).await,
            }
        }
    }

    async fn try_acquire(&self, instruction: &Cid) -> Result<Option<HeldFile>, Busy> {
        self.try_once(instruction)
    }
}

/// A timer: ready once `duration` has passed, a thread waking the task.
struct Sleep {
    duration: Duration,
    started: bool,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Sleep {
    fn new(duration: Duration) -> Self {
        Self {
            duration,
            started: false,
            done: std::sync::Arc::default(),
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        use std::sync::atomic::Ordering;
        if self.done.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !self.started {
            self.started = true;
            let (duration, done, waker) = (self.duration, self.done.clone(), cx.waker().clone());
            std::thread::spawn(move || {
                std::thread::sleep(duration);
                done.store(true, Ordering::Release);
                waker.wake();
            });
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn cid(n: u8) -> Cid {
        ipvm_core::address::raw_cid(&[n])
    }

    #[test]
    fn a_held_lock_is_busy_for_another_handle_until_dropped() {
        let dir = std::env::temp_dir().join(format!("ipvm-locks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (a, b) = (
            FileLocks::in_dir(dir.clone()),
            FileLocks::in_dir(dir.clone()),
        );
        let held = block_on(a.try_acquire(&cid(1))).unwrap().expect("a lock");
        assert_eq!(block_on(b.try_acquire(&cid(1))).err(), Some(Busy));
        assert!(
            block_on(b.try_acquire(&cid(2))).unwrap().is_some(),
            "another instruction"
        );
        let waiter = std::thread::spawn(move || block_on(b.acquire(&cid(1))).is_some());
        std::thread::sleep(Duration::from_millis(30));
        drop(held);
        assert!(waiter.join().unwrap(), "the waiter gets it once released");
        assert!(block_on(FileLocks::none().try_acquire(&cid(1)))
            .unwrap()
            .is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
