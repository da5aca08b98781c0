package tools

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"gigfs.io/gigfs/internal/adminkey"
	"gigfs.io/gigfs/internal/tlscert"
	"gigfs.io/gigfs/srv9p"
)

var adminCmd = &command{
	name:    "admin",
	args:    "[-addr dialstring] [-key file | -data dir] [-fingerprint fp] <ctl command...>",
	summary: "send a command to a server's /admin/ctl (admin key)",
	shell:   true,
	help: `Admin attaches to the admin tree of a table or a store with its admin
key (-key file, else admin.key in the -data folder, else in $GIGFS_DATA),
writes one command to /admin/ctl and prints the reply. -addr is the
server's address (default: the table's, -table or $GIGFS_TABLE); a server
that refuses connections, or whose -data folder has no admin key yet, is
waited for up to -timeout, so that it can be started in the background
just before. A TLS
server (tls!host!port) is verified with -fingerprint, else the fingerprint
of the certificate in the -data folder, else as the table is (-ca,
-table-fingerprint).

The table's commands:

	user set <id> <master>   makes a user, or sets its master (this revokes
	                         all of its sessions)
	user remove <id>
	user list

The store's commands:

	user add <id>            adds a user and prints "code <code>": the
	                         one-time code the user gives the table
	                         (gig-channel add)
	user code <id>           prints a code again (a new one if it was used)
	user list

And on both, status prints the server's status file (/status at the root
of every attach: uptime, users, connections, limits hit, latencies,
memory).

Example:

	$ gig-admin -addr 'tcp!127.0.0.1!5640' -data ./table-data user set demo 'correct horse'
	ok
	$ gig-admin -addr 'tcp!127.0.0.1!5641' -data ./store-data user add demo
	code 8f3e…`,
	run: runAdmin,
}

// AdminMain is gig-admin.
func AdminMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runMain(adminCmd, args, stdin, stdout, stderr)
}

func runAdmin(e *env, args []string) error {
	fs := e.flags()
	addr := fs.String("addr", "", "the server's dial string (default: the table's)")
	keyFile := fs.String("key", "", "the admin key file (default: admin.key in the data folder)")
	pin := fs.String("fingerprint", "", "pin the TLS server's certificate: sha256:<hex> (default: the data folder's tls-cert.pem)")
	dataDir := ""
	if e.sh != nil {
		// In gigsh -data is not a common flag: take it here.
		fs.StringVar(&dataDir, "data", "", "the server's data folder, where admin.key is")
	}
	rest, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usageErr("want a ctl command, such as: user add <id>")
	}
	if dataDir == "" {
		dataDir = e.set.Data
	}
	a := *addr
	if a == "" {
		a = e.set.Table
	}
	if a == "" {
		return errors.New("no server address: set -addr (or -table or GIGFS_TABLE for the table)")
	}
	if *keyFile == "" && dataDir != "" {
		waitKeyFile(e.ctx, adminkey.Path(dataDir), e.set.callTimeout())
	}
	key, err := loadAdminKey(*keyFile, dataDir)
	if err != nil {
		return err
	}
	trust := srv9p.Trust{CAFile: e.set.CAFile}
	if a == e.set.Table {
		trust = e.set.Trust()
	}
	switch {
	case *pin != "":
		trust.Fingerprint = *pin
	case dataDir != "" && *keyFile == "":
		fp, err := tlscert.DataFingerprint(dataDir)
		if err != nil {
			return err
		}
		if fp != "" {
			trust.Fingerprint = fp
		}
	}
	ctx, cancel := e.callCtx(2)
	defer cancel()
	c, err := dialStarting(ctx, e.set.callTimeout(), a, trust, "admin", "admin "+key)
	if err != nil {
		if errors.Is(err, srv9p.ErrUntrusted) {
			return err
		}
		if isNetErr(err) {
			return fmt.Errorf("%s out of reach: %v", a, err)
		}
		return fmt.Errorf("%s refused the admin key: %s", a, refusal(err))
	}
	defer c.Close()
	var reply string
	if len(rest) == 1 && rest[0] == "status" {
		b, err := c.ReadFile(ctx, "/status")
		if err != nil {
			return err
		}
		reply = string(b)
	} else if reply, err = c.Ctl(ctx, "/admin/ctl", strings.Join(rest, " ")); err != nil {
		return err
	}
	reply = strings.TrimRight(reply, "\n")
	if reply == "" {
		return nil
	}
	_, err = fmt.Fprintln(e.stdout, reply)
	return err
}

// loadAdminKey reads the admin key from keyFile, else from the data
// folder's admin.key. It never makes a key.
func loadAdminKey(keyFile, dataDir string) (string, error) {
	if keyFile == "" {
		if dataDir == "" {
			return "", errors.New("no admin key: set -key, or -data (or GIGFS_DATA) to the server's data folder")
		}
		keyFile = adminkey.Path(dataDir)
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no admin key at %s (the server makes it on its first start)", keyFile)
		}
		return "", fmt.Errorf("admin key: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("admin key %s: not a regular file", keyFile)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("admin key %s: mode %04o lets group or others read it; run chmod 600 %s", keyFile, fi.Mode().Perm(), keyFile)
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return "", fmt.Errorf("admin key: %v", err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" || strings.ContainsAny(key, " \t\n") || len(key) > 1024 {
		return "", fmt.Errorf("admin key %s: want one word", keyFile)
	}
	return key, nil
}
