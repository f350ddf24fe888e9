//go:build unix

package token

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Which modules p11-kit would load for a program named cardbridge, read
// from its configuration the way p11-kit reads it (p11-kit/conf.c and
// modules.c), so that a module registered, overridden or excluded there
// behaves the same for cardbridge as for Firefox or GnuTLS. We read the
// files rather than load p11-kit-proxy: through the proxy every module
// would sit behind one library, which could neither be given its own time
// limit nor re-initialised without the others, and a module's own slot
// names and errors would be hidden.
//
//   - Module files are *.module in the user's ~/.config/pkcs11/modules, then
//     /etc/pkcs11/modules, then /usr/share/p11-kit/modules. A module is
//     named by its file name; the first file of a name to set a key wins,
//     so a user's file of the same name overrides the system's key by key.
//   - "user-config" in /etc/pkcs11/pkcs11.conf, or in the user's
//     ~/.config/pkcs11/pkcs11.conf, is merge (the default), none, only or
//     override (which p11-kit treats as only).
//   - A module with "enable-in" is loaded only by the programs listed; one
//     with "disable-in" by all but those listed. "disable-in: cardbridge"
//     keeps a module away from cardbridge alone.
//   - A relative "module:" is looked up in p11-kit's module directory.
//   - "x-init-reserved" becomes the module's initialisation arguments.
//   - Modules are ordered by "priority", highest first, then by name.
//   - p11-kit's trust module is left out: it holds CA certificates, not
//     cards.

// progName is the program name p11-kit's enable-in and disable-in match.
const progName = "cardbridge"

// p11kitConf is where p11-kit's configuration lives; tests point it at a
// temp dir.
type p11kitConf struct {
	globalSystem, globalUser       string // pkcs11.conf files
	userDir, systemDir, packageDir string // *.module dirs
	moduleDirs                     []string
}

func defaultP11KitConf() p11kitConf {
	home := os.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return p11kitConf{
		globalSystem: "/etc/pkcs11/pkcs11.conf",
		globalUser:   filepath.Join(home, ".config/pkcs11/pkcs11.conf"),
		userDir:      filepath.Join(home, ".config/pkcs11/modules"),
		systemDir:    "/etc/pkcs11/modules",
		packageDir:   "/usr/share/p11-kit/modules",
		moduleDirs:   p11kitModuleDirs,
	}
}

// p11kitModules lists the specs ("PATH" or "PATH;ARGS") of the modules
// p11-kit would load for cardbridge.
func p11kitModules() []string {
	mods, _ := defaultP11KitConf().modules()
	return mods
}

// p11kitExcludes reports whether p11-kit's configuration registers the
// library at path but keeps it away from cardbridge.
func p11kitExcludes(path string) bool {
	_, excluded := defaultP11KitConf().modules()
	return excluded[realPath(path)]
}

func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// modules returns the specs to load, in order, and the real paths of the
// libraries registered but not enabled for cardbridge.
func (c p11kitConf) modules() ([]string, map[string]bool) {
	mode := readConf(c.globalSystem)["user-config"]
	if m := readConf(c.globalUser)["user-config"]; m != "" && mode != "none" {
		mode = m
	}
	configs := map[string]map[string]string{}
	load := func(dir string) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.module"))
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".module")
			conf := readConf(f)
			prev, ok := configs[name]
			if !ok {
				configs[name] = conf
				continue
			}
			for k, v := range conf {
				if _, set := prev[k]; !set {
					prev[k] = v
				}
			}
		}
	}
	if mode != "none" {
		load(c.userDir)
	}
	if mode != "only" && mode != "override" {
		load(c.systemDir)
		load(c.packageDir)
	}
	type entry struct {
		name, spec string
		priority   int
	}
	var list []entry
	excluded := map[string]bool{}
	for name, conf := range configs {
		path := c.resolve(conf["module"])
		if path == "" || strings.Contains(filepath.Base(path), "p11-kit-trust") {
			continue
		}
		if !enabledFor(conf, progName) {
			excluded[realPath(path)] = true
			continue
		}
		prio, _ := strconv.Atoi(conf["priority"])
		spec := ModuleSpec{Path: path, Args: conf["x-init-reserved"]}
		list = append(list, entry{name, spec.String(), prio})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].priority != list[j].priority {
			return list[i].priority > list[j].priority
		}
		return list[i].name < list[j].name
	})
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.spec
	}
	return out, excluded
}

// enabledFor applies enable-in and disable-in, lists of program names
// separated by commas or blanks.
func enabledFor(conf map[string]string, prog string) bool {
	in := func(list string) bool {
		for _, p := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			if p == prog {
				return true
			}
		}
		return false
	}
	if v, ok := conf["enable-in"]; ok {
		return in(v)
	}
	if v, ok := conf["disable-in"]; ok {
		return !in(v)
	}
	return true
}

// resolve makes a relative module name absolute in p11-kit's module
// directory, and returns "" for a library that is not there.
func (c p11kitConf) resolve(module string) string {
	if module == "" {
		return ""
	}
	if filepath.IsAbs(module) {
		if _, err := os.Stat(module); err != nil {
			return ""
		}
		return module
	}
	for _, d := range c.moduleDirs {
		if p := filepath.Join(d, module); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// readConf reads a p11-kit "key: value" file; a missing file is empty.
func readConf(file string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(file)
	if err != nil {
		return out
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}
