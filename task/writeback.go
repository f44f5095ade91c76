package task

import (
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// writebackEvery is how often startWriteback hands the bytes written since
// its last call to the kernel's writeback: often enough that each hand-over
// is a few MB (a few ms of this disk), which an index's WAL fsync may have
// to queue behind.
const writebackEvery = 25 * time.Millisecond

// startWriteback starts the writeback of f's new bytes every
// writebackEvery (sync_file_range SYNC_FILE_RANGE_WRITE: start writing,
// do not wait), until stop is called, so that the fsync that ends an
// archive finds little left to write: without it the page cache holds the
// whole archive until then (the kernel's own writeback starts at a
// fraction of the memory), and the fsync writes it all while the snapshot's
// reader waits. It only watches f's size, so it works whatever writes f
// (a copy_file_range as well). Best effort: errors are ignored; the fsync
// is what makes the file durable.
func startWriteback(f *os.File) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fd := int(f.Fd())
		var flushed int64
		t := time.NewTicker(writebackEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var st unix.Stat_t
			if unix.Fstat(fd, &st) != nil || st.Size <= flushed {
				continue
			}
			if unix.SyncFileRange(fd, flushed, st.Size-flushed, unix.SYNC_FILE_RANGE_WRITE) == nil {
				flushed = st.Size
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
