package tools

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gigfs.io/gigfs"
	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// Settings is the configuration of a tool, from flags, the environment
// and the config file, in that order of precedence.
type Settings struct {
	Table       string                        // dial string of the table; empty: no remote table
	TableFP     string                        // pinned fingerprint of a TLS table's certificate
	CAFile      string                        // PEM authorities for TLS servers not pinned; empty: system roots
	User        string                        // user id
	Session     string                        // session token
	Master      string                        // the user's master (session and channel management only)
	Local       map[string][]gigfs.LocalStore // local stores by channel
	Reducers    map[string]string             // type -> built-in name or program
	Data        string                        // data folder
	Timeout     time.Duration                 // bound on each call; 0: the client's default
	KeepPaths   int                           // unwatched paths kept in memory; 0: the client's default
	RepairSyncs int                           // syncs at once repairing a store that came back; 0: the client's default
	Verbose     bool                          // log the client's background work on stderr
	sources     map[string]string             // setting -> where it came from, for error messages
	getenv      func(string) string           // os.Getenv, or a test's
}

// fileConfig is the config file:
//
//	{"table":"tls!gig.example.com!5640","table_fingerprint":"sha256:...","ca":"/etc/ssl/gig-ca.pem",
//	 "user":"demo","session":"...",
//	 "local_table":{"demo":[{"storage_path":"/home/me/gig/demo"}]},
//	 "reducers":{"todo":"merge","score":"/usr/local/bin/max"},
//	 "data":"/home/me/gig","timeout":"5s"}
type fileConfig struct {
	Table       string            `json:"table"`
	TableFP     string            `json:"table_fingerprint"`
	CAFile      string            `json:"ca"`
	User        string            `json:"user"`
	Session     string            `json:"session"`
	LocalTable  json.RawMessage   `json:"local_table"`
	Reducers    map[string]string `json:"reducers"`
	Data        string            `json:"data"`
	Timeout     string            `json:"timeout"`
	KeepPaths   int               `json:"keep_paths"`   // unwatched paths a long-running tool keeps in memory
	RepairSyncs int               `json:"repair_syncs"` // syncs at once repairing a store that came back
}

// commonFlags are the flags every tool takes, with the same names.
type commonFlags struct {
	config   string
	table    string
	tableFP  string
	caFile   string
	user     string
	session  string
	local    string
	data     string
	timeout  time.Duration
	reducers reducerFlag
	verbose  bool
	version  bool
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "config file (default $GIGFS_CONFIG, else ~/.config/gigfs/config.json)")
	fs.StringVar(&c.table, "table", "", "dial string of the table (default $GIGFS_TABLE)")
	fs.StringVar(&c.tableFP, "table-fingerprint", "", "pin the TLS certificate of a tls!host!port table: sha256:<hex> (default $GIGFS_TABLE_FINGERPRINT)")
	fs.StringVar(&c.caFile, "ca", "", "PEM file of the authorities that sign TLS servers' certificates, if not pinned (default $GIGFS_CA, else the system roots)")
	fs.StringVar(&c.user, "user", "", "user id (default $GIGFS_USER)")
	fs.StringVar(&c.session, "session", "", "session token (default $GIGFS_SESSION)")
	fs.StringVar(&c.local, "local", "", "local table: a JSON file or inline JSON (default $GIGFS_LOCAL)")
	fs.StringVar(&c.data, "data", "", "data folder (default $GIGFS_DATA)")
	fs.DurationVar(&c.timeout, "timeout", 0, "bound on each call to the table or a store (default 5s)")
	fs.Var(&c.reducers, "reducer", "`type=reducer`: a built-in (lww, counter, merge, set, list) or a program; repeatable")
	fs.BoolVar(&c.verbose, "v", false, "log what the client does in the background on stderr")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
}

// reducerFlag collects -reducer type=spec flags.
type reducerFlag map[string]string

