package cli

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// releaseCodePages unmaps the daemon's own read-only code and data pages
// (text, rodata, the pc tables) from its page tables. Start-up touches
// nearly all of them once: every package's init runs, and each touch maps
// the 64 KiB around it (the kernel's fault-around). An idle daemon uses
// about a tenth of that again. The pages stay in the page cache, so the
// next touch is a minor fault; unmapped, they no longer count as ours and
// the kernel can reclaim them easily, where mapped executable pages are
// protected from reclaim.
//
// Only mappings of the executable that are not writable and hold no
// private copy of a page (the GNU RELRO page, which the dynamic linker
// wrote, does) are released: for those MADV_DONTNEED loses nothing. It
// returns the bytes that were mapped before.
func releaseCodePages() int64 {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0
	}
	defer f.Close()
	type mapping struct {
		lo, hi    uintptr
		rss, anon int64
	}
	var cands []mapping
	var cur *mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if isMappingLine(line) {
			cur = nil
			fields := strings.Fields(string(line))
			if len(fields) < 6 || mappedPath(string(line), fields) != exe || len(fields[1]) != 4 || strings.ContainsRune(fields[1], 'w') || fields[1][3] != 'p' {
				continue
			}
			lo, hi, ok := strings.Cut(fields[0], "-")
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			if !ok || err1 != nil || err2 != nil {
				continue
			}
			cands = append(cands, mapping{lo: uintptr(l), hi: uintptr(h)})
			cur = &cands[len(cands)-1]
			continue
		}
		if cur == nil {
			continue
		}
		if kb, ok := smapsKB(line, "Rss:"); ok {
			cur.rss = kb << 10
		} else if kb, ok := smapsKB(line, "Anonymous:"); ok {
			cur.anon = kb << 10
		}
	}
	if sc.Err() != nil {
		return 0
	}
	var released int64
	for _, m := range cands {
		if m.anon != 0 || m.rss == 0 {
			continue
		}
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, m.lo, m.hi-m.lo, syscall.MADV_DONTNEED); e == 0 {
			released += m.rss
		}
	}
	return released
}

// mappedPath is the file a mapping's header names; the path may hold
// spaces, so it is the rest of the line after the inode.
func mappedPath(line string, fields []string) string {
	i := 0
	for _, f := range fields[:5] {
		i += strings.Index(line[i:], f) + len(f)
	}
	return strings.TrimSpace(line[i:])
}

// isMappingLine tells a mapping's header ("00400000-00402000 r--p ...")
// from its "Key: value" lines.
func isMappingLine(line []byte) bool {
	i := bytes.IndexByte(line, ' ')
	return i > 0 && bytes.IndexByte(line[:i], '-') > 0 && !bytes.HasSuffix(line[:i], []byte(":"))
}

// smapsKB reads "Key:   123 kB".
func smapsKB(line []byte, key string) (int64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(key))
	if !ok {
		return 0, false
	}
	f := bytes.Fields(rest)
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 64)
	return n, err == nil
}
