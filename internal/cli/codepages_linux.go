package cli

import (
	"bufio"
	"bytes"
	"debug/elf"
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
// Only the executable's read-only load segments are released, and of
// those only mappings that hold no private copy of a page, in memory or in
// swap: for those MADV_DONTNEED loses nothing. Pages the dynamic linker
// wrote (GNU RELRO) lie in a writable segment, and would also show as
// private copies. It returns the bytes that were mapped before.
func releaseCodePages() int64 {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	readOnly, linkedAt, err := readOnlySegments("/proc/self/exe")
	if err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0
	}
	defer f.Close()
	type mapping struct {
		lo, hi          uintptr
		rss, anon, swap int64
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
		} else if kb, ok := smapsKB(line, "Swap:"); ok {
			cur.swap = kb << 10
		}
	}
	if sc.Err() != nil {
		return 0
	}
	if len(cands) == 0 {
		return 0
	}
	// The lowest mapping of the executable is its first load segment.
	loadedAt := cands[0].lo
	for _, m := range cands {
		loadedAt = min(loadedAt, m.lo)
	}
	bias := uint64(loadedAt) - linkedAt
	var released int64
	for _, m := range cands {
		if m.anon != 0 || m.swap != 0 || m.rss == 0 || !within(readOnly, bias, uint64(m.lo), uint64(m.hi)) {
			continue
		}
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, m.lo, m.hi-m.lo, syscall.MADV_DONTNEED); e == 0 {
			released += m.rss
		}
	}
	return released
}

// segment is a range of virtual addresses [lo, hi), as linked.
type segment struct{ lo, hi uint64 }

// readOnlySegments lists the executable's load segments that are never
// writable, and the lowest address it is linked at.
func readOnlySegments(path string) (segs []segment, base uint64, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	base = ^uint64(0)
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		base = min(base, p.Vaddr&^0xfff)
		if p.Flags&elf.PF_W == 0 {
			segs = append(segs, segment{p.Vaddr &^ 0xfff, (p.Vaddr + p.Memsz + 0xfff) &^ 0xfff})
		}
	}
	return segs, base, nil
}

// within reports whether [lo, hi) lies in one of segs once they are moved
// by bias (the load address of a position-independent executable). The
// GNU RELRO page can share a file page with the end of the read-only
// data, so file offsets cannot tell them apart; addresses can.
func within(segs []segment, bias, lo, hi uint64) bool {
	for _, s := range segs {
		if lo >= s.lo+bias && hi <= s.hi+bias {
			return true
		}
	}
	return false
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