func (r *reducerFlag) String() string {
	if r == nil || *r == nil {
		return ""
	}
	var parts []string
	for t, s := range *r {
		parts = append(parts, t+"="+s)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (r *reducerFlag) Set(v string) error {
	typ, spec, ok := strings.Cut(v, "=")
	if !ok || typ == "" || strings.TrimSpace(spec) == "" {
		return fmt.Errorf("want type=reducer, got %q", v)
	}
	if *r == nil {
		*r = make(reducerFlag)
	}
	(*r)[typ] = strings.TrimSpace(spec)
	return nil
}

// loadSettings resolves the settings from flags, then the environment,
// then the config file.
func loadSettings(f *commonFlags, getenv func(string) string) (*Settings, error) {
	s := &Settings{
		Reducers: make(map[string]string),
		sources:  make(map[string]string),
		getenv:   getenv,
	}
	var fc fileConfig
	cfgPath, explicit := f.config, f.config != ""
	if !explicit {
		cfgPath, explicit = getenv("GIGFS_CONFIG"), getenv("GIGFS_CONFIG") != ""
	}
	if !explicit {
		cfgPath = defaultConfigPath(getenv)
	}
	if cfgPath != "" {
		b, err := os.ReadFile(cfgPath)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &fc); err != nil {
				return nil, fmt.Errorf("config file %s: %v", cfgPath, err)
			}
		case errors.Is(err, fs.ErrNotExist) && !explicit:
			cfgPath = ""
		default:
			return nil, fmt.Errorf("config file: %v", err)
		}
	}
	pick := func(name, flagV, envName, fileV string) string {
		switch {
		case flagV != "":
			s.sources[name] = "-" + name
			return flagV
		case getenv(envName) != "":
			s.sources[name] = "$" + envName
			return getenv(envName)
		case fileV != "":
			s.sources[name] = cfgPath
			return fileV
		}
		return ""
	}
	s.Table = pick("table", f.table, "GIGFS_TABLE", fc.Table)
	s.User = pick("user", f.user, "GIGFS_USER", fc.User)
	s.TableFP = pick("table-fingerprint", f.tableFP, "GIGFS_TABLE_FINGERPRINT", fc.TableFP)
	s.CAFile = pick("ca", f.caFile, "GIGFS_CA", fc.CAFile)
	s.Session = pick("session", f.session, "GIGFS_SESSION", fc.Session)
	s.Data = pick("data", f.data, "GIGFS_DATA", fc.Data)
	s.Master = getenv("GIGFS_MASTER")
	s.Verbose = f.verbose

	if s.Table != "" {
		if _, _, err := srv9p.ParseAddr(s.Table); err != nil {
			return nil, fmt.Errorf("table address from %s: %v", s.sources["table"], err)
		}
	}
	if s.TableFP != "" {
		fp, err := srv9p.ParseFingerprint(s.TableFP)
		if err != nil {
			return nil, fmt.Errorf("table fingerprint from %s: %v", s.sources["table-fingerprint"], err)
		}
		s.TableFP = fp
	}
	if s.User != "" {
		if _, err := gig.ParseUser(s.User); err != nil {
			return nil, fmt.Errorf("user from %s: %v", s.sources["user"], err)
		}
	}

	switch {
	case f.local != "":
		lt, err := readLocalTable(f.local)
		if err != nil {
			return nil, fmt.Errorf("-local: %v", err)
		}
		s.Local = lt
	case getenv("GIGFS_LOCAL") != "":
		lt, err := readLocalTable(getenv("GIGFS_LOCAL"))
		if err != nil {
			return nil, fmt.Errorf("$GIGFS_LOCAL: %v", err)
		}
		s.Local = lt
	case len(fc.LocalTable) > 0 && string(fc.LocalTable) != "null":
		lt, err := gigfs.ParseLocalTable(fc.LocalTable)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %v", cfgPath, err)
		}
		s.Local = resolveStorage(lt, filepath.Dir(cfgPath))
	}

	switch {
	case f.timeout != 0:
		s.Timeout = f.timeout
	case fc.Timeout != "":
		d, err := time.ParseDuration(fc.Timeout)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("config file %s: timeout %q: want a duration like 5s", cfgPath, fc.Timeout)
		}
		s.Timeout = d
	}
	if s.Timeout < 0 {
		return nil, fmt.Errorf("-timeout %v: want a positive duration", s.Timeout)
	}

	s.KeepPaths = fc.KeepPaths
	s.RepairSyncs = fc.RepairSyncs
	for t, spec := range fc.Reducers {
		s.Reducers[t] = spec
	}
	for t, spec := range f.reducers {
		s.Reducers[t] = spec
	}
	for t := range s.Reducers {
		if err := gig.ParseElement(t); err != nil {
			return nil, fmt.Errorf("reducer for type %q: %v", t, err)
		}
	}
	return s, nil
}

// Trust is how the table's TLS certificate is verified.
func (s *Settings) Trust() srv9p.Trust {
	return srv9p.Trust{Fingerprint: s.TableFP, CAFile: s.CAFile}
}

func defaultConfigPath(getenv func(string) string) string {
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "gigfs", "config.json")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "gigfs", "config.json")
	}
	return ""
}

// readLocalTable reads a local table from a file, or from v itself when it
// is inline JSON (it starts with '{'). Relative storage paths are relative
// to the file's folder (the current folder for inline JSON).
func readLocalTable(v string) (map[string][]gigfs.LocalStore, error) {
	if strings.HasPrefix(strings.TrimSpace(v), "{") {
		lt, err := gigfs.ParseLocalTable([]byte(v))
		if err != nil {
			return nil, err
		}
		return resolveStorage(lt, "."), nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return nil, err
	}
	lt, err := gigfs.ParseLocalTable(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", v, err)
	}
	return resolveStorage(lt, filepath.Dir(v)), nil
}

func resolveStorage(lt map[string][]gigfs.LocalStore, dir string) map[string][]gigfs.LocalStore {
	for _, stores := range lt {
		for i := range stores {
			p := stores[i].StoragePath
			if p != "" && !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			if p != "" {
				if abs, err := filepath.Abs(p); err == nil {
					p = abs
				}
				stores[i].StoragePath = p
			}
		}
	}
	return lt
}

// clientConfig is the client's configuration from s.
// logf logs the client's background work; onTable hears how the table
// answers (gigfs.Config.OnTable).
func (s *Settings) clientConfig(logf func(string, ...any), onTable func(error)) (gigfs.Config, error) {
	cfg := gigfs.Config{LocalTable: s.Local, CallTimeout: s.Timeout, Logf: logf, OnTable: onTable, OriginDir: s.originDir(), KeepPaths: s.KeepPaths, RepairSyncs: s.RepairSyncs}
	if cfg.OriginDir != "" {
		if err := os.MkdirAll(cfg.OriginDir, 0o700); err != nil {
			// No state folder (a read-only home): an origin of this run's own.
			if logf != nil {
				logf("gigfs: no origin lease: %v", err)
			}
			cfg.OriginDir = ""
		}
	}
	if s.Table != "" {
		switch {
		case s.User == "":
			return cfg, errors.New("no user: set -user or GIGFS_USER")
		case s.Session == "":
			return cfg, errors.New("no session: set -session or GIGFS_SESSION (gig-session new makes one)")
		}
		cfg.RemoteTable = &gigfs.RemoteTable{Addr: s.Table, User: s.User, Session: s.Session, Fingerprint: s.TableFP, CAFile: s.CAFile}
	}
	if cfg.RemoteTable == nil && len(cfg.LocalTable) == 0 {
		return cfg, errors.New("no table and no local stores: set GIGFS_TABLE, GIGFS_USER and GIGFS_SESSION " +
			"(. ./gigfs-data/quickstart.env does), or GIGFS_LOCAL")
	}
	return cfg, nil
}

// callTimeout is the bound on one call.
func (s *Settings) callTimeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return gigfs.DefaultCallTimeout
}

// needTable checks that the settings name a table and a user.
func (s *Settings) needTable() error {
	switch {
	case s.Table == "":
		return errors.New("no table: set -table or GIGFS_TABLE")
	case s.User == "":
		return errors.New("no user: set -user or GIGFS_USER")
	}
	return nil
}
